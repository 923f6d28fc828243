"""Python clients against the real server: convergence, durability order, awareness, rooms."""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path

import pytest
from pycrdt import Text

from crdt.client import YClient
from server.services import Repositories
from tests.conftest import make_settings
from tests.support.clients import connected, log_rows, text_of
from tests.support.database import database_url
from tests.support.live import LiveServer, live_server
from tests.support.waiting import wait_for
from tests.support.world import World, build_world

log = logging.getLogger("tests")

pytestmark = pytest.mark.both_databases


async def _unloaded(server: LiveServer, zone_id: int) -> None:
    """Wait out the room's grace period: it unloads after it, when the loop gets to it."""
    await wait_for(
        lambda: zone_id not in server.services.registry.rooms,
        timeout=server.settings.room_grace_seconds + 30,
        what=f"room {zone_id} to unload",
    )


def db_path(server: LiveServer) -> str:
    """The server's database, for a separate reader (tests/support/database.py)."""
    return database_url(server)


async def test_two_clients_converge_after_concurrent_edits(
    server: LiveServer, world: World
) -> None:
    url = server.ws_url(world.room("content"), world.token("koordinator"))
    url2 = server.ws_url(world.room("content"), world.token("deltaker"))
    async with connected(url) as a, connected(url2) as b:
        a.doc.get("t", type=Text).insert(0, "Åse Ødegård skriver 📝")
        b.doc.get("t", type=Text).insert(0, "Blåbærsyltetøy 🫐")
        took = await a.wait_for(lambda: text_of(a) == text_of(b) and len(text_of(a)) > 20)
        log.info("converged in %.1f ms", took * 1000)
        assert "Åse Ødegård skriver 📝" in text_of(a)
        assert "Blåbærsyltetøy 🫐" in text_of(b)


async def test_update_is_in_the_log_before_anyone_receives_it(
    server: LiveServer, world: World
) -> None:
    """Persist before relay: when B sees an edit, the SQLite file already holds it."""
    path = db_path(server)
    zone = world.zones["content"]
    url_a = server.ws_url(world.room("content"), world.token("koordinator"))
    url_b = server.ws_url(world.room("content"), world.token("deltaker"))
    seen: list[int] = []
    async with connected(url_a) as a, connected(url_b) as b:
        before = log_rows(path, zone)
        b.on_update = lambda _u: seen.append(log_rows(path, zone))
        for i in range(5):
            a.doc.get("t", type=Text).insert(0, f"æøå {i} 🙂 ")
            await b.wait_for(lambda i=i: len(seen) > i)
        assert seen == [before + n for n in range(1, 6)]


async def test_late_joiner_gets_everything(server: LiveServer, world: World) -> None:
    url = server.ws_url(world.room("area/skole"), world.token("koordinator"))
    async with connected(url) as a:
        a.doc.get("t", type=Text).insert(0, "Jeg vil fullføre vg1 IKT 💻")
        async with connected(server.ws_url(world.room("area/skole"), world.token("deltaker"))) as b:
            await b.wait_for(lambda: text_of(b) == "Jeg vil fullføre vg1 IKT 💻")


async def test_awareness_of_those_present_and_removed_at_close(
    server: LiveServer, world: World
) -> None:
    url = server.ws_url(world.room("content"), world.token("koordinator"))
    async with connected(url) as a:
        await a.set_awareness({"user": {"name": "Kari Nilsen"}})
        await a.wait_for(lambda: a.doc.client_id in a.awareness)  # relayed to the sender too
        b = YClient(server.ws_url(world.room("content"), world.token("deltaker")))
        await b.connect()
        await b.wait_for(lambda: a.doc.client_id in b.awareness)
        assert b.awareness[a.doc.client_id]["user"]["name"] == "Kari Nilsen"
        await b.set_awareness({"user": {"name": "Åse Ødegård"}})
        await a.wait_for(lambda: b.doc.client_id in a.awareness)
        await b.close()
        took = await a.wait_for(lambda: b.doc.client_id not in a.awareness, timeout=10)
        log.info("awareness removed %.1f ms after close", took * 1000)


