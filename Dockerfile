# The Kripto worker image: `python worker.py` by default; `python starter.py` creates schedules.
FROM python:3.12-slim

ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1
WORKDIR /app

COPY pyproject.toml constraints.txt README.md ./
COPY kripto ./kripto
COPY workflows ./workflows
COPY activities ./activities
COPY worker.py starter.py ./
RUN pip install -c constraints.txt . \
    && useradd --system --uid 10001 --home-dir /data kripto \
    && mkdir -p /data/outbox \
    && chown -R kripto:kripto /data

# The data folder (receipts' outbox, …). A named volume copies this folder's owner from the
# image when it is first created, so it must exist, owned by the user, before VOLUME.
VOLUME ["/data"]
ENV KRIPTO_DATA_DIR=/data
USER kripto

# worker.py handles SIGTERM: it stops polling and lets running activities finish.
CMD ["python", "worker.py"]
