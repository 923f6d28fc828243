"""`samplan bench` / `python bench/run.py`: start each server, drive the clients, print the table.

Every scenario gets freshly started server processes (so CPU, memory and "not in memory"
mean what they say) over databases seeded beforehand. Samplan runs on SQLite and, when a
PostgreSQL server is given, on PostgreSQL and as two nodes behind a Redis of the benchmark's
own (clients spread over both); beside it, in the same run and under the same load
generator, the floor relay, pycrdt-websocket, the reference Node server @y/websocket-server and
Hocuspocus in memory and with its SQLite extension. With `--repeat N` the rounds are
interleaved (round 1 of every scenario and server, then round 2, ...) so a slow minute of the
machine hurts every server alike, and the table shows each figure's median with min and max.
The benchmark reports; it never fails on timing. It exits 1 only if an update was lost, a
Samplan client never synced, or a scenario could not run. Interrupted (Ctrl-C, SIGTERM) it
stops every process it started and drops the databases it created.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import functools
import itertools
import os
import resource
import signal
import sys
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

if __package__ in (None, ""):  # `python bench/run.py`: make the repo root importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from sqlalchemy.engine import make_url

from bench.disk import probe_commits
from bench.edits import history, state_of
from bench.report import Report, render
from bench.scenarios import (
    LoadSpec,
    run_coldload,
    run_connect,
    run_idle,
    run_latejoin,
    run_load,
    run_saturation,
    state_update,
)
from bench.seed import (
    BenchRoom,
    RoomNeed,
    Seeded,
    bench_settings,
    create_postgres_database,
    drop_postgres_database,
    seed,
    seed_hocuspocus,
)
from bench.servers import (
    FLOOR,
    HOCUSPOCUS,
    HOCUSPOCUS_SQLITE,
    PEER,
    SAMPLAN,
    SAMPLAN_2NODES,
    SAMPLAN_2NODES_FORWARDING,
    SAMPLAN_2NODES_ONE_ENTRY,
    SAMPLAN_PG,
    Y_WEBSOCKET,
    Deployment,
    SetUp,
    floor_server,
    node_peer,
    node_peers_missing,
    peer_server,
    redis_binary,
    samplan_server,
    two_samplan_nodes,
)
from server.settings import Settings
from storage.db import create_engine, durability_mode

LOADS = ("meeting", "municipality", "burst")
SCENARIOS = (*LOADS, "idle", "connect", "coldload", "latejoin", "saturation")
SECRET = "benchmark-secret-ikke-hemmelig"
COLD_UPDATES = 10_000
# The longest tail the server leaves after compaction (default SAMPLAN_COMPACT_AFTER_UPDATES
# is 1000: it compacts once the tail passes that), so this is the slowest compacted load.
COMPACTED_TAIL = 999
CONNECT_CLIENTS = 50
CONNECT_HISTORY = 500
LATE_JOIN_MEMBERS = 3
SATURATION_GROWTH = 1.5
# The seeded PostgreSQL database of each set-up on it: each its own, fresh, so neither meets
# zones the other compacted (cold loads) or wrote to.
PG_DATABASES = {
    SAMPLAN_PG: "postgres",
    SAMPLAN_2NODES: "postgres-2nodes",
    SAMPLAN_2NODES_ONE_ENTRY: "postgres-2nodes-one-entry",
    SAMPLAN_2NODES_FORWARDING: "postgres-2nodes-forwarding",
}
# Set-ups that answer a question rather than stand in the table: run only when named.
OPT_IN = {SAMPLAN_2NODES_ONE_ENTRY, SAMPLAN_2NODES_FORWARDING}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="samplan bench", description=__doc__)
    parser.add_argument("--scenario", action="append", choices=SCENARIOS, help="repeatable")
    parser.add_argument(
        "--server",
        action="append",
        metavar="NAME",
        help="repeatable: only these set-ups (samplan-sqlite, samplan-postgres, samplan-2nodes, "
        "relay-floor, pycrdt-websocket, y-websocket-server, hocuspocus, hocuspocus-sqlite; "
        "only when named: samplan-2nodes-one-entry, two nodes with every edit entering at the "
        "first, for the load scenarios; samplan-2nodes-forwarding, two nodes with "
        "SAMPLAN_CLUSTER_FORWARD_EDITS)",
    )
    parser.add_argument("--repeat", type=int, default=1, help="interleaved rounds (default 1)")
    parser.add_argument("--duration", type=float, help="seconds of paced edits (default 15)")
    parser.add_argument("--quick", action="store_true", help="short runs, few plans: a smoke test")
    parser.add_argument("--no-peer", action="store_true", help="skip every peer (Python and Node)")
    parser.add_argument("--no-node", action="store_true", help="skip the Node peers")
    parser.add_argument(
        "--no-floor", action="store_true", help="skip the bare relay (bench/relay_floor.py)"
    )
    parser.add_argument(
        "--postgres",
        metavar="URL",
        default=os.environ.get("SAMPLAN_TEST_POSTGRES_URL"),
        help="a PostgreSQL server (postgresql+asyncpg://...) for samplan-postgres and "
        "samplan-2nodes: the bench creates a database of each's own there and drops it after "
        "(default: $SAMPLAN_TEST_POSTGRES_URL)",
    )
    parser.add_argument("--json", type=Path, metavar="PATH", help="also write results here")
    parser.add_argument("--synchronous", choices=("FULL", "NORMAL"), default="FULL")
    parser.add_argument("--plans", type=int, help="plans in `municipality` (default 100)")
    parser.add_argument("--idle-plans", type=int, help="plans in `idle` (default 500)")
    parser.add_argument("--idle-clients", type=int, help="clients per idle plan (default 4)")
    parser.add_argument("--cold-runs", type=int, help="cold loads, each a new zone (default 5)")
    parser.add_argument("--joins", type=int, help="late joins per round (default 5)")
    parser.add_argument(
        "--saturation-steps",
        type=int,
        help="rates tried, each x1.5 the last (default 14: up to 19,462 edits/s)",
    )
    parser.add_argument("--work", type=Path, help="keep the databases and server logs here")
    parser.add_argument(
        "--py-spy",
        type=Path,
        metavar="DIR",
        help="profile the samplan server with py-spy into DIR/<scenario>.txt (folded stacks; "
        "the sampling itself costs CPU, so figures from such a run are not comparable)",
    )
    parser.add_argument(
        "--perf",
        type=Path,
        metavar="DIR",
        help="profile every server, peers and floor included, with Linux perf into "
        "DIR/<scenario>.<server>.r<round>.data (read it with bench/perf_summary.py; the "
        "sampling costs CPU, so figures from such a run are not comparable)",
    )
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["--"]:  # `samplan bench -- --quick`: argparse REMAINDER keeps the "--"
        argv = argv[1:]
    args = build_parser().parse_args(argv)
    raise_open_files()
    signal.signal(signal.SIGTERM, _terminated)
    if args.work is not None:
        args.work.mkdir(parents=True, exist_ok=True)
        return _main(args, args.work.resolve())
    with tempfile.TemporaryDirectory(prefix="samplan-bench-") as tmp:
        return _main(args, Path(tmp))


def _terminated(signum: int, frame: object) -> None:
    """SIGTERM (`timeout`, a supervisor): unwind as Ctrl-C does, so every `finally` stops the
    servers and drops the databases; a second SIGTERM does not cut that short."""
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    raise SystemExit(128 + signum)


def raise_open_files() -> None:
    """`idle` holds thousands of sockets: lift the soft open-file limit to the hard one, here
    and (inherited) in every server this process starts."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard == resource.RLIM_INFINITY or hard > soft:
        with contextlib.suppress(ValueError, OSError):
            resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


