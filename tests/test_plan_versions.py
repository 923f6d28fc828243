"""The plan's version history against a live server: versions of a goal edited over time by
a real y-websocket client, an old version read-only with what changed since, restore as a
new change seen live, the daily task claimed once, and bad requests that change nothing."""

from __future__ import annotations

import asyncio
import logging
import re
import time
from typing import Any

import httpx
import pytest

from crdt.schema import GOALS, MEASURES, append_item, find_item, get_root, read_zone, set_fields
from server.core.authors import last_changes, zone_changes
from server.core.clock import today_oslo
from server.core.zones import zone_copies
from server.versions.daily import DailyVersions
from tests.support.clients import connected, log_rows
from tests.support.database import database_url
from tests.support.live import LiveServer
from tests.support.waiting import wait_for
from tests.support.world import World
from tests.test_published import as_user

pytestmark = pytest.mark.both_databases

log = logging.getLogger("tests.versions")

OLD_TITLE = "Lese 20 minutter hver dag 📚 æøå"
NEW_TITLE = "Lese 30 minutter hver dag 🫐 Ærlig talt"


def _goal_title(doc: Any, goal_id: str = "g1") -> str | None:
    item = find_item(get_root(doc, "area", GOALS), goal_id)
    return None if item is None else str(item.get("title"))


async def _server_title(server: LiveServer, world: World, goal_id: str = "g1") -> str | None:
    room = server.services.registry.rooms.get(world.zones["area/skole"])
    return None if room is None else _goal_title(room.doc, goal_id)


def _version_ids(html: str) -> list[int]:
    return [int(i) for i in re.findall(r'data-testid="version-(\d+)"', html)]


async def _create(http: httpx.AsyncClient, csrf: str, world: World, name: str) -> int:
    response = await http.post(
        f"/plans/{world.plan_id}/versions", data={"csrf_token": csrf, "name": name}
    )
    assert response.status_code == 303, response.text
    return int(response.headers["location"].rsplit("/", 1)[1])


async def test_edit_view_diff_and_restore_as_a_new_change(web: LiveServer, world: World) -> None:
    url = web.ws_url(world.room("area/skole"), world.token("deltaker"))
    db = database_url(web)
    zone_id = world.zones["area/skole"]
    async with connected(url) as client:
        goals = get_root(client.doc, "area", GOALS)
        append_item(goals, {"id": "g1", "label": "1", "title": OLD_TITLE, "description": "Blåbær"})
        append_item(goals, {"id": "g2", "label": "2", "title": "Svømme på fritiden 🏊"})
        append_item(
            get_root(client.doc, "area", MEASURES),
            {"id": "m1", "goalId": "g1", "title": "Leksehjelp på biblioteket", "status": "pagar"},
        )
        await wait_for(lambda: _server_title(web, world), what="the goal on the server")
        await web.services.registry.rooms[zone_id].settle()

        async with as_user(web, "koordinator") as (http, csrf):
            first = await _create(http, csrf, world, "Før møtet 15. januar ✅")

            # The deltaker changes the goal's title (whole value), removes g2, adds g3.
            item = find_item(goals, "g1")
            assert item is not None
            set_fields(item, {"title": NEW_TITLE, "updatedBy": str(world.users["deltaker"])})
            with client.doc.transaction():
                del goals[1]
                append_item(goals, {"id": "g3", "label": "3", "title": "Sykle til skolen 🚲"})

            async def server_has_new() -> bool:
                return await _server_title(web, world) == NEW_TITLE

            await wait_for(server_has_new, what="the new title on the server")
            await web.services.registry.rooms[zone_id].settle()
            second = await _create(http, csrf, world, "Etter møtet")

            # The old version, read-only: its text, and what changed since, by id.
            page = await http.get(f"/plans/{world.plan_id}/versions/{first}")
            assert page.status_code == 200
            assert OLD_TITLE in page.text and "Svømme på fritiden 🏊" in page.text
            changes = page.text.split('data-testid="changes"')[1].split("</section>")[0]
            changed = re.search(r'data-change="changed" data-item="g1">(.*?)</li>', changes, re.S)
            assert changed, changes
            assert OLD_TITLE in changed.group(1) and NEW_TITLE in changed.group(1)
            assert "Tittel" in changed.group(1)  # the changed field, named for people
            assert 'data-change="removed" data-item="g2"' in changes
            assert 'data-change="added" data-item="g3"' in changes
            assert 'data-item="m1"' not in changes  # unchanged measure not listed

            rows_before = log_rows(db, zone_id)
            started = time.perf_counter()
            restore = await http.post(
                f"/plans/{world.plan_id}/versions/{first}/restore", data={"csrf_token": csrf}
            )
            assert restore.status_code == 303, restore.text
            # The connected client sees the old text come back live.
            await client.wait_for(lambda: _goal_title(client.doc) == OLD_TITLE)
            await client.wait_for(lambda: _goal_title(client.doc, "g2") is not None)
            log.info(
                "restore seen by the client after %.1f ms", (time.perf_counter() - started) * 1000
            )
            assert _goal_title(client.doc, "g3") is None
            data = read_zone(client.doc, "area")
            assert [g["id"] for g in data["goals"]] == ["g1", "g2"]
            # The record of the restore names the koordinator; the document's stamp is not
            # touched (a legacy field nobody reads).
            assert data["goals"][0]["updatedBy"] == str(world.users["deltaker"])
            changes = await zone_changes(web.services.repos.zone_log, zone_id, "area")
            assert last_changes(changes)["g1"].user_id == world.users["koordinator"]
            assert data["measures"][0]["title"] == "Leksehjelp på biblioteket"
            assert log_rows(db, zone_id) > rows_before  # a new change; the log only grew

            history = await http.get(f"/plans/{world.plan_id}/versions")
            ids = _version_ids(history.text)
            assert first in ids and second in ids and len(ids) == 3
            assert 'data-kind="before_restore"' in history.text
            assert "Før møtet 15. januar ✅" in history.text and "Etter møtet" in history.text
            # The newer version still holds the newer text, and says what changed since.
            after = await http.get(f"/plans/{world.plan_id}/versions/{second}")
            assert NEW_TITLE in after.text
            assert 'data-change="changed" data-item="g1"' in after.text
            # Now equal to the restored version: nothing changed since it.
            again = await http.get(f"/plans/{world.plan_id}/versions/{first}")
            assert "Ingenting er endret siden denne versjonen." in again.text
    await web.services.audit.flush()
    audit = web.services.repos.audit
    assert len(await audit.for_plan(world.plan_id, action="version_create")) == 2
    assert len(await audit.for_plan(world.plan_id, action="version_restore")) == 1


