# syntax=docker/dockerfile:1
#
# kube-event-alerter: the project's wheel is built in a builder stage and installed into a slim
# Python 3.11 base. The image runs as UID/GID 10001 and works with a read-only root filesystem:
# the only path it writes is the data directory (outbox + Elasticsearch spool), a VOLUME.
# No HEALTHCHECK: the Kubernetes probes (/healthz, /readyz on 9102) do that job.
#
#   docker build -t kube-event-alerter:0.1.0 .          # BuildKit (the default builder since Docker 23)
#   docker run --read-only -v kea-data:/var/lib/kube-event-alerter \
#     -v "$PWD/config.yaml:/etc/kube-event-alerter/config.yaml:ro" kube-event-alerter:0.1.0
#
# Both stages use the same base (the wheels built in one must fit the other's Python and libc);
# for reproducible builds, pin it to a digest in both: python:3.11-slim-bookworm@sha256:...
# VERSION must equal setup.cfg's version (tests/deploy checks both).
#
# checkov:skip=CKV_DOCKER_2:No HEALTHCHECK on purpose: Kubernetes ignores it; the startup/liveness/readiness probes on /healthz and /readyz (port 9102) do the job

# ---------------------------------------------------------------------------------- builder
# The builder is never shipped, so it carries no labels (DL3049 asks for them on every stage).
# hadolint ignore=DL3049
FROM python:3.11-slim-bookworm AS builder

ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_ROOT_USER_ACTION=ignore \
    PYTHONDONTWRITEBYTECODE=1

# A C compiler, for the per-record modules setup.py compiles with mypyc (its COMPILED list:
# the normaliser, the rule index, views and timers; ~1.2x the events/s compiled). Only this
# stage has it: the runtime stage installs the built wheel. Not pinned: Debian drops superseded versions of gcc and
# libc6-dev from its mirror, which would break the build; the base image's digest pins the rest.
# hadolint ignore=DL3008
RUN apt-get update \
    && apt-get install -y --no-install-recommends gcc libc6-dev \
    && rm -rf /var/lib/apt/lists/*

WORKDIR /src
# Only what the wheel needs (see .dockerignore): a change to tests or deploy/ rebuilds nothing.
COPY pyproject.toml setup.py setup.cfg README.md ./
COPY rules ./rules
COPY notifiers ./notifiers
COPY watcher ./watcher

# The project's wheel plus a wheel of every dependency, so the runtime stage installs offline.
# tzdata: IANA zones for zoneinfo (config `timezone`) whatever the base image carries.
RUN pip wheel --wheel-dir /wheels . "tzdata==2026.6"

# ---------------------------------------------------------------------------------- runtime
FROM python:3.11-slim-bookworm

ARG VERSION=0.1.0
ARG REVISION=unknown
ARG CREATED=unknown

LABEL org.opencontainers.image.title="kube-event-alerter" \
      org.opencontainers.image.description="Kubernetes event, OOMKilled and endpoint-health alerting daemon with Elasticsearch history and WeCom/DingTalk/Feishu robots" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.revision="${REVISION}" \
      org.opencontainers.image.created="${CREATED}" \
      org.opencontainers.image.licenses="Apache-2.0" \
      org.opencontainers.image.base.name="docker.io/library/python:3.11-slim-bookworm"

# No .pyc written at run time (the root filesystem is read-only; pip compiled them at install),
# logs unbuffered, a traceback of every thread on a fatal signal.
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PYTHONFAULTHANDLER=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_ROOT_USER_ACTION=ignore

# The wheels are bind-mounted from the builder, so they never become a layer of this image.
# The user has no home and no login shell; the data directory is the only one it owns.
RUN --mount=type=bind,from=builder,source=/wheels,target=/wheels \
    pip install --no-index --find-links=/wheels "kube-event-alerter==${VERSION}" "tzdata==2026.6" \
    && groupadd --system --gid 10001 kea \
    && useradd --system --uid 10001 --gid 10001 --no-create-home --home-dir /nonexistent \
       --shell /usr/sbin/nologin kea \
    && install -d -o 10001 -g 10001 -m 0750 /var/lib/kube-event-alerter \
    && install -d -m 0755 /etc/kube-event-alerter /etc/kube-event-alerter/rules

WORKDIR /var/lib/kube-event-alerter
# The outbox and the Elasticsearch spool (config `data_dir`): a volume, the only writable path.
VOLUME ["/var/lib/kube-event-alerter"]
# /metrics, /healthz, /readyz (config `metrics.port`).
EXPOSE 9102

USER 10001:10001
ENTRYPOINT ["kube-event-alerter"]
CMD ["run", "-c", "/etc/kube-event-alerter/config.yaml"]