@dataclass
class Bench:
    """What every scenario run needs: the run's knobs and the seeded rooms per database."""

    scenarios: tuple[str, ...]
    repeat: int
    specs: dict[str, LoadSpec]
    duration: float
    warmup: float
    idle: float
    cold_runs: int
    joins: int
    idle_plans: int
    idle_clients: int
    saturation_rates: list[float]
    saturation_step: float
    cold_history: list[bytes]
    connect_history: list[bytes]
    # "sqlite", "postgres", "postgres-2nodes" -> rooms
    seeded: dict[str, Seeded] = field(default_factory=dict)
    ids: Iterator[int] = field(default_factory=lambda: itertools.count(10_000))

    def rooms(self, setup: SetUp, need: str) -> list[BenchRoom]:
        """A set-up's rooms: its own database's, or the SQLite seed's names for a peer."""
        return self.seeded[setup.database or "sqlite"].rooms[need]


def setups(
    args: argparse.Namespace,
    work: Path,
    sqlite_url: str,
    pg_urls: dict[str, str],
    redis: str | None = None,
) -> list[SetUp]:
    """Every set-up this run measures, Samplan's first. `pg_urls`: the PostgreSQL databases
    made for this run, by `PG_DATABASES` key. The two-node Samplan's `start` returns its
    redis-server and two `samplan_server` processes on its database."""
    sync = args.synchronous
    pg_url = pg_urls.get(PG_DATABASES[SAMPLAN_PG])
    found = [
        SetUp(
            SAMPLAN,
            lambda w: [samplan_server(w, sqlite_url, SECRET, sync, name=SAMPLAN)],
            database="sqlite",
            stores=True,
            samplan=True,
        )
    ]
    if pg_url is not None:
        found.append(
            SetUp(
                SAMPLAN_PG,
                lambda w: [samplan_server(w, pg_url, SECRET, sync, name=SAMPLAN_PG)],
                database=PG_DATABASES[SAMPLAN_PG],
                stores=True,
                samplan=True,
            )
        )
    for name, one_entry, forward_edits in (
        (SAMPLAN_2NODES, False, False),
        (SAMPLAN_2NODES_ONE_ENTRY, True, False),
        (SAMPLAN_2NODES_FORWARDING, False, True),
    ):
        url = pg_urls.get(PG_DATABASES[name])
        if url is not None and redis is not None:
            start = functools.partial(
                two_samplan_nodes,
                database_url=url,
                secret=SECRET,
                synchronous=sync,
                binary=redis,
                name=name,
                forward_edits=forward_edits,
            )
            found.append(
                SetUp(
                    name,
                    start,
                    database=PG_DATABASES[name],
                    stores=True,
                    samplan=True,
                    one_entry=one_entry,
                )
            )
    if not args.no_floor:
        found.append(SetUp(FLOOR, lambda w: [floor_server(w)]))
    if not args.no_peer:
        found.append(SetUp(PEER, lambda w: [peer_server(w)], echoes=True))
    if not args.no_peer and not args.no_node and node_peers_missing() is None:
        hp_db = str(work / "hocuspocus.sqlite")
        found += [
            SetUp(Y_WEBSOCKET, lambda w: [node_peer(w, Y_WEBSOCKET)], echoes=True),
            SetUp(HOCUSPOCUS, lambda w: [node_peer(w, HOCUSPOCUS)], hocuspocus=True, echoes=True),
            SetUp(
                HOCUSPOCUS_SQLITE,
                lambda w: [node_peer(w, HOCUSPOCUS_SQLITE, hp_db)],
                hocuspocus=True,
                echoes=True,
                stores=True,
            ),
        ]
    if args.server:
        unknown = set(args.server) - {s.name for s in found}
        if unknown:
            print(f"not available in this run: {', '.join(sorted(unknown))}", flush=True)
        found = [s for s in found if s.name in args.server]
    return found


