# Two commands on a fresh machine:
#   make demo   - install the edge runtime in .venv and replay the bundled demo lane
#   make test   - install what the tests need (Python deps + the Debian mosquitto), lint, run them
PYTHON ?= python3
VENV   ?= .venv
BIN     = $(VENV)/bin
export YOLO_OFFLINE = 1

.PHONY: demo test install install-dev broker bench lint clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(VENV)/.installed: $(BIN)/python pyproject.toml
	$(BIN)/python -m pip install --quiet -e .
	touch $@

$(VENV)/.installed-dev: $(BIN)/python pyproject.toml
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $@ $(VENV)/.installed

install: $(VENV)/.installed
install-dev: $(VENV)/.installed-dev

demo: $(VENV)/.installed
	$(BIN)/edge-app demo

# The tests start their own mosquitto on a free port; this only makes sure the
# Debian package is there (CI machines and fresh boxes may not have it).
broker:
	@{ command -v mosquitto >/dev/null 2>&1 || test -x /usr/sbin/mosquitto; } && command -v mosquitto_sub >/dev/null 2>&1 || { \
	  echo "installing the Debian package mosquitto (tests run a private broker)"; \
	  SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq mosquitto mosquitto-clients; }

# ruff (lint + format), mypy and the import contracts (the runtime never imports the tools or the simulator)
lint: $(VENV)/.installed-dev
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(BIN)/lint-imports

test: lint broker
	$(BIN)/python -m pytest

bench: $(VENV)/.installed
	$(BIN)/edge-app bench --json docs/bench-latest.json

clean:
	rm -rf $(VENV) .pytest_cache .hypothesis var
