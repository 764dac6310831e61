# Kindred: `make dev` runs the whole system, `make test` runs every test.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
PY_STAMP := $(VENV)/.installed
NODE_STAMP := router/node_modules/.installed
GUARD := router/guard/build/kindred-guard
SYS_STAMP := $(VENV)/.system-packages

.PHONY: install dev test lint compose check-compose bench clean-data system-packages lock

install: $(PY_STAMP) $(NODE_STAMP) $(GUARD)

$(PY_STAMP): requirements.lock pyproject.toml
	@echo "==> Python environment ($(VENV)) from requirements.lock"
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	@$(PY) -m pip install --quiet --upgrade pip
	@$(PY) -m pip install --quiet --progress-bar off -r requirements.lock
	@$(PY) -m pip install --quiet --no-deps -e .
	@touch $@

$(NODE_STAMP): router/package.json router/package-lock.json $(wildcard router/graphiql/*.* router/graphiql/shims/*)
	@echo "==> npm packages (router/) from package-lock.json"
	@cd router && npm ci --no-audit --no-fund --loglevel=error
	@echo "==> GraphiQL page (router/graphiql/dist/)"
	@node router/graphiql/build.mjs
	@touch $@

# The gateway's public port in C (router/guard/), built with the machine's C compiler.
$(GUARD): $(wildcard router/guard/*.c router/guard/*.h) router/guard/Makefile
	@echo "==> the gateway's guard ($(GUARD))"
	@$(MAKE) --no-print-directory -s -C router/guard

# Browser and load generator for the tests and benchmarks (Debian packages).
system-packages: $(SYS_STAMP)
$(SYS_STAMP):
	@if ! command -v chromium >/dev/null || ! command -v wrk >/dev/null; then \
	  echo "==> apt-get install chromium wrk"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium wrk >/dev/null; \
	fi
	@mkdir -p $(VENV) && touch $@

dev: install
	@$(PY) -m kindred.devstack

compose: install
	@$(PY) -m kindred.sdl
	@node router/compose.mjs
	@cp router/router.yaml supergraph.graphql deploy/kubernetes/base/router/

check-compose: install
	@$(PY) -m kindred.sdl --check
	@node router/compose.mjs --check

lint: install
	@echo "==> ruff"
	@$(VENV)/bin/ruff check libs subgraphs tests bench
	@echo "==> mypy"
	@$(VENV)/bin/mypy libs/kindred subgraphs bench tests

test: install system-packages lint
	@echo "==> pytest"
	@$(PY) -m pytest -p no:cacheprovider --durations=10

bench: install system-packages
	@$(PY) -m bench

# Re-resolve both lock files after changing the dependencies in pyproject.toml.
LOCK_VENV := .lock-venv
lock:
	@rm -rf $(LOCK_VENV) && $(PYTHON) -m venv $(LOCK_VENV)
	@$(LOCK_VENV)/bin/pip install --quiet --upgrade pip
	@echo "==> resolving .[embedded,dev] into requirements.lock"
	@$(LOCK_VENV)/bin/pip install --quiet -e '.[embedded,dev]'
	@$(LOCK_VENV)/bin/pip freeze --exclude-editable > requirements.lock
	@echo "==> runtime subset into requirements-runtime.lock"
	@$(LOCK_VENV)/bin/pip install --quiet --dry-run --ignore-installed \
	  --report $(LOCK_VENV)/runtime.json -c requirements.lock .
	@$(LOCK_VENV)/bin/python -m kindred.runtime_lock $(LOCK_VENV)/runtime.json > requirements-runtime.lock
	@rm -rf $(LOCK_VENV)

clean-data:
	rm -rf .data
