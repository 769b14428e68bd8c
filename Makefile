# Kripto: `make run` starts everything on a laptop; `make test` runs the whole suite offline.
SHELL := /bin/bash
VENV ?= .venv
# Python 3.12 or newer: numpy 2.5 and contourpy 1.4 (pinned in constraints.txt) ship no 3.11
# wheels, and 3.11's import lock can upset the Temporal sandbox. `make smoke` proves the pins.
PY_CANDIDATES := python3.12 $(wildcard $(HOME)/.pyenv/versions/3.12*/bin/python3.12) python3.13 python3
PYTHON ?= $(shell for p in $(PY_CANDIDATES); do $$p -c 'import sys; sys.exit(sys.version_info < (3, 12))' 2>/dev/null && { echo $$p; break; }; done)
PY_HELP := install it with your package manager (apt install python3.12, brew install python@3.12) or pyenv (pyenv install 3.12), then run make again, or name one: make PYTHON=/path/to/python3.12
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
BENCH_STAMP := $(VENV)/.installed-bench

.PHONY: run test test-fast lint fmt install sysdeps bench clean smoke

# Debian packages the tests drive: a real browser (Chromium and its driver), promtool, and
# poppler (pdftotext reads back the tax report's PDF).
# Installed only when missing, by `make sysdeps` alone (never by `make test`).
SYSDEPS := chromium:chromium chromedriver:chromium-driver promtool:prometheus pdftotext:poppler-utils
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

$(STAMP): pyproject.toml constraints.txt
	@test -n "$(PYTHON)" || { echo "error: Kripto needs Python 3.12 or newer; $(PY_HELP)"; exit 1; }
	@$(PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 12))' || { echo "error: $(PYTHON) is Python $$($(PYTHON) -c 'import platform; print(platform.python_version())'); Kripto needs 3.12 or newer: $(PY_HELP)"; exit 1; }
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

# One visible line per package: present, or being installed (apt's own output shows too).
# `make test` never installs anything: run `make sysdeps` first (the README's test command and
# .ci/run do); a test whose tool is missing fails saying which package and `make sysdeps`.
sysdeps:
	@for pair in $(SYSDEPS); do \
		tool=$${pair%%:*}; package=$${pair#*:}; \
		if command -v $$tool >/dev/null; then \
			echo "sysdeps: $$package present ($$tool)"; \
		else \
			echo "sysdeps: installing $$package (for $$tool)"; \
			{ $(SUDO) apt-get update -qq && DEBIAN_FRONTEND=noninteractive \
				$(SUDO) apt-get install -y -q --no-install-recommends $$package; } || exit 1; \
		fi; \
	done

# The files run in parallel (pytest-xdist, a file per worker process, each with its own
# Postgres and Temporal servers): most of a test's time is waiting on real timers, not CPU.
# TEST_WORKERS=0 runs them in one process. docs/testing.md lists the slowest tests.
TEST_WORKERS ?= 3
XDIST := -n $(TEST_WORKERS) --dist loadfile

test: lint
	$(BIN)/pytest $(XDIST) $(PYTEST_ARGS)

# Everything but the tests marked slow (the long chaos and real-time ones): under 2 minutes.
test-fast: $(STAMP)
	$(BIN)/pytest $(XDIST) -m "not slow" $(PYTEST_ARGS)

# Install from scratch with the pinned constraints in a throw-away venv and run the smoke test
# (kripto --help, a synthetic backtest, the unit tests) on each Python Kripto supports.
# Slow (a clean install each), so not part of `make test`. SMOKE_PYTHONS overrides the list.
SMOKE_PYTHONS ?= $(PYTHON)
smoke:
	@for p in $(SMOKE_PYTHONS); do scripts/smoke.sh $$p || exit 1; done

# The `bench` extra (vectorbt, for benchmarks/optimize_speed.py's comparison) is installed only
# here, never by `install` or `test`.
$(BENCH_STAMP): $(STAMP)
	$(BIN)/python -m pip install --quiet -c constraints.txt -e '.[dev,bench]'
	@touch $(BENCH_STAMP)

bench: $(BENCH_STAMP)
	$(BIN)/python -m benchmarks.run_all

clean:
	rm -rf $(VENV) build *.egg-info
