# The front door: `make run` starts the product locally, `make test` runs every check.
SHELL := /bin/bash
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
export PYTHONPATH := layers/common:.
export PYTHONDONTWRITEBYTECODE := 1

.PHONY: run test docs docs-build soak lint typecheck unit migrate api-key schema types bench build deploy lock clean validate sam-test-build

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
# The tests' database traffic goes through a transaction-mode PgBouncer, as production's goes
# through Supabase's pooler (tests/pgbouncer.py): Debian's package (in /usr/sbin, often not on a
# user's PATH), installed when missing.
PGBOUNCER := $(or $(shell command -v pgbouncer),/usr/sbin/pgbouncer)
# The dashboard's browser tests drive Debian's Chromium through Playwright (no browser download).
CHROMIUM := $(or $(shell command -v chromium),/usr/bin/chromium)
SUDO := $(if $(filter 0,$(shell id -u)),,sudo)
# The TypeScript client's npm packages (the tests type-check it and run it): npm ci again
# whenever the lock file changes.
TS_CLIENT := clients/typescript
NODE_STAMP := $(TS_CLIENT)/node_modules/.installed

$(STAMP): requirements-dev.txt layers/common/requirements.txt constraints.txt tools/python312.sh
	@echo "Setting up $(VENV) with Python 3.12 and pinned dependencies (first run takes a minute)..."
	@PY312=$$(tools/python312.sh) && [ -x $(PY) ] || $$PY312 -m venv $(VENV)
	@$(PY) -m pip install --quiet --disable-pip-version-check --upgrade pip==25.3
	@$(PY) -m pip install --quiet --disable-pip-version-check -r requirements-dev.txt -c constraints.txt
	@$(PY) -m pip check
	@touch $(STAMP)

run: $(STAMP)  ## the whole product locally (embedded Postgres, moto, local gateway and engine)
	@$(PY) -m devstack

# The tests run on three processes (pytest-xdist): each has its own PostgreSQL, PgBouncer and
# local stack on ports of its own (tests/conftest.py). A test file stays on one process, so its
# module fixtures and module state (test_runner_faults' summary) stay together and nothing it
# writes is written by two at once; files go out in collection order, e2e's first, so each
# process starts its stack once and the many short unit tests fill the end. Three on two cores:
# the tests wait on servers (Postgres, the local stack, Chromium) much of the time, and a third
# process filled that (a fresh clone's pytest 8 min 1 s with two, 7 min 2 s with three); more
# would mostly add servers. Tests marked `serial` assert timing windows, so they run afterwards,
# alone.
TEST_WORKERS ?= 3

test: lint docs-build validate sam-test-build $(STAMP) $(PGBOUNCER) $(CHROMIUM) $(NODE_STAMP)  ## every test: unit, integration (real Postgres + PgBouncer + moto), e2e (the dashboard in Chromium too), packaging
	@$(PY) -m pytest --numprocesses $(TEST_WORKERS) --dist loadfile --no-loadscope-reorder -m "not serial"
	@$(PY) -m pytest -m serial

# The simulation (tests/simulation) on many seeds, SIM_SEEDS of them (default 100, from
# SIM_FIRST_SEED): its last line sums them up. make test runs a few fixed seeds of it.
soak: $(STAMP) $(PGBOUNCER)  ## the seeded simulation of the whole scheduler on many seeds (about 10 min)
	@$(PY) -m tests.simulation $${SIM_SEEDS:-100} $${SIM_FIRST_SEED:-0}

$(NODE_STAMP): $(TS_CLIENT)/package.json $(TS_CLIENT)/package-lock.json
	@echo "Installing the TypeScript client's pinned npm packages (npm ci)..."
	@cd $(TS_CLIENT) && npm ci --no-audit --no-fund --loglevel=error
	@touch $(NODE_STAMP)

