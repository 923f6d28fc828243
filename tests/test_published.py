"""Publishing minutes over real HTTP against a live server: who may, what is frozen, that
the hash verifies, that members' open pages hear of it, and that bad requests change nothing."""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import re
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

import httpx
import pytest
import websockets
from pycrdt import Doc

from crdt.schema import AGENDA, find_item, get_root, set_fields, write_zone
from tests.support.live import LiveServer
from tests.support.passwords import hash_password
from tests.support.waiting import wait_for
from tests.support.web import PASSWORD, csrf_of, log_in
from tests.support.world import MEETING, OUTSIDER, ROLE_USERS, World

log = logging.getLogger("tests.published")

MINUTES = {
    "meeting": {"meetingId": MEETING},
    "attendees": [
        {"id": "a1", "name": "Åse Ødegård", "role": "deltaker", "present": True},
        {"id": "a2", "name": "Jonas Berg", "role": "planeier", "present": True},
    ],
    "agenda": [
        {
            "id": "s1",
            "title": "Skole og læring 📚",
            "body": [
                "Jonas trives på skolen, men leksene tar lang tid.",
                ("bullet", ["Mål: lese 20 minutter hver dag", "Bibliotek på fredager"]),
            ],
            "decision": "Leksehjelp to dager i uka ✅",
        }
    ],
    "actionItems": [
        {"id": "t1", "agendaId": "s1", "what": "Søke om leksehjelp", "due": "2026-02-01"}
    ],
}


def _write(data: dict[str, Any]) -> Callable[[Doc[Any]], None]:
    return lambda doc: write_zone(doc, "minutes", data)


async def write_minutes(
    server: LiveServer, world: World, change: Callable[[Doc[Any]], Any]
) -> None:
    """Through the durable write path, as the minutes page's editors would."""
    await server.services.registry.edit(
        world.zones[f"minutes/{MEETING}"], change, "minutes", actor=None
    )


@asynccontextmanager
async def as_user(server: LiveServer, role: str) -> AsyncIterator[tuple[httpx.AsyncClient, str]]:
    """A logged-in HTTP client and a CSRF token from the plan page's forms."""
    if role == "outsider":
        outsider = await server.services.repos.users.get_by_email(OUTSIDER[0])
        assert outsider is not None
        await server.services.repos.users.set_password_hash(outsider.id, hash_password(PASSWORD))
    async with httpx.AsyncClient(base_url=server.http) as http:
        email = ROLE_USERS[role][0] if role in ROLE_USERS else OUTSIDER[0]
        response = await log_in(http, email)
        assert response.status_code == 303
        page = await http.get("/plans")
        yield http, csrf_of(page.text)


def publish_url(world: World, meeting: str = MEETING, plan_id: str | None = None) -> str:
    return f"/plans/{plan_id or world.plan_id}/meetings/{meeting}/publish"


async def _counts(server: LiveServer, world: World) -> tuple[int, int]:
    repo = server.services.repos.versions
    return len(await repo.list_published(world.plan_id)), len(
        await repo.list_versions(world.plan_id)
    )


def _message(response: httpx.Response) -> str:
    match = re.search(r'data-testid="error-message">([^<]*)<', response.text)
    assert match, response.text[:500]
    return match.group(1)


