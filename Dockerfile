# The images of checkout-operator, one build for all three:
#   docker build --target operator   -t checkout-operator/operator:dev .
#   docker build --target dispatcher -t checkout-operator/dispatcher:dev .
#   docker build --target functions  -t checkout-operator/functions:dev .
# They share one virtualenv, built once; each runs as a non-root user and needs nothing writable
# but /tmp, so they run with a read-only root filesystem and no capabilities.
# BASE_IMAGE must provide python3 (>= 3.11) with venv at the same path in every stage; the default
# is the official slim image, pinned by digest. `make images` passes a Debian base made locally.
ARG BASE_IMAGE=python:3.11-slim-bookworm@sha256:a36c24f9cbdf4fd0f52d67f0823eeac19c2028c637cecc392d97f980d4fec56b

FROM ${BASE_IMAGE} AS build
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1 PYTHONDONTWRITEBYTECODE=1
RUN python3 -m venv /opt/checkout
WORKDIR /src
# The dependencies first, from pyproject.toml alone, so a change of our code reuses this layer.
COPY pyproject.toml ./
RUN python3 -c 'import tomllib; print("\n".join(tomllib.load(open("pyproject.toml", "rb"))["project"]["dependencies"]))' > /tmp/requirements.txt \
 && /opt/checkout/bin/pip install --requirement /tmp/requirements.txt
COPY README.md ./
COPY core core
COPY operator operator
COPY dispatcher dispatcher
COPY functions functions
COPY devenv devenv
RUN /opt/checkout/bin/pip install --no-deps . \
 && find /opt/checkout -name __pycache__ -type d -prune -exec rm -rf {} +

FROM ${BASE_IMAGE} AS runtime
# A named user: some libraries ask who they run as (Kopf derives its identity from it).
RUN groupadd --gid 10001 checkout \
 && useradd --uid 10001 --gid 10001 --no-create-home --home-dir /tmp --shell /usr/sbin/nologin checkout
COPY --from=build /opt/checkout /opt/checkout
ENV PATH=/opt/checkout/bin:$PATH PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 HOME=/tmp
WORKDIR /tmp
USER 10001:10001
EXPOSE 8080
LABEL org.opencontainers.image.source="https://github.com/example/checkout-operator" \
      org.opencontainers.image.licenses="Apache-2.0" \
      org.opencontainers.image.version="0.1.0"

FROM runtime AS operator
LABEL org.opencontainers.image.title="checkout-operator" \
      org.opencontainers.image.description="The Kopf operator: orchestration, Triggers, the status projector"
ENTRYPOINT ["checkout-operator"]

FROM runtime AS dispatcher
LABEL org.opencontainers.image.title="checkout-dispatcher" \
      org.opencontainers.image.description="Delivers broker events to Trigger subscribers and publishes their replies"
ENTRYPOINT ["checkout-dispatcher"]

FROM runtime AS functions
LABEL org.opencontainers.image.title="checkout-functions" \
      org.opencontainers.image.description="The confirmation, warehouse and rewards functions (one per container)"
ENTRYPOINT ["python3", "-m", "gunicorn", "--config", "python:checkout_functions.serving"]
CMD ["--bind=0.0.0.0:8080", "checkout_functions.app:create(\"confirmation\")"]
