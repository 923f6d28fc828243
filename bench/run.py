"""`samplan bench` / `python bench/run.py`: start each server, drive N clients, print the table.

Every scenario gets a freshly started server process (so CPU, memory and "not in memory"
mean what they say) over one database seeded beforehand. The benchmark reports; it never
fails on timing. It exits 1 only if an update was lost or a scenario could not run.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import os
import sys
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

if __package__ in (None, ""):  # `python bench/run.py`: make the repo root importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.disk import probe_commits
from bench.edits import history, state_of
from bench.report import Report, render
from bench.scenarios import LoadSpec, run_coldload, run_connect, run_load
from bench.seed import RoomNeed, Seeded, bench_settings, seed
from bench.servers import (
    FLOOR,
    PEER,
    SAMPLAN,
    ServerProcess,
    floor_server,
    peer_server,
    samplan_server,
)
from server.settings import Settings
from storage.db import create_engine, durability_mode

SCENARIOS = ("meeting", "municipality", "burst", "connect", "coldload")
SECRET = "benchmark-secret-ikke-hemmelig"
COLD_UPDATES = 10_000
# The longest tail the server leaves after compaction (default SAMPLAN_COMPACT_AFTER_UPDATES
# is 1000: it compacts once the tail passes that), so this is the slowest compacted load.
COMPACTED_TAIL = 999
CONNECT_CLIENTS = 50
CONNECT_HISTORY = 500


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="samplan bench", description=__doc__)
    parser.add_argument("--scenario", action="append", choices=SCENARIOS, help="repeatable")
    parser.add_argument("--duration", type=float, help="seconds of paced edits (default 15)")
    parser.add_argument("--quick", action="store_true", help="short runs, 10 plans: a smoke test")
    parser.add_argument("--no-peer", action="store_true", help="skip pycrdt-websocket")
    parser.add_argument(
        "--no-floor", action="store_true", help="skip the bare relay (bench/relay_floor.py)"
    )
    parser.add_argument("--json", type=Path, metavar="PATH", help="also write results here")
    parser.add_argument("--synchronous", choices=("FULL", "NORMAL"), default="FULL")
    parser.add_argument("--plans", type=int, help="plans in `municipality` (default 100)")
    parser.add_argument("--cold-runs", type=int, help="cold loads, each a new zone (default 5)")
    parser.add_argument("--work", type=Path, help="keep the database and server logs here")
    parser.add_argument(
        "--py-spy",
        type=Path,
        metavar="DIR",
        help="profile the samplan server with py-spy into DIR/<scenario>.txt (folded stacks; "
        "the sampling itself costs CPU, so figures from such a run are not comparable)",
    )
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["--"]:  # `samplan bench -- --quick`: argparse REMAINDER keeps the "--"
        argv = argv[1:]
    args = build_parser().parse_args(argv)
    if args.work is not None:
        args.work.mkdir(parents=True, exist_ok=True)
        return _main(args, args.work.resolve())
    with tempfile.TemporaryDirectory(prefix="samplan-bench-") as tmp:
        return _main(args, Path(tmp))


@dataclass
class Bench:
    """What every scenario run needs: the seeded rooms and the run's knobs."""

    seeded: Seeded
    specs: dict[str, LoadSpec]
    duration: float
    warmup: float
    idle: float
    cold_history: list[bytes]
    connect_history: list[bytes]
    ids: Iterator[int] = field(default_factory=lambda: itertools.count(10_000))


