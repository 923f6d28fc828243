"""Browsers authenticate with the session cookie; the Origin check stops cross-site hijacking."""

from __future__ import annotations

import httpx
import pytest
from pycrdt import Text

from crdt.client import YClient
from tests.support.live import LiveServer
from tests.support.world import World


async def _open(
    server: LiveServer, world: World, cookie: str | None, origin: str | None
) -> YClient:
    headers = {}
    if cookie is not None:
        headers["Cookie"] = f"samplan_session={cookie}"
    if origin is not None:
        headers["Origin"] = origin
    client = YClient(server.ws_url(world.room("content")))
    await client.connect(additional_headers=headers)
    return client


async def test_session_cookie_from_same_origin_opens_the_plan(
    server: LiveServer, world: World
) -> None:
    raw = await server.services.sessions.create(world.users["verge"], 3600)
    client = await _open(server, world, raw, server.http)
    try:
        await client.wait_for(client.synced.is_set)
        client.doc.get("t", type=Text).insert(0, "Line Berg var her 👋 æøå")
        room = server.services.registry.rooms[world.zones["content"]]
        await client.wait_for(lambda: "Line Berg" in str(room.doc.get("t", type=Text)))
    finally:
        await client.close()


async def test_cross_site_origin_is_refused(server: LiveServer, world: World) -> None:
    raw = await server.services.sessions.create(world.users["verge"], 3600)
    for origin in ("https://ondsinnet.example", None):
        client = await _open(server, world, raw, origin)
        assert await client.wait_closed() == 4403
        await client.close()


async def test_unknown_or_ended_session_is_not_authenticated(
    server: LiveServer, world: World
) -> None:
    raw = await server.services.sessions.create(world.users["verge"], 3600)
    await server.services.sessions.delete(raw)  # logged out
    for cookie in (raw, "ikke-en-ekte-økt"):
        client = await _open(server, world, cookie, server.http)
        assert await client.wait_closed() == 4401
        await client.close()


async def test_healthz(server: LiveServer, world: World) -> None:
    async with httpx.AsyncClient() as http:
        response = await http.get(f"{server.http}/healthz")
    assert response.status_code == 200
    assert response.json()["status"] == "ok"


# Every test here that starts a server runs on SQLite and on PostgreSQL (tests/conftest.py).
pytestmark = pytest.mark.both_databases