def _needs(bench: Bench) -> list[RoomNeed]:
    """The rooms every scenario of the run needs, seeded before any server starts."""
    scenarios, specs, repeat = bench.scenarios, bench.specs, bench.repeat
    needs = [RoomNeed(s, specs[s].plans, specs[s].clients) for s in LOADS if s in scenarios]
    needs.append(RoomNeed("warm", 1, 1))  # a first connection, so no scenario pays start-up
    if "connect" in scenarios:
        needs.append(RoomNeed("connect", 1, CONNECT_CLIENTS, history=bench.connect_history))
    if "idle" in scenarios:
        needs.append(RoomNeed("idle", bench.idle_plans, bench.idle_clients))
    if "saturation" in scenarios:
        # One plan per round: a round writes tens of thousands of edits, and a server that
        # stores them would start the next round on a document several MB larger than an
        # in-memory one, which starts empty (docs/BENCHMARKS.md, "Saturation").
        needs.append(RoomNeed("saturation", repeat, 20))
    if "latejoin" in scenarios:
        # One plan per round: Samplan compacts a zone after it loads it, so a round never
        # meets the zone the round before left.
        needs.append(
            RoomNeed(
                "latejoin",
                repeat,
                LATE_JOIN_MEMBERS,
                history=bench.cold_history,
                compacted_tail=COMPACTED_TAIL,
            )
        )
    if "coldload" in scenarios:
        zones = bench.cold_runs * repeat  # each round its own zones: a cold load compacts them
        needs.append(RoomNeed("coldload", 1, 1, zones_per_plan=zones, history=bench.cold_history))
        needs.append(
            RoomNeed(
                "coldload-compacted",
                1,
                1,
                zones_per_plan=zones,
                history=bench.cold_history,
                compacted_tail=COMPACTED_TAIL,
                zone_key="compacted",
            )
        )
    return needs


