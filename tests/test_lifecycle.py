"""Closing, reopening, deleting and purging plans, end to end: the web forms, real sockets on a
real server, the `samplan` command line, and the bytes of the SQLite files."""

from __future__ import annotations

import json
import logging
import re
import sqlite3
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from pycrdt import Doc, Text

from crdt.client import YClient
from crdt.protocol import encode_sync_step1
from server.services import Repositories
from server.settings import Settings
from storage.models import utcnow
from tests.conftest import make_settings
from tests.support.clients import connected, log_rows, text_of
from tests.support.database import arows, ascalar, database_url, holds
from tests.support.live import LiveServer, live_server
from tests.support.passwords import hash_password
from tests.support.waiting import wait_for
from tests.support.web import PASSWORD, csrf_of, log_in
from tests.support.world import ROLE_USERS, World, build_world

pytestmark = pytest.mark.both_databases

log = logging.getLogger("tests.lifecycle")

TITLE = "Individuell plan for Jonas Berg"
SECRET = "Åse Ødegård skriver: anfallsplan 🧪 hemmelig-æøå-4711"


@pytest.fixture
async def world(settings: Settings) -> World:
    repos = await Repositories.open(settings)
    try:
        built = await build_world(repos, settings.resolved_secret_key())
        for role in ROLE_USERS:
            await repos.users.set_password_hash(built.users[role], hash_password(PASSWORD))
        return built
    finally:
        await repos.close()


def db_path(server: LiveServer) -> str:
    """The server's database, for a separate reader (tests/support/database.py)."""
    return database_url(server)


async def _audit(server: LiveServer, action: str, plan_id: str) -> list[dict[str, Any]]:
    await server.services.audit.flush()  # rows are queued; read them once written
    found = await arows(
        server,
        "SELECT details FROM audit_log WHERE action = ? AND plan_id = ? ORDER BY id",
        (action, plan_id),
    )
    return [json.loads(details) for (details,) in found]


def _app_zones(html: str) -> dict[str, str]:
    match = re.search(r'data-app="([^"]+)"', html)
    assert match
    data = json.loads(match.group(1).replace("&#34;", '"').replace("&quot;", '"'))
    return {z["room"].split("/", 2)[2]: z["access"] for z in data["zones"]}


@asynccontextmanager
async def _browser(server: LiveServer, role: str) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=server.http) as http:
        response = await log_in(http, ROLE_USERS[role][0])
        assert response.status_code == 303
        yield http


async def _post(
    http: httpx.AsyncClient, plan_id: str, action: str, **fields: str
) -> httpx.Response:
    page = await http.get("/plans")  # any page: the CSRF cookie and token
    data = {"csrf_token": csrf_of(page.text), **fields}
    return await http.post(f"/plans/{plan_id}/{action}", data=data)


async def _stored_text(server: LiveServer, zone_id: int) -> str:
    """The zone's text as stored (snapshot plus log), whether or not its room was compacted."""
    stored = await server.services.repos.zone_log.load(zone_id)
    doc: Doc[Any] = Doc()
    for update in [stored.snapshot or b"\x00\x00", *(u for _, u in stored.updates)]:
        doc.apply_update(update)
    return str(doc.get("t", type=Text))


async def _denied_edit(client: YClient, words: str) -> None:
    client.denied.clear()
    client.doc.get("t", type=Text).insert(0, words)
    await client.wait_for(lambda: bool(client.denied), timeout=30)
    assert client.denied == ["read-only"]


# -- closing ------------------------------------------------------------------------------


