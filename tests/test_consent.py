"""Consent (samtykke) end to end: the plan page, the WebSocket join, and revocation that
closes open sockets at once. In this module's world the deltaker has no consent (the leser
keeps the whole-plan consent of tests/support/world.py)."""

from __future__ import annotations

import json
import logging
import re
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from crdt.client import YClient
from server.core.clock import today_oslo
from server.services import Repositories
from server.settings import Settings
from tests.support.clients import connected
from tests.support.database import arows
from tests.support.database import rows as database_rows
from tests.support.live import LiveServer
from tests.support.passwords import hash_password
from tests.support.web import PASSWORD, csrf_of, log_in
from tests.support.world import ROLE_USERS, World, build_world

pytestmark = pytest.mark.both_databases

log = logging.getLogger("tests.consent")


@pytest.fixture
async def world(settings: Settings) -> World:
    repos = await Repositories.open(settings)
    try:
        built = await build_world(repos, settings.resolved_secret_key())
        await repos.consents.revoke(built.plan_id, built.users["deltaker"], None)
        for role in ROLE_USERS:
            await repos.users.set_password_hash(built.users[role], hash_password(PASSWORD))
        return built
    finally:
        await repos.close()


async def _refused(server: LiveServer, world: World, role: str, zone: str) -> tuple[int, str]:
    client = YClient(server.ws_url(world.room(zone), world.token(role)))
    await client.connect()
    try:
        code = await client.wait_closed(timeout=10)
        return code, client.close_reason
    finally:
        await client.close()


async def _opens(server: LiveServer, world: World, role: str, zone: str) -> None:
    async with connected(server.ws_url(world.room(zone), world.token(role))) as client:
        assert client.close_code is None


async def _audit(server: LiveServer, action: str) -> list[dict[str, Any]]:
    await server.services.audit.flush()  # rows are queued for the one writer
    sql = "SELECT details FROM audit_log WHERE action = :action ORDER BY id"
    found = await arows(server, sql, {"action": action})
    return [json.loads(details) for (details,) in found]


def _zones_of(html: str) -> list[str]:
    match = re.search(r'data-app="([^"]+)"', html)
    assert match
    data = json.loads(match.group(1).replace("&#34;", '"').replace("&quot;", '"'))
    return [z["room"].split("/", 2)[2] for z in data["zones"]]


@asynccontextmanager
async def _client(server: LiveServer, role: str) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=server.http) as http:
        response = await log_in(http, ROLE_USERS[role][0])
        assert response.status_code == 303
        yield http


async def _post(http: httpx.AsyncClient, world: World, **fields: str | list[str]) -> httpx.Response:
    page = await http.get(f"/plans/{world.plan_id}")
    data: dict[str, Any] = {"csrf_token": csrf_of(page.text), **fields}
    return await http.post(f"/plans/{world.plan_id}/consent", data=data)


async def test_without_consent_the_deltaker_sees_nothing(server: LiveServer, world: World) -> None:
    async with _client(server, "deltaker") as http:
        assert (await http.get(f"/plans/{world.plan_id}")).status_code == 404
    for zone in ("content", "comments", "area/skole"):
        assert await _refused(server, world, "deltaker", zone) == (4403, "no consent")
    for role in ("planeier", "verge", "koordinator"):  # never need consent
        await _opens(server, world, role, "area/fritid")


async def test_scoped_consent_opens_only_its_zones(server: LiveServer, world: World) -> None:
    await server.services.consents.give(
        world.plan_id, world.users["deltaker"], ["content", "area/skole"], None, None
    )
    await _opens(server, world, "deltaker", "content")
    await _opens(server, world, "deltaker", "area/skole")
    assert (await _refused(server, world, "deltaker", "area/fritid"))[0] == 4403
    assert (await _refused(server, world, "deltaker", "comments"))[0] == 4403
    async with _client(server, "deltaker") as http:
        page = await http.get(f"/plans/{world.plan_id}")
        assert page.status_code == 200
        assert _zones_of(page.text) == ["content", "area/skole"]
        # the record is read-only for a deltaker (her own contribution is a form of its own)
        assert f'action="/plans/{world.plan_id}/consent"' not in page.text


async def test_a_deltaker_sees_only_her_own_consent_not_another_members_areas(
    server: LiveServer, world: World
) -> None:
    """Per Lund (leser) may see "Fritid ⚽"; Åse (deltaker) may not: her Samtykke section
    shows her own record alone, so the other's scope does not name the area to her."""
    planeier = world.users["planeier"]
    await server.services.consents.give(
        world.plan_id, world.users["deltaker"], ["area/skole"], None, planeier
    )
    await server.services.consents.give(
        world.plan_id, world.users["leser"], ["area/fritid"], None, planeier
    )
    async with _client(server, "deltaker") as http:
        page = (await http.get(f"/plans/{world.plan_id}")).text
    assert f'data-testid="consent-{world.users["deltaker"]}"' in page
    assert f'data-testid="consent-{world.users["leser"]}"' not in page
    assert "Fritid ⚽" not in page
    async with _client(server, "planeier") as http:  # the one who gives consent sees all
        page = (await http.get(f"/plans/{world.plan_id}")).text
    for role in ("deltaker", "leser"):
        assert f'data-testid="consent-{world.users[role]}"' in page