def _main(args: argparse.Namespace, work: Path) -> int:
    scenarios = tuple(s for s in SCENARIOS if s in (args.scenario or SCENARIOS))
    duration = args.duration or (2.0 if args.quick else 15.0)
    plans = args.plans or (10 if args.quick else 100)
    # 8 steps (1,709 edits/s) broke nothing but pycrdt-websocket: every other set-up "held"
    # the top rate, so the figure said nothing (docs/BENCHMARKS.md, "Saturation").
    steps = args.saturation_steps or (2 if args.quick else 14)
    needs_history = {"coldload", "latejoin"} & set(scenarios)
    bench = Bench(
        scenarios=scenarios,
        repeat=max(1, args.repeat),
        specs={
            "meeting": LoadSpec("meeting", 1, 10, 2.0),
            "municipality": LoadSpec("municipality", plans, 5, 0.5),
            "burst": LoadSpec("burst", 1, 50, 5.0),
        },
        duration=duration,
        warmup=min(1.0, duration / 10),
        idle=0.3 if args.quick else 1.0,
        cold_runs=args.cold_runs or (2 if args.quick else 5),
        joins=args.joins or (2 if args.quick else 5),
        idle_plans=args.idle_plans or (20 if args.quick else 500),
        idle_clients=args.idle_clients or 4,
        saturation_rates=[5.0 * SATURATION_GROWTH**n for n in range(steps)],
        saturation_step=1.0 if args.quick else 3.0,
        cold_history=history(1_000, 10, COLD_UPDATES) if needs_history else [],
        connect_history=history(2_000, 10, CONNECT_HISTORY) if "connect" in scenarios else [],
    )
    why_no_node = node_peers_missing()
    if why_no_node and not args.no_peer and not args.no_node:
        print(f"Node peers skipped: {why_no_node}", flush=True)
    redis = redis_binary()
    pg_urls: dict[str, str] = {}  # PG_DATABASES key -> a database made for this run
    try:
        for name, key in PG_DATABASES.items():
            if name not in (args.server or set(PG_DATABASES) - OPT_IN):
                continue
            why = why_skipped(name, args.postgres, redis)
            if why is None:
                try:
                    pg_urls[key] = asyncio.run(create_postgres_database(args.postgres))
                except Exception as exc:  # reported, and the run goes on without it
                    why = f"cannot create a database on --postgres ({type(exc).__name__}: {exc})"
            if why is not None:
                print(f"{name} skipped: {why}", flush=True)
        return _run(args, work, bench, pg_urls, redis)
    finally:
        for url in pg_urls.values():
            try:
                asyncio.run(drop_postgres_database(args.postgres, url))
            except Exception as exc:  # the others are still dropped
                print(f"could not drop {url}: {type(exc).__name__} {exc}", flush=True)


