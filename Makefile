# Every target creates .venv and installs the pinned dependencies when they are missing.
STACK ?= qa
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
INSTALLED := $(VENV)/.installed
PULUMI_MISSING := the Pulumi CLI is not on PATH; install it from https://www.pulumi.com/docs/install/ (e.g. curl -fsSL https://get.pulumi.com | sh) and run again, or for the local control plane run `source build/cluster/env` (after make cluster-up), which puts the CLI it built first on PATH

.PHONY: help bytecode render test lint docs preview up recover destroy pulumi-cli bench bench-deploy size clean \
	e2e-tools cluster-up cluster-down cluster-status cluster-namespace e2e test-real mutation

# `make` alone lists the targets and what each does (the `##` comments), building nothing.
help:  ## List the targets.
	@grep -E '^[a-z][a-z0-9-]*:.*## ' $(firstword $(MAKEFILE_LIST)) | sed -E 's/^([a-z0-9-]+):.*## /\1\t/' | expand -t 20

$(INSTALLED): requirements.txt requirements-dev.txt
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "elk-stack needs Python 3.11 or later; set PYTHON=python3.11")'
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -r requirements-dev.txt
	@touch $@

# The project's own modules byte-compiled, as pip compiles the libraries' at install: with
# PYTHONDONTWRITEBYTECODE set (as on CI) Python would otherwise compile them on every run.
# compileall skips what is up to date, and a stale file is recompiled by Python itself.
bytecode: $(INSTALLED)
	@$(PY) -m compileall -q __main__.py components tools

render: bytecode  ## Render Pulumi.$(STACK).yaml to build/$(STACK)/ without a cluster.
	$(PY) -m tools.render $(STACK)

test: $(INSTALLED)  ## The whole test suite: mocks, render, schema validation.
	$(PY) -m pytest

lint: $(INSTALLED)  ## ruff (lint and format) and mypy.
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .
	$(PY) -m mypy

docs: $(INSTALLED)  ## Regenerate the config reference in docs/reference.md from the models in components/configuration/.
	$(PY) -m tools.config_reference

# Checked before the virtualenv is built, so a missing CLI costs one line and no install.
pulumi-cli:
	$(if $(shell command -v pulumi),,$(error make $(MAKECMDGOALS): $(PULUMI_MISSING)))

# ARGS passes flags on, e.g. make up STACK=qa ARGS=--yes (needed without a terminal).
# `stack select --create` makes the stack on first use, in whatever backend is logged in
# (PULUMI_BACKEND_URL from build/cluster/env for the local control plane).
preview: pulumi-cli bytecode  ## `pulumi preview` for the stack (needs the Pulumi CLI and a kubeconfig).
	pulumi stack select --create $(STACK)
	pulumi preview --stack $(STACK) $(ARGS)

up: pulumi-cli bytecode  ## `pulumi up` for the stack; a pod that never becomes Ready is explained (docs/troubleshooting.md).
	pulumi stack select --create $(STACK)
	$(PY) -m tools.up $(STACK) $(ARGS)

recover: pulumi-cli bytecode  ## After a killed `make up`: release the lock, deploy, clear what it left pending (docs/troubleshooting.md).
	$(PY) -m tools.recover $(STACK) $(ARGS)

destroy: pulumi-cli $(INSTALLED)  ## `pulumi destroy` for the stack; protected data claims make it stop (see docs/operations.md).
	$(PY) -m tools.destroy $(STACK) $(ARGS)

# The real engine and control plane, built from the Go modules pinned under tools/go/.
e2e-tools: $(INSTALLED)  ## Build the Pulumi CLI, provider and control plane once into ~/.cache/elk-stack.
	@$(PY) -m tools.e2e.build

cluster-up: e2e-tools  ## Start etcd, kube-apiserver, controllers, scheduler and kwok on 127.0.0.1.
	@$(PY) -m tools.e2e.cluster up

cluster-down: $(INSTALLED)  ## Stop every process cluster-up started.
	@$(PY) -m tools.e2e.cluster down

cluster-status: $(INSTALLED)  ## One line per control-plane process, and how many nodes are Ready.
	@$(PY) -m tools.e2e.cluster status

# QUOTA overrides quota entries: make cluster-namespace NS=elk-qa QUOTA="requests.cpu=8 pods=20"
cluster-namespace: $(INSTALLED)  ## A pre-allocated namespace and its namespace-only user: make cluster-namespace NS=elk-qa
	@$(if $(NS),,$(error make cluster-namespace: set NS=<namespace>, e.g. make cluster-namespace NS=elk-qa))
	@$(PY) -m tools.e2e.cluster namespace $(NS) $(foreach q,$(QUOTA),--quota $(q))

e2e: e2e-tools  ## The real-engine suite: its own control plane; every lifecycle scenario as a namespace user.
	$(PY) -m pytest -o addopts="" -q tests/e2e

# Elastic's test distribution from Maven Central (cached under ~/.cache/elk-stack) and a
# JDK 21+; each node runs as its pod's user in a mount namespace of its own, so it needs root.
test-real: $(INSTALLED)  ## Real Elasticsearch nodes started from the render; the stack's users, scripts and upgrades on them.
	$(PY) -m pytest -o addopts="" -q --durations=12 tests/real

# Not part of `make test` or CI: each mutant re-runs the tests that cover it, which takes
# long. ARGS picks mutants by name, e.g. make mutation ARGS='components.generated.crypto.*'
mutation: $(INSTALLED)  ## Mutation testing (mutmut) of components/ with the fast tests; lists the survivors.
	$(VENV)/bin/mutmut run $(ARGS)
	$(VENV)/bin/mutmut results

bench: bytecode  ## Render qa and a large cluster 5 times each; print median times, peak RSS and qa over its import floor.
	$(PY) -m tools.bench

bench-deploy: e2e-tools  ## Deploy qa and a large cluster on a control plane of its own; print `up` over the kubectl floors.
	$(PY) -m tools.bench_deploy $(ARGS)

size: $(INSTALLED)  ## Print the PVC size each data node needs for the stack's log volume.
	$(PY) -m tools.size $(STACK)

clean:
	rm -rf build
