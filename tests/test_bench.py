"""Smoke test of the benchmark: it runs end to end, prints every figure, and loses nothing.

No timing is asserted: the benchmark reports, it does not judge (and CI machines vary).
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def test_quick_bench_prints_every_figure_and_loses_nothing(tmp_path: Path) -> None:
    results = tmp_path / "bench.json"
    done = subprocess.run(
        [
            sys.executable,
            str(REPO / "bench" / "run.py"),
            "--quick",
            "--duration",
            "1",
            "--no-peer",
            "--plans",
            "5",
            "--json",
            str(results),
            "--work",
            str(tmp_path / "work"),
        ],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=90,
    )
    out = done.stdout
    assert done.returncode == 0, out + done.stderr

    for column in ("p50 ms", "p99 ms", "max ms", "lost", "CPU us/deliv", "RSS MB"):
        assert column in out
    for label in (
        "durability sqlite WAL synchronous=FULL",
        "connect (50 clients",
        "cold load",
        "a durable commit on this disk",
        "meeting above the floor",
    ):
        assert label in out
    for scenario in ("meeting", "municipality", "burst"):
        assert f"\n{scenario} " in out

    data = json.loads(results.read_text())
    assert data["errors"] == []
    assert {(r["scenario"], r["server"]) for r in data["loads"]} == {
        (scenario, server)
        for scenario in ("meeting", "municipality", "burst")
        for server in ("samplan", "relay-floor")
    }
    for load in data["loads"]:
        assert load["lost"] == 0, load
        assert load["delivered"] == load["expected"] > 0, load
        assert load["duplicates"] == load["unknown"] == 0, load
        assert load["rooms_converged"] == load["rooms"], load
        assert load["cpu_us_per_delivery"] > 0 and load["rss_mb"] > 0, load
    # The bare relay gives the floor each Samplan figure is read against; a durable commit on
    # this disk is what persist-before-relay adds to it at light load.
    assert set(data["above_floor_ms"]) == {"meeting", "municipality", "burst"}
    assert all(set(d) == {"samplan"} for d in data["above_floor_ms"].values())
    commits = data["durable_commit"]
    assert commits["synchronous"] == "FULL" and commits["commits"] == 50
    assert 0 < commits["p50_ms"] <= commits["p99_ms"]
    (connect,) = data["connect"]
    assert connect["synced"] == connect["content_ok"] == connect["clients"] == 50
    compacted, raw = data["coldload"]  # as the server stores a zone, and the never-compacted log
    assert "snapshot" in compacted["layout"] and "never compacted" in raw["layout"]
    for cold in (compacted, raw):
        assert cold["updates"] == 10_000
        assert cold["content_ok"] == cold["runs"] == len(cold["server_load_ms"]) == 2
