# syntax=docker/dockerfile:1.7
# The bridge serving mcp-jira-confluence: small, non-root, tini as PID 1, SIGTERM drains sessions.
#
#   docker build -t mcp-jira-confluence-bridge:0.3.0 .
#   docker build --build-arg PIP_INDEX_URL=https://<your mirror>/simple \
#                --build-arg CA_BUNDLE="$(cat corporate-ca.pem)" \
#                --build-arg IMAGE_SOURCE=https://<your repository> -t mcp-jira-confluence-bridge:0.3.0 .
#
# Needs BuildKit (Docker 23 and later build with it by default; Podman/Buildah support the mounts).
# Every third-party package comes from deploy/requirements.lock, pinned with its hashes, as wheels
# only: the build fails rather than install anything the lock does not name. The build backend
# comes from deploy/build-requirements.lock the same way. Both locks are regenerated with pip-tools
# by the command at their top, never edited by hand.
#
# Base image: a pinned Python patch release on a pinned Debian release (the lock needs Python
# 3.11.5 or later). For byte-for-byte reproducible builds pin the digest as well:
# python:3.11.13-slim-bookworm@sha256:<digest> (`docker buildx imagetools inspect
# python:3.11.13-slim-bookworm` shows it).
#
# One image for the bridge and the sandbox: the atlassian-sandbox program is part of the project's
# wheel and does nothing unless run; only compose.yaml's `sandbox` profile and `make image-test`
# run it, no production manifest does.

# --- build: the locked dependencies in /opt/venv, and the project's own wheel -----------------
FROM python:3.11.13-slim-bookworm AS build
# A package index (mirror or proxy) and the CA certificates (PEM text) it needs, both optional:
# without them pip uses its default index and the image's CA certificates. They are used in this
# stage only, so neither appears in the final image's history.
ARG PIP_INDEX_URL
ARG CA_BUNDLE
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_ROOT_USER_ACTION=ignore \
    PIP_NO_CACHE_DIR=1
# The dependencies, in their own layer before any source: rebuilt only when the lock changes.
# --require-hashes: every requirement, dependencies included, must be in the lock with its hash.
RUN --mount=type=bind,source=deploy/requirements.lock,target=/tmp/requirements.lock \
    --mount=type=bind,source=deploy/build-requirements.lock,target=/tmp/build-requirements.lock \
    [ -n "${PIP_INDEX_URL:-}" ] || unset PIP_INDEX_URL; \
    if [ -n "${CA_BUNDLE:-}" ]; then printf '%s\n' "$CA_BUNDLE" > /tmp/ca.pem; export PIP_CERT=/tmp/ca.pem; fi; \
    python -m venv --without-pip /opt/venv \
 && python -m pip --python /opt/venv/bin/python install --require-hashes --only-binary :all: \
        -r /tmp/requirements.lock \
 && python -m pip install --require-hashes --only-binary :all: -r /tmp/build-requirements.lock \
 && rm -f /tmp/ca.pem
WORKDIR /src
COPY pyproject.toml README.md ./
COPY src ./src
RUN python -m pip wheel --no-deps --no-build-isolation --no-index --wheel-dir /wheels .

# --- runtime: the image ------------------------------------------------------------------------
FROM python:3.11.13-slim-bookworm AS runtime
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_ROOT_USER_ACTION=ignore \
    PIP_NO_CACHE_DIR=1
# tini as PID 1 (the ENTRYPOINT below, and nothing else: compose.yaml sets no `init`) forwards
# SIGTERM to the bridge and reaps any grandchild a stdio server leaves. Pinned to bookworm's
# package; apt's lists and downloads stay in cache mounts, out of the layer.
RUN --mount=type=cache,target=/var/cache/apt,sharing=locked \
    --mount=type=cache,target=/var/lib/apt/lists,sharing=locked \
    apt-get update \
 && apt-get install -y --no-install-recommends tini=0.19.0-1+b3 \
 && groupadd --gid 10001 mcp \
 && useradd --uid 10001 --gid 10001 --create-home --shell /usr/sbin/nologin mcp
# The locked dependencies: one layer, unchanged while the lock is.
COPY --from=build /opt/venv /opt/venv
# The project itself, from the build stage's wheel through a bind mount (no wheel is left in a
# layer) and without dependencies: the lock gave every one, which `pip check` confirms.
RUN --mount=type=bind,from=build,source=/wheels,target=/wheels \
    python -m pip --python /opt/venv/bin/python install --no-deps --no-index /wheels/*.whl \
 && python -m pip --python /opt/venv/bin/python check
# Children are forked from a template that imported mcp-jira-confluence once (docs/fork-server.md):
# a session starts in tens of milliseconds instead of about a second, in a third of the memory.
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    BRIDGE_LOG_FORMAT=json \
    BRIDGE_FORK_SERVER=true \
    BRIDGE_FORK_PRELOAD=legacy_stdio.prefork:warm
USER 10001:10001
WORKDIR /home/mcp
EXPOSE 8000
HEALTHCHECK --interval=15s --timeout=3s --start-period=5s --retries=3 \
  CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8000/healthz', timeout=2)"]
STOPSIGNAL SIGTERM
# Labels last, so that a new IMAGE_SOURCE or REVISION rebuilds no layer.
ARG IMAGE_SOURCE=""
ARG REVISION=""
LABEL org.opencontainers.image.title="mcp-jira-confluence-bridge" \
      org.opencontainers.image.description="The bridge serving the mcp-jira-confluence stdio MCP server over Streamable HTTP and legacy SSE" \
      org.opencontainers.image.version="0.3.0" \
      org.opencontainers.image.licenses="MIT" \
      org.opencontainers.image.source="${IMAGE_SOURCE}" \
      org.opencontainers.image.revision="${REVISION}"
ENTRYPOINT ["tini", "--"]
CMD ["bridge", "run", "--host", "0.0.0.0", "--port", "8000", "--", "mcp-jira-confluence"]
