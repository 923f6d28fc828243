"""The printed table, the samplan/pycrdt-websocket ratios, the targets, and the JSON file."""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from bench.disk import CommitProbe
from bench.scenarios import ColdLoadResult, ConnectResult, LoadResult
from bench.servers import FLOOR, PEER, SAMPLAN

# The targets for Samplan in durable mode (reported, never asserted).
P99_TARGET_MS = {"meeting": 5.0, "municipality": 6.0, "burst": 15.0}
COLD_LOAD_TARGET_MS = 30.0
CPU_TARGET_US = 20.0


@dataclass
class Report:
    durability: str
    duration: float
    cpus: int
    loads: list[LoadResult] = field(default_factory=list)
    connects: list[ConnectResult] = field(default_factory=list)
    coldloads: list[ColdLoadResult] = field(default_factory=list)
    server_start_s: dict[str, float] = field(default_factory=dict)
    commits: CommitProbe | None = None
    errors: list[str] = field(default_factory=list)

    def ratios(self) -> dict[str, dict[str, float]]:
        """samplan / pycrdt-websocket per scenario: below 1 means Samplan is ahead."""
        out: dict[str, dict[str, float]] = {}
        for ours in (r for r in self.loads if r.server == SAMPLAN):
            peer = next(
                (r for r in self.loads if r.server == PEER and r.scenario == ours.scenario), None
            )
            if peer is not None:
                out[ours.scenario] = {
                    "p99": _ratio(ours.p99_ms, peer.p99_ms),
                    "cpu_per_delivery": _ratio(ours.cpu_us_per_delivery, peer.cpu_us_per_delivery),
                }
        ours_c = next((c for c in self.connects if c.server == SAMPLAN), None)
        peer_c = next((c for c in self.connects if c.server == PEER), None)
        if ours_c and peer_c and not peer_c.failures:  # else p99 of the survivors only
            out["connect"] = {"p99": _ratio(ours_c.p99_ms, peer_c.p99_ms)}
        return out

    def above_floor(self) -> dict[str, dict[str, dict[str, float]]]:
        """Each server's p50 and p99 minus the bare relay's, per scenario: what its own work
        (CRDT, checks, storage) adds to what the stack itself costs."""
        out: dict[str, dict[str, dict[str, float]]] = {}
        for floor in (r for r in self.loads if r.server == FLOOR):
            out[floor.scenario] = {
                r.server: {"p50": r.p50_ms - floor.p50_ms, "p99": r.p99_ms - floor.p99_ms}
                for r in self.loads
                if r.scenario == floor.scenario and r.server != FLOOR
            }
        return out

    def to_json(self) -> dict[str, Any]:
        return {
            "durability": self.durability,
            "duration_s": self.duration,
            "cpus": self.cpus,
            "server_start_s": self.server_start_s,
            "loads": [asdict(r) for r in self.loads],
            "connect": [asdict(c) for c in self.connects],
            "coldload": [
                {**asdict(c), "median_ms": c.median_ms, "server_median_ms": c.server_median_ms}
                for c in self.coldloads
            ],
            "ratios_samplan_over_peer": self.ratios(),
            "above_floor_ms": self.above_floor(),
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
    if isinstance(value, list):
        return [_no_nan(v) for v in value]
    return value


def _ratio(a: float, b: float) -> float:
    return a / b if b and not math.isnan(a) and not math.isnan(b) else math.nan


def _f(value: float, digits: int = 1, signed: bool = False) -> str:
    return "n/a" if math.isnan(value) else f"{value:{'+' if signed else ''}.{digits}f}"


LOAD_COLUMNS = [
    ("scenario", 12, "<"),
    ("server", 16, "<"),
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
    ("loadgen CPU %", 13, ">"),
]


def _row(cells: list[str]) -> str:
    pairs = zip(cells, LOAD_COLUMNS, strict=True)
    return "  ".join(f"{c:{align}{width}}" for c, (_, width, align) in pairs)


def render(report: Report) -> str:
    lines = [
        "",
        f"Samplan benchmark: durability {report.durability}; {report.cpus} CPUs; "
        f"{_f(report.duration)} s of paced edits per load scenario",
        "",
        _row([name for name, _, _ in LOAD_COLUMNS]),
    ]
    for r in report.loads:
        lines.append(
            _row(
                [
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
                    _f(r.loadgen_cpu_pct, 0),
                ]
            )
        )
    checks = [
        f"{r.scenario}/{r.server}: {r.delivered}/{r.expected} delivered, {r.duplicates} dup, "
        f"{r.unknown} unmatched, {r.echoes} echoed, converged {r.rooms_converged}/{r.rooms}, "
        f"send lag p99 {_f(r.send_lag_p99_ms, 2)} ms, server idle CPU {_f(r.idle_cpu_pct)} %"
        for r in report.loads
    ]
    if checks:
        lines += ["", "checks:", *(f"  {c}" for c in checks)]
    for c in report.connects:
        lines.append(
            f"connect ({c.clients} clients open one room at once) {c.server}: synced "
            f"{c.synced}/{c.clients}, p50 {_f(c.p50_ms)} ms, p99 {_f(c.p99_ms)} ms, "
            f"max {_f(c.max_ms)} ms, all synced {_f(c.all_synced_ms)} ms, content ok "
            f"{c.content_ok}/{c.synced}, server CPU {_f(c.server_cpu_ms)} ms, RSS "
            f"{_f(c.rss_mb, 0)} MB" + (f", {len(c.failures)} never synced" if c.failures else "")
        )
    for cold in report.coldloads:
        runs = ", ".join(_f(ms) for ms in cold.connect_to_synced_ms)
        server_runs = ", ".join(_f(ms) for ms in cold.server_load_ms) or "not logged"
        lines.append(
            f"cold load {cold.server} ({cold.updates} updates {cold.layout}, not in memory): "
            f"connect->synced median {_f(cold.median_ms)} ms ({runs}); server's own load "
            f"median {_f(cold.server_median_ms)} ms ({server_runs}); content ok "
            f"{cold.content_ok}/{cold.runs}; pycrdt apply floor {_f(cold.apply_floor_ms)} ms"
        )
    if report.server_start_s:
        starts = ", ".join(f"{k} {_f(v, 2)} s" for k, v in report.server_start_s.items())
        lines.append(f"server start (process to listening): {starts}")
    ratios = report.ratios()
    if ratios:
        parts = [
            f"{name} " + ", ".join(f"{k} x{_f(v, 2)}" for k, v in values.items())
            for name, values in ratios.items()
        ]
        lines += ["", "samplan / pycrdt-websocket (below 1: samplan ahead): " + "; ".join(parts)]
    lines += _floor(report)
    lines += _targets(report)
    lines += [f"FAILED: {e}" for e in report.errors]
    return "\n".join(lines) + "\n"


def _floor(report: Report) -> list[str]:
    lines = []
    if report.commits is not None:
        c = report.commits
        kind = "a durable commit" if c.synchronous == "FULL" else "a commit (not fsynced)"
        lines.append(
            f"{kind} on this disk (SQLite WAL synchronous={c.synchronous}, one row, "
            f"{c.commits} commits {_f(c.gap_ms, 0)} ms apart): p50 {_f(c.p50_ms, 2)} ms, "
            f"p99 {_f(c.p99_ms, 2)} ms"
        )
    for scenario, servers in report.above_floor().items():
        parts = [
            f"{name} p50 {_f(d['p50'], 2, signed=True)}, p99 {_f(d['p99'], 2, signed=True)}"
            for name, d in servers.items()
        ]
        lines.append(
            f"{scenario} above the floor ({FLOOR}: no CRDT, no storage), ms: " + "; ".join(parts)
        )
    return [""] + lines if lines else []


def _targets(report: Report) -> list[str]:
    marks = []
    for r in report.loads:
        if r.server != SAMPLAN:
            continue
        target = P99_TARGET_MS.get(r.scenario)
        if target is not None:
            marks.append(
                f"{r.scenario} p99 {_f(r.p99_ms, 2)} <= {target:g} ms {_ok(r.p99_ms, target)}"
            )
        if r.scenario == "burst":
            marks.append(
                f"burst CPU/delivery {_f(r.cpu_us_per_delivery)} <= {CPU_TARGET_US:g} us "
                f"{_ok(r.cpu_us_per_delivery, CPU_TARGET_US)}"
            )
        marks.append(f"{r.scenario} lost {r.lost} == 0 {'ok' if r.lost == 0 else 'MISSED'}")
    for cold in report.coldloads:
        marks.append(
            f"cold load ({cold.layout}) {_f(cold.median_ms)} <= {COLD_LOAD_TARGET_MS:g} ms "
            f"{_ok(cold.median_ms, COLD_LOAD_TARGET_MS)}"
        )
    return ["targets (samplan, reported not asserted): " + "; ".join(marks)] if marks else []


def _ok(value: float, limit: float) -> str:
    return "ok" if not math.isnan(value) and value <= limit else "MISSED"
