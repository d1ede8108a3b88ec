# syntax=docker/dockerfile:1
# The intel_assets user-code image. One image, three roles (the command picks the role):
#
#   code server  dagster code-server start -h 0.0.0.0 -p 4000 -m intel_assets.definitions
#                (the default CMD below; Dagster's webserver and daemon reach it over gRPC :4000)
#   run worker   launched by Dagster itself (K8sRunLauncher: `dagster api execute_run ...` in a
#                Job running this image); nothing to set here
#   serving API  intel-assets serve  (binds INTEL_SERVE_HOST:INTEL_SERVE_PORT, 0.0.0.0:8080 here;
#                liveness GET /healthz, readiness GET /api/torghut/market-context/health: 503
#                while the bundle store is unreachable)
#
# ENTRYPOINT stays unset and CMD is a plain command, so a pod spec's `command:`/`args:` replaces
# it whole (Dagster's Helm chart sets the code server's own command). The image holds the base
# install plus the `k8s` extra only (requirements-image.lock): no chdb, no embedded PostgreSQL, no
# webserver, so every store is a server configured by the environment (INTEL_CLICKHOUSE_URL,
# INTEL_BUNDLE_STORE_DSN, the Dagster instance's dagster.yaml); no secret or DSN is baked in.
# `make image-venv` (CI, before make test) runs the builder stage's steps as a plain venv.

ARG PYTHON_IMAGE=python:3.11-slim

# ---- builder: /opt/venv from the lock file, then the package without dependencies -----------
FROM ${PYTHON_IMAGE} AS builder
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_CACHE_DIR=1
RUN python -m venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH
# Wheels only: nothing is compiled, so neither stage needs a compiler.
COPY requirements-image.lock /tmp/requirements-image.lock
RUN pip install --quiet --upgrade pip \
 && pip install --quiet --only-binary=:all: -r /tmp/requirements-image.lock
COPY pyproject.toml README.md /src/
COPY intel_assets /src/intel_assets
RUN pip install --quiet --no-deps /src \
 && pip check

# ---- final: the slim runtime, the venv, a non-root user -------------------------------------
FROM ${PYTHON_IMAGE}
RUN groupadd --system --gid 10001 intel \
 && useradd --system --uid 10001 --gid intel --home-dir /home/intel --create-home \
      --shell /usr/sbin/nologin intel
COPY --from=builder /opt/venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    TZ=UTC \
    INTEL_HOME=/home/intel/.intel \
    INTEL_SERVE_HOST=0.0.0.0 \
    INTEL_SERVE_PORT=8080
WORKDIR /home/intel
USER 10001:10001
# 8080: the serving API; 4000: the Dagster code server (gRPC).
EXPOSE 8080 4000
CMD ["dagster", "code-server", "start", "-h", "0.0.0.0", "-p", "4000", "-m", "intel_assets.definitions"]
