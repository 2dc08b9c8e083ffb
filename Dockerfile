# The images of checkout-operator, one build for all three:
#   docker build --target operator   -t checkout-operator/operator:dev .
#   docker build --target dispatcher -t checkout-operator/dispatcher:dev .
#   docker build --target functions  -t checkout-operator/functions:dev .
# They share one virtualenv, built once; each runs as a non-root user and needs nothing writable
# but /tmp, so they run with a read-only root filesystem and no capabilities. Hence they ship the
# bytecode of every module: none can be written at run time, and without it every start would
# compile all that it imports again (the operator's three seconds to ready instead of one).
# BASE_IMAGE must provide python3 (>= 3.11) with venv, at the same path in every stage (the
# virtualenv's python is a link to it), and useradd. The default is the official slim image
# (Python 3.11.16), pinned by digest; `make images` passes a Debian base made locally
# (hack/base-image.sh).
ARG BASE_IMAGE=python:3.11-slim-bookworm@sha256:a36c24f9cbdf4fd0f52d67f0823eeac19c2028c637cecc392d97f980d4fec56b

# The dependencies as pip reads them, out of pyproject.toml, and what building the project needs
# (setuptools). The next stage copies only this list, so editing pyproject.toml elsewhere (a
# tool's settings, the version) keeps the layer of installed dependencies.
FROM ${BASE_IMAGE} AS requirements
WORKDIR /src
COPY pyproject.toml ./
RUN python3 -c 'import tomllib; p = tomllib.load(open("pyproject.toml", "rb")); print("\n".join(p["build-system"]["requires"] + p["project"]["dependencies"]))' > /requirements.txt

# The virtualenv with the dependencies, and the setuptools that builds the project.
FROM ${BASE_IMAGE} AS dependencies
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 PYTHONDONTWRITEBYTECODE=1
RUN python3 -m venv /opt/checkout
COPY --from=requirements /requirements.txt /tmp/requirements.txt
RUN /opt/checkout/bin/pip install --no-cache-dir --no-compile --requirement /tmp/requirements.txt

# The virtualenv as the images get it: no pip or setuptools (nothing installs anything at run
# time), and every module compiled, once, here. Unchecked hash-based bytecode: the sources never
# change in an image, so Python need not look at them, and no file time a layer gives them can
# make it stale.
FROM dependencies AS venv
RUN /opt/checkout/bin/pip uninstall --yes --quiet pip setuptools \
 && find /opt/checkout -name __pycache__ -type d -prune -exec rm -rf {} + \
 && /opt/checkout/bin/python -m compileall -q -j 0 --invalidation-mode unchecked-hash \
      /opt/checkout/lib

# The project, built with that setuptools (no download) and installed under /out as it would be
# into the virtualenv, so that the images add it as a layer of its own: a change of our code
# costs a layer of a few hundred kilobytes, not a copy of the whole virtualenv.
FROM dependencies AS project
WORKDIR /src
COPY pyproject.toml README.md ./
COPY core core
COPY operator operator
COPY dispatcher dispatcher
COPY functions functions
# The local environment's harness (devenv: control planes, certificates) is no part of a
# runtime: its folder stays empty, so no package of it is built, and its command goes.
RUN mkdir devenv
# Compiled as the virtualenv is, each file named where the image has it (-s, -p) for tracebacks.
RUN /opt/checkout/bin/pip install --no-cache-dir --no-compile --no-deps --no-build-isolation \
      --root /out . \
 && rm /out/opt/checkout/bin/checkout-devenv \
 && find /out -name __pycache__ -type d -prune -exec rm -rf {} + \
 && /opt/checkout/bin/python -m compileall -q -j 0 --invalidation-mode unchecked-hash \
      -s /out -p / /out/opt/checkout/lib

FROM ${BASE_IMAGE} AS runtime
# A named user: some libraries ask who they run as (Kopf derives its identity from it).
RUN groupadd --gid 10001 checkout \
 && useradd --uid 10001 --gid 10001 --no-create-home --home-dir /tmp --shell /usr/sbin/nologin checkout
COPY --from=venv /opt/checkout /opt/checkout
COPY --from=project /out/ /
# No bytecode written at run time: the image carries all of it, and nothing but /tmp is writable.
ENV PATH=/opt/checkout/bin:$PATH PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 HOME=/tmp
# The only writable place (an emptyDir in the chart): the functions' default SQLite file,
# gunicorn's worker heartbeats and any temporary file land here.
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