async def test_close_asks_for_confirmation_then_makes_open_writers_read_only(
    server: LiveServer, world: World
) -> None:
    path, zone_id = db_path(server), world.zones["content"]
    room = world.room("content")
    async with (
        connected(server.ws_url(room, world.token("deltaker"))) as writer,
        connected(server.ws_url(room, world.token("leser"))) as reader,
        _browser(server, "koordinator") as http,
    ):
        writer.doc.get("t", type=Text).insert(0, "Før avslutning ✅ ")
        await reader.wait_for(lambda: "Før avslutning" in text_of(reader))
        rows = log_rows(path, zone_id)

        confirm = await _post(http, world.plan_id, "close")  # the first step only asks
        assert confirm.status_code == 200 and 'data-testid="confirm-close"' in confirm.text
        assert 'name="confirm" value="yes"' in confirm.text
        plan = await server.services.plans.get_plan(world.plan_id)
        assert plan is not None and plan.status == "active"

        started = time.monotonic()
        done = await _post(http, world.plan_id, "close", confirm="yes")
        assert done.status_code == 303 and done.headers["location"] == f"/plans/{world.plan_id}"
        log.info("close POST answered after %.1f ms", (time.monotonic() - started) * 1000)

        # The writer connected before the close is told at once that it is read-only ...
        await writer.wait_for(lambda: writer.denied == ["read-only"])
        assert reader.denied == []  # (a reader had nothing to lose)
        # ... and can no longer change the document ...
        await _denied_edit(writer, "etter avslutning ")
        assert writer.close_code is None
        # ... and the reader still reads: its socket stays open and a sync is answered.
        reader.synced.clear()
        await reader.send_raw(encode_sync_step1(Doc().get_state()))
        await reader.wait_for(reader.synced.is_set)
        assert reader.close_code is None and "Før avslutning" in text_of(reader)
        assert "etter avslutning" not in text_of(reader)
        room_doc = server.services.registry.rooms[zone_id].doc
        assert "etter avslutning" not in str(room_doc.get("t", type=Text))
        assert log_rows(path, zone_id) == rows

        page = (await http.get(f"/plans/{world.plan_id}")).text
    assert 'data-testid="plan-closed"' in page and "ingen kan endre den" in page
    assert set(_app_zones(page).values()) == {"r"}  # the koordinator too: read-only for all
    assert 'data-testid="reopen"' in page and 'data-testid="close"' not in page
    async with _browser(server, "leser") as http:
        listing = (await http.get("/plans")).text
    assert 'data-testid="plan-closed-badge"' in listing
    # A new connection, of a role that could write before, is read-only.
    async with connected(server.ws_url(room, world.token("koordinator"))) as late:
        assert "Før avslutning" in text_of(late)
        await _denied_edit(late, "koordinator etterpå ")
    stored = await _stored_text(server, zone_id)
    assert "Før avslutning" in stored and "etter" not in stored
    assert await _audit(server, "plan_close", world.plan_id) == [{}]


async def test_close_twice_and_reopen(server: LiveServer, world: World) -> None:
    async with _browser(server, "koordinator") as http:
        assert (await _post(http, world.plan_id, "reopen")).status_code == 409
        assert (await _post(http, world.plan_id, "close", confirm="yes")).status_code == 303
        version = (await server.services.plans.access_versions([world.plan_id]))[world.plan_id]
        plan = await server.services.plans.get_plan(world.plan_id)
        again = await _post(http, world.plan_id, "close", confirm="yes")
        assert again.status_code == 409 and "allerede avsluttet" in again.text
        after = await server.services.plans.get_plan(world.plan_id)
        assert plan is not None and after is not None and after.closed_at == plan.closed_at
        assert (await server.services.plans.access_versions([world.plan_id]))[
            world.plan_id
        ] == version

        area = server.ws_url(world.room("area/skole"), world.token("deltaker"))
        async with connected(area) as refused, connected(area) as quiet:
            await _denied_edit(refused, "kommentar i lukket plan ")
            assert (await _post(http, world.plan_id, "reopen")).status_code == 303
            # Reopened: an open socket may write again (a deltaker writes areas). (Not the
            # refused one: its later edits build on the edit the server never applied.)
            quiet.doc.get("t", type=Text).insert(0, "kommentar etter gjenåpning 💬 ")
            async with connected(
                server.ws_url(world.room("area/skole"), world.token("verge"))
            ) as v:
                await v.wait_for(lambda: "etter gjenåpning" in text_of(v))
                assert "lukket plan" not in text_of(v)
        page = (await http.get(f"/plans/{world.plan_id}")).text
        assert 'data-testid="plan-closed"' not in page and 'data-testid="close"' in page
        again = await _post(http, world.plan_id, "reopen")
        assert again.status_code == 409 and "ikke avsluttet" in again.text
    assert len(await _audit(server, "plan_close", world.plan_id)) == 1
    assert len(await _audit(server, "plan_reopen", world.plan_id)) == 1