async def test_three_clients_join_a_cold_room_at_once(server: LiveServer, world: World) -> None:
    room = world.room("area/fritid")
    seed = YClient(server.ws_url(room, world.token("koordinator")))
    await seed.connect()
    await seed.wait_for(seed.synced.is_set)
    seed.doc.get("t", type=Text).insert(0, "E-sport i klubb 🎮")
    await seed.wait_for(lambda: log_rows(db_path(server), world.zones["area/fritid"]) >= 1)
    await seed.close()
    await _unloaded(server, world.zones["area/fritid"])  # the next join is cold
    clients = [
        YClient(server.ws_url(room, world.token(r))) for r in ("koordinator", "deltaker", "verge")
    ]
    await asyncio.gather(*(c.connect() for c in clients))
    try:
        for c in clients:
            await c.wait_for(lambda c=c: c.synced.is_set() and text_of(c) == "E-sport i klubb 🎮")
    finally:
        await asyncio.gather(*(c.close() for c in clients))


async def test_offline_edits_merge_on_reconnect(server: LiveServer, world: World) -> None:
    room = world.room("content")
    async with connected(server.ws_url(room, world.token("koordinator"))) as a:
        b = YClient(server.ws_url(room, world.token("deltaker")))
        await b.connect()
        await b.wait_for(b.synced.is_set)
        await b.close()
        b.doc.get("t", type=Text).insert(0, "skrevet uten nett ✈️ ")
        a.doc.get("t", type=Text).insert(0, "skrevet på møtet 🗣️ ")
        b2 = YClient(server.ws_url(room, world.token("deltaker")), doc=b.doc)
        await b2.connect()
        try:
            await a.wait_for(lambda: "uten nett" in text_of(a))
            await b2.wait_for(lambda: "på møtet" in text_of(b2))
            await a.wait_for(lambda: text_of(a) == text_of(b2))
        finally:
            await b2.close()


async def test_document_survives_everyone_leaving(server: LiveServer, world: World) -> None:
    room = world.room("area/skole")
    async with connected(server.ws_url(room, world.token("deltaker"))) as a:
        a.doc.get("t", type=Text).insert(0, "Kommentar fra Åse 💬")
        await a.wait_for(lambda: log_rows(db_path(server), world.zones["area/skole"]) >= 1)
    await _unloaded(server, world.zones["area/skole"])
    async with connected(server.ws_url(room, world.token("planeier"))) as b:
        assert text_of(b) == "Kommentar fra Åse 💬"


async def test_compaction_loads_from_snapshot_plus_short_tail(
    tmp_path: Path, server_database: str
) -> None:
    settings = make_settings(tmp_path, database_url=server_database, compact_after_updates=50)
    repos = await Repositories.open(settings)
    world = await build_world(repos, settings.resolved_secret_key())
    zone = world.zones["content"]
    async with live_server(settings) as server:
        url = server.ws_url(world.room("content"), world.token("koordinator"))
        async with connected(url) as a:
            text = a.doc.get("t", type=Text)
            for i in range(230):
                text += f"ø{i}😀"
                if i % 10 == 0:
                    await asyncio.sleep(0)
            expected = str(text)
            room = server.services.registry.rooms[zone]
            await a.wait_for(lambda: str(room.doc.get("t", type=Text)) == expected)
            await a.wait_for(lambda: room.tail_length < 60)
            # compacted while live: the database holds one snapshot plus a short tail
            live = await repos.zone_log.load(zone)
            assert live.snapshot is not None
            assert len(live.updates) < 60, len(live.updates)
        await _unloaded(server, zone)
        loaded = await repos.zone_log.load(zone)
        assert loaded.snapshot is not None and len(loaded.updates) == 0  # compacted on unload
        async with connected(url) as fresh:
            assert text_of(fresh) == expected
    await repos.close()


async def test_presence_shows_who_the_server_authenticated(
    server: LiveServer, world: World
) -> None:
    """A client cannot appear as someone else: the server stamps `user` from its session."""
    room = world.room("content")
    async with (
        connected(server.ws_url(room, world.token("koordinator"))) as a,
        connected(server.ws_url(room, world.token("deltaker"))) as b,
    ):
        await b.set_awareness({"user": {"name": "Kari Nilsen", "role": "koordinator"}, "x": 1})
        await a.wait_for(lambda: b.doc.client_id in a.awareness)
        shown = a.awareness[b.doc.client_id]
        assert shown["user"]["name"] == "Åse Ødegård"
        assert shown["user"]["role"] == "deltaker"
        assert shown["user"]["id"] == world.users["deltaker"]
        assert shown["user"]["initials"] == "ÅØ"
        assert shown["x"] == 1  # the rest of the state (cursor, …) is the client's own