def why_skipped(name: str, postgres: str | None, redis: str | None) -> str | None:
    """Why a PostgreSQL set-up cannot run here, or None."""
    if not postgres:
        return "no --postgres URL and SAMPLAN_TEST_POSTGRES_URL unset"
    if name in (SAMPLAN_2NODES, SAMPLAN_2NODES_ONE_ENTRY) and redis is None:
        return "redis-server is not installed"
    return None


def _run(
    args: argparse.Namespace,
    work: Path,
    bench: Bench,
    pg_urls: dict[str, str],
    redis: str | None,
) -> int:
    settings = bench_settings(work, SECRET, args.synchronous)
    needs = _needs(bench)
    print(f"seeding {work / 'bench.sqlite3'} ...", flush=True)
    bench.seeded["sqlite"] = asyncio.run(seed(settings, needs))
    for key, pg_url in pg_urls.items():
        print(f"seeding the PostgreSQL database {make_url(pg_url).database} ...", flush=True)
        pg_settings = bench_settings(work, SECRET, args.synchronous, database_url=pg_url)
        bench.seeded[key] = asyncio.run(seed(pg_settings, needs))
    chosen = setups(args, work, settings.resolved_database_url(), pg_urls, redis)
    if any(s.name == HOCUSPOCUS_SQLITE for s in chosen) and "coldload" in bench.scenarios:
        state = state_update(bench.cold_history)
        seed_hocuspocus(
            work / "hocuspocus.sqlite",
            {room.room: state for room in bench.seeded["sqlite"].rooms["coldload-compacted"]},
        )
    report = Report(
        _durability(settings),
        bench.duration,
        os.cpu_count() or 0,
        repeat=bench.repeat,
        setups=[s.name for s in chosen],
        load_average=os.getloadavg(),
    )
    if any(s in bench.specs for s in bench.scenarios):
        print("timing commits on this disk ...", flush=True)
        report.commits = probe_commits(work, args.synchronous, commits=50 if args.quick else 200)
    for round_ in range(bench.repeat):
        for scenario in bench.scenarios:
            for setup in chosen:
                if not _applies(scenario, setup):
                    continue
                label = f"round {round_ + 1}/{bench.repeat}: {scenario} on {setup.name}"
                print(f"running {label} ...", flush=True)
                try:
                    with Deployment(setup, work) as server:
                        report.server_start_s.setdefault(server.name, server.started_seconds)
                        if args.py_spy is not None and setup.samplan:
                            args.py_spy.mkdir(parents=True, exist_ok=True)
                            server.profile(args.py_spy.resolve() / f"{scenario}.txt")
                        if args.perf is not None:
                            args.perf.mkdir(parents=True, exist_ok=True)
                            name = f"{scenario}.{setup.name}.r{round_ + 1}.data"
                            server.profile(args.perf.resolve() / name, "perf")
                        asyncio.run(_one(bench, scenario, setup, server, report, round_))
                except Exception as exc:  # report it and go on with the other scenarios
                    report.errors.append(f"{label}: {type(exc).__name__} {exc}")
    report.load_average_after = os.getloadavg()
    print(render(report), end="")
    if args.json is not None:
        report.write_json(args.json)
    lost = any(r.lost for r in report.loads) or any(
        s.lost for sat in report.saturations for s in sat.steps if s.offered_eps <= sat.reached_eps
    )
    samplan = {s.name for s in chosen if s.samplan}
    failed = any(c.failures for c in report.connects if c.server in samplan)
    return 1 if lost or failed or report.errors else 0


