"""The KE's administration in a real browser (issue 14): a KE administrator made on the
command line puts Kari and Ola on the list of coordinators, starts a plan and hands it to
Ola, then appoints Kari in his place, by keyboard; Kari finds the plan on Mine planer, and
Kari's and Ola's notifications and the access log say what happened. axe on every page."""

from __future__ import annotations

import asyncio
import json
import os
import re
import sqlite3
import sys
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from server.core.clock import today_oslo
from tests.browser.helpers import PASSWORD, log_in, wait_until
from tests.browser.test_plan_page import HAVE_AXE, axe_violations
from tests.support.live import LiveServer
from tests.support.world import OUTSIDER, ROLE_USERS, World

if TYPE_CHECKING:
    from playwright.async_api import Page

    from tests.browser.conftest import Browsing

pytestmark = pytest.mark.asyncio(loop_scope="module")

ADMIN = ("asmund.ke@eksempelvik.test", "Åsmund Ødegård 🏛️")
KARI = ROLE_USERS["koordinator"]


async def samplan(server: LiveServer, *args: str, stdin: str = "") -> str:
    """The command line against the running server's database (without blocking its loop)."""
    settings = server.settings
    env = {
        **os.environ,
        "SAMPLAN_DATABASE_URL": settings.resolved_database_url(),
        "SAMPLAN_VAR_DIR": str(settings.var_dir),
        "SAMPLAN_SECRET_KEY": settings.resolved_secret_key(),
    }
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "server.cli",
        *args,
        env=env,
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(proc.communicate(stdin.encode()), 120)
    assert proc.returncode == 0, err.decode()
    return out.decode()


def _rows(server: LiveServer, sql: str, *args: object) -> list[tuple[Any, ...]]:
    path = Path(server.settings.resolved_database_url().split("///", 1)[1])
    with sqlite3.connect(path) as db:
        return db.execute(sql, args).fetchall()


async def _type(page: Page, label: str, text: str) -> None:
    await page.get_by_label(label, exact=True).focus()
    await page.keyboard.type(text)


async def _add_coordinator(page: Page, email: str) -> None:
    await _type(page, "E-postadresse", email)
    await page.keyboard.press("Enter")
    await page.get_by_test_id("ke-done").wait_for()


