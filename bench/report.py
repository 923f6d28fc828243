"""The printed results: every run in detail, then one table of figures by server, each figure
the median of its rounds with min and max (so a tail can be told from noise); and the JSON."""

from __future__ import annotations

import json
import math
import statistics
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from bench.disk import CommitProbe
from bench.scenarios import (
    ColdLoadResult,
    ConnectResult,
    IdleResult,
    LateJoinResult,
    LoadResult,
    SaturationResult,
)

Result = (
    LoadResult | ConnectResult | ColdLoadResult | IdleResult | LateJoinResult | SaturationResult
)
NONE = "–"  # a figure a server has no value for (or a Samplan without /metrics)


@dataclass
class Report:
    durability: str
    duration: float
    cpus: int
    repeat: int = 1
    setups: list[str] = field(default_factory=list)
    load_average: tuple[float, float, float] = (0.0, 0.0, 0.0)
    load_average_after: tuple[float, float, float] | None = None
    loads: list[LoadResult] = field(default_factory=list)
    connects: list[ConnectResult] = field(default_factory=list)
    coldloads: list[ColdLoadResult] = field(default_factory=list)
    idles: list[IdleResult] = field(default_factory=list)
    latejoins: list[LateJoinResult] = field(default_factory=list)
    saturations: list[SaturationResult] = field(default_factory=list)
    server_start_s: dict[str, float] = field(default_factory=dict)
    commits: CommitProbe | None = None
    errors: list[str] = field(default_factory=list)

    def add(self, result: Result) -> None:
        if isinstance(result, LoadResult):
            self.loads.append(result)
        elif isinstance(result, ConnectResult):
            self.connects.append(result)
        elif isinstance(result, ColdLoadResult):
            self.coldloads.append(result)
        elif isinstance(result, IdleResult):
            self.idles.append(result)
        elif isinstance(result, LateJoinResult):
            self.latejoins.append(result)
        else:
            self.saturations.append(result)

    def summary(self) -> list[tuple[str, dict[str, list[float]]]]:
        """(figure, server -> one value per round), in the table's order."""
        rows: list[tuple[str, dict[str, list[float]]]] = []

        def row(label: str, results: list[Any], value: Callable[[Any], float]) -> None:
            by: dict[str, list[float]] = {}
            for r in results:
                by.setdefault(r.server, []).append(value(r))
            if by:
                rows.append((label, by))

        for scenario in ("meeting", "municipality", "burst"):
            runs = [r for r in self.loads if r.scenario == scenario]
            if not runs:
                continue
            shape = f"{runs[0].rooms} × {runs[0].clients // max(runs[0].rooms, 1)}"
            rate = runs[0].offered_eps / max(runs[0].clients, 1)
            head = f"{scenario} ({shape} × {rate:g}/s)"
            row(f"{head} fan-out p50 ms", runs, lambda r: r.p50_ms)
            row(f"{head} fan-out p99 ms", runs, lambda r: r.p99_ms)
            several = [r for r in runs if not math.isnan(r.other_node_p99_ms)]
            row(f"{head} fan-out p99 ms, same node", several, lambda r: r.same_node_p99_ms)
            row(f"{head} fan-out p99 ms, other node", several, lambda r: r.other_node_p99_ms)
            row(f"{head} lost", runs, lambda r: float(r.lost))
            row(f"{head} server CPU µs per delivered update", runs, lambda r: r.cpu_us_per_delivery)
            row(f"{head} whole machine CPU % (100 = one CPU)", runs, lambda r: r.machine_cpu_pct)
            row(f"{head} CPU stolen by the hypervisor %", runs, lambda r: r.steal_pct)
            row(f"{head} peak RSS MB", runs, lambda r: r.peak_rss_mb)
            row(f"{head} longest event-loop stall ms", runs, lambda r: r.loop_lag_ms)
            row(f"{head} longest stall during the paced edits ms", runs, lambda r: r.steady_lag_ms)
            row(f"{head} longest durable commit during them ms", runs, lambda r: r.steady_commit_ms)
            row(f"{head} longest write job during them ms", runs, lambda r: r.steady_job_ms)
        if self.idles:
            n = self.idles[0]
            head = f"idle ({n.asked} connections on {n.plans} plans)"
            row(f"{head} connections held", self.idles, lambda r: float(r.held))
            row(f"{head} memory per idle loaded plan KB", self.idles, lambda r: r.per_plan_kb)
            row(f"{head} peak RSS MB", self.idles, lambda r: r.peak_rss_mb)
            row(f"{head} RSS at rest MB", self.idles, lambda r: r.rss_before_mb)
        if self.connects:
            c = self.connects[0]
            head = f"connect ({c.clients} open one room at once)"
            row(f"{head} synced", self.connects, lambda r: float(r.synced))
            row(f"{head} last synced ms", self.connects, lambda r: r.all_synced_ms)
        stored = [c for c in self.coldloads if "never compacted" not in c.layout]
        raw = [c for c in self.coldloads if "never compacted" in c.layout]
        if stored:
            head = f"cold load of a {stored[0].updates:,}-update zone, as stored,"
            row(f"{head} median ms", stored, lambda r: r.median_ms)
        if raw:
            row("cold load, never compacted (worst case), median ms", raw, lambda r: r.median_ms)
        if self.latejoins:
            j = self.latejoins[0]
            row(
                f"late join (room in memory, {j.updates:,} updates) to sync step 2, p50 ms",
                self.latejoins,
                lambda r: r.median_ms,
            )
        if self.saturations:
            s = self.saturations[0]
            head = f"saturation (1 × {s.clients}, rate ×1.5 per step)"
            row(f"{head} edits/s held", self.saturations, lambda r: r.reached_eps)
            row(f"{head} deliveries/s held", self.saturations, lambda r: r.reached_deliveries_per_s)
        return rows

    def to_json(self) -> dict[str, Any]:
        return {
            "durability": self.durability,
            "duration_s": self.duration,
            "cpus": self.cpus,
            "repeat": self.repeat,
            "setups": self.setups,
            "load_average": self.load_average,
            "load_average_after": self.load_average_after,
            "server_start_s": self.server_start_s,
            "loads": [asdict(r) for r in self.loads],
            "connect": [asdict(c) for c in self.connects],
            "coldload": [
                {**asdict(c), "median_ms": c.median_ms, "server_median_ms": c.server_median_ms}
                for c in self.coldloads
            ],
            "idle": [asdict(i) for i in self.idles],
            "latejoin": [{**asdict(j), "median_ms": j.median_ms} for j in self.latejoins],
            "saturation": [asdict(s) for s in self.saturations],
            "summary": [{"figure": label, "values": by} for label, by in self.summary()],
            "durable_commit": asdict(self.commits) if self.commits is not None else None,
            "errors": self.errors,
        }

    def write_json(self, path: Path) -> None:
        path.write_text(json.dumps(_no_nan(self.to_json()), indent=2, allow_nan=False) + "\n")


