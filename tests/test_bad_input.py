"""Bad input, each its own test: the right close code, content unchanged, others unharmed,
nothing written to the log."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from itsdangerous import URLSafeTimedSerializer
from pycrdt import Doc, Text

from crdt.awareness import AwarenessEntry
from crdt.client import YClient
from crdt.protocol import encode_awareness, encode_sync_update
from server.core.tokens import SALT, issue_plan_token
from tests.conftest import make_settings
from tests.support.clients import connected, log_rows, text_of
from tests.support.database import database_url
from tests.support.live import LiveServer, live_server
from tests.support.world import World, build_world

SEED = "Om meg: Jeg er god med data og e-sport 🎮, æøå."


def db_path(server: LiveServer) -> str:
    """The server's database, for a separate reader (tests/support/database.py)."""
    return database_url(server)


@pytest.fixture
async def strict_server(tmp_path: Path) -> AsyncIterator[tuple[LiveServer, World]]:
    """Small limits, so oversize frames and floods are cheap to produce."""
    from server.services import Repositories

    settings = make_settings(
        tmp_path, max_frame_bytes=64 * 1024, messages_per_second=20.0, message_burst=40
    )
    repos = await Repositories.open(settings)
    world = await build_world(repos, settings.resolved_secret_key())
    await repos.close()
    async with live_server(settings) as server:
        yield server, world


async def _seeded(server: LiveServer, world: World) -> tuple[YClient, YClient]:
    """Two good clients in the content zone, with the seed text durable."""
    a = await YClient(server.ws_url(world.room("content"), world.token("koordinator"))).connect()
    b = await YClient(server.ws_url(world.room("content"), world.token("deltaker"))).connect()
    await a.wait_for(a.synced.is_set)
    await b.wait_for(b.synced.is_set)
    a.doc.get("t", type=Text).insert(0, SEED)
    await b.wait_for(lambda: text_of(b) == SEED)
    return a, b


async def _others_still_work(a: YClient, b: YClient) -> None:
    a.doc.get("t", type=Text).insert(0, "fortsatt i live ✅ ")
    await b.wait_for(lambda: text_of(b).startswith("fortsatt i live ✅ "))


async def _assert_refused_frame(
    server: LiveServer, world: World, frame: bytes | str, expected_code: int, role: str = "deltaker"
) -> None:
    a, b = await _seeded(server, world)
    rows = log_rows(db_path(server))
    bad = await YClient(server.ws_url(world.room("content"), world.token(role))).connect()
    await bad.wait_for(bad.synced.is_set)
    await bad.send_raw(frame)
    assert await bad.wait_closed() == expected_code
    room = server.services.registry.rooms[world.zones["content"]]
    assert str(room.doc.get("t", type=Text)) == SEED
    assert log_rows(db_path(server)) == rows
    await _others_still_work(a, b)
    for c in (a, b, bad):
        await c.close()


async def test_garbage_bytes(strict_server: tuple[LiveServer, World]) -> None:
    await _assert_refused_frame(*strict_server, b"\xff\xfe\xfd garbage \x00\x01", 4400)


async def test_truncated_update_frame(strict_server: tuple[LiveServer, World]) -> None:
    doc = Doc()
    doc.get("t", type=Text).insert(0, "Dette blir kuttet av 🔪")
    frame = encode_sync_update(doc.get_update())
    await _assert_refused_frame(*strict_server, frame[:-4], 4400)


async def test_update_with_corrupt_payload(strict_server: tuple[LiveServer, World]) -> None:
    doc = Doc()
    doc.get("t", type=Text).insert(0, "ødelagt innhold")
    update = bytearray(doc.get_update())
    update[1:5] = b"\xff\xff\xff\xff"
    await _assert_refused_frame(*strict_server, encode_sync_update(bytes(update)), 4400)


async def test_unknown_message_type(strict_server: tuple[LiveServer, World]) -> None:
    await _assert_refused_frame(*strict_server, b"\x09\x00", 4400)


async def test_text_frame(strict_server: tuple[LiveServer, World]) -> None:
    await _assert_refused_frame(*strict_server, "hei på deg 👋", 4400)


