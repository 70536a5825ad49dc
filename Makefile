# user_events — see README.md. Every target runs from the repository root.
SHELL := /bin/bash
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
PYTEST_ARGS ?=
# `make dev DAGSTER_STORAGE=postgres`: Dagster instance storage in PostgreSQL (docker/dagster.yaml)
DAGSTER_STORAGE ?= sqlite

.PHONY: install run lint test services-up services-down dev bench clean

install: $(STAMP)

# Re-installs only when pyproject.toml changed; uv makes a no-change run take about a second.
$(STAMP): pyproject.toml
	@test -x $(PY) || python3 -m venv $(VENV) || { python3 -m pip install -q --user uv && python3 -m uv venv $(VENV); }
	@test -x $(VENV)/bin/uv || $(PY) -m pip install -q uv || python3 -m pip install -q --user uv
	@UV=$$(test -x $(VENV)/bin/uv && echo $(VENV)/bin/uv || echo "python3 -m uv"); \
	  $$UV pip install -q --compile-bytecode --python $(PY) -e '.[dev]'
	@touch $(STAMP)
	@echo "installed into $(VENV)"

run: install
	$(VENV)/bin/user-events batch

services-up: install
	$(PY) -m user_events.devservices up

services-down:
	@test -x $(PY) && $(PY) -m user_events.devservices down || true

# ruff, the import rules of docs/architecture.md, and every import declared (the package without the dev extra;
# then the tests and benchmarks, which may use it)
lint: install
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/lint-imports --no-cache
	$(VENV)/bin/deptry .
	$(VENV)/bin/deptry . --extend-exclude user_events/dashboards/server --ignore DEP004

# `make test PYTEST_ARGS="-m unit"`: the pure tests only, without starting any service
test: install lint $(if $(findstring -m unit,$(PYTEST_ARGS)),,services-up)
	set -a; test -f ./.env.services && source ./.env.services; set +a; $(PY) -m pytest $(PYTEST_ARGS)

dev: install services-up
	set -a; source ./.env.services; set +a; \
	  export DAGSTER_HOME=$${DAGSTER_HOME:-$$PWD/.data/dagster_home}; mkdir -p $$DAGSTER_HOME; \
	  if [ "$(DAGSTER_STORAGE)" = postgres ]; then export DAGSTER_PG_URL=$${DAGSTER_PG_URL:-$$USER_EVENTS_DAGSTER_PG_URL}; \
	    cp -f docker/dagster.yaml $$DAGSTER_HOME/dagster.yaml; else cp -f dagster.yaml $$DAGSTER_HOME/dagster.yaml; fi; \
	  $(VENV)/bin/dagster dev -h 127.0.0.1 -p 3000

bench: install services-up
	set -a; source ./.env.services; set +a; $(PY) -m bench.batch && $(PY) -m bench.stream && $(PY) -m bench.hourly

# removes every local service's data, the PostgreSQL cluster kept outside the project included
clean:
	@test -x $(PY) && $(PY) -m user_events.devservices purge || true
	rm -rf .data