async def test_koordinator_publishes_members_hear_it_and_the_hash_verifies(
    web: LiveServer, world: World
) -> None:
    await write_minutes(web, world, _write(MINUTES))
    async with as_user(web, "deltaker") as (deltaker, _):
        cookie = deltaker.cookies["samplan_session"]
    headers = {"Origin": web.http, "Cookie": f"samplan_session={cookie}"}
    async with websockets.connect(
        f"ws://127.0.0.1:{web.port}/events", additional_headers=headers
    ) as events:
        await wait_for(lambda: web.services.events.subscribers(world.users["deltaker"]) == 1)
        async with as_user(web, "koordinator") as (http, csrf):
            started = time.perf_counter()
            response = await http.post(publish_url(world), data={"csrf_token": csrf})
            assert response.status_code == 303, response.text
            url = response.headers["location"]
            assert url == f"/plans/{world.plan_id}/meetings/{MEETING}/published/1"
            event = json.loads(await asyncio.wait_for(events.recv(), 10))
            log.info(
                "minutes_published event after %.1f ms", (time.perf_counter() - started) * 1000
            )
            assert event == {
                "type": "minutes_published",
                "planId": world.plan_id,
                "meetingId": MEETING,
                "version": 1,
            }
            page = await http.get(url)
            assert page.status_code == 200
            assert "Leksehjelp to dager i uka ✅" in page.text
            assert "Bibliotek på fredager" in page.text and "Åse Ødegård" in page.text
            assert "Kari Nilsen" in page.text  # the publisher

    # Verify as a deltaker would: fetch the canonical JSON, recompute the hash.
    async with as_user(web, "deltaker") as (http, _):
        frozen = await http.get(f"{url}.json")
        assert frozen.status_code == 200
        digest = hashlib.sha256(frozen.content).hexdigest()
        assert digest == frozen.headers["x-content-sha256"]
        page = await http.get(url)
        assert f'data-testid="sha256">{digest}<' in page.text
        content = json.loads(frozen.content)
        assert content["agenda"][0]["decision"] == "Leksehjelp to dager i uka ✅"
        assert "Mål: lese 20 minutter hver dag" in content["agenda"][0]["body"]
        assert content["decisions"] == [
            {
                "agendaId": "s1",
                "title": "Skole og læring 📚",
                "decision": "Leksehjelp to dager i uka ✅",
            }
        ]
        assert content["actionItems"][0]["what"] == "Søke om leksehjelp"
        assert frozen.content.decode("utf-8") == json.dumps(
            content, ensure_ascii=False, sort_keys=True, separators=(",", ":")
        )
    stored = await web.services.repos.versions.get_published(world.plan_id, MEETING, 1)
    assert stored is not None and stored.sha256 == digest and stored.plan_version_id is not None
    kinds = [v.kind for v in await web.services.repos.versions.list_versions(world.plan_id)]
    assert kinds == ["published"]
    await web.services.audit.flush()
    rows = await web.services.repos.audit.for_plan(world.plan_id, action="minutes_publish")
    assert len(rows) == 1
    details = json.loads(rows[0].details)
    assert details == {"meeting_id": MEETING, "number": 1, "sha256": digest}  # ids and hash only


async def test_a_correction_is_a_new_version_and_the_old_stays_readable(
    web: LiveServer, world: World
) -> None:
    await write_minutes(web, world, _write(MINUTES))
    async with as_user(web, "koordinator") as (http, csrf):
        assert (await http.post(publish_url(world), data={"csrf_token": csrf})).status_code == 303

        def correct(doc: Doc[Any]) -> None:
            item = find_item(get_root(doc, "minutes", AGENDA), "s1")
            assert item is not None
            set_fields(item, {"decision": "Leksehjelp tre dager i uka 🫐"})

        await write_minutes(web, world, correct)
        second = await http.post(publish_url(world), data={"csrf_token": csrf})
        assert second.status_code == 303
        assert second.headers["location"].endswith("/published/2")
        old = await http.get(f"/plans/{world.plan_id}/meetings/{MEETING}/published/1")
        assert (
            "Leksehjelp to dager i uka ✅" in old.text and "Det finnes en nyere versjon" in old.text
        )
        newest = await http.get(f"/plans/{world.plan_id}/meetings/{MEETING}/minutes")
        assert "Leksehjelp tre dager i uka 🫐" in newest.text
        assert f"/meetings/{MEETING}/published/1" in newest.text  # a link to the older version
    assert await _counts(web, world) == (2, 2)


async def test_publishing_twice_unchanged_is_refused_and_stores_nothing(
    web: LiveServer, world: World
) -> None:
    await write_minutes(web, world, _write(MINUTES))
    async with as_user(web, "koordinator") as (http, csrf):
        assert (await http.post(publish_url(world), data={"csrf_token": csrf})).status_code == 303
        before = await _counts(web, world)
        again = await http.post(publish_url(world), data={"csrf_token": csrf})
        assert again.status_code == 409
        assert "allerede publisert" in _message(again)
    assert await _counts(web, world) == before == (1, 1)


