"""Graceful shutdown: SIGTERM (or SIGINT) while clients write in two rooms. The server stops
accepting, makes every pending write durable (and relays it), closes every socket of every
room with 1012 (service restart: the client reconnects) and exits (server/ops/shutdown.py);
everything a client had seen acknowledged is in the database when the server comes back."""

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


class _Writing:
    """A writer and an observer of one zone, the writer going on into the shutdown."""

    def __init__(self, proc: ServerProcess, world: World, suffix: str) -> None:
        self.zone_id = world.zones[suffix]
        room = world.room(suffix)
        self.client = YClient(proc.ws_url(room, world.token("koordinator")))
        self.observer = YClient(proc.ws_url(room, world.token("deltaker")))
        self.writer = ConfirmingWriter(self.client)
        self.seen: set[str] = set()

    async def start(self) -> None:
        for client in (self.client, self.observer):
            await client.connect()
            await client.wait_for(client.synced.is_set)
        observed = self.observer.doc.get("m", type=Map)
        self.observer.on_update = lambda _u: self.seen.update(observed.keys())
        self.task = asyncio.get_running_loop().create_task(self.writer.run())
        await self.client.wait_for(lambda: self.writer.confirmed >= 40 and len(self.seen) >= 40)

    async def closed(self) -> list[int | None]:
        codes = [await c.wait_closed() for c in (self.client, self.observer)]
        await self.task
        for client in (self.client, self.observer):
            await client.close()
        return codes


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
async def test_a_signal_while_clients_write_closes_every_room_with_1012_and_loses_nothing(
    tmp_path: Path, sig: signal.Signals
) -> None:
    world, proc = await _world_and_server(tmp_path)
    proc.start()
    try:
        rooms = [_Writing(proc, world, suffix) for suffix in ("area/skole", "area/fritid")]
        for writing in rooms:
            await writing.start()
        assert proc.proc is not None
        proc.proc.send_signal(sig)  # the writers go on writing into the shutdown
        for writing in rooms:
            assert await writing.closed() == [1012, 1012]
        returncode = await asyncio.to_thread(proc.proc.wait, 60)

        log = proc.output()
        assert "services stopped" in log, log[-3000:]
        assert "stopping: pending writes durable and relayed; closing sockets (1012)" in log
        assert "shutdown: 2 rooms closed (1012), their pending writes flushed" in log
        # uvicorn re-raises the signal it handled: SIGTERM ends the process, SIGINT is the
        # KeyboardInterrupt `samplan` answers with 130
        assert returncode in (0, -sig, 128 + sig), returncode
        # A new connection while stopping was refused: nothing listens on the port any more.
        assert not _listening(proc.port)

        # Straight from the file, before any server opens it again: in each room, every goal
        # the writer had confirmed, and every one the observer was relayed, is stored.
        for writing in rooms:
            stored = await _stored_keys(tmp_path, writing.zone_id)
            acknowledged = writing.writer.confirmed_keys()
            assert acknowledged, "nothing was acknowledged before the signal"
            assert acknowledged <= stored, sorted(acknowledged - stored)[:5]
            assert writing.seen <= stored, sorted(writing.seen - stored)[:5]
            # what came after the last confirmation may be lost, nothing more
            assert len(stored) <= writing.writer.written
        proc.start()
        async with connected(proc.ws_url(world.room("area/skole"), world.token("planeier"))) as f:
            goals = f.doc.get("m", type=Map)
            assert set(goals.keys()) == await _stored_keys(tmp_path, rooms[0].zone_id)
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
