"""A WebSocket join is decided on what SQL holds at that moment (issue 16, "late join"): the
join reads account, zone, role and consent in one statement, and nothing remembered from an
earlier join may stand in for it. Here another process (as the CLI would) changes access
between two joins on the same node, and the access watcher polls once an hour, so only the
join's own read can refuse the second one at once."""

from __future__ import annotations

import logging
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from crdt.client import YClient
from server.services import Repositories
from server.settings import Settings
from tests.conftest import make_settings
from tests.support.live import LiveServer, live_server
from tests.support.world import World

pytestmark = pytest.mark.both_databases

log = logging.getLogger("tests.join_access")


@pytest.fixture
def settings(tmp_path: Path, server_database: str) -> Settings:
    # No watcher tick during the test: a decision kept from the first join would go unnoticed.
    return make_settings(tmp_path, database_url=server_database, access_poll_seconds=3600.0)


@pytest.fixture
async def server(settings: Settings, world: World) -> AsyncIterator[LiveServer]:
    async with live_server(settings) as live:
        yield live


async def _join(server: LiveServer, world: World, role: str, zone: str) -> tuple[int | None, str]:
    """Join and wait for step 2 or a close: (None, "") when synced, else (code, reason)."""
    client = YClient(server.ws_url(world.room(zone), world.token(role)))
    started = time.monotonic()
    await client.connect()
    try:
        await client.wait_for(lambda: client.synced.is_set() or client.close_code is not None)
        log.info("%s joined %s: %s in %.1f ms", role, zone, client.close_code,
                 (time.monotonic() - started) * 1000)  # fmt: skip
        if client.close_code is None:
            return None, ""
        return client.close_code, client.close_reason
    finally:
        await client.close()


async def _elsewhere(settings: Settings) -> Repositories:
    return await Repositories.open(settings, migrate=False)  # another process's view


async def test_access_changed_between_two_joins_is_read_by_the_second(
    server: LiveServer, world: World, settings: Settings
) -> None:
    for role, zone in (("leser", "area/fritid"), ("deltaker", "content"), ("verge", "content")):
        assert await _join(server, world, role, zone) == (None, "")
    repos = await _elsewhere(settings)
    try:
        # Consent withdrawn (Per Lund), account deactivated (Åse Ødegård), member removed.
        assert await repos.consents.revoke(world.plan_id, world.users["leser"], None)
        await repos.accounts.deactivate(world.users["deltaker"], None)
        assert await repos.plans.remove_member(world.plan_id, world.users["verge"])
        assert await _join(server, world, "leser", "area/fritid") == (4403, "no consent")
        assert await _join(server, world, "deltaker", "content") == (4401, "account deactivated")
        assert await _join(server, world, "verge", "content") == (4404, "no such plan or zone")
        # And back: consent given again (scoped to one area) opens that area, not another.
        await repos.consents.give(
            world.plan_id, world.users["leser"], ["area/skole"], None, world.users["planeier"]
        )
        assert await _join(server, world, "leser", "area/skole") == (None, "")
        assert await _join(server, world, "leser", "area/fritid") == (4403, "no consent")
    finally:
        await repos.close()
