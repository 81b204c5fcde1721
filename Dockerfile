# The bridge serving mcp-jira-confluence: small, non-root, SIGTERM drains sessions.
FROM python:3.11-slim AS build
WORKDIR /src
COPY pyproject.toml README.md ./
COPY src ./src
RUN python -m pip install --no-cache-dir --upgrade pip \
 && python -m pip wheel --no-cache-dir --wheel-dir /wheels .

FROM python:3.11-slim
# tini as PID 1: forwards SIGTERM to the bridge and reaps any grandchild a stdio server leaves.
RUN apt-get update \
 && apt-get install -y --no-install-recommends tini \
 && rm -rf /var/lib/apt/lists/* \
 && useradd --create-home --uid 10001 --shell /usr/sbin/nologin mcp
COPY --from=build /wheels /wheels
RUN python -m pip install --no-cache-dir /wheels/*.whl && rm -rf /wheels
USER mcp
WORKDIR /home/mcp
ENV PYTHONUNBUFFERED=1 \
    BRIDGE_LOG_FORMAT=json
EXPOSE 8000
HEALTHCHECK --interval=15s --timeout=3s --start-period=5s --retries=3 \
  CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8000/healthz', timeout=2)"]
STOPSIGNAL SIGTERM
ENTRYPOINT ["tini", "--"]
CMD ["bridge", "run", "--host", "0.0.0.0", "--port", "8000", "--", "mcp-jira-confluence"]