def _main(args: argparse.Namespace, work: Path) -> int:
    scenarios = tuple(s for s in SCENARIOS if s in (args.scenario or SCENARIOS))
    duration = args.duration or (2.0 if args.quick else 15.0)
    plans = args.plans or (10 if args.quick else 100)
    cold_runs = args.cold_runs or (2 if args.quick else 5)
    specs = {
        "meeting": LoadSpec("meeting", 1, 10, 2.0),
        "municipality": LoadSpec("municipality", plans, 5, 0.5),
        "burst": LoadSpec("burst", 1, 50, 5.0),
    }
    settings = bench_settings(work, SECRET, args.synchronous)
    cold_history = history(1_000, 10, COLD_UPDATES) if "coldload" in scenarios else []
    connect_history = history(2_000, 10, CONNECT_HISTORY) if "connect" in scenarios else []
    needs = [RoomNeed(s, specs[s].plans, specs[s].clients) for s in scenarios if s in specs]
    if "connect" in scenarios:
        needs.append(RoomNeed("connect", 1, CONNECT_CLIENTS, history=connect_history))
    needs.append(RoomNeed("warm", 1, 1))  # a first connection, so no scenario pays start-up
    if "coldload" in scenarios:
        needs.append(RoomNeed("coldload", 1, 1, zones_per_plan=cold_runs, history=cold_history))
        needs.append(
            RoomNeed(
                "coldload-compacted",
                1,
                1,
                zones_per_plan=cold_runs,
                history=cold_history,
                compacted_tail=COMPACTED_TAIL,
                zone_key="compacted",
            )
        )
    print(f"seeding {work / 'bench.sqlite3'} ...", flush=True)
    bench = Bench(
        seeded=asyncio.run(seed(settings, needs)),
        specs=specs,
        duration=duration,
        warmup=min(1.0, duration / 10),
        idle=0.3 if args.quick else 1.0,
        cold_history=cold_history,
        connect_history=connect_history,
    )
    report = Report(_durability(settings), duration, os.cpu_count() or 0)
    url = settings.resolved_database_url()
    servers: list[Callable[[], ServerProcess]] = [
        lambda: samplan_server(work, url, SECRET, args.synchronous)
    ]
    if not args.no_peer:
        servers.append(lambda: peer_server(work))
    if not args.no_floor:
        servers.append(lambda: floor_server(work))
    if any(s in specs for s in scenarios):
        print("timing commits on this disk ...", flush=True)
        report.commits = probe_commits(work, args.synchronous, commits=50 if args.quick else 200)
    for scenario in scenarios:
        for make in servers:
            server = make()
            if scenario == "coldload" and server.name == PEER:
                continue  # in memory only: it has nothing to load
            if server.name == FLOOR and scenario not in specs:
                continue  # it holds no document: only the relay itself is its figure
            print(f"running {scenario} on {server.name} ...", flush=True)
            try:
                with server:
                    report.server_start_s.setdefault(server.name, server.started_seconds)
                    if args.py_spy is not None and server.name == SAMPLAN:
                        args.py_spy.mkdir(parents=True, exist_ok=True)
                        server.profile(args.py_spy.resolve() / f"{scenario}.txt")
                    asyncio.run(_one(bench, scenario, server, report))
            except Exception as exc:  # report it and go on with the other scenarios
                report.errors.append(f"{scenario} on {server.name}: {type(exc).__name__} {exc}")
    print(render(report), end="")
    if args.json is not None:
        report.write_json(args.json)
    lost = any(r.lost for r in report.loads)
    failed = any(c.failures for c in report.connects if c.server != PEER)
    return 1 if lost or failed or report.errors else 0


async def _one(bench: Bench, scenario: str, server: ServerProcess, report: Report) -> None:
    rooms = bench.seeded.rooms
    warm = rooms["warm"][0]
    if scenario in bench.specs:
        report.loads.append(
            await run_load(
                server,
                bench.specs[scenario],
                rooms[scenario],
                bench.duration,
                bench.warmup,
                bench.ids,
                echoes=server.name == PEER,
                idle_seconds=bench.idle,
            )
        )
    elif scenario == "connect":
        # The peer keeps rooms in memory only, so its room starts empty.
        expected = state_of(bench.connect_history if server.name != PEER else [])
        report.connects.append(
            await run_connect(server, warm, rooms["connect"][0], CONNECT_CLIENTS, expected)
        )
    elif scenario == "coldload":
        expected = state_of(bench.cold_history)
        report.coldloads.append(
            await run_coldload(
                server,
                warm,
                rooms["coldload-compacted"],
                bench.cold_history,
                expected,
                layout=f"as the server stores them: a snapshot + {COMPACTED_TAIL}-update tail",
            )
        )
        report.coldloads.append(
            await run_coldload(
                server,
                warm,
                rooms["coldload"],
                bench.cold_history,
                expected,
                layout="all in the log, never compacted (worst case)",
            )
        )


def _durability(settings: Settings) -> str:
    engine = create_engine(
        settings.resolved_database_url(), sqlite_synchronous=settings.sqlite_synchronous
    )
    try:
        return durability_mode(engine)
    finally:
        asyncio.run(engine.dispose())


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
