"""Every edit anyone has seen survives SIGKILL of the server (persist before relay)."""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path

from pycrdt import Map, Text

from crdt.client import YClient
from server.services import Repositories
from tests.conftest import make_settings
from tests.support.clients import connected, text_of
from tests.support.live import ServerProcess
from tests.support.world import World, build_world

log = logging.getLogger("tests")


async def _world_and_server(tmp_path: Path) -> tuple[World, ServerProcess]:
    settings = make_settings(tmp_path)
    repos = await Repositories.open(settings)
    world = await build_world(repos, settings.resolved_secret_key())
    await repos.close()
    env = {
        "SAMPLAN_VAR_DIR": str(settings.var_dir),
        "SAMPLAN_DATABASE_URL": settings.resolved_database_url(),
        "SAMPLAN_SECRET_KEY": settings.resolved_secret_key(),
    }
    return world, ServerProcess(env, tmp_path)


async def test_edits_seen_by_another_client_survive_sigkill(tmp_path: Path) -> None:
    world, proc = await _world_and_server(tmp_path)
    room = world.room("content")
    proc.start()
    try:
        a = await YClient(proc.ws_url(room, world.token("koordinator"))).connect()
        b = await YClient(proc.ws_url(room, world.token("deltaker"))).connect()
        await a.wait_for(a.synced.is_set)
        await b.wait_for(b.synced.is_set)
        for i in range(20):
            writer, reader = (a, b) if i % 2 == 0 else (b, a)
            writer.doc.get("t", type=Text).insert(0, f"[{i} Åse Ødegård 😀]")
            await reader.wait_for(lambda i=i, r=reader: f"[{i} " in text_of(r))
        seen = text_of(b)
        proc.kill()  # SIGKILL: no shutdown hook, no final compaction
        await a.wait_closed()
        await b.wait_closed()
        await a.close()
        await b.close()
        proc.start()
        async with connected(proc.ws_url(room, world.token("leser"))) as fresh:
            assert text_of(fresh) == seen
    finally:
        proc.stop()


async def test_burst_in_flight_at_kill_loses_nothing_anyone_saw(tmp_path: Path) -> None:
    """Kill in the middle of a burst: whatever a reader had received is on disk."""
    world, proc = await _world_and_server(tmp_path)
    room = world.room("area/skole")
    proc.start()
    try:
        a = await YClient(proc.ws_url(room, world.token("koordinator"))).connect()
        b = await YClient(proc.ws_url(room, world.token("deltaker"))).connect()
        await a.wait_for(a.synced.is_set)
        await b.wait_for(b.synced.is_set)
        seen_by_b: set[str] = set()
        b_map = b.doc.get("m", type=Map)
        b.on_update = lambda _u: seen_by_b.update(b_map.keys())
        a_map = a.doc.get("m", type=Map)
        for i in range(400):
            a_map[f"k{i}"] = f"mål {i}: fullføre vg1 💻"
            if i % 20 == 0:
                await asyncio.sleep(0)
        await b.wait_for(lambda: len(seen_by_b) >= 100)
        proc.kill()
        log.info("reader had seen %d of 400 edits at SIGKILL", len(seen_by_b))
        await a.close()
        await b.close()
        proc.start()
        async with connected(proc.ws_url(room, world.token("planeier"))) as fresh:
            stored = set(fresh.doc.get("m", type=Map).keys())
            assert seen_by_b <= stored, sorted(seen_by_b - stored)[:5]
            assert fresh.doc.get("m", type=Map)["k0"] == "mål 0: fullføre vg1 💻"
    finally:
        proc.stop()


async def test_graceful_stop_tells_clients_to_come_back_and_compacts(tmp_path: Path) -> None:
    world, proc = await _world_and_server(tmp_path)
    room = world.room("area/skole")
    proc.start()
    try:
        client = await YClient(proc.ws_url(room, world.token("deltaker"))).connect()
        await client.wait_for(client.synced.is_set)
        client.doc.get("t", type=Text).insert(0, "Lagret før omstart 🔁 æøå")
        await client.close()  # flushes the edit
        watcher = await YClient(proc.ws_url(room, world.token("koordinator"))).connect()
        await watcher.wait_for(lambda: "omstart" in text_of(watcher))
        proc.stop()  # SIGTERM
        assert await watcher.wait_closed() == 1012  # service restart: the client reconnects
        await watcher.close()
        import sqlite3

        db_file = tmp_path / "samplan.sqlite3"
        with sqlite3.connect(db_file) as db:
            zone = world.zones["area/skole"]
            tail = db.execute(
                "SELECT count(*) FROM zone_updates WHERE zone_id=?", (zone,)
            ).fetchone()
            snap = db.execute(
                "SELECT count(*) FROM zone_snapshots WHERE zone_id=?", (zone,)
            ).fetchone()
        assert (tail[0], snap[0]) == (0, 1)
        proc.start()
        async with connected(proc.ws_url(room, world.token("planeier"))) as fresh:
            assert text_of(fresh) == "Lagret før omstart 🔁 æøå"
    finally:
        proc.stop()
