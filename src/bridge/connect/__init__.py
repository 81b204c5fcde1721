"""`bridge connect URL`: a local stdio MCP server that is a remote MCP server over HTTP.

The other way round from `bridge run`: a client that only starts local programs talks
newline-delimited JSON-RPC on our stdin/stdout; we speak Streamable HTTP or legacy SSE to the
remote. One process is one client session and one remote session at a time.

The code map. A client line flows stdio -> relay -> remote -> HTTP; the server's messages flow
back the same way.

    command.py      the typer command, derived from `ConnectOptions` (flags and BRIDGE_CONNECT_*)
    options.py      `ConnectOptions`: every option declared once; `validate` (URL, headers, TLS)
    headers.py      `--header 'Name: value'`, with `env:VAR` / `file:PATH` values resolved
    runner.py       one process: logging on stderr, the HTTP client, stdio, signals, exit codes
    stdio.py        stdin and stdout as lines of any length, on daemon threads
    relay.py        the 1:1 session: pending requests, one answer each, losses survived by replay
    handshake.py    opening a remote session with initialize; `auto` falls back to legacy SSE on 4xx
    remote.py       what a remote session is to the relay: `post`, `Outcome`, the `Sink`
    streamable.py   Streamable HTTP: POSTs, answer streams, the GET stream, resumes, DELETE
    legacy.py       legacy SSE: the event stream, its endpoint, POSTs
    sse.py          the server-sent events parser (no size limit, linear time)
    client.py       the httpx client: TLS, proxies from the environment, timeouts, no redirects
    messages.py     the `id` / `method` of a message, read without decoding the rest
    problems.py     every failure as one line a person can act on
"""
