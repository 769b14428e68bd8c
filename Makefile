# Kripto: `make run` starts everything on a laptop; `make test` runs the whole suite offline.
SHELL := /bin/bash
VENV ?= .venv
# Prefer Python 3.12 (3.11's import lock can upset the Temporal sandbox); accept 3.11+.
PY_CANDIDATES := python3.12 $(wildcard $(HOME)/.pyenv/versions/3.12*/bin/python3.12) python3.13 python3.11 python3
PYTHON ?= $(shell for p in $(PY_CANDIDATES); do $$p -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null && { echo $$p; break; }; done)
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run test lint fmt install sysdeps bench clean

# Debian packages the tests drive: a real browser (Chromium and its driver) and promtool.
# Installed only when missing, so a fresh machine (CI may be one) gets them and others skip.
SYSDEPS := chromium:chromium chromedriver:chromium-driver promtool:prometheus
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

$(STAMP): pyproject.toml constraints.txt
	@test -n "$(PYTHON)" || { echo "error: Python 3.11 or newer is required"; exit 1; }
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -c constraints.txt -e '.[dev]'
	@touch $(STAMP)

install: $(STAMP)

run: $(STAMP)
	$(BIN)/kripto dev $(ARGS)

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy .

fmt: $(STAMP)
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

sysdeps:
	@missing=$$(for pair in $(SYSDEPS); do command -v $${pair%%:*} >/dev/null || echo $${pair#*:}; done); \
	if [ -n "$$missing" ]; then \
		echo "installing Debian packages:" $$missing; \
		$(SUDO) apt-get update -qq && DEBIAN_FRONTEND=noninteractive \
			$(SUDO) apt-get install -y -qq --no-install-recommends $$missing >/dev/null; \
	fi

test: lint sysdeps
	$(BIN)/pytest $(PYTEST_ARGS)

bench: $(STAMP)
	$(BIN)/python -m benchmarks.run_all

clean:
	rm -rf $(VENV) build *.egg-info