async def test_consent_given_through_the_web_is_shown(server: LiveServer, world: World) -> None:
    async with _client(server, "planeier") as http:
        response = await _post(
            http,
            world,
            user_id=str(world.users["deltaker"]),
            action="give",
            scope=["content", "area/skole"],
            until="31.12.2099",
        )
        assert response.status_code == 303
        assert response.headers["location"] == f"/plans/{world.plan_id}#plan-consent"
        page = (await http.get(f"/plans/{world.plan_id}")).text
    row = page.split(f'data-testid="consent-{world.users["deltaker"]}"', 1)[1].split("</li>")[0]
    assert 'data-state="given"' in row and "Skole og læring" in row and "31.12.2099" in row
    assert "Fritid" not in row.split("<form", 1)[0] and "Jonas Berg" in row
    assert today_oslo().strftime("%d.%m.%Y") in row
    [details] = [d for d in (await _audit(server, "consent_give")) if d["user_id"]]
    assert details == {
        "user_id": world.users["deltaker"],
        "scope": ["content", "area/skole"],
        "valid_until": "2099-12-31",
    }
    await _opens(server, world, "deltaker", "area/skole")


async def test_revoking_through_the_web_closes_the_socket_at_once(
    server: LiveServer, world: World
) -> None:
    await server.services.consents.give(world.plan_id, world.users["deltaker"], "all", None, None)
    client = YClient(server.ws_url(world.room("content"), world.token("deltaker")))
    await client.connect()
    await client.wait_for(client.synced.is_set)
    async with _client(server, "verge") as http:
        page = await http.get(f"/plans/{world.plan_id}")
        data = {
            "csrf_token": csrf_of(page.text),
            "user_id": str(world.users["deltaker"]),
            "action": "revoke",
        }
        started = time.monotonic()
        response = await http.post(f"/plans/{world.plan_id}/consent", data=data)
        assert response.status_code == 303
        assert await client.wait_closed(timeout=10) == 4403
        delay = time.monotonic() - started
    await client.close()
    log.info("revoke -> socket closed with 4403 after %.1f ms (POST included)", delay * 1000)
    assert await _refused(server, world, "deltaker", "content") == (4403, "no consent")
    assert [d["user_id"] for d in (await _audit(server, "consent_revoke"))] == [
        world.users["deltaker"]
    ]


async def test_expired_consent_opens_nothing(server: LiveServer, world: World) -> None:
    yesterday = today_oslo() - timedelta(days=1)
    await server.services.consents.give(
        world.plan_id, world.users["deltaker"], "all", yesterday, None
    )
    assert (await _refused(server, world, "deltaker", "content"))[0] == 4403
    async with _client(server, "deltaker") as http:
        assert (await http.get(f"/plans/{world.plan_id}")).status_code == 404
    async with _client(server, "koordinator") as http:
        page = (await http.get(f"/plans/{world.plan_id}")).text
    assert f'data-testid="consent-{world.users["deltaker"]}" data-state="expired"' in page


async def test_refusal_is_recorded_and_visible(server: LiveServer, world: World) -> None:
    leser = world.users["leser"]
    async with _client(server, "planeier") as http:
        response = await _post(http, world, user_id=str(leser), action="refuse")
        assert response.status_code == 303
    assert (await _refused(server, world, "leser", "comments"))[0] == 4403
    async with _client(server, "koordinator") as http:
        page = (await http.get(f"/plans/{world.plan_id}")).text
    assert f'data-testid="consent-{leser}" data-state="refused"' in page
    # Only the planeier and verge get the consent form.
    assert f'action="/plans/{world.plan_id}/consent"' not in page
    assert {"user_id": leser, "scope": [], "valid_until": None} in (
        await _audit(server, "consent_refuse")
    )


GIVE = {"action": "give", "scope": ["content"]}
BAD_INPUT = [
    ("planeier", {**GIVE, "target": "outsider"}, 400, "ikke med"),
    ("planeier", {**GIVE, "target": "koordinator"}, 400, "ikke med"),
    ("planeier", {**GIVE, "until": "01.01.2000"}, 400, "tilbake i tid"),
    ("planeier", {**GIVE, "until": "2099-12-31"}, 400, "dd.mm.åååå"),
    ("planeier", {**GIVE, "until": "31.02.2099"}, 400, "dd.mm.åååå"),
    ("planeier", {"action": "give"}, 400, "minst én del"),
    ("planeier", {"action": "give", "scope": ["area/ukjent"]}, 400, "minst én del"),
    ("planeier", {"action": "revoke"}, 400, "ikke noe gjeldende"),
    ("planeier", {"action": "slett"}, 400, "Ukjent handling"),
    ("koordinator", GIVE, 403, "Bare planeieren"),
    ("leser", GIVE, 403, "Bare planeieren"),
]


