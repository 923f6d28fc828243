"""The access log against the live server (log-in, page view, WebSocket presence and edit
counts) and the `samplan audit` commands against the database file of the test."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import time

import httpx
import pytest
from pycrdt import Text
from sqlalchemy import select

from crdt.client import YClient
from server.settings import Settings
from storage.models import AuditEntry
from tests.support.clients import connected
from tests.support.database import database_url, execute
from tests.support.database import rows as database_rows
from tests.support.live import LiveServer
from tests.support.web import csrf_of, log_in
from tests.support.world import OUTSIDER, ROLE_USERS, World

pytestmark = pytest.mark.both_databases


def _db(settings: Settings) -> str:
    """The database, for a separate reader and writer (tests/support/database.py)."""
    return database_url(settings)


def samplan(settings: Settings, *args: str) -> subprocess.CompletedProcess[str]:
    env = {
        **os.environ,
        "SAMPLAN_VAR_DIR": str(settings.var_dir),
        "SAMPLAN_DATABASE_URL": settings.resolved_database_url(),
        "SAMPLAN_SECRET_KEY": "test-secret-ikke-hemmelig",
    }
    return subprocess.run(
        [sys.executable, "-m", "server.cli", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


async def _rows(server: LiveServer, world: World, action: str) -> list[AuditEntry]:
    await server.services.audit.flush()
    return list(reversed(await server.services.repos.audit.for_plan(world.plan_id, 100, 0, action)))


async def _all_rows(server: LiveServer) -> list[AuditEntry]:
    await server.services.audit.flush()
    async with server.services.repos.sessionmaker() as session:
        return list(await session.scalars(select(AuditEntry).order_by(AuditEntry.id)))


async def _eventually(server: LiveServer, world: World, action: str, n: int) -> list[AuditEntry]:
    deadline = time.monotonic() + 10
    while True:
        rows = await _rows(server, world, action)
        if len(rows) >= n or time.monotonic() > deadline:
            return rows
        await asyncio.sleep(0.05)


async def test_log_in_failures_page_view_and_log_out(web: LiveServer, world: World) -> None:
    deltaker = world.users["deltaker"]
    async with httpx.AsyncClient(base_url=web.http) as http:
        assert (await log_in(http, ROLE_USERS["deltaker"][0], "feil passord")).status_code == 401
        assert (await log_in(http, "ingen.her@eksempelvik.test")).status_code == 401
        assert (await log_in(http, ROLE_USERS["deltaker"][0])).status_code == 303
        page = await http.get(f"/plans/{world.plan_id}")
        assert page.status_code == 200
        assert (await http.get(f"/plans/{world.other_plan_id}")).status_code == 404
        await http.post("/logout", data={"csrf_token": csrf_of(page.text)})

    rows = await _all_rows(web)
    actions = [(r.action, r.actor_user_id) for r in rows]
    assert actions == [
        ("login_failed", deltaker),  # the account exists: it is named
        ("login_failed", None),  # it does not: nothing of the typed address is kept
        ("login", deltaker),
        ("plan_view", deltaker),  # the refused plan is not a view
        ("logout", deltaker),
    ]
    assert all(r.client_address == "127.0.0.1" for r in rows)
    assert "ingen.her" not in " ".join(r.details for r in rows)
    assert "feil" not in " ".join(r.details for r in rows)
    assert json.loads(rows[2].details) == {"method": "password"}
    view = rows[3]
    assert (view.plan_id, view.role) == (world.plan_id, "deltaker")
    assert (await web.services.repos.audit.verify()).ok


async def test_ws_join_and_leave_with_duration_and_edit_count(
    server: LiveServer, world: World
) -> None:
    url = server.ws_url(world.room("area/skole"), world.token("deltaker"))
    async with connected(url) as client:
        text = client.doc.get("t", type=Text)
        for word in ("Åse ", "Ødegård ", "🎉"):
            text += word  # one transaction each: three edit messages
        await asyncio.sleep(0.2)
    reader_url = server.ws_url(world.room("area/skole"), world.token("leser"))
    async with connected(reader_url) as reader:
        reader.doc.get("t", type=Text).insert(0, "ikke lov")  # refused: not an edit
        await asyncio.sleep(0.1)

    leaves = await _eventually(server, world, "ws_leave", 2)
    joins = await _rows(server, world, "ws_join")
    assert [(r.actor_user_id, r.role, r.zone) for r in joins] == [
        (world.users["deltaker"], "deltaker", "area/skole"),
        (world.users["leser"], "leser", "area/skole"),
    ]
    join = json.loads(joins[0].details)
    assert join["access"] == "rw" and len(join["conn"]) == 16  # pairs the join with its leave
    assert "visit" not in join  # a token client, not a plan page: no page load to group by
    first, second = (json.loads(r.details) for r in leaves)
    assert first["conn"] == join["conn"] and second["conn"] != first["conn"]
    assert first["edits"] == 3 and first["seconds"] >= 0.2
    assert second["edits"] == 0
    assert leaves[0].client_address == "127.0.0.1"
    assert all("Ødegård" not in r.details for r in leaves)  # counts, never content

    shown = samplan(server.settings, "audit", "show", world.plan_id)
    assert shown.returncode == 0, shown.stderr
    assert "Åse Ødegård" in shown.stdout and "ws_leave" in shown.stdout
    assert "area/skole" in shown.stdout and '"edits":3' in shown.stdout
    limited = samplan(server.settings, "audit", "show", world.plan_id, "--limit", "1")
    assert limited.stdout.count("ws_") == 1


async def test_cli_membership_rows_and_verify_detects_tampering(
    settings: Settings, world: World
) -> None:
    email = OUTSIDER[0]
    for args in (
        ("member", "add", "--plan", world.plan_id, "--email", email, "--role", "leser"),
        ("member", "add", "--plan", world.plan_id, "--email", email, "--role", "leser"),
        ("member", "add", "--plan", world.plan_id, "--email", email, "--role", "deltaker"),
        ("member", "remove", "--plan", world.plan_id, "--email", email),
    ):
        assert samplan(settings, *args).returncode == 0
    db = _db(settings)
    rows = database_rows(db, "SELECT id, action, actor_user_id, details FROM audit_log ORDER BY id")
    outsider = world.users["outsider"]
    assert [(a, actor) for _, a, actor, _ in rows] == [
        ("membership_add", None),
        ("membership_change", None),  # the repeated add changed nothing: no row
        ("membership_remove", None),
    ]
    assert json.loads(rows[1][3]) == {
        "user_id": outsider,
        "role": "deltaker",
        "previous_role": "leser",
    }
    shown = samplan(settings, "audit", "show", world.plan_id)
    assert "system/cli" in shown.stdout and "membership_change" in shown.stdout

    ok = samplan(settings, "audit", "verify")
    assert ok.returncode == 0 and ok.stdout.strip() == "OK: 3 rows"

    ids = [r[0] for r in rows]
    [original] = database_rows(db, "SELECT details FROM audit_log WHERE id = ?", (ids[1],))
    execute(db, 'UPDATE audit_log SET details = \'{"role":"koordinator"}\' WHERE id = ?', (ids[1],))
    broken = samplan(settings, "audit", "verify")
    assert broken.returncode == 1, broken.stderr
    assert broken.stdout.startswith(f"BROKEN at row {ids[1]}:")
    assert "Traceback" not in broken.stderr

    execute(db, "UPDATE audit_log SET details = ? WHERE id = ?", (original[0], ids[1]))
    assert samplan(settings, "audit", "verify").returncode == 0  # put back: whole again

    execute(db, "DELETE FROM audit_log WHERE id = ?", (ids[1],))
    deleted = samplan(settings, "audit", "verify")
    assert deleted.returncode == 1
    assert deleted.stdout.startswith(f"BROKEN at row {ids[2]}:")
    assert f"row {ids[0]}" in deleted.stdout


async def test_leave_rows_are_not_lost_on_shutdown(settings: Settings, world: World) -> None:
    from tests.support.live import live_server

    async with live_server(settings) as live:
        url = live.ws_url(world.room("content"), world.token("koordinator"))
        client = await YClient(url).connect()
        await client.wait_for(client.synced.is_set)
        client.doc.get("t", type=Text).insert(0, "Blåbær 🫐")
        await asyncio.sleep(0.2)
    # the server stopped while the client was still connected
    await client.close()
    found = database_rows(_db(settings), "SELECT action FROM audit_log ORDER BY id")
    actions = [a for (a,) in found]
    assert actions == ["ws_join", "ws_leave"]
