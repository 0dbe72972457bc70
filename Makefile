# Sankaku — see README.md. `make run` and `make test` work on a fresh Debian machine.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
export FLASK_APP := app:create_app
HOST ?= 127.0.0.1
PORT ?= 5000

.PHONY: help run test setup system venv translations extract-messages lint typecheck bench \
        demo-card clean a11y-deps sbom lock dist

help:
	@echo "make run    - set up and serve the demo town at http://$(HOST):$(PORT)"
	@echo "make test   - set up and run ruff, mypy and all tests (SQLite, then PostgreSQL)"
	@echo "make bench  - run the benchmarks (not part of the tests; BENCH_ARGS=--quick)"
	@echo "make sbom   - write the CycloneDX SBOM of the installed dependencies to dist/sbom.cdx.json"
	@echo "make dist   - build the production wheel into dist/ (app, catalogues, migrations only)"
	@echo "make lock   - regenerate the hash-pinned requirements/*lock.txt from pyproject.toml"
	@echo "make lint | typecheck | translations | extract-messages | clean"

system:
	@scripts/ensure-system.sh run

# Every distribution in the venv comes from the hash-pinned lock (runtime, test extra, pip and
# the build backend); the project itself is then installed without dependencies and without
# build isolation, so nothing is fetched unpinned. A changed lock reinstalls.
LOCK := requirements/lock.txt
$(VENV)/.installed: pyproject.toml $(LOCK)
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --require-hashes -r $(LOCK)
	$(BIN)/python -m pip install -q --no-deps --no-build-isolation -e .
	@touch $@

venv: $(VENV)/.installed

# The folder list comes from the app package; if importing it fails, stop here instead of
# compiling nothing and leaving every page in English.
translations: venv
	@dirs=$$($(BIN)/python -c 'from app import translation_directories as t; print(" ".join(t()))') \
	  && [ -n "$$dirs" ] || { echo "error: could not list the translation folders" >&2; exit 1; }; \
	for dir in $$dirs; do \
	  $(BIN)/pybabel compile -d $$dir >/dev/null || exit 1; \
	done

extract-messages: venv
	$(BIN)/pybabel -q extract -F babel.cfg -k _l -k _n:1,2 --no-location --sort-output \
	  --omit-header -o app/translations/messages.pot .
	$(BIN)/pybabel -q update -i app/translations/messages.pot -d app/translations -l ja \
	  --no-fuzzy-matching

setup: system venv translations

# axe-core for tests/a11y, from the npm registry at the version in package-lock.json.
A11Y := tests/a11y
$(A11Y)/node_modules/.package-lock.json: $(A11Y)/package-lock.json
	cd $(A11Y) && npm ci --no-audit --no-fund --loglevel=error

a11y-deps: $(A11Y)/node_modules/.package-lock.json

run: setup
	@HOST=$(HOST) PORT=$(PORT) scripts/run-demo.sh

test:
	@scripts/ensure-system.sh test
	@$(MAKE) --no-print-directory venv translations a11y-deps
	@scripts/run-tests.sh

lint: venv
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: venv
	$(BIN)/mypy

bench: setup
	@scripts/ensure-system.sh bench
	@scripts/run-bench.sh $(BENCH_ARGS)

# LOCK_ARGS=--upgrade takes the newest versions; LOCK_ARGS="--upgrade-package NAME" one package.
lock:
	@PYTHON=$(PYTHON) scripts/lock.sh $(LOCK_ARGS)

dist: translations
	$(BIN)/python scripts/build-wheel.py dist

sbom: venv
	@mkdir -p dist
	$(BIN)/cyclonedx-py environment --pyproject pyproject.toml --of JSON -o dist/sbom.cdx.json $(BIN)/python

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache *.egg-info $(A11Y)/node_modules
	find app -name '*.mo' -delete