async def test_close_from_another_process_reaches_open_sockets(
    server: LiveServer, world: World
) -> None:
    async with connected(server.ws_url(world.room("area/skole"), world.token("planeier"))) as c:
        repos = await Repositories.open(server.settings, migrate=False)  # as the CLI would
        try:
            assert await repos.plans.set_plan_status(world.plan_id, "closed")
        finally:
            await repos.close()
        started = time.monotonic()
        # The watcher notices within its poll; until then an edit may still go through.
        deadline = time.monotonic() + 30
        while True:
            c.doc.get("t", type=Text).insert(0, "x")
            try:
                await c.wait_for(lambda: bool(c.denied), timeout=0.5)
                break
            except TimeoutError:
                assert time.monotonic() < deadline, "the watcher never made the socket read-only"
        log.info(
            "read-only %.0f ms after another process closed the plan",
            1000 * (time.monotonic() - started),
        )
        assert c.close_code is None


# -- refusals -----------------------------------------------------------------------------

REFUSALS = [
    ("planeier", "close", {"confirm": "yes"}, 403, "Bare koordinatoren"),
    ("verge", "delete", {"confirm_title": TITLE}, 403, "Bare koordinatoren"),
    ("deltaker", "close", {"confirm": "yes"}, 403, "Bare koordinatoren"),
    ("leser", "reopen", {}, 403, "Bare koordinatoren"),
    ("koordinator", "delete", {}, 400, "Skriv tittelen"),
    ("koordinator", "delete", {"confirm_title": "   "}, 400, "Skriv tittelen"),
    ("koordinator", "delete", {"confirm_title": "Individuell plan for Åse"}, 400, "ikke lik"),
]


@pytest.mark.parametrize(("role", "action", "fields", "status", "message"), REFUSALS)
async def test_refusals_change_nothing(
    server: LiveServer,
    world: World,
    role: str,
    action: str,
    fields: dict[str, str],
    status: int,
    message: str,
) -> None:
    versions = await server.services.plans.access_versions([world.plan_id, world.other_plan_id])
    async with _browser(server, role) as http:
        response = await _post(http, world.plan_id, action, **fields)
    assert response.status_code == status
    assert message in response.text
    if status == 400:  # the confirmation page again, saying what was wrong, as an alert
        assert 'role="alert"' in response.text and 'name="confirm_title"' in response.text
    plan = await server.services.plans.get_plan(world.plan_id)
    assert plan is not None and plan.status == "active"
    assert len(await server.services.plans.list_zones(world.plan_id)) == len(world.zones)
    assert (
        await server.services.plans.access_versions([world.plan_id, world.other_plan_id])
        == versions
    )


async def test_strangers_forms_and_made_up_plans(server: LiveServer, world: World) -> None:
    async with httpx.AsyncClient(base_url=server.http) as anonymous:
        response = await anonymous.post(f"/plans/{world.plan_id}/delete", data={})
        assert response.status_code == 303 and response.headers["location"].startswith("/login")
    async with _browser(server, "koordinator") as http:
        no_csrf = await http.post(f"/plans/{world.plan_id}/delete", data={"confirm_title": TITLE})
        assert no_csrf.status_code == 403
        # Another plan (where this user is no member), a made-up id, garbage: the same 404.
        for plan_id in (world.other_plan_id, "00000000-0000-4000-8000-000000000000", "æøå🙂"):
            for action in ("close", "reopen", "delete"):
                response = await _post(http, plan_id, action, confirm="yes", confirm_title=TITLE)
                assert response.status_code == 404, (plan_id, action)
    assert await server.services.plans.get_plan(world.other_plan_id) is not None
    assert await server.services.plans.get_plan(world.plan_id) is not None


# -- deleting -----------------------------------------------------------------------------


async def _plan_rows(where: str, plan_id: str, zone_ids: list[int]) -> dict[str, int]:
    marks = ",".join("?" * len(zone_ids))
    counts = {
        table: await ascalar(where, f"SELECT count(*) FROM {table} WHERE plan_id = ?", (plan_id,))
        for table in (
            "zones",
            "memberships",
            "consents",
            "meetings",
            "plan_versions",
            "published_minutes",
            "notifications",
        )
    }
    counts["plans"] = await ascalar(where, "SELECT count(*) FROM plans WHERE id = ?", (plan_id,))
    for table in ("zone_updates", "zone_snapshots", "zone_summaries"):
        counts[table] = await ascalar(
            where, f"SELECT count(*) FROM {table} WHERE zone_id IN ({marks})", zone_ids
        )
    return counts


