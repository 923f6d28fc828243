"""A session that ends closes every socket it opened, at once (issue 11, "Sessions end
everywhere"): log-out and idle expiry close its zone sockets and its /events stream with 4401,
while the same person's other sessions and token sockets stay open; typing on a socket is
activity, so a long writing session does not idle out."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
import websockets
from pycrdt import Text

from crdt.client import YClient
from crdt.protocol import CloseCode, SyncStep2, decode_message, encode_sync_step1
from server.settings import Settings
from storage.repositories.sessions import token_id
from tests.conftest import make_settings
from tests.support.live import LiveServer
from tests.support.waiting import wait_for
from tests.support.web import csrf_of, log_in
from tests.support.world import ROLE_USERS, World

pytestmark = pytest.mark.both_databases

TEXT = "Åse Ødegård skriver referat 📝 æøå"


def _as(server: LiveServer, cookie: str) -> dict[str, str]:
    return {"Origin": server.http, "Cookie": f"samplan_session={cookie}"}


@contextlib.asynccontextmanager
async def _browser(server: LiveServer, role: str) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=server.http, timeout=60) as http:
        assert (await log_in(http, ROLE_USERS[role][0])).status_code == 303
        yield http


def _cookie(http: httpx.AsyncClient) -> str:
    return str(http.cookies["samplan_session"])


async def _log_out(http: httpx.AsyncClient) -> None:
    page = await http.get("/plans")
    response = await http.post("/logout", data={"csrf_token": csrf_of(page.text)})
    assert response.status_code == 303


async def _zone(server: LiveServer, world: World, cookie: str, zone: str = "content") -> YClient:
    client = YClient(server.ws_url(world.room(zone)))
    await client.connect(additional_headers=_as(server, cookie))
    await client.wait_for(client.synced.is_set)
    return client


async def _events(server: LiveServer, cookie: str) -> websockets.ClientConnection:
    url = f"ws://127.0.0.1:{server.port}/events"
    return await websockets.connect(url, additional_headers=_as(server, cookie))


async def _closed_with(ws: websockets.ClientConnection) -> int | None:
    with pytest.raises(websockets.ConnectionClosed):
        while True:
            await asyncio.wait_for(ws.recv(), 30)
    return ws.close_code


async def test_log_out_closes_every_socket_of_that_session_only(
    web: LiveServer, world: World
) -> None:
    sockets = web.services.session_sockets
    async with _browser(web, "deltaker") as tab, _browser(web, "deltaker") as phone:
        # The raw socket speaks the protocol by hand: what it gets after log-out is visible.
        raw = await websockets.connect(
            web.ws_url(world.room("content")),
            additional_headers=_as(web, _cookie(tab)),
            max_size=None,
        )
        await raw.send(encode_sync_step1(b"\x00"))
        while not isinstance(decode_message(await asyncio.wait_for(raw.recv(), 30)), SyncStep2):
            pass
        comments = await _zone(web, world, _cookie(tab), "comments")
        events = await _events(web, _cookie(tab))
        other_zone = await _zone(web, world, _cookie(phone))
        other_events = await _events(web, _cookie(phone))
        services = web.services  # token sockets are not sessions: they stay open too
        token_client = YClient(web.ws_url(world.room("content"), world.token("deltaker")))
        await token_client.connect()
        await token_client.wait_for(token_client.synced.is_set)
        ended = token_id(_cookie(tab))
        await wait_for(lambda: sockets.sockets_of(ended) == 3, what="the tab's three sockets")

        await _log_out(tab)

        # A fresh sync step 1 after log-out gets nothing back: no state, only the close.
        with contextlib.suppress(websockets.ConnectionClosed):
            await raw.send(encode_sync_step1(b"\x00"))
        after: list[object] = []
        with pytest.raises(websockets.ConnectionClosed):
            while True:
                after.append(decode_message(await asyncio.wait_for(raw.recv(), 30)))
        assert raw.close_code == CloseCode.UNAUTHENTICATED
        assert not any(isinstance(message, SyncStep2) for message in after)
        assert await comments.wait_closed() == CloseCode.UNAUTHENTICATED
        assert await _closed_with(events) == CloseCode.UNAUTHENTICATED
        assert sockets.sockets_of(ended) == 0

        # The same person's other session, and a token socket, are untouched.
        other_zone.doc.get("t", type=Text).insert(0, TEXT)
        room = services.registry.rooms[world.zones["content"]]
        await other_zone.wait_for(lambda: TEXT in str(room.doc.get("t", type=Text)))
        await token_client.wait_for(lambda: TEXT in str(token_client.doc.get("t", type=Text)))
        assert other_zone.close_code is None and token_client.close_code is None
        services.events.publish([world.users["deltaker"]], {"type": "ping", "note": "æøå 🎉"})
        assert "æøå" in str(await asyncio.wait_for(other_events.recv(), 30))
        for client in (other_zone, token_client, comments):
            await client.close()
        await other_events.close()


async def test_end_sessions_by_user_closes_all_their_sessions(
    web: LiveServer, world: World
) -> None:
    """The one mechanism deactivation will call: every session of that user, nobody else's."""
    async with (
        _browser(web, "deltaker") as one,
        _browser(web, "deltaker") as two,
        _browser(web, "leser") as leser,
    ):
        mine = [await _zone(web, world, _cookie(one)), await _zone(web, world, _cookie(two))]
        theirs = await _zone(web, world, _cookie(leser))
        closed = web.services.session_sockets.end_sessions(user_id=world.users["deltaker"])
        assert closed == 2
        for client in mine:
            assert await client.wait_closed() == CloseCode.UNAUTHENTICATED
        await theirs.set_awareness({"user": {"name": "Per Lund 👓"}})
        await theirs.wait_for(lambda: len(theirs.awareness) == 1)
        assert theirs.close_code is None
        for client in (*mine, theirs):
            await client.close()


