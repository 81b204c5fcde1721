"""Serve any stdio MCP server over legacy SSE and Streamable HTTP, one child per session.

The code map. A message flows HTTP -> transport -> session -> child and back the same way; nothing
reaches across a layer.

    cli.py                    `bridge run -- CMD` and the `mcp-jira-confluence-sse` preset (typer)
    config.py                 `Settings`: every option a flag and a BRIDGE_* variable, validated once
    flags.py                  typer parameters derived from declared options (run and connect)
    app.py                    the router, the security layer, probes, the access log; uvicorn under
                              our signals (the first drains, a second ends at once)
    http.py                   the HTTP edge's vocabulary: headers read once, `HttpError`, answers
    security/                 Host/Origin, bearer tokens, trusted proxies, CORS, header-to-env
    transports/intake.py      what both transports do: open or find a session, read messages, refuse
    transports/sse.py         legacy SSE: `GET /sse` and `POST /messages?session_id=`
    transports/streamable.py  Streamable HTTP: POST, GET, DELETE on `/mcp`; resumes
    transports/modern.py      MCP 2026-07-28 requests (no session): validated, dispatched, answered
    transports/revision.py    the names of 2026-07-28 the bridge reads and writes
    transports/principals.py  the children of 2026-07-28 requests, one per principal; era probe
    transports/shaping.py     a 2026-07-28 request's answer: ids back, results shaped, rounds asked
    transports/rounds.py      multi-round-trip requests: sealed `requestState`, rounds waiting
    transports/events.py      server-sent event framing and the writer of a stream
    session/exchanges.py      the exchange table: ids in and out, progress, cancels, deadlines (no I/O)
    session/session.py        one session: a task group of pumps around its child, one stdin writer
    session/registry.py       all sessions: replica ids, limits (global, per credential), lookup,
                              lifetime, drain, shutdown
    streams.py                where the child's messages wait for an HTTP stream; backpressure policy
    replay.py                 a session's bounded event log, for `Last-Event-ID` resumes
    child.py                  a session's child: stdout lines, stderr logging, ending its group
    process.py                starting a process (vfork) on loop pipe transports; pidfd reaping;
                              the subreaper's orphan sweep
    pool.py                   children started ahead (`--prespawn`)
    fork/                     `--fork-server`: children forked from a template that imported a
                              Python server once; restarts, exec fallback
    codec.py                  JSON in and out; a message's id found and replaced in place
    jsonrpc.py                the JSON-RPC facts routing reads, and the bridge's own error bodies
    health.py                 /healthz, /readyz, /drainz, /metrics and the HAProxy agent check
    metrics.py                Prometheus metrics, bound once per label
    observability.py          logging, every line tagged with its session
    memory.py                 giving freed heap back to the system
"""

__version__ = "0.3.0"
