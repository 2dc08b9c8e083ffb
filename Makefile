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
APT_PACKAGES := jq postgresql nats-server docker.io debootstrap
DOCKER ?= docker
# The images' base: here, one made locally (no pulls); elsewhere the Dockerfile's pinned default.
CHECKOUT_BASE_IMAGE ?= checkout-operator/base:bookworm
export CHECKOUT_BASE_IMAGE
IMAGES := operator dispatcher functions
IMAGE_TAG ?= dev
# kind-up and kind-down use the user's own kind, helm and kubectl.
KIND ?= kind
KIND_CLUSTER := checkout
HELM ?= helm
RELEASE_NAMESPACE ?= checkout-system

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

binaries:  ## build (once) the control plane (etcd, kube-apiserver, ..., kubectl), helm and kwok
ifdef BUILD_BINARIES
	hack/build-binaries.sh $(KUBEBUILDER_ASSETS)
endif
ifdef BUILD_TOOLS
	hack/build-tools.sh $(CHECKOUT_TOOLS)
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

lint: venv  ## ruff and mypy
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy

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

# The real thing, on a machine with Docker, kind, kubectl and helm (and internet access for the
# base images): a kind cluster, the images built and loaded into it, the chart installed, and an
# example Checkout carried out.
kind-up:  ## create the kind cluster, build and load the images, install the chart, run a Checkout
	@$(KIND) get clusters | grep -qx $(KIND_CLUSTER) || $(KIND) create cluster --config kind-config.yaml
	@for target in $(IMAGES); do \
	  $(DOCKER) build --target $$target -t checkout-operator/$$target:$(IMAGE_TAG) . && \
	  $(KIND) load docker-image --name $(KIND_CLUSTER) checkout-operator/$$target:$(IMAGE_TAG); done
	$(HELM) upgrade --install checkout-operator charts/checkout-operator \
	  --kube-context kind-$(KIND_CLUSTER) --namespace $(RELEASE_NAMESPACE) --create-namespace \
	  --set image.tag=$(IMAGE_TAG) --set mailpit.service.type=NodePort \
	  --set mailpit.service.nodePort=30825 --wait --timeout 10m
	kubectl --context kind-$(KIND_CLUSTER) -n $(RELEASE_NAMESPACE) apply \
	  -f manifests/examples/checkout-member.yaml -f manifests/examples/checkout-choreography.yaml
	kubectl --context kind-$(KIND_CLUSTER) -n $(RELEASE_NAMESPACE) wait checkouts --all \
	  --for=condition=Succeeded --timeout=3m
	kubectl --context kind-$(KIND_CLUSTER) -n $(RELEASE_NAMESPACE) get checkouts
	@echo "Mailpit: http://localhost:8025   helm test: $(HELM) test checkout-operator -n $(RELEASE_NAMESPACE) --kube-context kind-$(KIND_CLUSTER)"

kind-down:  ## delete the kind cluster
	$(KIND) delete cluster --name $(KIND_CLUSTER)
