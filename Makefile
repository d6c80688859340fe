# Entry points. Everything runs from the virtualenv in .venv, created and kept up to date by
# `make venv` (reinstalled when pyproject.toml, constraints.txt or the set of packages changes).
#
#   make run      Kafka + ClickHouse + all services in the foreground (Ctrl-C stops all)
#   make up       the same in the background;  make status / make down
#   make test     every test; integration tests start their own servers on free ports
#   make unit     unit tests only (no servers)
#   make lint     ruff + mypy (strict)
#   make bench    the benchmarks in bench/ (figures, not tests)
#   make browser  Debian's chromium for the dashboard's browser test (installed when missing)
#   make vendor   re-fetch the dashboard's chart library (uPlot, pinned) into query_api/static/vendor

SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
PYTEST_ARGS ?=

# The install is redone when this hash changes: new dependencies, new pins, or a new
# top-level package (an editable install maps packages at install time).
INSTALL_INPUTS := pyproject.toml constraints.txt
INSTALL_HASH := $(shell { cat $(INSTALL_INPUTS); ls -1 */__init__.py; } 2>/dev/null | sha256sum | cut -c1-16)
VENV_STAMP := $(VENV)/.installed-$(INSTALL_HASH)

BENCHMARKS := $(wildcard bench/ingest.py bench/pipeline.py bench/faust_intake.py bench/query.py)

UPLOT_VERSION := 1.6.32
VENDOR_DIR := query_api/static/vendor
CHROMIUM := /usr/bin/chromium

.PHONY: venv jars run up down status test unit lint bench browser vendor

venv: $(VENV_STAMP)

$(VENV_STAMP): $(INSTALL_INPUTS)
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --disable-pip-version-check -c constraints.txt -e '.[dev]'
	@rm -f $(VENV)/.installed-*
	@touch $@

jars: venv
	$(BIN)/telemetry-local jars

run: venv jars
	$(BIN)/telemetry-local run

up: venv jars
	$(BIN)/telemetry-local up

down: venv
	$(BIN)/telemetry-local down

status: venv
	$(BIN)/telemetry-local status

test: venv jars browser
	$(BIN)/python -m pytest $(PYTEST_ARGS)

unit: venv
	$(BIN)/python -m pytest tests/unit $(PYTEST_ARGS)

lint: venv
	$(BIN)/ruff check .
	$(BIN)/mypy

bench: venv jars
	@if [ -z "$(BENCHMARKS)" ]; then echo "no benchmarks in bench/ yet"; fi
	@set -e; for script in $(BENCHMARKS); do echo "== $$script"; $(BIN)/python $$script; done

# The browser test fails (never skips) without a browser, so `make test` installs one first.
browser:
	@if [ -x $(CHROMIUM) ]; then echo "chromium: $$($(CHROMIUM) --version 2>/dev/null)"; else \
	  echo "installing Debian's chromium for the dashboard's browser test"; \
	  if [ "$$(id -u)" = 0 ]; then SUDO=; else SUDO=sudo; fi; \
	  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq chromium; fi

# uPlot's distributed files and licence, from the npm registry, pinned; the result is committed.
vendor:
	@set -e; tmp=$$(mktemp -d); trap 'rm -rf "$$tmp"' EXIT; \
	  (cd "$$tmp" && npm pack --silent uplot@$(UPLOT_VERSION) >/dev/null && tar xzf uplot-$(UPLOT_VERSION).tgz); \
	  mkdir -p $(VENDOR_DIR); \
	  cp "$$tmp/package/dist/uPlot.iife.min.js" "$$tmp/package/dist/uPlot.min.css" $(VENDOR_DIR)/; \
	  cp "$$tmp/package/LICENSE" $(VENDOR_DIR)/uPlot.LICENSE; \
	  echo "uplot $(UPLOT_VERSION) (npm pack uplot@$(UPLOT_VERSION); sha256 of the tarball: $$(sha256sum "$$tmp/uplot-$(UPLOT_VERSION).tgz" | cut -d' ' -f1))" > $(VENDOR_DIR)/VERSION; \
	  cat $(VENDOR_DIR)/VERSION
