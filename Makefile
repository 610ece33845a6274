# The few verbs people type. Every target installs what it needs on first use.
PYTHON ?= python3
VENV ?= .venv
SAM_VENV ?= .venv-sam
# checkov pins boto3 exactly (3.3.30: boto3==1.35.49, whose geo-places model lacks features the
# Location emulator follows): it gets a virtualenv of its own, like the SAM CLI.
CHECKOV_VENV ?= .venv-checkov
CHECKOV := $(CHECKOV_VENV)/bin/checkov
PY := $(VENV)/bin/python
SAM := $(SAM_VENV)/bin/sam
NODE_DIR := .ci/node
ASL_VALIDATOR := $(NODE_DIR)/node_modules/.bin/asl-validator
PYTEST_ARGS ?=

.PHONY: demo test unit lint validate reliability bench build clean

## demo: run the pipeline locally (moto + the Dataflow emulator) on the bundled sample
## (installs only the [local] extra: what the local run needs, not the test tools)
demo: $(VENV)/.installed-local
	$(VENV)/bin/geocode-dataflow local demo

## test: the whole test suite, template and state machine validators included
test: $(VENV)/.installed $(SAM_VENV)/.installed $(CHECKOV_VENV)/.installed $(ASL_VALIDATOR)
	$(VENV)/bin/ruff check layers functions tests
	REQUIRE_TOOLS=1 SAM_CLI=$(abspath $(SAM)) ASL_VALIDATOR=$(abspath $(ASL_VALIDATOR)) \
		CHECKOV=$(abspath $(CHECKOV)) \
		$(PY) -m pytest -m "not benchmark and not reliability" $(PYTEST_ARGS)

unit: $(VENV)/.installed
	$(PY) -m pytest tests/unit $(PYTEST_ARGS)

lint: $(VENV)/.installed
	$(VENV)/bin/ruff check layers functions tests

validate: $(VENV)/.installed $(SAM_VENV)/.installed $(ASL_VALIDATOR)
	$(VENV)/bin/cfn-lint template.yaml
	SAM_CLI_TELEMETRY=0 $(SAM) validate --lint --region us-east-1

## reliability: the reliability suite, figures printed in one table
reliability: $(VENV)/.installed
	$(PY) -m pytest -m reliability -s tests/reliability $(PYTEST_ARGS)

## bench: performance figures (printed, not asserted)
bench: $(VENV)/.installed
	$(PY) -m pytest -m benchmark -s tests/benchmarks $(PYTEST_ARGS)

## build: sam build (needs a python3.12 on PATH; pyenv's is used when present)
build: $(SAM_VENV)/.installed
	SAM_CLI_TELEMETRY=0 PYENV_VERSION=3.12.1:$$(pyenv version-name 2>/dev/null || echo system) $(SAM) build

$(VENV)/.installed: pyproject.toml
	@echo "Installing the project with its test tools ([dev] extra) into $(VENV) ..."
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e ".[dev]"
	touch $@ $(VENV)/.installed-local

$(VENV)/.installed-local: pyproject.toml
	@echo "Installing the project and the local run ([local] extra) into $(VENV) ..."
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	@# Not quiet: pip's lines and progress bars show where a first run is.
	$(PY) -m pip install --progress-bar on -e ".[local]"
	touch $@

$(SAM_VENV)/.installed:
	test -x $(SAM_VENV)/bin/python || $(PYTHON) -m venv $(SAM_VENV)
	$(SAM_VENV)/bin/python -m pip install --quiet --upgrade pip
	$(SAM_VENV)/bin/python -m pip install --quiet "aws-sam-cli>=1.120"
	touch $@

$(CHECKOV_VENV)/.installed:
	test -x $(CHECKOV_VENV)/bin/python || $(PYTHON) -m venv $(CHECKOV_VENV)
	$(CHECKOV_VENV)/bin/python -m pip install --quiet --upgrade pip
	$(CHECKOV_VENV)/bin/python -m pip install --quiet "checkov>=3.2"
	touch $@

$(ASL_VALIDATOR): .ci/node/package.json
	cd $(NODE_DIR) && npm install --no-audit --no-fund --silent
	touch $@

clean:
	rm -rf .aws-sam local-results .pytest_cache
