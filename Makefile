# Two commands do all set-up on a fresh machine (see README.md):
#   make demo   the ERP with demo data and its web client, plus the sync API
#   make test   every test, on SQLite and on PostgreSQL
SHELL := /bin/bash
.SHELLFLAGS := -euo pipefail -c
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
INSTALLED := $(VENV)/.installed
UNITTEST := $(BIN)/python -m unittest discover -s crm_module/tests -t . -p 'test_*.py'

.PHONY: help install demo test lint test-module test-module-postgresql \
	test-api-postgresql test-browser test-api bench clean

help:
	@echo "make demo   - build the demo database and run the ERP and the API"
	@echo "make test   - install everything and run every test"
	@echo "make bench  - run every benchmark, write bench/RESULTS.md"
	@echo "make clean  - remove var/ (databases, web client) and .venv/"

$(INSTALLED): setup.py
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --disable-pip-version-check -e '.[test]'
	touch $@

install: $(INSTALLED)

demo: $(INSTALLED)
	.ci/system-deps.sh node
	.ci/demo.sh

# test-api stays last: its pytest summary is the closing line CI reads.
test: $(INSTALLED) lint test-module test-module-postgresql test-api-postgresql \
	test-browser test-api

lint: $(INSTALLED)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

# Tryton's own runner: ModuleTestCase and the proteus scenarios. A fresh
# database cache per run, since the cache is keyed on module names only.
test-module: $(INSTALLED)
	@echo "== crm_module on SQLite"
	cache=$$(mktemp -d) && trap 'rm -rf "$$cache"' EXIT && \
	DB_CACHE=$$cache TRYTOND_DATABASE__URI=sqlite:// DB_NAME=:memory: \
		$(UNITTEST)

# The database cache is a template database per module set; the ones of an
# earlier run may have another schema, so they are dropped first.
test-module-postgresql: $(INSTALLED)
	@echo "== crm_module on PostgreSQL"
	.ci/system-deps.sh postgres
	.ci/postgres.sh start
	trap '.ci/postgres.sh stop' EXIT && \
	for cached in $$(.ci/postgres.sh psql -Atc \
			"SELECT datname FROM pg_database WHERE datname LIKE 'test-%'"); do \
		.ci/postgres.sh psql -qc "DROP DATABASE \"$$cached\""; done && \
	TRYTOND_DATABASE__URI=$$(.ci/postgres.sh url) DB_NAME=test_crm_module \
	DB_CACHE=$$(.ci/postgres.sh url) $(UNITTEST)

# The API's tests end to end on PostgreSQL: the API's database and the
# ERPs the tests start (one database erp_<random> each; those an
# interrupted run left are dropped first).
test-api-postgresql: $(INSTALLED)
	@echo "== sync_api and its ERP on PostgreSQL"
	.ci/system-deps.sh postgres
	.ci/postgres.sh start
	trap '.ci/postgres.sh stop' EXIT && \
	for left in $$(.ci/postgres.sh psql -Atc \
			"SELECT datname FROM pg_database WHERE datname LIKE 'erp\_%'"); do \
		.ci/postgres.sh psql -qc "DROP DATABASE \"$$left\""; done && \
	CRM_API_TEST_POSTGRESQL_URI=$$(.ci/postgres.sh url) \
	CRM_ERP_TEST_POSTGRESQL_URI=$$(.ci/postgres.sh url) \
		$(BIN)/pytest -q tests --ignore=tests/browser

# The web client in headless Chromium against the demo database; a failing
# test leaves a screenshot in var/test-artifacts/browser/.
test-browser: $(INSTALLED)
	@echo "== ERP screens in a browser"
	.ci/system-deps.sh browser node
	$(BIN)/pytest -q tests/browser

test-api: $(INSTALLED)
	@echo "== sync_api"
	$(BIN)/pytest -q tests --ignore=tests/browser

# Every bench/bench_*.py on SQLite and PostgreSQL; writes bench/RESULTS.md
bench: $(INSTALLED)
	$(BIN)/python -m bench.run_all

clean:
	-.ci/postgres.sh stop
	rm -rf var $(VENV)