async def test_frame_over_the_size_limit(strict_server: tuple[LiveServer, World]) -> None:
    server, world = strict_server
    doc = Doc()
    doc.get("t", type=Text).insert(0, "æ" * (server.settings.max_frame_bytes // 2 + 100))
    frame = encode_sync_update(doc.get_update())
    assert len(frame) > server.settings.max_frame_bytes
    await _assert_refused_frame(server, world, frame, 4413)


async def test_flood_of_messages(strict_server: tuple[LiveServer, World]) -> None:
    server, world = strict_server
    a, b = await _seeded(server, world)
    rows = log_rows(db_path(server))
    flooder = await YClient(server.ws_url(world.room("content"), world.token("leser"))).connect()
    await flooder.wait_for(flooder.synced.is_set)
    for clock in range(1, 500):
        try:
            await flooder.send_raw(encode_awareness([AwarenessEntry(4242, clock, '{"x":1}')]))
        except Exception:
            break
    assert await flooder.wait_closed() == 1013
    assert log_rows(db_path(server)) == rows
    await _others_still_work(a, b)
    for c in (a, b, flooder):
        await c.close()


async def _close_code(url: str) -> int:
    client = YClient(url)
    await client.connect()
    try:
        return await client.wait_closed()
    finally:
        await client.close()


async def test_missing_token(server: LiveServer, world: World) -> None:
    assert await _close_code(server.ws_url(world.room("content"))) == 4401


async def test_expired_token(server: LiveServer, world: World) -> None:
    token = issue_plan_token(world.secret, world.users["koordinator"], world.plan_id, 1)
    await asyncio.sleep(2.1)
    assert await _close_code(server.ws_url(world.room("content"), token)) == 4401


async def test_forged_token(server: LiveServer, world: World) -> None:
    forged = URLSafeTimedSerializer("not-the-secret", salt=SALT).dumps(
        {"u": world.users["koordinator"], "p": world.plan_id, "t": 3600}
    )
    assert await _close_code(server.ws_url(world.room("content"), forged)) == 4401
    tampered = world.token("leser")[:-3] + "AAA"
    assert await _close_code(server.ws_url(world.room("content"), tampered)) == 4401


async def test_token_for_another_plan(server: LiveServer, world: World) -> None:
    token = world.token("koordinator")  # bound to world.plan_id
    assert (
        await _close_code(server.ws_url(world.room("content", world.other_plan_id), token)) == 4403
    )


async def test_plan_that_does_not_exist(server: LiveServer, world: World) -> None:
    missing = str(uuid.uuid4())
    token = issue_plan_token(world.secret, world.users["koordinator"], missing, 3600)
    assert await _close_code(server.ws_url(world.room("content", missing), token)) == 4404


async def test_zone_that_does_not_exist(server: LiveServer, world: World) -> None:
    token = world.token("koordinator")
    assert await _close_code(server.ws_url(world.room("area/finnes-ikke"), token)) == 4404
    assert await _close_code(server.ws_url(world.room("minutes/mote-0"), token)) == 4404
    assert await _close_code(server.ws_url(world.room("secrets"), token)) == 4404
    assert await _close_code(server.ws_url("plan/../../etc/passwd", token)) == 4404


async def test_non_member(server: LiveServer, world: World) -> None:
    # A correctly signed token for this plan, for a user who is not in it: same answer as
    # a missing plan (no oracle).
    token = issue_plan_token(world.secret, world.users["outsider"], world.plan_id, 3600)
    assert await _close_code(server.ws_url(world.room("content"), token)) == 4404


async def test_removing_someone_elses_awareness_is_refused(
    server: LiveServer, world: World
) -> None:
    room = world.room("content")
    async with (
        connected(server.ws_url(room, world.token("koordinator"))) as a,
        connected(server.ws_url(room, world.token("deltaker"))) as b,
        connected(server.ws_url(room, world.token("leser"))) as c,
    ):
        await a.set_awareness({"user": {"name": "Kari Nilsen"}})
        await c.wait_for(lambda: a.doc.client_id in c.awareness)
        clock = c.awareness_clocks[a.doc.client_id]
        # B claims A's id: a removal, and an attempt to impersonate.
        await b.send_raw(encode_awareness([AwarenessEntry(a.doc.client_id, clock + 1, "null")]))
        await b.send_raw(
            encode_awareness(
                [AwarenessEntry(a.doc.client_id, clock + 2, '{"user":{"name":"Falsk"}}')]
            )
        )
        await b.set_awareness({"user": {"name": "Åse Ødegård"}})  # a frame after the refused ones
        await c.wait_for(lambda: b.doc.client_id in c.awareness)
        assert c.awareness[a.doc.client_id]["user"]["name"] == "Kari Nilsen"
        assert b.close_code is None  # refused, not disconnected
