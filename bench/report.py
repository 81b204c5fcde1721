"""The results as a table (figure, floor, SSE, ratio, Streamable, ratio) and the judged targets.

With a `--baseline` run, the table also shows the baseline's columns (`sse@base`, ...) and
`comparisons` gives the current/baseline ratio of the figures a change of the bridge's core moves.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

Figures = Mapping[str, float]

# (label, key); every figure is "lower is better" except throughput.
ROWS: tuple[tuple[str, str], ...] = (
    ("session setup p50 (ms)", "setup_p50_ms"),
    ("session setup p95 (ms)", "setup_p95_ms"),
    ("session setup p50, --prespawn (ms)", "prespawn_setup_p50_ms"),
    ("session setup p95, --prespawn (ms)", "prespawn_setup_p95_ms"),
    ("round trip p50 (µs)", "rtt_p50_us"),
    ("round trip p95 (µs)", "rtt_p95_us"),
    ("round trip p99 (µs)", "rtt_p99_us"),
    ("throughput, 1 session (calls/s)", "tput_1_per_s"),
    ("throughput, 8 sessions (calls/s)", "tput_8_per_s"),
    ("throughput, 32 sessions (calls/s)", "tput_32_per_s"),
    ("server CPU/call, 8 sessions (µs) [floor: child]", "cpu_server_8_us_per_call"),
    ("tree CPU/call, 8 sessions (µs)", "cpu_tree_8_us_per_call"),
    ("client CPU/call, 8 sessions (µs)", "cpu_client_8_us_per_call"),
    ("server busy, 8 sessions (% of a core)", "busy_server_8_pct"),
    ("client busy, 8 sessions (% of a core)", "busy_client_8_pct"),
    ("1 MiB result, checked (ms)", "large_1MiB_ms"),
    ("8 MiB result, checked (ms)", "large_8MiB_ms"),
    ("bridge RSS, no session (MiB)", "rss_server_0_mib"),
    ("bridge RSS, 32 sessions (MiB)", "rss_server_32_mib"),
    ("bridge RSS growth 0→32 sessions (MiB)", "rss_server_growth_mib"),
    ("tree RSS, 32 sessions (MiB)", "rss_tree_32_mib"),
    ("bridge RSS after the large results (MiB)", "rss_server_after_large_mib"),
    ("get-jira-issue p50 (ms) [floor: direct]", "jira_p50_ms"),
    ("get-jira-issue p95 (ms) [floor: direct]", "jira_p95_ms"),
)
COLUMNS = ("floor", "sse", "streamable")
TITLES = {"floor": "floor", "sse": "SSE", "streamable": "Streamable"}
# The figures compared with a baseline, per transport: (name, key).
COMPARED: tuple[tuple[str, str], ...] = (
    ("bridge CPU per echo call, µs", "cpu_server_8_us_per_call"),
    ("round trip p50, µs", "rtt_p50_us"),
    ("round trip p95, µs", "rtt_p95_us"),
)


def _number(value: float | None) -> str:
    if value is None:
        return "-"
    if abs(value) >= 100:
        return f"{value:.0f}"
    if abs(value) >= 10:
        return f"{value:.1f}"
    return f"{value:.2f}"


def _ratio(value: float | None, floor: float | None) -> str:
    if value is None or not floor:
        return "-"
    return f"{value / floor:.2f}x"


def _title(column: str) -> str:
    name, at, rest = column.partition("@")
    return TITLES.get(name, name) + at + rest


def table(results: Mapping[str, Figures]) -> str:
    """One row per figure; any further column (a baseline's, e.g. `sse@base`) after the ratios."""
    floor = results.get("floor", {})
    extra = [column for column in results if column not in COLUMNS and results[column]]
    header = ("figure", "floor", "SSE", "ratio", "Streamable", "ratio", *map(_title, extra))
    rows = [header]
    for label, key in ROWS:
        values = [results.get(column, {}).get(key) for column in (*COLUMNS, *extra)]
        if all(v is None for v in values):
            continue
        base = floor.get(key)
        sse, streamable = values[1], values[2]
        rows.append(
            (
                label,
                _number(base),
                _number(sse),
                _ratio(sse, base),
                _number(streamable),
                _ratio(streamable, base),
                *map(_number, values[len(COLUMNS) :]),
            )
        )
    widths = [max(len(row[i]) for row in rows) for i in range(len(header))]
    lines = []
    for index, row in enumerate(rows):
        cells = [row[0].ljust(widths[0])] + [
            cell.rjust(width) for cell, width in zip(row[1:], widths[1:], strict=True)
        ]
        lines.append(" | ".join(cells))
        if index == 0:
            lines.append("-+-".join("-" * width for width in widths))
    return "\n".join(lines)


@dataclass(frozen=True)
class Check:
    """One judged target: `value` must be at most `limit`."""

    name: str
    value: float
    limit: float

    @property
    def ok(self) -> bool:
        return self.value <= self.limit

    def line(self) -> str:
        return f"{'PASS' if self.ok else 'FAIL'}  {self.name}: {_number(self.value)} (limit {_number(self.limit)})"


def checks(results: Mapping[str, Figures]) -> list[Check]:
    """The targets the bridge is judged on, for every transport that was measured."""
    floor = results.get("floor", {})
    found: list[Check] = []
    for column, title in (("sse", "SSE"), ("streamable", "Streamable")):
        figures = results.get(column, {})

        def add(
            name: str, key: str, limit: float | None, figures: Figures = figures, title: str = title
        ) -> None:
            if key in figures and limit is not None:
                found.append(Check(f"{title} {name}", figures[key], limit))

        add("bridge CPU per echo call, µs", "cpu_server_8_us_per_call", 150.0)
        spawn = floor.get("setup_p50_ms")
        add("session setup p50 ≤ floor + 2 ms", "setup_p50_ms", spawn + 2.0 if spawn is not None else None)
        add("session setup p50 with --prespawn ≤ 5 ms", "prespawn_setup_p50_ms", 5.0)
        big = floor.get("large_8MiB_ms")
        add("8 MiB result ≤ 1.5 × floor, ms", "large_8MiB_ms", 1.5 * big if big is not None else None)
        add("bridge RSS growth at 32 sessions, MiB", "rss_server_growth_mib", 30.0)
        jira = floor.get("jira_p50_ms")
        add(
            "get-jira-issue p50 within 10 % of direct, ms",
            "jira_p50_ms",
            1.1 * jira if jira is not None else None,
        )
    return found


@dataclass(frozen=True)
class Comparison:
    """One figure of the current tree against the same figure of the baseline, from one run."""

    name: str
    current: float | None
    baseline: float | None

    @property
    def ratio(self) -> float | None:
        if self.current is None or not self.baseline:
            return None
        return self.current / self.baseline

    def line(self) -> str:
        ratio = "-" if self.ratio is None else f"{self.ratio:.2f}x"
        return (
            f"RATIO {self.name}: {ratio} "
            f"(current {_number(self.current)} / baseline {_number(self.baseline)})"
        )


def comparisons(results: Mapping[str, Figures], suffix: str) -> list[Comparison]:
    """Current/baseline for the `COMPARED` figures of every transport measured on either side."""
    found: list[Comparison] = []
    for column in ("sse", "streamable"):
        current, baseline = results.get(column, {}), results.get(column + suffix, {})
        if not current and not baseline:
            continue
        for name, key in COMPARED:
            found.append(Comparison(f"{TITLES[column]} {name}", current.get(key), baseline.get(key)))
    return found