async def test_delete_removes_everything_closes_sockets_and_leaves_no_bytes(
    server: LiveServer, world: World
) -> None:
    path = db_path(server)
    zone_ids = list(world.zones.values())
    other_before = len(await server.services.plans.list_zones(world.other_plan_id))
    async with (
        connected(server.ws_url(world.room("content"), world.token("deltaker"))) as writer,
        connected(server.ws_url(world.room("area/skole"), world.token("leser"))) as reader,
        _browser(server, "koordinator") as http,
    ):
        # A distinctive string through a real client, into the log and into a snapshot.
        writer.doc.get("t", type=Text).insert(0, SECRET)
        await writer.wait_for(lambda: log_rows(path, world.zones["content"]) == 1)
        await server.services.registry.rooms[world.zones["content"]].compact()
        await server.services.summaries.flush()  # the summary a compaction stores
        writer.doc.get("t", type=Text).insert(0, "hale ")
        await writer.wait_for(lambda: log_rows(path, world.zones["content"]) == 1)
        assert (await http.get(f"/plans/{world.plan_id}")).status_code == 200
        # A named version: a full-state copy of the zones, the secret included.
        made = await _post(http, world.plan_id, "versions", name="Før sletting 🗂️")
        assert made.status_code == 303
        assert await holds(path, SECRET)  # the control: it is there to be found
        before = await _plan_rows(path, world.plan_id, zone_ids)
        assert before["zone_snapshots"] == 1 and before["memberships"] == 5
        assert before["plan_versions"] == 1

        started = time.monotonic()
        response = await _post(http, world.plan_id, "delete", confirm_title=f"  {TITLE.upper()} ")
        assert response.status_code == 303 and response.headers["location"] == "/plans?deleted=1"
        assert await writer.wait_closed(timeout=30) == 4404
        assert await reader.wait_closed(timeout=30) == 4404
        log.info("delete -> sockets closed after %.0f ms", 1000 * (time.monotonic() - started))
        assert writer.close_reason == "plan deleted"
        assert not set(zone_ids) & set(server.services.registry.rooms)  # dropped, not kept

        listing = await http.get(response.headers["location"])
        assert 'data-testid="plan-deleted"' in listing.text and TITLE not in listing.text
        assert (await http.get(f"/plans/{world.plan_id}")).status_code == 404
        again = await _post(http, world.plan_id, "delete", confirm_title=TITLE)
        assert again.status_code == 404
    # A new connection finds nothing (no oracle: the same 4404 as any unknown plan).
    late = YClient(server.ws_url(world.room("content"), world.token("koordinator")))
    await late.connect()
    assert await late.wait_closed(timeout=30) == 4404
    await late.close()

    assert not any((await _plan_rows(path, world.plan_id, zone_ids)).values())
    assert len(await server.services.plans.list_zones(world.other_plan_id)) == other_before
    # The access log keeps every row about the plan, plus one for the deletion, no content.
    await server.services.audit.flush()
    [details] = await _audit(server, "plan_delete", world.plan_id)
    assert details == {
        "reason": "koordinator",
        "zones": len(world.zones),
        "updates": 1,
        "snapshots": 1,
        "summaries": 1,
        "members": 5,
        "consents": 2,
        "meetings": 0,
        "versions": 1,
        "published_minutes": 0,
        "notifications": 0,
    }
    assert await _audit(server, "ws_join", world.plan_id)
    assert await _audit(server, "plan_view", world.plan_id)
    assert (await server.services.repos.audit.verify()).ok
    # No deleted health data lingers: not in the database file, not in its write-ahead log
    # (PostgreSQL: in no row; see tests/support/database.holds).
    assert not await holds(path, SECRET)
    await server.services.audit.flush()
    assert not await holds(path, SECRET)


