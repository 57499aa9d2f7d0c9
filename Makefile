# seatflow — `make help` lists the targets.
PYTHON ?= python3
VENV   := .venv
CODE   := $(wildcard src tests bench scripts)
BIN    := $(VENV)/bin
PG_HOST ?= 127.0.0.1
PG_PORT ?= 5432
PG_TEST_DB ?= seatflow_test_$(shell echo $$PPID)

.DEFAULT_GOAL := help
.PHONY: help install demo serve test test-later test-pg lint fmt typecheck check migrate bench clean

help: ## List the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-10s %s\n", $$1, $$2}'

$(BIN)/python:
	@$(PYTHON) -c 'import sys; sys.exit("seatflow needs Python 3.11 or newer" if sys.version_info < (3, 11) else 0)'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip

$(VENV)/.installed: $(BIN)/python pyproject.toml constraints.txt
	$(BIN)/pip install -q -c constraints.txt -e '.[dev]'
	@touch $@

# axe-core for the browser tests' accessibility checks, at the version tests/a11y/package-lock.json pins.
A11Y := tests/a11y
$(A11Y)/node_modules/.installed: $(A11Y)/package.json $(A11Y)/package-lock.json $(A11Y)/.npmrc
	cd $(A11Y) && npm ci --no-audit --no-fund --loglevel=error
	@touch $@

install: $(VENV)/.installed $(A11Y)/node_modules/.installed ## Create .venv and install seatflow with its pinned dependencies (and axe-core)

demo: $(VENV)/.installed ## The demo on SQLite: API, console, portal (:8000), worker, simulator (:8100), Pine Cone Vet loaded
	$(BIN)/seatflow demo

serve: $(VENV)/.installed ## Serve the API on the configured database (SEATFLOW_DATABASE_URL)
	$(BIN)/seatflow serve

migrate: $(VENV)/.installed ## Migrate the configured database (SEATFLOW_DATABASE_URL)
	$(BIN)/seatflow db upgrade

test: install ## Run the tests (SQLite; PostgreSQL when SEATFLOW_TEST_DATABASE_URL is set)
	$(BIN)/pytest

# Only the wall clock moves (a moved monotonic clock hangs Python's timed waits); tests/faketime mends time.sleep.
test-later: install ## Run the tests a year from now (faketime): none may depend on the real date
	FAKETIME_DONT_FAKE_MONOTONIC=1 PYTHONPATH=$(CURDIR)/tests/faketime$${PYTHONPATH:+:$$PYTHONPATH} \
	  faketime "$$(date -d '+1 year' '+%Y-%m-%d %H:%M:%S')" $(BIN)/pytest -p no:cacheprovider

test-pg: install ## Run the tests against a fresh PostgreSQL database on $(PG_HOST):$(PG_PORT)
	$(BIN)/python scripts/pg_test_db.py create $(PG_TEST_DB)
	SEATFLOW_TEST_DATABASE_URL=postgresql+psycopg://postgres@$(PG_HOST):$(PG_PORT)/$(PG_TEST_DB) $(BIN)/pytest; \
	  status=$$?; $(BIN)/python scripts/pg_test_db.py drop $(PG_TEST_DB); exit $$status

lint: install ## ruff (lint and formatting) and the layer rules of docs/architecture.md (import-linter)
	$(BIN)/ruff check $(CODE)
	$(BIN)/ruff format --check $(CODE)
	$(BIN)/lint-imports --no-cache

fmt: install ## Format the code
	$(BIN)/ruff format $(CODE)
	$(BIN)/ruff check --fix $(CODE)

typecheck: install ## mypy --strict over src
	$(BIN)/mypy

check: lint typecheck test ## Everything CI checks except PostgreSQL

bench: install ## Run the benchmarks on SQLite and PostgreSQL (figures go to docs/benchmarks.md)
	$(BIN)/python bench/catalog_import.py
	$(BIN)/python bench/catalog_import.py --postgres
	$(BIN)/python bench/provisioning.py
	$(BIN)/python bench/provisioning.py --postgres
	$(BIN)/python bench/provisioning.py --faults throttle=0.05,error=0.05,lost=0.05
	$(BIN)/python bench/recording.py
	$(BIN)/python bench/recording.py --postgres postgresql+psycopg://postgres@$(PG_HOST):$(PG_PORT)/seatflow_bench_recording
	$(BIN)/python bench/reduction_history.py
	$(BIN)/python bench/sqlite_writers.py
	$(BIN)/python bench/billing_run.py --dry-run-too
	$(BIN)/python bench/billing_run.py --dry-run-too --postgres
	$(BIN)/python bench/price_sheet.py
	$(BIN)/python bench/price_sheet.py --postgres
	$(BIN)/python bench/margin_report.py
	$(BIN)/python bench/margin_report.py --postgres
	$(BIN)/python bench/api_load.py --steady-rate 200
	$(BIN)/python bench/api_load.py --steady-rate 200 --postgres
	$(BIN)/python bench/api_statements.py --postgres
	$(BIN)/python bench/api_load.py --workers 2
	$(BIN)/python bench/api_load.py --workers 2 --postgres

clean: ## Remove the virtualenv and caches
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