async def test_the_page_asks_when_its_session_ends_and_may_continue_it(
    web: LiveServer, world: World
) -> None:
    settings = web.settings
    async with _browser(web, "verge") as http:
        state = (await http.get("/session")).json()
        assert state["userId"] == world.users["verge"]
        assert 0 < state["secondsLeft"] <= settings.session_idle_seconds
        assert state["warnSeconds"] == settings.session_warn_seconds
        # "Continue" is a POST with the form token; without it nothing changes.
        refused = await http.post("/session", data={"csrf_token": "forfalsket"})
        assert refused.status_code == 403
        page = await http.get("/plans")
        kept = await http.post("/session", data={"csrf_token": csrf_of(page.text)})
        assert kept.status_code == 200 and kept.json()["userId"] == world.users["verge"]
        await _log_out(http)
        assert (await http.get("/session")).status_code == 401
    async with httpx.AsyncClient(base_url=web.http) as stranger:
        assert (await stranger.get("/session")).json() == {"secondsLeft": 0}


IDLE = 3  # seconds; the rounds run often so a test waits for them, not for a minute


class TestIdleExpiry:
    @pytest.fixture
    def settings(self, tmp_path: Path, server_database: str) -> Settings:
        return make_settings(
            tmp_path,
            database_url=server_database,
            session_idle_seconds=IDLE,
            session_check_seconds=0.2,
        )

    async def test_an_idle_session_closes_its_sockets(
        self, server: LiveServer, world: World
    ) -> None:
        raw = await server.services.sessions.create(world.users["verge"], 3600)
        zone = await _zone(server, world, raw)
        events = await _events(server, raw)
        assert await zone.wait_closed(timeout=60) == CloseCode.UNAUTHENTICATED
        assert await _closed_with(events) == CloseCode.UNAUTHENTICATED
        assert await server.services.sessions.remaining(raw, IDLE) is None
        await zone.close()

    async def test_typing_keeps_a_session_alive_past_its_idle_time(
        self, server: LiveServer, world: World
    ) -> None:
        sessions = server.services.sessions
        raw = await sessions.create(world.users["koordinator"], 3600)
        writer = await _zone(server, world, raw)
        started = asyncio.get_running_loop().time()
        text = writer.doc.get("t", type=Text)
        typed = 0
        # Three idle periods of writing minutes, a key press every tenth of a second.
        while asyncio.get_running_loop().time() - started < 3 * IDLE:
            text.insert(len(text), "æ")
            typed += 1
            await asyncio.sleep(0.1)
            assert writer.close_code is None, "typing is activity: the session must stay open"
        assert await sessions.remaining(raw, IDLE) is not None
        assert str(text) == "æ" * typed
        await writer.close()