async def test_delete_then_shutdown_writes_nothing_back(settings: Settings, world: World) -> None:
    """Rooms of a deleted plan are dropped without compaction: the shutdown that compacts
    every room in memory must not bring the text back (nor fail)."""
    from tests.support.live import live_server

    path = database_url(settings)
    # A grace period far longer than the test: the room is surely still in memory.
    async with live_server(settings.replace(room_grace_seconds=600)) as server:
        async with connected(server.ws_url(world.room("area/skole"), world.token("deltaker"))) as c:
            c.doc.get("t", type=Text).insert(0, SECRET)
            await c.wait_for(lambda: log_rows(path, world.zones["area/skole"]) == 1)
        # The socket closed: the room waits out its grace period, uncompacted, in memory.
        assert world.zones["area/skole"] in server.services.registry.rooms
        from server.plans.lifecycle import delete_plan_live

        assert await delete_plan_live(server.services, world.plan_id) is not None
        assert world.zones["area/skole"] not in server.services.registry.rooms
    assert not await holds(path, SECRET)
    assert await ascalar(path, "SELECT count(*) FROM zone_snapshots") == 0


async def test_delete_from_another_process_closes_sockets_through_the_watcher(
    server: LiveServer, world: World
) -> None:
    client = YClient(server.ws_url(world.room("area/fritid"), world.token("deltaker")))
    await client.connect()
    await client.wait_for(client.synced.is_set)
    repos = await Repositories.open(server.settings, migrate=False)  # as `samplan plan delete`
    try:
        assert await repos.plans.delete_plan(world.plan_id) is not None
    finally:
        await repos.close()
    assert await client.wait_closed(timeout=30) == 4404
    await client.close()
    zone_id = world.zones["area/fritid"]
    await client.wait_for(lambda: zone_id not in server.services.registry.rooms, timeout=30)


async def test_the_servers_own_purge_deletes_a_plan_past_retention_and_closes_its_sockets(
    tmp_path: Path, server_database: str, world: World
) -> None:
    """SAMPLAN_PURGE_INTERVAL_SECONDS (server/plans/purge_schedule.py): the plan closed past
    the retention period goes, its sockets are closed at once (4404) and its rooms dropped;
    a plan closed more recently stays. Off by default: the `server` fixture never purges."""
    settings = make_settings(
        tmp_path, database_url=server_database, purge_interval_seconds=0.3, retention_days=30
    )
    async with live_server(settings) as server:
        services = server.services
        reader = YClient(server.ws_url(world.room("area/fritid"), world.token("verge")))
        await reader.connect()
        await reader.wait_for(reader.synced.is_set)
        await services.plans.set_plan_status(
            world.other_plan_id, "closed", at=utcnow() - timedelta(days=29)
        )
        await services.plans.set_plan_status(
            world.plan_id, "closed", at=utcnow() - timedelta(days=31)
        )
        assert await reader.wait_closed(timeout=30) == 4404
        await reader.close()
        assert await services.plans.get_plan(world.plan_id) is None
        kept = await services.plans.get_plan(world.other_plan_id)
        assert kept is not None and kept.status == "closed"
        assert world.zones["area/fritid"] not in services.registry.rooms
        # The round ends after the audit row and (on PostgreSQL) a VACUUM.
        await wait_for(lambda: services.purge_schedule.deleted == 1, what="the round's end")
        await services.audit.flush()
        [row] = await services.repos.audit.for_plan(world.plan_id, action="plan_delete")
        details = json.loads(row.details)
        assert (details["reason"], details["retention_days"]) == ("purge", 30)


