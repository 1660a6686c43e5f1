# ml-connector: `make run` and `make test` work from a clean clone (they set up .venv themselves).
SHELL := /bin/bash
PYTHON ?= $(shell command -v python3.12 2>/dev/null || ls -d $${PYENV_ROOT:-$$HOME/.pyenv}/versions/3.12*/bin/python3.12 2>/dev/null | tail -n 1)
VENV := .venv
BIN := $(VENV)/bin
RUN_STAMP := $(VENV)/.run-$(shell cat requirements-run.lock pyproject.toml | sha1sum | cut -c1-12)
TEST_STAMP := $(VENV)/.test-$(shell cat requirements.lock pyproject.toml | sha1sum | cut -c1-12)
# checkov runs from its own venv: its pins (boto3, packaging, networkx) conflict with requirements.lock's.
CHECKOV_VENV := $(VENV)/checkov
CHECKOV_STAMP := $(CHECKOV_VENV)/.lock-$(shell cat requirements-checkov.lock | sha1sum | cut -c1-12)
# The locks pin every package (pip freeze), so pip installs them as they are: no resolving, no .pyc compiling.
PIP_INSTALL := $(BIN)/python -m pip install --disable-pip-version-check -q --no-deps --no-compile
PYTEST_WORKERS ?= 2

.PHONY: venv venv-test run serve test test-fast lint format bench soak build validate clean

$(BIN)/python:
	@test -n "$(PYTHON)" || { echo "python3.12 not found: install it (pyenv install 3.12) or set PYTHON=/path/to/python3.12" >&2; exit 1; }
	$(PYTHON) -m venv $(VENV)

# What make run / serve / mlc need (a subset of requirements.lock, same versions).
$(RUN_STAMP): requirements-run.lock pyproject.toml | $(BIN)/python
	$(PIP_INSTALL) -r requirements-run.lock
	$(PIP_INSTALL) --no-build-isolation -e .
	$(BIN)/python -m pip check -q
	@rm -f $(VENV)/.run-*
	@touch $@

# Everything, for the suite, benchmarks and sam build.
$(TEST_STAMP): requirements.lock pyproject.toml | $(BIN)/python
	$(PIP_INSTALL) -r requirements.lock
	$(PIP_INSTALL) --no-build-isolation -e .
	$(BIN)/python -m pip check -q
	@rm -f $(VENV)/.test-*
	@touch $@

# The template scan's checkov (tests/unit/test_template_checkov.py), inside .venv so `make clean` removes it.
$(CHECKOV_STAMP): requirements-checkov.lock | $(BIN)/python
	rm -rf $(CHECKOV_VENV)
	$(PYTHON) -m venv $(CHECKOV_VENV)
	$(CHECKOV_VENV)/bin/python -m pip install --disable-pip-version-check -q --no-deps -r requirements-checkov.lock
	$(CHECKOV_VENV)/bin/python -m pip check -q
	@touch $@

venv: $(RUN_STAMP)
venv-test: $(TEST_STAMP) $(CHECKOV_STAMP)

## run: full sync on the embedded local stack against the sandboxes, print the report, exit 0 only if reconciled
run: venv
	$(BIN)/python -m local.run

## serve: keep the local stack up and print the webhook URL for a real store to call
serve: venv
	$(BIN)/python -m local.serve

## test: the whole suite (lint, template checks, unit, integration, end-to-end)
test: venv-test
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	bash scripts/ensure-chromium.sh
	$(BIN)/pytest -n $(PYTEST_WORKERS) --dist loadfile --no-loadscope-reorder -p no:cacheprovider

test-fast: venv-test
	$(BIN)/pytest -m "not slow" -x -q

lint: venv-test
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: venv-test
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

## bench: benchmarks; figures printed and written to bench-results/, no pass/fail
bench: venv-test
	$(BIN)/python -m tests.bench

## soak: 10,000 orders through every pair at once under every fault (SOAK_ORDERS=n for another size); figures
## printed and written to bench-results/soak.json; exit 1 on any loss, duplicate, imbalance or leak. Not in make test.
soak: venv-test
	$(BIN)/python -m tests.bench.soak

## build: sam build without Docker (python3.12 must be on PATH)
build: venv-test
	PATH="$(dir $(PYTHON)):$$PATH" $(BIN)/sam build --template template.yaml

validate: venv-test
	$(BIN)/cfn-lint template.yaml
	$(BIN)/sam validate --lint --template template.yaml

clean:
	rm -rf $(VENV) .aws-sam bench-results reports