@pytest.mark.parametrize(("role", "fields", "status", "message"), BAD_INPUT)
async def test_bad_input_changes_nothing(
    server: LiveServer, world: World, role: str, fields: dict[str, Any], status: int, message: str
) -> None:
    before = await server.services.consents.latest_by_user(world.plan_id)
    version = (await server.services.plans.access_versions([world.plan_id]))[world.plan_id]
    fields = dict(fields)
    target = world.users[fields.pop("target", "deltaker")]
    async with _client(server, role) as http:
        response = await _post(http, world, user_id=str(target), **fields)
    assert response.status_code == status
    assert message in response.text
    assert await server.services.consents.latest_by_user(world.plan_id) == before
    after = (await server.services.plans.access_versions([world.plan_id]))[world.plan_id]
    assert after == version


async def test_missing_csrf_and_strangers(server: LiveServer, world: World) -> None:
    async with _client(server, "planeier") as http:
        response = await http.post(
            f"/plans/{world.plan_id}/consent",
            data={"user_id": str(world.users["deltaker"]), "action": "give", "scope": "content"},
        )
        assert response.status_code == 403
    async with httpx.AsyncClient(base_url=server.http) as anonymous:
        response = await anonymous.post(f"/plans/{world.plan_id}/consent", data={})
        assert response.status_code == 303 and response.headers["location"].startswith("/login")
    assert await server.services.consents.member_access(world.plan_id, world.users["deltaker"])


async def test_cli_revoke_reaches_open_sockets_through_the_watcher(
    server: LiveServer, world: World
) -> None:
    client = YClient(server.ws_url(world.room("comments"), world.token("leser")))
    await client.connect()
    await client.wait_for(client.synced.is_set)
    repos = await Repositories.open(server.settings, migrate=False)  # as the CLI would
    try:
        assert await repos.consents.revoke(world.plan_id, world.users["leser"], None)
    finally:
        await repos.close()
    assert await client.wait_closed(timeout=30) == 4403
    await client.close()


def test_date_parsing() -> None:
    from server.plans.consent import BadDate, parse_until

    today = date(2026, 11, 24)
    assert parse_until("", today) is None
    assert parse_until(" 24.11.2026 ", today) == today
    with pytest.raises(BadDate):
        parse_until("23.11.2026", today)
    with pytest.raises(BadDate):
        parse_until("i morgen", today)


def test_demo_consent_and_cli(tmp_path: Path) -> None:
    from server.demo import content as demo_content
    from tests.test_cli import samplan

    output = samplan(tmp_path, "demo").stdout
    plan_id = output.split("Plan-id: ", 1)[1].split()[0]
    ahmed = next(m.email for m in demo_content.MEMBERS if m.name == "Ahmed Rahimi")
    rows = dict(
        database_rows(
            tmp_path / "cli.sqlite3",
            "SELECT u.email, c.scope FROM consents c JOIN users u ON u.id = c.user_id"
            " WHERE c.plan_id = :plan AND c.revoked_at IS NULL AND c.status = 'given'",
            {"plan": plan_id},
        )
    )
    needing = {m.email for m in demo_content.MEMBERS if m.role in ("deltaker", "leser")}
    assert set(rows) == needing
    assert json.loads(rows[ahmed]) == list(demo_content.CONSENT["zones_by_email"][ahmed])
    assert all(json.loads(scope) == "all" for email, scope in rows.items() if email != ahmed)

    args = ("--plan", plan_id, "--email", ahmed)
    samplan(
        tmp_path, "consent", "give", *args, "--scope", "content,area/skole", "--until", "2099-12-31"
    )
    samplan(tmp_path, "consent", "revoke", *args)
    again = samplan(tmp_path, "consent", "revoke", *args, ok=False)
    assert again.returncode != 0 and "no current consent" in again.stderr
    bad = samplan(tmp_path, "consent", "give", *args, "--scope", "area/ukjent", ok=False)
    assert bad.returncode != 0 and "area/ukjent" in bad.stderr


async def test_consent_ending_today_closes_open_sockets_when_the_day_turns(
    server: LiveServer, world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Consent "until 24.11" holds through that day; when the date changes in Oslo the
    watcher re-checks every open socket and closes those whose consent has ended."""
    import server.core.clock as clock

    today = today_oslo()
    await server.services.repos.consents.give(
        world.plan_id, world.users["deltaker"], "all", today, world.users["planeier"]
    )
    client = YClient(server.ws_url(world.room("content"), world.token("deltaker")))
    await client.connect()
    await client.wait_for(client.synced.is_set)
    monkeypatch.setattr(clock, "today_oslo", lambda: today + timedelta(days=1))
    took = await client.wait_for(lambda: client.close_code is not None, timeout=30)
    logging.getLogger("tests").info("closed %.0f ms after the day turned", took * 1000)
    assert client.close_code == 4403
    await client.close()