async def test_cli_delete_of_a_plan_being_edited_leaves_other_plans_alone(
    server: LiveServer, world: World
) -> None:
    """`samplan plan delete` closes the plan first and waits for running servers to notice,
    so no edit reaches the log after its zone is gone (that would fail the group commit it
    shares with other plans' edits, and send their editors away to reconnect)."""
    import asyncio
    import os
    import sys

    settings = server.settings
    env = {
        **os.environ,
        "SAMPLAN_DATABASE_URL": settings.resolved_database_url(),
        "SAMPLAN_VAR_DIR": str(settings.var_dir),
        "SAMPLAN_SECRET_KEY": settings.secret_key,
        "SAMPLAN_ACCESS_POLL_SECONDS": str(settings.access_poll_seconds),
    }
    other = server.ws_url(
        world.room("content", world.other_plan_id), world.token("outsider", world.other_plan_id)
    )
    stop = asyncio.Event()

    async def keep_typing(client: YClient, words: str) -> int:
        typed = 0
        while not stop.is_set() and client.close_code is None:
            client.doc.get("t", type=Text).insert(0, words)
            typed += 1
            await asyncio.sleep(0.01)
        return typed

    async with (
        connected(server.ws_url(world.room("content"), world.token("deltaker"))) as doomed,
        connected(other) as bystander,
    ):
        typing = [
            asyncio.create_task(keep_typing(doomed, "æ")),
            asyncio.create_task(keep_typing(bystander, "ø")),
        ]
        cli = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "server.cli", "plan", "delete", world.plan_id, "--yes",
            env=env, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
        )  # fmt: skip
        out, err = await asyncio.wait_for(cli.communicate(), 120)
        assert cli.returncode == 0, err.decode()
        assert await doomed.wait_closed(timeout=30) == 4404
        stop.set()
        typed = await asyncio.gather(*typing)
        assert bystander.close_code is None  # never sent away
        log.info("typed during the delete: doomed %d, bystander %d", *typed)
    zone = await server.services.plans.get_zone(world.other_plan_id, "content", "")
    assert zone is not None
    deadline = time.monotonic() + 30
    while (await _stored_text(server, zone.id)).count("ø") != typed[1]:
        assert time.monotonic() < deadline, "the bystander's edits were not all stored"
        await asyncio.sleep(0.05)


# -- the command line ---------------------------------------------------------------------


def _cli_plan(tmp_path: Path, *extra: str) -> str:
    from tests.test_cli import samplan

    return samplan(
        tmp_path, "plan", "create", "--title", "Plan for Åse 🌱", "--person", "Åse Ødegård", *extra
    ).stdout.strip()


def test_cli_close_reopen_delete(tmp_path: Path) -> None:
    from tests.test_cli import samplan

    plan_id = _cli_plan(tmp_path)
    assert "closed" in samplan(tmp_path, "plan", "close", plan_id).stdout
    twice = samplan(tmp_path, "plan", "close", plan_id, ok=False)
    assert twice.returncode == 2 and "already closed" in twice.stderr
    assert "reopened" in samplan(tmp_path, "plan", "reopen", plan_id).stdout
    again = samplan(tmp_path, "plan", "reopen", plan_id, ok=False)
    assert again.returncode == 2 and "not closed" in again.stderr

    unconfirmed = samplan(tmp_path, "plan", "delete", plan_id, ok=False)
    assert unconfirmed.returncode == 2 and "--yes" in unconfirmed.stderr
    for command in (("close",), ("reopen",), ("delete", "--yes")):
        unknown = samplan(tmp_path, "plan", *command, "no-such-plan", ok=False)
        assert unknown.returncode == 2 and "no plan no-such-plan" in unknown.stderr, command
    deleted = samplan(tmp_path, "plan", "delete", plan_id, "--yes").stdout
    assert f"plan {plan_id} deleted: zones 2" in deleted and "Åse" not in deleted
    with sqlite3.connect(tmp_path / "cli.sqlite3") as db:
        assert db.execute("SELECT count(*) FROM plans").fetchone()[0] == 0
        actions = [
            row[0]
            for row in db.execute(
                "SELECT action FROM audit_log WHERE plan_id = ? ORDER BY id", (plan_id,)
            )
        ]
    assert actions == ["plan_create", "plan_close", "plan_reopen", "plan_delete"]
    gone = samplan(tmp_path, "plan", "delete", plan_id, "--yes", ok=False)
    assert gone.returncode == 2 and "no plan" in gone.stderr
    # The deleted plan's access log can still be read.
    shown = samplan(tmp_path, "audit", "show", plan_id).stdout
    assert "plan_delete" in shown and '"reason":"cli"' in shown and "Åse" not in shown
    never = samplan(tmp_path, "audit", "show", "no-such-plan", ok=False)
    assert never.returncode == 2 and "no plan" in never.stderr