async def test_a_ke_admin_starts_a_plan_and_appoints_kari(browse: Browsing, world: World) -> None:
    server = browse.server
    municipality = int(
        (await samplan(server, "municipality", "add", "Eksempelvik kommune")).strip()
    )
    await samplan(server, "user", "add", "--email", ADMIN[0], "--name", ADMIN[1], stdin=PASSWORD)
    await samplan(
        server,
        "municipality",
        "add-admin",
        "--municipality",
        "Eksempelvik kommune",
        "--email",
        ADMIN[0],
    )
    base = f"{browse.base}/ke/{municipality}"

    ke = await browse.new_page("ke-admin", bypass_csp=True)  # bypass: axe below
    await log_in(ke, browse.base, ADMIN[0])
    await ke.goto(f"{base}/coordinators")
    await ke.get_by_test_id("ke-nav").wait_for()
    if HAVE_AXE:
        assert await axe_violations(ke, "the KE's coordinators (empty)") == []
    # A mistake first: an address with no account. The message is focused; nothing added.
    await _type(ke, "E-postadresse", "ingen.her.æøå@eksempelvik.test")
    await ke.keyboard.press("Enter")
    await ke.get_by_test_id("ke-error").wait_for()
    await wait_until(ke, "() => document.activeElement.id === 'ke-error'")
    if HAVE_AXE:
        assert await axe_violations(ke, "the KE's coordinators with an error") == []
    await ke.get_by_label("E-postadresse", exact=True).fill("")
    await _add_coordinator(ke, KARI[0])
    await _add_coordinator(ke, OUTSIDER[0])
    listed = await ke.get_by_test_id("ke-coordinators").text_content() or ""
    assert "Kari Nilsen" in listed and "Ola Nordmann" in listed

    # Start a plan and hand it to Ola, by keyboard, from the KE's navigation.
    await ke.get_by_test_id("ke-nav-start").focus()
    await ke.keyboard.press("Enter")
    await ke.get_by_test_id("start-form").wait_for()
    today = today_oslo()
    await _type(ke, "Navn", "Åse Ødegård 🌻")
    await _type(ke, "Fødselsdato", "14.03.2009")
    await _type(ke, "Planperioden starter", today.strftime("%d.%m.%Y"))
    await _type(ke, "Planperioden slutter", (today + timedelta(days=365)).strftime("%d.%m.%Y"))
    await _type(ke, "Første revisjon", (today + timedelta(days=90)).strftime("%d.%m.%Y"))
    await ke.locator("#area-2").focus()
    await ke.keyboard.press("Space")
    await ke.get_by_test_id("ke-start-koordinator").select_option(label="Ola Nordmann")
    if HAVE_AXE:
        assert await axe_violations(ke, "the KE's plan start") == []
    await ke.get_by_test_id("start-submit").focus()
    await ke.keyboard.press("Enter")
    await ke.get_by_test_id("ke-done").wait_for()
    match = re.search(rf"/ke/{municipality}/plans/([0-9a-f-]{{36}})/koordinator", ke.url)
    assert match
    plan_id = match.group(1)
    koordinator = ke.get_by_test_id("ke-plan-koordinator")
    assert (await koordinator.text_content() or "").strip() == "Ola Nordmann"
    if HAVE_AXE:
        assert await axe_violations(ke, "a plan's koordinator page") == []

    # Appoint Kari in Ola's place; Ola stays as a deltaker (the default).
    await ke.get_by_test_id("ke-appoint-to").focus()
    await ke.get_by_test_id("ke-appoint-to").select_option(label="Kari Nilsen")
    assert await ke.locator("#ke-then-deltaker").is_checked()
    await ke.get_by_test_id("ke-appoint-submit").focus()
    await ke.keyboard.press("Enter")
    await wait_until(
        ke,
        "() => document.querySelector('[data-testid=ke-plan-koordinator]')"
        ".textContent.trim() === 'Kari Nilsen'",
    )
    done = await ke.get_by_test_id("ke-done").text_content() or ""
    assert "fått beskjed" in done
    # The KE administrator is no member: the plan itself is not theirs to open.
    response = await ke.goto(f"{browse.base}/plans/{plan_id}")
    assert response is not None and response.status == 404

    # Kari finds it on Mine planer and is told.
    kari = await browse.user("koordinator", plan=False)
    await kari.goto(f"{browse.base}/plans")
    card = kari.get_by_test_id(f"plan-{plan_id}")
    await card.wait_for()
    assert "Åse Ødegård 🌻" in (await card.text_content() or "")
    await kari.goto(f"{browse.base}/notifications")
    await kari.locator('[data-kind="koordinator"]').first.wait_for()
    assert "Ny koordinator for planen" in (await kari.locator("main").text_content() or "")

    # Ola, who lost the role, is told too, pointed to Mine planer (a deltaker of a draft
    # opens nothing); his first notice (he was appointed) pointed to the plan.
    ola = await browse.new_page("ola")
    await log_in(ola, browse.base, OUTSIDER[0])
    await ola.goto(f"{browse.base}/notifications")
    assert await ola.locator('[data-kind="koordinator"]').count() == 2

    await server.services.audit.flush()
    users = {role: world.users[role] for role in ("koordinator", "outsider")}
    told = _rows(
        server,
        "SELECT user_id, kind, link FROM notifications WHERE plan_id = ? ORDER BY id",
        plan_id,
    )
    assert told == [
        (users["outsider"], "koordinator", f"/plans/{plan_id}#plan-members"),
        (users["koordinator"], "koordinator", f"/plans/{plan_id}#plan-members"),
        (users["outsider"], "koordinator", "/plans"),
    ]
    admin_id = _rows(server, "SELECT id FROM users WHERE email = ?", ADMIN[0])[0][0]
    audit = _rows(
        server,
        "SELECT action, actor_user_id, role, details FROM audit_log WHERE plan_id = ? ORDER BY id",
        plan_id,
    )
    actions = [(action, actor, role) for action, actor, role, _d in audit]
    assert actions == [
        ("plan_create", admin_id, "ke_admin"),
        ("ke_plan_start", admin_id, "ke_admin"),
        ("koordinator_appoint", admin_id, "ke_admin"),
    ]
    assert json.loads(audit[-1][3]) == {
        "municipality_id": municipality,
        "from_user_id": users["outsider"],
        "to_user_id": users["koordinator"],
        "old_role": "deltaker",
        "new_previous_role": None,
    }
    members = _rows(
        server, "SELECT user_id, role FROM memberships WHERE plan_id = ? ORDER BY user_id", plan_id
    )
    assert sorted(members) == sorted(
        [(users["koordinator"], "koordinator"), (users["outsider"], "deltaker")]
    )
