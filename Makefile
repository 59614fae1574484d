# The front door: `make run` starts the product locally, `make test` runs every check.
SHELL := /bin/bash
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
export PYTHONPATH := layers/common:.
export PYTHONDONTWRITEBYTECODE := 1

.PHONY: run test lint typecheck unit migrate schema bench build deploy lock clean

$(STAMP): requirements-dev.txt layers/common/requirements.txt constraints.txt tools/python312.sh
	@echo "Setting up $(VENV) with Python 3.12 and pinned dependencies (first run takes a minute)..."
	@PY312=$$(tools/python312.sh) && [ -x $(PY) ] || $$PY312 -m venv $(VENV)
	@$(PY) -m pip install --quiet --disable-pip-version-check --upgrade pip==25.3
	@$(PY) -m pip install --quiet --disable-pip-version-check -r requirements-dev.txt -c constraints.txt
	@$(PY) -m pip check
	@touch $(STAMP)

run: $(STAMP)  ## the whole product locally (embedded Postgres, moto, local gateway and engine)
	@$(PY) -m devstack

test: lint $(STAMP)  ## every test: unit, integration (real Postgres + moto), e2e
	@$(PY) -m pytest

lint: $(STAMP)
	@$(VENV)/bin/ruff check .
	@$(VENV)/bin/ruff format --check .
	@$(VENV)/bin/mypy

migrate: $(STAMP)  ## apply pending migrations to $$DATABASE_URL
	@test -n "$$DATABASE_URL" || { echo "Set DATABASE_URL, e.g. make migrate DATABASE_URL=postgresql://..."; exit 2; }
	@$(PY) -m scheduler.migrate migrations

schema: $(STAMP)  ## JSON Schema of the API models for front ends (schema/)
	@$(PY) -m scheduler.models schema

bench: $(STAMP)  ## ratios and counts, written to .bench/results.json
	@$(PY) -m bench

lock:  ## re-pin every transitive dependency after editing a requirements file
	@rm -rf .lock-venv && PY312=$$(tools/python312.sh) && $$PY312 -m venv .lock-venv
	@.lock-venv/bin/pip install --quiet --upgrade pip==25.3 && .lock-venv/bin/pip install --quiet -r requirements-dev.txt
	@{ echo "# Every transitive dependency pinned (regenerate with 'make lock' after changing a requirements file)."; \
	   .lock-venv/bin/pip freeze --exclude pip; } > constraints.txt && rm -rf .lock-venv

clean:
	rm -rf $(VENV) .aws-sam .bench .pytest_cache .mypy_cache .ruff_cache