def test_purge_deletes_plans_closed_longer_than_the_retention_period(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import asyncio

    from tests.test_cli import cli_env, samplan

    old, recent, active = (_cli_plan(tmp_path) for _ in range(3))
    monkeypatch.setenv("SAMPLAN_RETENTION_DAYS", "30")

    async def close_in_the_past() -> None:
        for name, value in cli_env(tmp_path).items():
            monkeypatch.setenv(name, value)
        repos = await Repositories.open(Settings(), migrate=False)
        try:
            await repos.plans.set_plan_status(old, "closed", at=utcnow() - timedelta(days=31))
            await repos.plans.set_plan_status(recent, "closed", at=utcnow() - timedelta(days=29))
        finally:
            await repos.close()

    asyncio.run(close_in_the_past())

    dry = samplan(tmp_path, "purge", "--dry-run").stdout
    assert f"plan {old} " in dry and "would delete zones 2" in dry
    assert recent not in dry and active not in dry and "Åse" not in dry
    assert "1 plan(s) would delete" in dry and "30 days" in dry
    with sqlite3.connect(tmp_path / "cli.sqlite3") as db:
        assert db.execute("SELECT count(*) FROM plans").fetchone()[0] == 3

    done = samplan(tmp_path, "purge").stdout
    assert f"plan {old} " in done and "1 plan(s) deleted" in done and "Åse" not in done
    with sqlite3.connect(tmp_path / "cli.sqlite3") as db:
        left = {row[0] for row in db.execute("SELECT id FROM plans")}
        [(details,)] = db.execute(
            "SELECT details FROM audit_log WHERE action = 'plan_delete' AND plan_id = ?", (old,)
        ).fetchall()
    assert left == {recent, active}
    assert json.loads(details)["reason"] == "purge"
    assert json.loads(details)["retention_days"] == 30
    assert "0 plan(s) deleted" in samplan(tmp_path, "purge").stdout

    monkeypatch.setenv("SAMPLAN_RETENTION_DAYS", "0")
    bad = samplan(tmp_path, "purge", ok=False)
    assert bad.returncode != 0 and "RETENTION_DAYS" in bad.stderr.upper()


async def test_nothing_the_server_writes_itself_changes_a_closed_plan(
    server: LiveServer, world: World
) -> None:
    """Closed means read-only for everyone, the server's own writes included: publishing,
    approving, restoring a version, scheduling or cancelling a meeting and turning an action
    item into a measure are each refused with 409 and change nothing."""
    from datetime import UTC, datetime

    from storage.repositories.meetings import AgendaItem

    services = server.services
    start = datetime.now(UTC) + timedelta(days=2)
    meeting = await services.meetings.schedule(
        world.plan_id,
        title="Ansvarsgruppemøte 🌿",
        starts_at=start,
        ends_at=start + timedelta(hours=1),
        place="Ørnes skole",
        video_link=None,
        agenda=[AgendaItem("sak-1", "Skolehverdagen – æøå")],
        invitee_ids=[world.users["koordinator"], world.users["deltaker"]],
        created_by_user_id=world.users["koordinator"],
    )
    async with _browser(server, "koordinator") as kari:
        made = await _post(kari, world.plan_id, "versions", name="Før avslutning 🗂️")
        assert made.status_code == 303
        [version] = await services.repos.versions.list_versions(world.plan_id)
        assert (await _post(kari, world.plan_id, "close", confirm="yes")).status_code == 303
        before = log_rows(db_path(server), None)
        meetings_before = len(await services.meetings.list_for_plan(world.plan_id))
        refused = {
            "publish": await _post(kari, world.plan_id, f"meetings/{meeting.id}/publish"),
            "restore": await _post(kari, world.plan_id, f"versions/{version.id}/restore"),
            "schedule": await _post(kari, world.plan_id, "meetings/new", title="Nytt møte"),
            "cancel": await _post(kari, world.plan_id, f"meetings/{meeting.id}/cancel"),
            "measure": await _post(
                kari, world.plan_id, f"meetings/{meeting.id}/actions/oppgave-1/measure"
            ),
        }
        for what, response in refused.items():
            assert response.status_code == 409, what
            assert "Planen er avsluttet" in response.text, what
    async with _browser(server, "planeier") as jonas:
        approve = await _post(jonas, world.plan_id, f"meetings/{meeting.id}/published/1/approve")
        assert approve.status_code in (404, 409)  # nothing was published, nothing approved
    assert log_rows(db_path(server), None) == before
    assert await services.repos.versions.list_published(world.plan_id) == []
    assert [v.id for v in await services.repos.versions.list_versions(world.plan_id)] == [
        version.id
    ]
    after = await services.meetings.list_for_plan(world.plan_id)
    assert len(after) == meetings_before and not any(m.cancelled_at for m in after)