async def test_restoring_a_version_of_another_plan_is_404_and_changes_nothing(
    web: LiveServer, world: World
) -> None:
    repo = web.services.repos.versions
    foreign = await repo.create_version(
        world.other_plan_id,
        "named",
        await zone_copies(web.services.registry, web.services.plans, world.other_plan_id),
        name="Åse",
    )
    before = await repo.list_versions(world.plan_id)
    db = database_url(web)
    rows = log_rows(db)
    async with as_user(web, "koordinator") as (http, csrf):
        response = await http.post(
            f"/plans/{world.plan_id}/versions/{foreign.id}/restore", data={"csrf_token": csrf}
        )
        assert response.status_code == 404
        assert (await http.get(f"/plans/{world.plan_id}/versions/{foreign.id}")).status_code == 404
        assert (
            await http.post(
                f"/plans/{world.plan_id}/versions/999999/restore", data={"csrf_token": csrf}
            )
        ).status_code == 404
    assert await repo.list_versions(world.plan_id) == before
    assert log_rows(db) == rows


async def test_who_may_create_and_restore_versions(web: LiveServer, world: World) -> None:
    repo = web.services.repos.versions
    async with as_user(web, "planeier") as (http, csrf):
        version = await _create(http, csrf, world, "Jonas sin versjon 🌟")
        for name in ("", "   ", "x" * 201):
            bad = await http.post(
                f"/plans/{world.plan_id}/versions", data={"csrf_token": csrf, "name": name}
            )
            assert bad.status_code == 400
        restore = await http.post(
            f"/plans/{world.plan_id}/versions/{version}/restore", data={"csrf_token": csrf}
        )
        assert restore.status_code == 403
    for role in ("deltaker", "leser"):
        async with as_user(web, role) as (http, csrf):
            refused = await http.post(
                f"/plans/{world.plan_id}/versions", data={"csrf_token": csrf, "name": "Min"}
            )
            assert refused.status_code == 403
            restore = await http.post(
                f"/plans/{world.plan_id}/versions/{version}/restore", data={"csrf_token": csrf}
            )
            assert restore.status_code == 403
            assert (await http.get(f"/plans/{world.plan_id}/versions")).status_code == 200
    async with as_user(web, "koordinator") as (http, csrf):
        no_csrf = await http.post(f"/plans/{world.plan_id}/versions/{version}/restore", data={})
        assert no_csrf.status_code == 403
    assert [v.id for v in await repo.list_versions(world.plan_id)] == [version]