def _no_nan(value: Any) -> Any:
    """NaN (a figure that could not be measured) as null: NaN is not JSON."""
    if isinstance(value, float) and math.isnan(value):
        return None
    if isinstance(value, dict):
        return {k: _no_nan(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_no_nan(v) for v in value]
    return value


def _f(value: float, digits: int = 1) -> str:
    return NONE if math.isnan(value) else f"{value:.{digits}f}"


def _g(value: float) -> str:
    """Three significant figures, at most one decimal above 10."""
    if math.isnan(value):
        return NONE
    if value == int(value) and abs(value) >= 10:
        return f"{value:,.0f}"
    if abs(value) >= 100:
        return f"{value:,.0f}"
    if abs(value) >= 10:
        return f"{value:.1f}"
    return f"{value:.2f}".rstrip("0").rstrip(".") if value else "0"


def cell(values: list[float]) -> str:
    """`median (min–max)` over the rounds; the value alone for one round or one value."""
    known = [v for v in values if not math.isnan(v)]
    if not known:
        return NONE
    mid = statistics.median(known)
    if len(known) == 1 or min(known) == max(known):
        return _g(mid)
    return f"{_g(mid)} ({_g(min(known))}–{_g(max(known))})"


def summary_table(report: Report) -> list[str]:
    """The markdown table docs/BENCHMARKS.md holds."""
    servers = report.setups or sorted({s for _, by in report.summary() for s in by})
    lines = [
        "| figure | " + " | ".join(servers) + " |",
        "|---|" + "---|" * len(servers),
    ]
    for label, by in report.summary():
        lines.append(f"| {label} | " + " | ".join(cell(by.get(s, [])) for s in servers) + " |")
    return lines


LOAD_COLUMNS = [
    ("round", 5, ">"),
    ("scenario", 12, "<"),
    ("server", 18, "<"),
    ("rooms", 5, ">"),
    ("clients", 7, ">"),
    ("edits/s offered", 15, ">"),
    ("edits/s got", 11, ">"),
    ("deliveries/s", 12, ">"),
    ("p50 ms", 7, ">"),
    ("p99 ms", 7, ">"),
    ("max ms", 7, ">"),
    ("lost", 5, ">"),
    ("CPU us/deliv", 12, ">"),
    ("srv CPU %", 9, ">"),
    ("RSS MB", 7, ">"),
    ("peak MB", 7, ">"),
    ("stall ms", 8, ">"),
    ("commit ms", 9, ">"),
    ("loadgen CPU %", 13, ">"),
]


def _row(cells: list[str]) -> str:
    pairs = zip(cells, LOAD_COLUMNS, strict=True)
    return "  ".join(f"{c:{align}{width}}" for c, (_, width, align) in pairs)


def _load_row(r: LoadResult) -> str:
    return _row(
        [
            str(r.round + 1),
            r.scenario,
            r.server,
            str(r.rooms),
            str(r.clients),
            _f(r.offered_eps),
            _f(r.achieved_eps),
            _f(r.deliveries_per_s, 0),
            _f(r.p50_ms, 2),
            _f(r.p99_ms, 2),
            _f(r.max_ms, 1),
            str(r.lost),
            _f(r.cpu_us_per_delivery, 1),
            _f(r.server_cpu_pct, 0),
            _f(r.rss_mb, 0),
            _f(r.peak_rss_mb, 0),
            _f(r.loop_lag_ms, 1),
            _f(r.steady_commit_ms, 1),
            _f(r.loadgen_cpu_pct, 0),
        ]
    )


def render(report: Report) -> str:
    la = ", ".join(f"{x:.2f}" for x in report.load_average)
    lines = [
        "",
        f"Samplan benchmark: durability {report.durability}; {report.cpus} CPUs; "
        f"{_f(report.duration)} s of paced edits per load scenario; {report.repeat} round(s); "
        f"load average at start {la}",
        "",
        _row([name for name, _, _ in LOAD_COLUMNS]),
    ]
    lines += [_load_row(r) for r in report.loads]
    checks = [
        f"{r.scenario}/{r.server} round {r.round + 1}: {r.delivered}/{r.expected} delivered, "
        f"{r.duplicates} dup, {r.unknown} unmatched, {r.echoes} echoed, converged "
        f"{r.rooms_converged}/{r.rooms}, send lag p99 {_f(r.send_lag_p99_ms, 2)} ms, server idle "
        f"CPU {_f(r.idle_cpu_pct)} %"
        for r in report.loads
    ]
    if checks:
        lines += ["", "checks:", *(f"  {c}" for c in checks)]
    lines += [""] + _details(report)
    if report.server_start_s:
        starts = ", ".join(f"{k} {_f(v, 2)} s" for k, v in report.server_start_s.items())
        lines.append(f"server start (process to listening): {starts}")
    if report.commits is not None:
        c = report.commits
        kind = "a durable commit" if c.synchronous == "FULL" else "a commit (not fsynced)"
        lines.append(
            f"{kind} on this disk (SQLite WAL synchronous={c.synchronous}, one row, "
            f"{c.commits} commits {_f(c.gap_ms, 0)} ms apart): p50 {_f(c.p50_ms, 2)} ms, "
            f"p99 {_f(c.p99_ms, 2)} ms"
        )
    if report.load_average_after is not None:
        after = ", ".join(f"{x:.2f}" for x in report.load_average_after)
        lines.append(f"load average at the end: {after}")
    summary = summary_table(report)
    if len(summary) > 2:
        rounds = "median (min–max) of " if report.repeat > 1 else ""
        lines += ["", f"summary ({rounds}{report.repeat} round(s); {NONE}: not measured):"]
        lines += summary
    lines += [f"FAILED: {e}" for e in report.errors]
    return "\n".join(lines) + "\n"


def _details(report: Report) -> list[str]:
    lines = []
    for c in report.connects:
        lines.append(
            f"connect ({c.clients} clients open one room at once) {c.server} round "
            f"{c.round + 1}: synced {c.synced}/{c.clients}, p50 {_f(c.p50_ms)} ms, p99 "
            f"{_f(c.p99_ms)} ms, all synced {_f(c.all_synced_ms)} ms, content ok "
            f"{c.content_ok}/{c.synced}, server CPU {_f(c.server_cpu_ms)} ms"
            + (f", {len(c.failures)} never synced" if c.failures else "")
        )
    for cold in report.coldloads:
        runs = ", ".join(_f(ms) for ms in cold.connect_to_synced_ms)
        server_runs = ", ".join(_f(ms) for ms in cold.server_load_ms) or "not logged"
        lines.append(
            f"cold load {cold.server} round {cold.round + 1} ({cold.updates} updates "
            f"{cold.layout}, not in memory): connect->synced median {_f(cold.median_ms)} ms "
            f"({runs}); server's own load {server_runs}; content ok {cold.content_ok}/"
            f"{cold.runs}; pycrdt apply floor {_f(cold.apply_floor_ms)} ms"
        )
    for j in report.latejoins:
        runs = ", ".join(_f(ms) for ms in j.join_ms)
        lines.append(
            f"late join {j.server} round {j.round + 1} ({j.updates} updates, room in memory): "
            f"median {_f(j.median_ms)} ms ({runs}); content ok {j.content_ok}/{j.joins}"
        )
    for i in report.idles:
        lines.append(
            f"idle {i.server} round {i.round + 1}: {i.synced}/{i.asked} synced in "
            f"{_f(i.connect_s)} s, {i.held} held, RSS {_f(i.rss_before_mb, 0)} -> "
            f"{_f(i.rss_mb, 0)} MB ({_f(i.per_plan_kb, 0)} KB per plan), peak "
            f"{_f(i.peak_rss_mb, 0)} MB, idle CPU {_f(i.idle_cpu_pct)} %"
            + (f", failures: {sorted(set(i.failures))}" if i.failures else "")
        )
    for s in report.saturations:
        steps = "; ".join(
            f"{st.offered_eps:g}/s p99 {_f(st.p99_ms)} lost {st.lost} "
            f"srv {_f(st.server_cpu_pct, 0)}% gen {_f(st.loadgen_cpu_pct, 0)}%"
            for st in s.steps
        )
        lines.append(
            f"saturation {s.server} round {s.round + 1}: held {s.reached_eps:g} edits/s "
            f"({_f(s.reached_deliveries_per_s, 0)} deliveries/s); {s.broke}; steps: {steps}"
        )
    return lines
