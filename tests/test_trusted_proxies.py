"""X-Forwarded-For is believed only from a proxy named in SAMPLAN_TRUSTED_PROXIES: by default
the access log (and the log-in back-off) see the socket's peer, whatever a client claims."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest
from sqlalchemy import select

from storage.models import AuditEntry
from tests.conftest import make_settings
from tests.support.live import LiveServer, live_server
from tests.support.passwords import hash_password
from tests.support.web import PASSWORD, log_in
from tests.support.world import ROLE_USERS, World

FORGED = {"x-forwarded-for": "203.0.113.77"}


async def _log_in_as_forged_address(server: LiveServer, world: World) -> list[str | None]:
    await server.services.repos.users.set_password_hash(
        world.users["deltaker"], hash_password(PASSWORD)
    )
    async with httpx.AsyncClient(base_url=server.http, headers=FORGED) as http:
        assert (await log_in(http, ROLE_USERS["deltaker"][0], "feil passord 🙈")).status_code == 401
        assert (await log_in(http, ROLE_USERS["deltaker"][0])).status_code == 303
    await server.services.audit.flush()
    async with server.services.repos.sessionmaker() as session:
        rows = await session.scalars(select(AuditEntry).order_by(AuditEntry.id))
        return [r.client_address for r in rows if r.action in ("login", "login_failed")]


async def test_forwarded_for_is_ignored_by_default(server: LiveServer, world: World) -> None:
    assert server.settings.trusted_proxies == []
    assert await _log_in_as_forged_address(server, world) == ["127.0.0.1", "127.0.0.1"]


async def test_forwarded_for_is_believed_from_a_trusted_proxy(tmp_path: Path, world: World) -> None:
    settings = make_settings(tmp_path, trusted_proxies=["127.0.0.1"])
    async with live_server(settings) as server:
        addresses = await _log_in_as_forged_address(server, world)
    assert addresses == ["203.0.113.77", "203.0.113.77"]


def test_trusted_proxies_come_from_the_environment(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("SAMPLAN_TRUSTED_PROXIES", '["10.0.0.5", "10.1.0.0/16"]')
    settings = make_settings(tmp_path)
    assert settings.proxy_headers() == (True, ["10.0.0.5", "10.1.0.0/16"])
    monkeypatch.delenv("SAMPLAN_TRUSTED_PROXIES")
    assert make_settings(tmp_path).proxy_headers() == (False, None)