async def test_a_reader_sees_only_the_zones_their_consent_covers(
    web: LiveServer, world: World
) -> None:
    def write(doc: Any) -> None:
        append_item(
            get_root(doc, "area", GOALS), {"id": "f1", "label": "1", "title": "Spille fotball ⚽"}
        )

    await web.services.registry.edit(world.zones["area/fritid"], write, "area", actor=None)
    await web.services.consents.give(
        world.plan_id, world.users["leser"], ["area/skole"], None, world.users["planeier"]
    )
    async with as_user(web, "koordinator") as (http, csrf):
        version = await _create(http, csrf, world, "Med fritid")
        page = await http.get(f"/plans/{world.plan_id}/versions/{version}")
        assert "Spille fotball ⚽" in page.text
    async with as_user(web, "leser") as (http, _):
        page = await http.get(f"/plans/{world.plan_id}/versions/{version}")
        assert page.status_code == 200
        assert "Skole og læring" in page.text
        assert "Fritid ⚽" not in page.text and "Spille fotball" not in page.text


def daily_versions(web: LiveServer, interval: float = 0.0) -> DailyVersions:
    """Another "node"'s daily versions over the same database and rooms."""
    services = web.services
    return DailyVersions(
        services.repos.versions,
        lambda plan_id: zone_copies(services.registry, services.plans, plan_id),
        interval,
    )


async def test_daily_versions_are_claimed_once_per_plan_and_day(
    web: LiveServer, world: World
) -> None:
    def write(doc: Any) -> None:
        append_item(get_root(doc, "area", GOALS), {"id": "d1", "label": "1", "title": "Daglig ✅"})

    await web.services.registry.edit(world.zones["area/skole"], write, "area", actor=None)
    # Two "nodes" at once: the unique (plan, kind, day) constraint lets one of them store it.
    node_a, node_b = daily_versions(web), daily_versions(web)
    stored = await asyncio.gather(node_a.run_once(), node_b.run_once())
    assert sum(stored) == 1
    assert await node_a.run_once() == 0  # nothing changed since
    kinds = [v.kind for v in await web.services.repos.versions.list_versions(world.plan_id)]
    assert kinds == ["daily"]
    assert (
        world.other_plan_id
        not in await web.services.repos.versions.plans_changed_since_last_version(
            ["content", "area"]
        )
    )


async def test_the_background_task_stores_the_day_s_version(web: LiveServer, world: World) -> None:
    def write(doc: Any) -> None:
        append_item(get_root(doc, "area", GOALS), {"id": "b1", "label": "1", "title": "Bak 🥐"})

    await web.services.registry.edit(world.zones["area/skole"], write, "area", actor=None)
    task = daily_versions(web, interval=0.05)
    task.start()
    try:
        await wait_for(lambda: task.stored == 1, what="the daily version")
        await asyncio.sleep(0.2)  # a few more rounds: still one for the day
    finally:
        await task.stop()
    versions = await web.services.repos.versions.list_versions(world.plan_id)
    assert [(v.kind, v.day) for v in versions] == [("daily", today_oslo())]
    zones = await web.services.repos.versions.version_zones(versions[0].id)
    assert any("Bak 🥐" in z.data for z in zones)


async def test_a_version_names_someone_who_has_since_left_the_plan(
    web: LiveServer, world: World
) -> None:
    """A version is read after people come and go: Per Lund, responsible for a measure in
    it, has left the plan, and the page still names him (members only would show his id)."""
    per = world.users["leser"]
    url = web.ws_url(world.room("area/skole"), world.token("deltaker"))
    async with connected(url) as client:
        append_item(
            get_root(client.doc, "area", GOALS), {"id": "g1", "label": "1", "title": OLD_TITLE}
        )
        append_item(
            get_root(client.doc, "area", MEASURES),
            {
                "id": "m1",
                "goalId": "g1",
                "title": "Øvelseskjøring med ledsager 🚗",
                "responsible": [str(per)],
            },
        )
        await wait_for(lambda: _server_title(web, world), what="the goal on the server")
        await web.services.registry.rooms[world.zones["area/skole"]].settle()
    async with as_user(web, "koordinator") as (http, csrf):
        version = await _create(http, csrf, world, "Før Per sluttet 👋")
        assert await web.services.plans.remove_member(world.plan_id, per)
        page = await http.get(f"/plans/{world.plan_id}/versions/{version}")
    assert page.status_code == 200
    measure = page.text.split("Øvelseskjøring med ledsager 🚗")[1].split("</section>")[0]
    assert "Per Lund" in measure, measure