def _applies(scenario: str, setup: SetUp) -> bool:
    if setup.one_entry:  # a question about the paced edits' fan-out
        return scenario in LOADS
    if setup.name == FLOOR:  # it holds no document: only the relay itself is its figure
        return scenario in (*LOADS, "idle", "saturation")
    if scenario == "coldload":
        return setup.stores  # an in-memory server has nothing to load
    return True


async def _one(
    bench: Bench, scenario: str, setup: SetUp, server: Deployment, report: Report, round_: int
) -> None:
    watch = asyncio.create_task(server.watch_loop_lag())
    try:
        results = await _scenario(bench, scenario, setup, server, round_)
    finally:
        watch.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await watch
    lag = server.loop_lag_s
    steady = {
        "steady_lag_ms": server.steady_lag_s,
        "steady_commit_ms": server.steady_commit_s,
        "steady_job_ms": server.steady_job_s,
    }
    for result in results:
        result.round = round_
        if lag is not None:
            result.loop_lag_ms = lag * 1000
        for name, seconds in steady.items():
            if seconds is not None and hasattr(result, name):
                setattr(result, name, seconds * 1000)
        report.add(result)


async def _scenario(
    bench: Bench, scenario: str, setup: SetUp, server: Deployment, round_: int
) -> list:  # type: ignore[type-arg]
    warm = bench.rooms(setup, "warm")[0]
    if scenario in bench.specs:
        rooms = bench.rooms(setup, scenario)
        return [
            await run_load(
                server,
                bench.specs[scenario],
                rooms,
                bench.duration,
                bench.warmup,
                bench.ids,
                echoes=setup.echoes,
                idle_seconds=bench.idle,
            )
        ]
    if scenario == "idle":
        rooms = bench.rooms(setup, "idle")
        hold = 2.0 if bench.idle < 1 else 5.0
        return [await run_idle(server, warm, rooms, bench.idle_clients, hold)]
    if scenario == "saturation":
        room = bench.rooms(setup, "saturation")[round_]
        return [
            await run_saturation(
                server,
                room,
                20,
                bench.saturation_rates,
                bench.saturation_step,
                bench.ids,
                echoes=setup.echoes,
            )
        ]
    if scenario == "connect":
        # A server that keeps rooms in memory only starts the room empty.
        expected = state_of(bench.connect_history if setup.samplan else [])
        room = bench.rooms(setup, "connect")[0]
        return [await run_connect(server, warm, room, CONNECT_CLIENTS, expected)]
    if scenario == "latejoin":
        room = bench.rooms(setup, "latejoin")[round_]
        expected = state_of(bench.cold_history)
        return [
            await run_latejoin(
                server, room, bench.cold_history, expected, bench.joins, push=not setup.samplan
            )
        ]
    if scenario == "coldload":
        expected = state_of(bench.cold_history)
        mine = slice(round_ * bench.cold_runs, (round_ + 1) * bench.cold_runs)
        compacted = bench.rooms(setup, "coldload-compacted")[mine]
        if not setup.samplan:
            return [
                await run_coldload(
                    server,
                    warm,
                    compacted,
                    bench.cold_history,
                    expected,
                    layout="as it stores a document: one row holding the whole state",
                )
            ]
        return [
            await run_coldload(
                server,
                warm,
                compacted,
                bench.cold_history,
                expected,
                layout=f"as the server stores them: a snapshot + {COMPACTED_TAIL}-update tail",
            ),
            await run_coldload(
                server,
                warm,
                bench.rooms(setup, "coldload")[mine],
                bench.cold_history,
                expected,
                layout="all in the log, never compacted (worst case)",
            ),
        ]
    raise ValueError(scenario)


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
