"""What one durable commit costs on the disk under the benchmark's database.

Persist-before-relay puts one SQLite commit on the path of every edit that does not share a
batch with another, so at light load a durable server cannot relay faster than the floor
(bench/relay_floor.py) plus this. Measured paced, as edits arrive in a meeting, not in a tight
loop: an idle CPU and a cold disk queue make each commit dearer than back-to-back ones.
"""

from __future__ import annotations

import os
import sqlite3
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from bench.scenarios import percentile


@dataclass(frozen=True)
class CommitProbe:
    synchronous: str
    commits: int
    gap_ms: float
    p50_ms: float
    p99_ms: float


def probe_commits(
    directory: Path, synchronous: str, commits: int = 200, gap: float = 0.01
) -> CommitProbe:
    """Time `commits` one-row commits to a WAL database in `directory`, `gap` seconds apart,
    with the zone log's shape (an AUTOINCREMENT id, an index on zone_id, a ~100-byte update)."""
    with tempfile.TemporaryDirectory(dir=directory, prefix="commit-probe-") as tmp:
        conn = sqlite3.connect(Path(tmp) / "probe.sqlite3", isolation_level=None)
        try:
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute(f"PRAGMA synchronous={synchronous}")
            conn.execute(
                "CREATE TABLE log (id INTEGER PRIMARY KEY AUTOINCREMENT, zone_id INTEGER, "
                "data BLOB, created_at TEXT)"
            )
            conn.execute("CREATE INDEX log_zone ON log (zone_id)")
            times = []
            for _ in range(commits):
                row = (1, os.urandom(100), "2026-11-24 12:00:00.000000")
                started = time.perf_counter()
                conn.execute("BEGIN IMMEDIATE")
                conn.execute("INSERT INTO log (zone_id, data, created_at) VALUES (?, ?, ?)", row)
                conn.execute("COMMIT")
                times.append(time.perf_counter() - started)
                time.sleep(gap)
        finally:
            conn.close()
    times.sort()
    return CommitProbe(
        synchronous=synchronous,
        commits=commits,
        gap_ms=gap * 1000,
        p50_ms=percentile(times, 0.50) * 1000,
        p99_ms=percentile(times, 0.99) * 1000,
    )