async def test_who_may_publish(web: LiveServer, world: World) -> None:
    await write_minutes(web, world, _write(MINUTES))
    for role in ("deltaker", "leser", "planeier", "verge"):
        async with as_user(web, role) as (http, csrf):
            response = await http.post(publish_url(world), data={"csrf_token": csrf})
            assert response.status_code == 403, role
            assert "Bare koordinatoren" in _message(response)
    async with as_user(web, "outsider") as (http, csrf):
        response = await http.post(publish_url(world), data={"csrf_token": csrf})
        assert response.status_code == 404  # not a member: no oracle
    async with as_user(web, "koordinator") as (http, csrf):
        no_csrf = await http.post(publish_url(world), data={})
        assert no_csrf.status_code == 403
        unknown = await http.post(publish_url(world, "ukjent-mote"), data={"csrf_token": csrf})
        assert unknown.status_code == 404
        assert "ikke noe referat" in _message(unknown)
    assert await _counts(web, world) == (0, 0)


async def test_empty_minutes_are_not_published(web: LiveServer, world: World) -> None:
    async with as_user(web, "koordinator") as (http, csrf):
        response = await http.post(publish_url(world), data={"csrf_token": csrf})
        assert response.status_code == 400
        assert "tomt" in _message(response)
    assert await _counts(web, world) == (0, 0)


async def test_the_planeier_approves_once_and_others_may_not(web: LiveServer, world: World) -> None:
    await write_minutes(web, world, _write(MINUTES))
    async with as_user(web, "koordinator") as (http, csrf):
        assert (await http.post(publish_url(world), data={"csrf_token": csrf})).status_code == 303
    approve = f"/plans/{world.plan_id}/meetings/{MEETING}/published/1/approve"
    for role in ("koordinator", "deltaker", "leser"):
        async with as_user(web, role) as (http, csrf):
            response = await http.post(approve, data={"csrf_token": csrf})
            assert response.status_code == 403, role
            assert "planeieren eller vergen" in _message(response)
    record = await web.services.repos.versions.get_published(world.plan_id, MEETING, 1)
    assert record is not None and record.approved_at is None
    async with as_user(web, "planeier") as (http, csrf):
        missing = await http.post(approve.replace("/1/", "/9/"), data={"csrf_token": csrf})
        assert missing.status_code == 404
        response = await http.post(approve, data={"csrf_token": csrf})
        assert response.status_code == 303
        page = await http.get(response.headers["location"])
        assert re.search(r"Godkjent av planeier \d\d\.\d\d\.\d{4} kl\. \d\d\.\d\d", page.text)
        twice = await http.post(approve, data={"csrf_token": csrf})
        assert twice.status_code == 409
        plan_page = await http.get(f"/plans/{world.plan_id}")
        assert "Godkjent av planeier" in plan_page.text
    await web.services.audit.flush()
    assert (
        len(await web.services.repos.audit.for_plan(world.plan_id, action="minutes_approve")) == 1
    )


async def test_the_section_fragment_checks_access(web: LiveServer, world: World) -> None:
    await write_minutes(web, world, _write(MINUTES))
    async with as_user(web, "koordinator") as (http, csrf):
        plan_page = await http.get(f"/plans/{world.plan_id}")
        assert f'data-testid="publish-{MEETING}"' in plan_page.text  # the form, for the koordinator
        assert (await http.post(publish_url(world), data={"csrf_token": csrf})).status_code == 303
    async with as_user(web, "deltaker") as (http, _):
        fragment = await http.get(f"/plans/{world.plan_id}/published-minutes")
        assert fragment.status_code == 200
        assert f'data-testid="published-{MEETING}"' in fragment.text
        assert "publish-" not in fragment.text  # no publish form for a deltaker
        assert "<html" not in fragment.text
    async with as_user(web, "outsider") as (http, _):
        assert (await http.get(f"/plans/{world.plan_id}/published-minutes")).status_code == 404
        url = f"/plans/{world.plan_id}/meetings/{MEETING}/published/1.json"
        assert (await http.get(url)).status_code == 404


# Every test here that starts a server runs on SQLite and on PostgreSQL (tests/conftest.py).
pytestmark = pytest.mark.both_databases
