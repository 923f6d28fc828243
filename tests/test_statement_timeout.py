"""A page never waits for ever on PostgreSQL (issue 15): every statement of the server is
bounded (SAMPLAN_STATEMENT_TIMEOUT_SECONDS), so a row lock held by a stuck transaction, or a
database whose packets vanish, turns a page into 503 "try again" within seconds instead of
holding it, and a pooled connection with it, until the pool runs dry. When the lock goes or
the packets flow again, the same page is served as before.

One server in-process on a fresh PostgreSQL database reached through a TCP proxy the test
can stall; the lock is taken on a connection of the test's own, straight to PostgreSQL."""

from __future__ import annotations

import logging
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

from server.settings import Settings
from tests.conftest import make_settings
from tests.support.live import LiveServer
from tests.support.tcp_proxy import ProxyThread, proxied
from tests.support.web import signed_in
from tests.support.world import ROLE_USERS, World

pytestmark = [
    pytest.mark.postgres,
    pytest.mark.parametrize("server_database", ["postgres"], indirect=True),
]

log = logging.getLogger("tests.statement_timeout")

TIMEOUT_SECONDS = 1.0


@pytest.fixture
def proxy_and_url(server_database: str) -> Iterator[tuple[ProxyThread, str]]:
    with proxied(server_database) as pair:
        yield pair


@pytest.fixture
def settings(tmp_path: Path, proxy_and_url: tuple[ProxyThread, str]) -> Settings:
    return make_settings(
        tmp_path, database_url=proxy_and_url[1], statement_timeout_seconds=TIMEOUT_SECONDS
    )


@pytest.fixture
async def kari(web: LiveServer) -> AsyncIterator[httpx.AsyncClient]:
    async with signed_in(web.http, ROLE_USERS["koordinator"][0]) as http:
        yield http


async def _unavailable(
    http: httpx.AsyncClient, path: str, caplog: pytest.LogCaptureFixture
) -> float:
    """GET `path`, which must answer 503 "try again" and log it as one line, not a traceback
    (an outage would repeat it for every request); the seconds it took."""
    caplog.clear()
    started = time.monotonic()
    page = await http.get(path, timeout=60)
    took = time.monotonic() - started
    assert page.status_code == 503, page.status_code
    assert page.headers["retry-after"] == "5"
    assert "Prøv igjen" in page.text
    said = [r for r in caplog.records if r.name == "samplan.pages"]
    assert [r.getMessage().split(" (")[0] for r in said] == [
        f"GET {path}: 503, database unavailable"
    ]
    assert not [r for r in caplog.records if r.exc_info], "a traceback was logged"
    return took


async def test_a_page_behind_a_held_lock_gets_503_and_then_its_page(
    server_database: str,
    web: LiveServer,
    world: World,
    kari: httpx.AsyncClient,
    caplog: pytest.LogCaptureFixture,
) -> None:
    plan_page = f"/plans/{world.plan_id}"
    assert (await kari.get(plan_page)).status_code == 200
    # Another session (a stuck job, an operator's open transaction) holds the plans table.
    locker = create_async_engine(server_database)
    try:
        async with locker.connect() as held:
            await held.execute(text("LOCK TABLE plans IN ACCESS EXCLUSIVE MODE"))
            took = await _unavailable(kari, plan_page, caplog)
            log.info("a page behind a held lock answered 503 after %.2f s", took)
            await held.rollback()
        assert (await kari.get(plan_page)).status_code == 200
    finally:
        await locker.dispose()


async def test_a_page_while_the_database_is_silent_gets_503_and_then_its_page(
    proxy_and_url: tuple[ProxyThread, str],
    web: LiveServer,
    world: World,
    kari: httpx.AsyncClient,
    caplog: pytest.LogCaptureFixture,
) -> None:
    proxy = proxy_and_url[0]
    plan_page = f"/plans/{world.plan_id}"
    assert (await kari.get(plan_page)).status_code == 200
    await proxy.stall()
    try:
        took = await _unavailable(kari, plan_page, caplog)
        log.info("a page while packets vanished answered 503 after %.2f s", took)
    finally:
        await proxy.restore()
    for _attempt in range(30):  # connections the stall broke are replaced as they fail
        if (page := await kari.get(plan_page)).status_code == 200:
            break
    assert page.status_code == 200
