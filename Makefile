# ml-connector: `make run` and `make test` work from a clean clone (they set up .venv themselves).
SHELL := /bin/bash
PYTHON ?= $(shell command -v python3.12 2>/dev/null || ls -d $${PYENV_ROOT:-$$HOME/.pyenv}/versions/3.12*/bin/python3.12 2>/dev/null | tail -n 1)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-$(shell cat requirements.lock pyproject.toml | sha1sum | cut -c1-12)
PYTEST_WORKERS ?= 2

.PHONY: venv run serve test test-fast lint format bench build validate clean

$(STAMP): requirements.lock pyproject.toml
	@test -n "$(PYTHON)" || { echo "python3.12 not found: install it (pyenv install 3.12) or set PYTHON=/path/to/python3.12" >&2; exit 1; }
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --disable-pip-version-check -q -r requirements.lock
	$(BIN)/python -m pip install --disable-pip-version-check -q --no-deps --no-build-isolation -e .
	@rm -f $(VENV)/.installed-*
	@touch $@

venv: $(STAMP)

## run: full sync on the embedded local stack against the sandboxes, print the report, exit 0 only if reconciled
run: venv
	$(BIN)/python -m local.run

## serve: keep the local stack up and print the webhook URL for a real store to call
serve: venv
	$(BIN)/python -m local.serve

## test: the whole suite (lint, template checks, unit, integration, end-to-end)
test: venv
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	bash scripts/ensure-chromium.sh
	$(BIN)/pytest -n $(PYTEST_WORKERS) -p no:cacheprovider

test-fast: venv
	$(BIN)/pytest -m "not slow" -x -q

lint: venv
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: venv
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

## bench: benchmarks; figures printed and written to bench-results/, no pass/fail
bench: venv
	$(BIN)/python -m tests.bench

## build: sam build without Docker (python3.12 must be on PATH)
build: venv
	PATH="$(dir $(PYTHON)):$$PATH" $(BIN)/sam build --template template.yaml

validate: venv
	$(BIN)/cfn-lint template.yaml
	$(BIN)/sam validate --lint --template template.yaml

clean:
	rm -rf $(VENV) .aws-sam bench-results reports