$(PGBOUNCER):
	@echo "Installing pgbouncer with apt-get (the tests' transaction pooler)..."
	@$(SUDO) apt-get update -qq
	@$(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq pgbouncer >/dev/null

$(CHROMIUM):
	@echo "Installing chromium with apt-get (the dashboard's browser tests)..."
	@$(SUDO) apt-get update -qq
	@$(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null

# The docs site (MkDocs Material, mkdocs.yml, pages in docs/). Its API reference page is rendered
# at build time from the API's OpenAPI document (tools/mkdocs_api_reference.py), so it needs the
# PYTHONPATH above. Material's banner about its successor is silenced: it is not a build warning.
MKDOCS := NO_MKDOCS_2_WARNING=1 $(VENV)/bin/mkdocs

docs: $(STAMP)  ## serve the docs site on http://127.0.0.1:8000 (DOCS_ADDR=host:port for another), rebuilt on every change
	@$(MKDOCS) serve --dev-addr $${DOCS_ADDR:-127.0.0.1:8000}

# strict (mkdocs.yml's validation settings): a broken link or anchor, or a page missing from the
# nav, fails the build. Into .site/ (git-ignored).
docs-build: $(STAMP)  ## build the docs site into .site/ with --strict (make test runs it)
	@$(MKDOCS) build --strict --clean

lint: $(STAMP)
	@$(VENV)/bin/ruff check .
	@$(VENV)/bin/ruff format --check .
	@$(VENV)/bin/mypy
	@$(VENV)/bin/lint-imports --no-cache

migrate: $(STAMP)  ## apply pending migrations to $$DATABASE_URL
	@test -n "$$DATABASE_URL" || { echo "Set DATABASE_URL, e.g. make migrate DATABASE_URL=postgresql://..."; exit 2; }
	@$(PY) -m scheduler.store.migrate migrations

# NAME, SCOPE and EXPIRES reach the command as environment variables (make exports what is set on
# its command line), so no quoting of theirs can break the recipe.
api-key: $(STAMP)  ## issue an API key in $$DATABASE_URL: NAME=... SCOPE=all|owner:<uuid>[:read-only] [EXPIRES=...]
	@test -n "$$DATABASE_URL" || { echo "Set DATABASE_URL, e.g. make api-key DATABASE_URL=postgresql://... NAME=worker SCOPE=all"; exit 2; }
	@test -n "$$NAME" -a -n "$$SCOPE" || { echo "Say what the key is for and what it may do: make api-key NAME=worker SCOPE=all (or all:read-only, owner:<uuid>, owner:<uuid>:read-only)"; exit 2; }
	@$(PY) -m scheduler.auth.key_admin --name "$$NAME" --scope "$$SCOPE" $${EXPIRES:+--expires "$$EXPIRES"}

schema: $(STAMP)  ## JSON Schema of the API models for front ends (schema/)
	@$(PY) -m scheduler.models.json_schema schema

types: $(STAMP) $(NODE_STAMP)  ## regenerate the TypeScript types ($(TS_CLIENT)/src/api.d.ts) from the API's OpenAPI document
	@$(TS_CLIENT)/generate.sh

# The cold-start suite measures what sam build produced for this machine, so it builds first.
bench: $(STAMP) sam-test-build  ## ratios and counts, written to .bench/results.json
	@$(PY) -m bench

lock:  ## re-pin every transitive dependency after editing requirements.in or requirements-dev.txt
	@rm -rf .lock-venv && PY312=$$(tools/python312.sh) && $$PY312 -m venv .lock-venv
	@.lock-venv/bin/pip install --quiet --upgrade pip==25.3
	@.lock-venv/bin/pip install --quiet -r layers/common/requirements.in
	@{ echo "# Generated by 'make lock' from requirements.in: every runtime dependency of the layer, pinned."; \
	   .lock-venv/bin/pip freeze --exclude pip; } > layers/common/requirements.txt
	@.lock-venv/bin/pip install --quiet -r requirements-dev.txt
	@{ echo "# Every transitive dependency pinned (regenerate with 'make lock' after changing a requirements file)."; \
	   .lock-venv/bin/pip freeze --exclude pip; } > constraints.txt && rm -rf .lock-venv

$(SAM_STAMP): tools/python312.sh
	@echo "Setting up the SAM CLI $(SAM_CLI_VERSION) in $(SAM_VENV)..."
	@rm -rf $(SAM_VENV) && PY312=$$(tools/python312.sh) && $$PY312 -m venv $(SAM_VENV)
	@$(SAM_VENV)/bin/python -m pip install --quiet --disable-pip-version-check aws-sam-cli==$(SAM_CLI_VERSION)
	@touch $(SAM_STAMP)

validate: $(SAM_STAMP)  ## sam validate --lint (cfn-lint) on template.yaml
	@$(SAM) validate --lint

# layers/common/Makefile reads LAYER_ARCH to fetch the layer's wheels for that architecture.
build: $(SAM_STAMP)  ## sam build for Lambda (arm64) into .aws-sam/build
	@LAYER_ARCH=arm64 $(SAM) build --config-env $(SAM_CONFIG_ENV)

sam-test-build: $(SAM_STAMP)  ## sam build for this machine's architecture, for the packaging test and make bench
	@LAYER_ARCH=$(MACHINE_ARCH) $(SAM) build --build-dir $(SAM_TEST_BUILD) \
		--cache-dir .aws-sam/test-cache --parameter-overrides Architecture=$(MACHINE_ARCH)

deploy: build  ## sam deploy; SAM_CONFIG_ENV=dev|prod picks that section of samconfig.toml
	@$(SAM) deploy --config-env $(SAM_CONFIG_ENV)

clean:
	rm -rf $(VENV) .tools .aws-sam .bench .pytest_cache .mypy_cache .ruff_cache
