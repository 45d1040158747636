# Every target creates .venv and installs the pinned dependencies when they are missing.
STACK ?= qa
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
INSTALLED := $(VENV)/.installed
PULUMI_MISSING := the Pulumi CLI is not on PATH; install it from https://www.pulumi.com/docs/install/ (e.g. curl -fsSL https://get.pulumi.com | sh) and run again

.PHONY: render test lint docs preview up pulumi-cli bench size clean

$(INSTALLED): requirements.txt requirements-dev.txt
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "elk-stack needs Python 3.11 or later; set PYTHON=python3.11")'
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -r requirements-dev.txt
	@touch $@

render: $(INSTALLED)  ## Render Pulumi.$(STACK).yaml to build/$(STACK)/ without a cluster.
	$(PY) -m tools.render $(STACK)

test: $(INSTALLED)  ## The whole test suite: mocks, render, schema validation.
	$(PY) -m pytest

lint: $(INSTALLED)  ## ruff (lint and format) and mypy.
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .
	$(PY) -m mypy

docs: $(INSTALLED)  ## Regenerate the config reference in README.md from components/config.py.
	$(PY) -m tools.config_reference

# Checked before the virtualenv is built, so a missing CLI costs one line and no install.
pulumi-cli:
	$(if $(shell command -v pulumi),,$(error make $(MAKECMDGOALS): $(PULUMI_MISSING)))

preview: pulumi-cli $(INSTALLED)  ## `pulumi preview` for the stack (needs the Pulumi CLI and a kubeconfig).
	pulumi preview --stack $(STACK)

up: pulumi-cli $(INSTALLED)  ## `pulumi up` for the stack (needs the Pulumi CLI and a kubeconfig).
	pulumi up --stack $(STACK)

bench: $(INSTALLED)  ## Render qa and a large cluster 5 times each; print median times and peak RSS.
	$(PY) -m tools.bench

size: $(INSTALLED)  ## Print the PVC size each data node needs for the stack's log volume.
	$(PY) -m tools.size $(STACK)

clean:
	rm -rf build
