"""A room's Redis subscription confirmed late (issue 15): a node listens on a zone's channel
before it loads the zone, so nothing another node commits falls between. A Redis that answers
slowly must not hold the load for ever, so the load stops waiting after a few seconds; until
the subscription takes effect this node hears nothing of the zone, so once it does, the node
reads the zone from the store again. Whether the confirmation comes after the room is there
or while it is still loading, another node's edit committed in that gap reaches the room.

One node in-process on a real SQLite file, its Redis a redis-server of the test's own behind a
TCP proxy the test stalls (packets vanish, nothing is refused)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from pycrdt import Doc, Text
from redis.asyncio import Redis

from crdt.committer import GroupCommitter
from crdt.peer import Peer
from crdt.registry import RoomRegistry
from server.cluster import bus as bus_module
from server.cluster.bus import Bus
from server.cluster.zones import RoomFanout
from storage.db import create_engine, make_sessionmaker
from storage.migrate import upgrade
from storage.repositories.plans import PlanRepo
from storage.repositories.updates import LoadedZone, ZoneLog
from tests.support.cluster import RedisServer, redis_server
from tests.support.tcp_proxy import TcpProxy
from tests.support.waiting import wait_for
from tests.test_room import MemoryTransport

pytestmark = pytest.mark.redis

log = logging.getLogger("tests.cluster_late_subscribe")

OTHER_NODE_EDIT = "Kari Nilsen på node B skrev dette 🧭 æøå"


class HeldLoad(ZoneLog):
    """The store as it is; a load can be held after its read (`read` set, `go` awaited)."""

    def __init__(self, *args: Any) -> None:
        super().__init__(*args)
        self.read = asyncio.Event()
        self.go = asyncio.Event()
        self.go.set()

    async def load(self, zone_id: int) -> LoadedZone:
        stored = await super().load(zone_id)
        self.read.set()
        await self.go.wait()
        return stored


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[tuple[HeldLoad, int]]:
    url = f"sqlite+aiosqlite:///{tmp_path / 'node.sqlite3'}"
    await upgrade(url)
    engine = create_engine(url)
    plans = PlanRepo(make_sessionmaker(engine))
    plan = await plans.create_plan(
        await plans.get_or_create_municipality("Eksempelvik kommune"), "Plan", "Åse Ødegård"
    )
    zone = await plans.add_zone(plan.id, "area", "skole", "Skole og læring 📚", 0)
    yield HeldLoad(make_sessionmaker(engine)), zone.id
    await engine.dispose()


@pytest.fixture
async def redis(tmp_path: Path) -> AsyncIterator[RedisServer]:
    with redis_server(tmp_path / "redis") as server:
        yield server


def _other_node_edit() -> bytes:
    doc: Doc[Any] = Doc(client_id=4242)
    doc.get("t", type=Text).insert(0, OTHER_NODE_EDIT)
    return doc.get_update()


async def _subscribed(redis: RedisServer, channel: bytes) -> bool:
    """Whether Redis itself holds the subscription (asked past the stalled proxy)."""
    direct = Redis.from_url(redis.url)
    try:
        counts = await direct.pubsub_numsub(channel)
        return bool(counts and counts[0][1] > 0)
    finally:
        await direct.aclose()


@pytest.mark.parametrize("confirmed", ["after the room is there", "while the room loads"])
async def test_a_subscription_confirmed_late_reads_the_zone_again(
    store: tuple[HeldLoad, int],
    redis: RedisServer,
    monkeypatch: pytest.MonkeyPatch,
    confirmed: str,
) -> None:
    zone_log, zone = store
    monkeypatch.setattr(bus_module, "SUBSCRIBE_TIMEOUT_SECONDS", 0.3)
    proxy = await TcpProxy("127.0.0.1", redis.port).start()
    bus = Bus(f"redis://:{redis.password}@127.0.0.1:{proxy.port}/0", "node-her-åse")
    await bus.start()
    assert bus.connected
    committer = GroupCommitter(zone_log)
    committer.start()
    registry = RoomRegistry(committer)
    registry.link = RoomFanout(bus, zone_log)
    channel = bus.channel(f"room:{zone}")
    peer = Peer(MemoryTransport(), peer_id="leser", can_write=False)
    try:
        await proxy.stall()  # Redis hears nothing of the subscription for now
        if confirmed == "while the room loads":
            zone_log.go.clear()
        joining = asyncio.get_running_loop().create_task(registry.join(zone, peer, "area"))
        await wait_for(zone_log.read.is_set, timeout=30, what="the load's read")
        # Another node commits now: after this node's read, before it listens. Its message
        # went to a channel nobody here heard.
        await zone_log.append_batch([(zone, _other_node_edit())], [None])
        if confirmed == "after the room is there":
            room = await joining
            assert OTHER_NODE_EDIT not in str(room.doc.get("t", type=Text))
        await proxy.restore()
        await wait_for(lambda: _subscribed(redis, channel), timeout=30, what="the subscription")
        zone_log.go.set()
        room = await joining
        took = await wait_for(
            lambda: OTHER_NODE_EDIT in str(room.doc.get("t", type=Text)),
            timeout=30,
            what="the other node's edit, read again from the store",
        )
        log.info("confirmed %s: the room read the zone again %.0f ms later", confirmed, took * 1e3)
        assert bus.late_subscriptions == 1
    finally:
        zone_log.go.set()
        await proxy.restore()
        with contextlib.suppress(Exception):
            registry.leave(await joining, peer)
        await peer.stop()
        await committer.stop()
        await bus.stop()
        await proxy.stop()
