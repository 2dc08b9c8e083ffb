# checkout-operator: the README's commands. Every target sets up what it needs first (apt packages,
# the virtualenv, the control-plane binaries), and each set-up step is skipped when already done.

SHELL := bash
.SHELLFLAGS := -euo pipefail -c
.DEFAULT_GOAL := help

include hack/versions.env

PYTHON ?= python3
VENV := .venv
DEV := .dev
CACHE ?= $(HOME)/.cache/checkout-operator
# The envtest convention: a folder holding etcd, kube-apiserver, ... . Set it to use your own
# binaries; otherwise they are built from the Go module proxy into $(CACHE), once per version.
ifdef KUBEBUILDER_ASSETS
BUILD_BINARIES :=
else
KUBEBUILDER_ASSETS := $(CACHE)/assets/k8s-$(KUBE_VERSION)-etcd-$(ETCD_VERSION)
BUILD_BINARIES := yes
endif
export KUBEBUILDER_ASSETS
KUBECTL := $(KUBEBUILDER_ASSETS)/kubectl
DEVENV := $(VENV)/bin/checkout-devenv --dir $(DEV) --crds manifests/crds
APT_PACKAGES := jq postgresql nats-server

.PHONY: help setup packages venv binaries lint test up down demo

help:  ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | sed 's/:.*## /\t/' | column -t -s $$'\t'

setup: packages venv binaries  ## install everything the other targets need

packages: $(DEV)/stamps/apt
$(DEV)/stamps/apt: Makefile
	@missing=$$(for p in $(APT_PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || echo $$p; done); \
	if [ -n "$$missing" ]; then \
	  echo "installing $$missing"; apt-get update -qq && apt-get install -y -qq $$missing; fi
	@mkdir -p $(@D) && touch $@

venv: $(VENV)/.installed
$(VENV)/.installed: pyproject.toml
	@$(PYTHON) -c 'import sys; assert sys.version_info >= (3, 11), "Python >= 3.11 is needed"'
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install -q --upgrade pip
	$(VENV)/bin/pip install -q -e '.[dev]'
	@touch $@

binaries:  ## build (once) the control plane: etcd, kube-apiserver, ..., kubectl
ifdef BUILD_BINARIES
	hack/build-binaries.sh $(KUBEBUILDER_ASSETS)
endif

lint: venv  ## ruff and mypy
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy

test: setup lint  ## the whole test suite, on a real control plane
	$(VENV)/bin/pytest

up: setup  ## start the local environment (KUBECONFIG=.dev/kubeconfig, kubectl in .dev/bin)
	@mkdir -p $(DEV)/bin && ln -sfn $(KUBECTL) $(DEV)/bin/kubectl
	$(DEVENV) up

down: venv  ## stop the local environment
	$(DEVENV) down

demo: up  ## bring the environment up, run the example Checkouts and show what happened
	$(DEVENV) demo --example manifests/examples/checkout-member.yaml \
	  --example manifests/examples/checkout-choreography.yaml \
	  --example manifests/examples/checkout-guest.yaml
	$(KUBECTL) --kubeconfig $(DEV)/kubeconfig get checkouts
