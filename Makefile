# retrain — make help lists the targets.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
PARAMS ?= params/local.yaml
PYTEST_ARGS ?=
export SAGEMAKER_SUPPRESS_V2_WARNING := 1
export PIP_DISABLE_PIP_VERSION_CHECK := 1

.DEFAULT_GOAL := help
.PHONY: help setup run test test-fast lint bench bench-quick data notebooks lock clean

help: ## List the targets
	@grep -hE '^[a-zA-Z_-]+:.*?## ' $(MAKEFILE_LIST) | awk 'BEGIN {FS = ":.*?## "}; {printf "  \033[36m%-11s\033[0m %s\n", $$1, $$2}'

IMAGE_REQUIREMENTS := $(wildcard lib/localcloud/images/*/requirements.txt)

$(STAMP): requirements.lock pyproject.toml $(IMAGE_REQUIREMENTS)
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade "pip>=24"
	$(PY) -m pip install -q -r requirements.lock
	$(PY) -m pip install -q --no-deps --no-build-isolation -e .
	$(VENV)/bin/localcloud images install
	@touch $(STAMP)

setup: $(STAMP) ## Create .venv, install the locked dependencies and the algorithm images' environments (idempotent)

run: setup ## Run the retraining pipeline on the local target (params/local.yaml)
	$(VENV)/bin/retrain run --params $(PARAMS)

test: setup ## Run the whole test suite, slow end-to-end tests included
	$(PY) -m pytest $(PYTEST_ARGS)

test-fast: setup ## Run the tests not marked slow
	$(PY) -m pytest -m "not slow" $(PYTEST_ARGS)

lint: setup ## ruff over the code
	$(VENV)/bin/ruff check lib code tests notebooks bench

BENCH_ARGS ?=

bench: setup ## Measure speed, each figure the median of 3 runs; writes reports/bench/bench.json (BENCH_ARGS adds options)
	$(PY) bench/bench.py $(BENCH_ARGS)

bench-quick: setup ## The developer loop's speed check (cold, floor, endpoint once); writes reports/bench-quick/
	$(PY) bench/bench.py --quick $(BENCH_ARGS)

notebooks: setup ## Write each notebooks/*.ipynb from its percent-format .py source (cells only, no outputs)
	$(VENV)/bin/jupytext --update --to ipynb notebooks/0*.py

data: setup ## Regenerate data/customer-churn.csv (seeded, byte-identical)
	$(PY) -m retrain.data --out data/customer-churn.csv

lock: ## Re-create requirements.lock from a fresh install of pyproject.toml
	rm -rf .lockvenv && $(PYTHON) -m venv .lockvenv
	.lockvenv/bin/pip install -q --upgrade "pip>=24" && .lockvenv/bin/pip install -q ".[test]"
	.lockvenv/bin/pip freeze --all --exclude-editable | grep -vE '^(pip|retrain)==' > requirements.lock
	rm -rf .lockvenv

clean: ## Remove .venv, caches, local cloud state and reports
	rm -rf $(VENV) .pytest_cache .ruff_cache .localcloud reports spark-warehouse metastore_db derby.log
	find . -name __pycache__ -type d -prune -exec rm -rf {} +
