"""What `PRAGMA secure_delete=ON` costs the zone log's write path on SQLite.

    .venv/bin/python bench/secure_delete.py [--rounds N] [--dir DIR]

storage.db turns secure_delete on for every SQLite connection so a deleted plan's bytes are
zeroed, not left in free pages. This runs the same work with it OFF and ON, on a real file
(WAL, synchronous=FULL), alternating modes round by round, and prints medians:

- append: one update per transaction (an edit's persist-before-relay), and 20 per transaction;
- compact: 1000 updates folded into a snapshot (the only routine delete on the write path);
- delete: a plan with 2 zones x 1000 updates (including the WAL checkpoint after it).

Bytes written (the process's write() total, /proc/self/io) are the steady measure; wall and
CPU times move with whatever else the machine is doing.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import storage.db as db  # noqa: E402
from storage.db import create_engine, make_sessionmaker  # noqa: E402
from storage.migrate import upgrade  # noqa: E402
from storage.repositories import PlanRepo, ZoneLog  # noqa: E402

UPDATE = ("Åse skriver æøå 🧪 " * 6).encode()  # ~130 bytes: a typical small Yjs update
_MODE = {"secure_delete": "ON"}
_pragmas: Callable[[Any, str], None] = db._sqlite_pragmas


def _with_mode(conn: Any, synchronous: str) -> None:
    _pragmas(conn, synchronous)
    cursor = conn.cursor()
    cursor.execute(f"PRAGMA secure_delete={_MODE['secure_delete']}")
    cursor.close()


def _written() -> int:
    with open("/proc/self/io") as io:
        for line in io:
            if line.startswith("wchar:"):
                return int(line.split()[1])
    return 0


class Meter:
    def __init__(self) -> None:
        self.results: dict[str, float] = {}

    async def measure(self, name: str, times: int, work: Callable[[], Any]) -> None:
        wall, cpu, written = [], 0.0, 0
        for _ in range(times):
            before, c0, t0 = _written(), time.process_time(), time.perf_counter()
            await work()
            wall.append(time.perf_counter() - t0)
            cpu += time.process_time() - c0
            written += _written() - before
        self.results[f"{name}: wall ms (median)"] = statistics.median(wall) * 1000
        self.results[f"{name}: CPU ms"] = cpu / times * 1000
        self.results[f"{name}: KiB written"] = written / times / 1024


async def one_round(mode: str, directory: Path) -> dict[str, float]:
    _MODE["secure_delete"] = mode
    url = f"sqlite+aiosqlite:///{Path(tempfile.mkdtemp(dir=directory)) / 'bench.sqlite3'}"
    await upgrade(url)
    engine = create_engine(url)
    maker = make_sessionmaker(engine)
    plans, zone_log, meter = PlanRepo(maker), ZoneLog(maker), Meter()
    try:
        municipality = await plans.get_or_create_municipality("Eksempelvik kommune")
        plan = await plans.create_plan(municipality, "Plan", "Åse Ødegård")
        zone = (await plans.list_zones(plan.id))[0].id
        await meter.measure("append 1", 1000, lambda: zone_log.append_batch([(zone, UPDATE)]))
        await meter.measure("append 20", 100, lambda: zone_log.append_batch([(zone, UPDATE)] * 20))

        snapshot_seq: int | None = 0

        async def compact() -> None:
            nonlocal snapshot_seq
            await zone_log.append_batch([(zone, UPDATE)] * 1000)
            seqs = [seq for seq, _ in (await zone_log.load(zone)).updates]
            before, c0, t0 = _written(), time.process_time(), time.perf_counter()
            snapshot_seq = await zone_log.compact(zone, seqs, UPDATE * 500, based_on=snapshot_seq)
            compact_only.append((time.perf_counter() - t0, time.process_time() - c0))
            compact_bytes.append(_written() - before)

        compact_only: list[tuple[float, float]] = []
        compact_bytes: list[int] = []
        for _ in range(10):
            await compact()
        meter.results["compact 1000: wall ms (median)"] = (
            statistics.median(w for w, _ in compact_only) * 1000
        )
        meter.results["compact 1000: CPU ms"] = statistics.mean(c for _, c in compact_only) * 1000
        meter.results["compact 1000: KiB written"] = statistics.mean(compact_bytes) / 1024

        async def delete() -> None:
            other = await plans.create_plan(municipality, "Slettes", "Per Lund")
            for other_zone in await plans.list_zones(other.id):
                await zone_log.append_batch([(other_zone.id, UPDATE)] * 1000)
            before, c0, t0 = _written(), time.process_time(), time.perf_counter()
            await plans.delete_plan(other.id)
            meter.results["delete plan: wall ms (median)"] = (time.perf_counter() - t0) * 1000
            meter.results["delete plan: CPU ms"] = (time.process_time() - c0) * 1000
            meter.results["delete plan: KiB written"] = (_written() - before) / 1024

        await delete()
        async with engine.connect() as conn:
            on = (await conn.exec_driver_sql("PRAGMA secure_delete")).scalar_one()
            assert on == (1 if mode == "ON" else 0)
    finally:
        await engine.dispose()
    return meter.results


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--dir", type=Path, default=Path("var"), help="on the disk to measure")
    args = parser.parse_args()
    args.dir.mkdir(parents=True, exist_ok=True)
    db._sqlite_pragmas = _with_mode
    runs: dict[tuple[str, str], list[float]] = {}
    with tempfile.TemporaryDirectory(dir=args.dir) as directory:
        for _ in range(args.rounds):
            for mode in ("OFF", "ON"):
                for name, value in (await one_round(mode, Path(directory))).items():
                    runs.setdefault((name, mode), []).append(value)
    names = list(dict.fromkeys(name for name, _ in runs))
    print(f"secure_delete OFF vs ON, medians of {args.rounds} rounds (WAL, synchronous=FULL)")
    print(f"{'':34} {'OFF':>9} {'ON':>9} {'change':>8}")
    for name in names:
        off, on = (statistics.median(runs[(name, mode)]) for mode in ("OFF", "ON"))
        change = f"{100 * (on - off) / off:+.1f} %" if off else "-"
        print(f"{name:34} {off:9.2f} {on:9.2f} {change:>8}")


if __name__ == "__main__":
    asyncio.run(main())
