"""`/events`: each user's live events over a cookie-authenticated WebSocket."""

from __future__ import annotations

import asyncio
import json
import logging
import time

import httpx
import pytest
import websockets

from crdt.protocol import CloseCode
from server.core.event_hub import QUEUE_LIMIT, EventHub
from tests.support.live import LiveServer
from tests.support.waiting import wait_for
from tests.support.web import log_in
from tests.support.world import ROLE_USERS, World

log = logging.getLogger("tests.events")


async def _session_cookie(server: LiveServer, role: str) -> str:
    async with httpx.AsyncClient(base_url=server.http) as http:
        response = await log_in(http, ROLE_USERS[role][0])
        assert response.status_code == 303
        return str(http.cookies["samplan_session"])


def _events_url(server: LiveServer) -> str:
    return f"ws://127.0.0.1:{server.port}/events"


async def test_an_event_reaches_every_open_page_of_that_user_only(
    web: LiveServer, world: World
) -> None:
    deltaker = await _session_cookie(web, "deltaker")
    leser = await _session_cookie(web, "leser")

    def as_(cookie: str) -> dict[str, str]:
        return {"Origin": web.http, "Cookie": f"samplan_session={cookie}"}

    async with (
        websockets.connect(_events_url(web), additional_headers=as_(deltaker)) as tab1,
        websockets.connect(_events_url(web), additional_headers=as_(deltaker)) as tab2,
        websockets.connect(_events_url(web), additional_headers=as_(leser)) as other,
    ):
        hub = web.services.events
        user = world.users["deltaker"]
        await wait_for(lambda: hub.subscribers(user) == 2, what="both tabs subscribed")
        started = time.perf_counter()
        event = {"type": "minutes_published", "planId": world.plan_id, "title": "Møte ✅ æøå"}
        assert hub.publish([user], event) == 2
        for tab in (tab1, tab2):
            assert json.loads(await asyncio.wait_for(tab.recv(), 10)) == event
        log.info("event delivered in %.1f ms", (time.perf_counter() - started) * 1000)
        with pytest.raises(asyncio.TimeoutError):
            await asyncio.wait_for(other.recv(), 0.3)
    await wait_for(lambda: hub.subscribers(user) == 0, what="closed pages forgotten")


@pytest.mark.parametrize("how", ["no cookie", "bad cookie", "foreign origin"])
async def test_events_need_a_session_from_our_own_origin(
    web: LiveServer, world: World, how: str
) -> None:
    cookie = await _session_cookie(web, "deltaker")
    headers = {
        "no cookie": {"Origin": web.http},
        "bad cookie": {"Origin": web.http, "Cookie": "samplan_session=forfalsket-æøå"},
        "foreign origin": {"Origin": "http://evil.example", "Cookie": f"samplan_session={cookie}"},
    }[how]
    async with websockets.connect(_events_url(web), additional_headers=headers) as ws:
        with pytest.raises(websockets.ConnectionClosed):
            await asyncio.wait_for(ws.recv(), 10)
        assert ws.close_code == CloseCode.UNAUTHENTICATED


async def test_a_subscriber_that_never_reads_is_dropped_not_grown() -> None:
    hub = EventHub()
    with hub.subscribe(7) as queue:
        for i in range(QUEUE_LIMIT + 5):
            hub.publish([7], {"type": "notification", "n": i})
        assert queue.qsize() == 1 and queue.get_nowait()["type"] == "_closed"
        assert hub.subscribers(7) == 0  # dropped at once: nothing more is queued for it


# Every test here that starts a server runs on SQLite and on PostgreSQL (tests/conftest.py).
pytestmark = pytest.mark.both_databases
