# Two commands on a fresh machine: `make up` runs the whole system, `make test` runs every test.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python

.PHONY: up test install unit schemas bench clean demo

install: $(VENV)/.installed console/node_modules/.package-lock.json

$(VENV)/.installed: requirements.txt requirements-dev.txt pyproject.toml deploy/kafka/pom.xml deploy/keycloak/keycloak.sh
	deploy/system-packages.sh
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install -q --upgrade pip
	$(VENV)/bin/pip install -q -r requirements-dev.txt
	$(VENV)/bin/pip install -q --no-deps -e .  # the `jingkang` command (cli/)
	deploy/kafka/kafka.sh install
	deploy/keycloak/keycloak.sh install
	touch $@

# The console's browser assets (htmx, ECharts, axe-core), pinned by its package-lock.json.
console/node_modules/.package-lock.json: console/package.json console/package-lock.json
	npm ci --prefix console --no-audit --no-fund

# make up STORE=postgres: stores in the project's PostgreSQL cluster; SCALE=2: two API
# processes (one port) and two workers per service; IDP=keycloak: sign-in by OpenID Connect
# against deploy/keycloak's realm instead of development tokens.
up: install
	$(PY) deploy/run.py $(if $(STORE),--store $(STORE)) $(if $(SCALE),--scale $(SCALE)) $(if $(IDP),--idp $(IDP))

# The fictional demo district (console/demo.py), loaded through the APIs of the system `make up` runs.
demo: install
	$(PY) -m console.demo

# Every test: unit, contract, integration (real PostgreSQL and Kafka, started by tests/conftest.py)
# and end to end (the system as `make up` runs it).
test: install
	$(PY) -m pytest -q

unit: install
	$(PY) -m pytest -q tests/unit tests/contract

schemas: install
	$(PY) -m shared.contract

# Benchmarks against raw baselines (not tests): writes bench/results/latest.{json,md}
bench: install
	$(PY) bench/run.py

clean:
	-deploy/kafka/kafka.sh stop
	-deploy/keycloak/keycloak.sh stop
	-deploy/postgres/postgres.sh stop
	rm -rf .data
