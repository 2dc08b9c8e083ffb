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
# helm and kwok: a folder holding them, or else built from the Go module proxy into $(CACHE).
ifdef CHECKOUT_TOOLS
BUILD_TOOLS :=
else
CHECKOUT_TOOLS := $(CACHE)/tools
BUILD_TOOLS := yes
endif
export CHECKOUT_TOOLS
KUBECTL := $(KUBEBUILDER_ASSETS)/kubectl
DEVENV := $(VENV)/bin/checkout-devenv --dir $(DEV) --crds manifests/crds
APT_PACKAGES := jq postgresql nats-server docker.io debootstrap shellcheck
DOCKER ?= docker
# The images' base: here, one made locally (no pulls); elsewhere the Dockerfile's pinned default.
CHECKOUT_BASE_IMAGE ?= checkout-operator/base:bookworm
export CHECKOUT_BASE_IMAGE
IMAGES := operator dispatcher functions
IMAGE_TAG ?= dev
# kind-up and kind-down: kind (patched, see hack/kind/README.md) and helm built here, kubectl of
# the control plane's version; set KIND, HELM or KUBECTL to use your own.
KIND ?= $(CHECKOUT_TOOLS)/kind
HELM ?= $(CHECKOUT_TOOLS)/helm
RELEASE_NAMESPACE ?= checkout-system
KIND_ENV = KIND=$(KIND) HELM=$(HELM) KUBECTL=$(KUBECTL) DOCKER=$(DOCKER) PYTHON=$(CURDIR)/$(VENV)/bin/python \
  IMAGE_TAG=$(IMAGE_TAG) RELEASE_NAMESPACE=$(RELEASE_NAMESPACE)

.PHONY: help setup packages venv binaries engine base-image images manifests lint test up down \
  demo bench kind-up kind-down

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

binaries:  ## build (once) the control plane (etcd, kube-apiserver, ..., kubectl), helm, kwok, kind
ifdef BUILD_BINARIES
	hack/build-binaries.sh $(KUBEBUILDER_ASSETS)
endif
ifdef BUILD_TOOLS
	hack/build-tools.sh $(CHECKOUT_TOOLS)
	hack/kind/build-kind.sh $(CHECKOUT_TOOLS)
endif

engine: packages  ## make sure a Docker engine answers (starts dockerd when none does)
	hack/docker-engine.sh

base-image: engine  ## make (once) the local base image: Debian and its Python, no pulls
	hack/base-image.sh

images: base-image  ## build the operator, dispatcher and functions images on the local base
	@for target in $(IMAGES); do \
	  echo "building checkout-operator/$$target:$(IMAGE_TAG)"; \
	  $(DOCKER) build -q --build-arg BASE_IMAGE=$(CHECKOUT_BASE_IMAGE) --target $$target \
	    -t checkout-operator/$$target:$(IMAGE_TAG) . ; done

manifests: binaries  ## render the chart into plain manifests (manifests/install, manifests/rbac)
	HELM=$(CHECKOUT_TOOLS)/helm hack/render-manifests.sh manifests

SHELL_SCRIPTS := $(wildcard hack/*.sh hack/*/pin.sh hack/kind/*.sh hack/kind/node/confine-egress \
  hack/kind/node/unprivileged-entrypoint hack/kind/images/*/*.sh)

lint: venv packages  ## ruff, mypy, the import layering (import-linter) and shellcheck
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy
	$(VENV)/bin/lint-imports --no-cache
	shellcheck -x -P SCRIPTDIR $(SHELL_SCRIPTS)

test: setup lint base-image  ## the whole test suite, on a real control plane
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

bench: setup  ## the benchmarks, on an environment of their own in .dev/bench, judged against targets
	$(DEVENV) bench --example manifests/examples/checkout-member.yaml

# The real thing: a kind cluster with the chart installed and an example Checkout in each mode
# carried out. With nothing to pull (or nodes that cannot be --privileged), everything it runs is
# built here first: hack/kind/README.md.
kind-up: setup engine  ## create the kind cluster, install the chart, run a Checkout in each mode
	$(KIND_ENV) hack/kind/up.sh

kind-down: venv  ## delete the kind cluster and what kind-up added to this machine
	$(KIND_ENV) hack/kind/down.sh
