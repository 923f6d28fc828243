"""Graceful shutdown: SIGTERM (or SIGINT) while a client is writing. The server stops
accepting, makes every pending write durable (and relays it), closes every socket with 1012
(service restart: the client reconnects) and exits (server/ops/shutdown.py); everything a
client had seen acknowledged is in the database when the server comes back."""

from __future__ import annotations

import asyncio
import signal
import socket
from pathlib import Path

import pytest
from pycrdt import Map

from crdt.client import YClient
from crdt.zone_state import doc_from_stored
from server.services import Repositories
from tests.conftest import make_settings
from tests.support.clients import connected
from tests.support.live import ServerProcess
from tests.support.world import World, build_world
from tests.support.writer import GOAL, ConfirmingWriter


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


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
async def test_a_signal_while_a_client_writes_closes_with_1012_and_loses_nothing_acknowledged(
    tmp_path: Path, sig: signal.Signals
) -> None:
    world, proc = await _world_and_server(tmp_path)
    room = world.room("area/skole")
    proc.start()
    try:
        client = await YClient(proc.ws_url(room, world.token("koordinator"))).connect()
        observer = await YClient(proc.ws_url(room, world.token("deltaker"))).connect()
        await client.wait_for(client.synced.is_set)
        await observer.wait_for(observer.synced.is_set)
        seen: set[str] = set()
        observed = observer.doc.get("m", type=Map)
        observer.on_update = lambda _u: seen.update(observed.keys())
        writer = ConfirmingWriter(client)
        writing = asyncio.get_running_loop().create_task(writer.run())
        await client.wait_for(lambda: writer.confirmed >= 40 and len(seen) >= 40)
        assert proc.proc is not None
        proc.proc.send_signal(sig)  # the writer goes on writing into the shutdown
        assert await client.wait_closed() == 1012
        assert await observer.wait_closed() == 1012
        await writing
        returncode = await asyncio.to_thread(proc.proc.wait, 60)
        acknowledged = writer.confirmed_keys()
        await client.close()
        await observer.close()

        log = proc.output()
        assert "services stopped" in log, log[-3000:]
        assert "stopping: pending writes durable and relayed; closing sockets (1012)" in log
        assert "rooms closed (1012), their pending writes flushed" in log
        # uvicorn re-raises the signal it handled: SIGTERM ends the process, SIGINT is the
        # KeyboardInterrupt `samplan` answers with 130
        assert returncode in (0, -sig, 128 + sig), returncode
        # A new connection while stopping was refused: nothing listens on the port any more.
        assert not _listening(proc.port)

        # Straight from the file, before any server opens it again: every goal the writer
        # had confirmed, and every one the observer was relayed, is stored.
        stored = await _stored_keys(tmp_path, world.zones["area/skole"])
        assert acknowledged, "nothing was acknowledged before the signal"
        assert acknowledged <= stored, sorted(acknowledged - stored)[:5]
        assert seen <= stored, sorted(seen - stored)[:5]
        assert len(stored) <= writer.written  # what came after the last confirmation may be
        proc.start()
        async with connected(proc.ws_url(room, world.token("planeier"))) as fresh:
            goals = fresh.doc.get("m", type=Map)
            assert set(goals.keys()) == stored
            assert goals["k0"] == GOAL.format(i=0)
    finally:
        proc.stop()


def _listening(port: int) -> bool:
    with socket.socket() as s:
        return s.connect_ex(("127.0.0.1", port)) == 0


async def _stored_keys(tmp_path: Path, zone_id: int) -> set[str]:
    repos = await Repositories.open(make_settings(tmp_path), migrate=False)
    try:
        doc = doc_from_stored(await repos.zone_log.load(zone_id))
    finally:
        await repos.close()
    return set(doc.get("m", type=Map).keys())
