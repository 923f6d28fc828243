"""A peer that stops reading is closed (1013, so its client resyncs); nobody else suffers."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import websockets
from pycrdt import Map

from crdt.protocol import encode_sync_step1
from server.services import Repositories
from server.sync.fast_send import DirectTransport
from server.sync.fast_send import paths as send_paths
from tests.conftest import make_settings
from tests.support.clients import connected
from tests.support.live import LiveServer, live_server
from tests.support.world import World, build_world

log = logging.getLogger("tests")


@pytest.fixture
async def small_queue_server(tmp_path: Path) -> AsyncIterator[tuple[LiveServer, World]]:
    settings = make_settings(tmp_path, send_queue_frames=16)
    repos = await Repositories.open(settings)
    world = await build_world(repos, settings.resolved_secret_key())
    await repos.close()
    async with live_server(settings) as server:
        yield server, world


async def test_stalled_reader_is_closed_and_others_get_everything(
    small_queue_server: tuple[LiveServer, World],
) -> None:
    server, world = small_queue_server
    room = world.room("content")
    zone = world.zones["content"]
    async with (
        connected(server.ws_url(room, world.token("koordinator"))) as writer,
        connected(server.ws_url(room, world.token("deltaker"))) as reader,
    ):
        # A raw client that says hello and then never reads again: with max_queue=1 its
        # library stops reading the socket, so TCP and then the server's queue fill up.
        stalled = await websockets.connect(
            server.ws_url(room, world.token("leser")),
            max_queue=1,
            compression=None,
            close_timeout=0.5,
        )
        await stalled.send(encode_sync_step1(b"\x00"))
        await writer.wait_for(lambda: len(server.services.registry.rooms[zone].peers) == 3)
        stalled_peer = next(
            p
            for p in server.services.registry.rooms[zone].peers
            if p
            not in {
                c.peer
                for c in server.services.connections.of_plan(world.plan_id)
                if c.role != "leser"
            }
        )
        # The relay writes beneath ASGI (server/sync/fast_send.py) until uvicorn says the
        # socket is full; then it declines and the ASGI path's wait and the queue take over.
        assert isinstance(stalled_peer.transport, DirectTransport)
        declined = send_paths.declined
        big = "æøå 😀 " * 4000  # ~40 KB per edit; 600 of them outgrow any socket buffer
        edits = writer.doc.get("m", type=Map)
        received = reader.doc.get("m", type=Map)
        total = 0
        while not stalled_peer.closed and total < 600:
            for _ in range(8):  # paced: a reading peer keeps up, a stalled one falls behind
                edits[f"k{total}"] = f"{total}:{big}"
                total += 1
            await reader.wait_for(lambda n=total: len(received) == n, timeout=60)
        log.info("stalled peer closed after %d large edits", total)
        assert stalled_peer.closed and stalled_peer.close_code == 1013
        assert reader.close_code is None and writer.close_code is None
        assert stalled_peer.queued == 0  # dropped, not kept growing
        assert send_paths.declined > declined
        assert stalled_peer not in server.services.registry.rooms[zone].peers
        await stalled.close()
