# The front door: `make run` starts the product locally, `make test` runs every check.
SHELL := /bin/bash
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
export PYTHONPATH := layers/common:.
export PYTHONDONTWRITEBYTECODE := 1

.PHONY: run test lint typecheck unit migrate schema bench build deploy lock clean validate sam-test-build

# The SAM CLI lives in its own venv so its pins never meet the project's.
SAM_CLI_VERSION := 1.170.0
SAM_VENV := .tools/sam
SAM_STAMP := $(SAM_VENV)/.installed-$(SAM_CLI_VERSION)
# sam build resolves the layer's wheels with the python3.12 it finds on PATH.
# The project's PYTHONPATH is not the SAM CLI's business.
SAM := env -u PYTHONPATH PATH="$$(dirname $$(tools/python312.sh)):$$PATH" SAM_CLI_TELEMETRY=0 $(SAM_VENV)/bin/sam
SAM_CONFIG_ENV ?= default
# The packaging test imports the built code here, so it is built for this machine's architecture.
SAM_TEST_BUILD := .aws-sam/test-build
MACHINE_ARCH := $(if $(filter aarch64 arm64,$(shell uname -m)),arm64,x86_64)

$(STAMP): requirements-dev.txt layers/common/requirements.txt constraints.txt tools/python312.sh
	@echo "Setting up $(VENV) with Python 3.12 and pinned dependencies (first run takes a minute)..."
	@PY312=$$(tools/python312.sh) && [ -x $(PY) ] || $$PY312 -m venv $(VENV)
	@$(PY) -m pip install --quiet --disable-pip-version-check --upgrade pip==25.3
	@$(PY) -m pip install --quiet --disable-pip-version-check -r requirements-dev.txt -c constraints.txt
	@$(PY) -m pip check
	@touch $(STAMP)

run: $(STAMP)  ## the whole product locally (embedded Postgres, moto, local gateway and engine)
	@$(PY) -m devstack

test: lint validate sam-test-build $(STAMP)  ## every test: unit, integration (real Postgres + moto), e2e, packaging
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

$(SAM_STAMP): tools/python312.sh
	@echo "Setting up the SAM CLI $(SAM_CLI_VERSION) in $(SAM_VENV)..."
	@rm -rf $(SAM_VENV) && PY312=$$(tools/python312.sh) && $$PY312 -m venv $(SAM_VENV)
	@$(SAM_VENV)/bin/python -m pip install --quiet --disable-pip-version-check aws-sam-cli==$(SAM_CLI_VERSION)
	@touch $(SAM_STAMP)

validate: $(SAM_STAMP)  ## sam validate --lint (cfn-lint) on template.yaml
	@$(SAM) validate --lint

build: $(SAM_STAMP)  ## sam build for Lambda (arm64) into .aws-sam/build
	@$(SAM) build --config-env $(SAM_CONFIG_ENV)

sam-test-build: $(SAM_STAMP)  ## sam build for this machine's architecture, for the packaging test
	@$(SAM) build --build-dir $(SAM_TEST_BUILD) --cache-dir .aws-sam/test-cache \
		--parameter-overrides Architecture=$(MACHINE_ARCH)

deploy: build  ## sam deploy; SAM_CONFIG_ENV=dev|prod picks that section of samconfig.toml
	@$(SAM) deploy --config-env $(SAM_CONFIG_ENV)

clean:
	rm -rf $(VENV) .tools .aws-sam .bench .pytest_cache .mypy_cache .ruff_cache
