"""Who may give consent follows the person's age (pasient- og brukerrettighetsloven § 4-3):
parents or guardian below 16, the person from 16 (an appointed verge too), either when the
birth date is unknown. Tested at the 16th birthday, in the rule, on the web and on the CLI.
Also here: a closed plan is read-only for every role, in the same one access rule."""

from __future__ import annotations

import sqlite3
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from server.core.access import (
    READ,
    WRITE,
    ZONE_ACCESS,
    ConsentRule,
    age_on,
    consent_rule,
    effective_access,
    may_give_consent,
)
from server.core.clock import today_oslo
from server.services import Repositories
from server.settings import Settings
from storage.repositories.consents import ConsentRecord
from tests.support.live import LiveServer
from tests.support.passwords import hash_password
from tests.support.web import PASSWORD, csrf_of, log_in
from tests.support.world import ROLE_USERS, World, build_world

pytestmark = pytest.mark.both_databases

TODAY = date(2026, 11, 24)


def _years_before(day: date, years: int) -> date:
    return day.replace(year=day.year - years)


# -- the rule -----------------------------------------------------------------------------


def test_age_at_the_birthday() -> None:
    born = date(2010, 11, 24)
    assert age_on(born, date(2026, 11, 23)) == 15
    assert age_on(born, date(2026, 11, 24)) == 16
    assert age_on(born, date(2026, 11, 25)) == 16
    # Born 29 February: 16 on 29 February when there is one ...
    leap = date(2008, 2, 29)
    assert age_on(leap, date(2024, 2, 28)) == 15
    assert age_on(leap, date(2024, 2, 29)) == 16
    # ... and on 1 March when there is not (2100 is a common year), never a day early.
    assert age_on(date(2084, 2, 29), date(2100, 2, 28)) == 15
    assert age_on(date(2084, 2, 29), date(2100, 3, 1)) == 16


def test_who_may_give_consent_at_the_16th_birthday() -> None:
    sixteen_tomorrow = _years_before(TODAY + timedelta(days=1), 16)
    sixteen_today = _years_before(TODAY, 16)
    assert consent_rule(None, TODAY) == ConsentRule.UNKNOWN_AGE
    assert consent_rule(sixteen_tomorrow, TODAY) == ConsentRule.UNDER_16
    assert consent_rule(sixteen_today, TODAY) == ConsentRule.FROM_16
    table = {
        # birth date: (planeier, verge)
        None: (True, True),
        sixteen_tomorrow: (False, True),
        sixteen_today: (True, True),
        date(1980, 1, 1): (True, True),
    }
    for born, (planeier, verge) in table.items():
        assert may_give_consent("planeier", born, TODAY) is planeier, born
        assert may_give_consent("verge", born, TODAY) is verge, born
        for role in ("koordinator", "deltaker", "leser", "ukjent"):
            assert not may_give_consent(role, born, TODAY), (role, born)


def test_a_closed_plan_is_read_only_for_every_role() -> None:
    given_at = datetime(2026, 1, 1, tzinfo=UTC)
    everything = ConsentRecord(1, "p", 2, "given", None, None, None, given_at, None, None)
    for role, zones in ZONE_ACCESS.items():
        for kind, open_access in zones.items():
            zone = kind.value if kind.value in ("content", "comments") else f"{kind.value}/x"
            closed = effective_access(role, kind, zone, everything, TODAY, closed=True)
            assert closed == (READ if open_access in (READ, WRITE) else None), (role, kind)
            # What the role may do, through the server for the zones only it writes (comments).
            assert effective_access(role, kind, zone, everything, TODAY, by_server=True) == (
                open_access
            )
            server = effective_access(
                role, kind, zone, everything, TODAY, closed=True, by_server=True
            )
            assert server == closed, (role, kind)
    # Closing never opens anything: no consent, no access, closed or not.
    assert effective_access("deltaker", "content", "content", None, TODAY, closed=True) is None
    assert effective_access(None, "content", "content", None, TODAY, closed=True) is None


# -- the web form -------------------------------------------------------------------------


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


@asynccontextmanager
async def _browser(server: LiveServer, role: str) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=server.http) as http:
        assert (await log_in(http, ROLE_USERS[role][0])).status_code == 303
        yield http


async def _give(http: httpx.AsyncClient, world: World) -> httpx.Response:
    page = await http.get(f"/plans/{world.plan_id}")
    data: dict[str, Any] = {
        "csrf_token": csrf_of(page.text),
        "user_id": str(world.users["deltaker"]),
        "action": "give",
        "scope": ["content"],
    }
    return await http.post(f"/plans/{world.plan_id}/consent", data=data)


async def test_web_planeier_below_16_sees_consent_read_only_and_why(
    server: LiveServer, world: World
) -> None:
    today = today_oslo()
    await server.services.plans.set_person_birth_date(
        world.plan_id, _years_before(today + timedelta(days=1), 16)
    )
    async with _browser(server, "planeier") as http:
        page = (await http.get(f"/plans/{world.plan_id}")).text
        assert 'data-testid="consent-read-only"' in page and "under 16 år" in page
        assert '/consent"' not in page  # no form for the planeier
        before = await server.services.consents.latest_by_user(world.plan_id)
        refused = await _give(http, world)
        assert refused.status_code == 403 and "under 16 år" in refused.text
        assert await server.services.consents.latest_by_user(world.plan_id) == before
    async with _browser(server, "verge") as http:
        page = (await http.get(f"/plans/{world.plan_id}")).text
        assert '/consent"' in page and 'data-testid="consent-read-only"' not in page
        assert "foreldrene eller vergen som gir samtykke" in page
        assert (await _give(http, world)).status_code == 303


async def test_web_planeier_from_the_16th_birthday_gives_consent(
    server: LiveServer, world: World
) -> None:
    await server.services.plans.set_person_birth_date(
        world.plan_id, _years_before(today_oslo(), 16)
    )
    async with _browser(server, "planeier") as http:
        page = (await http.get(f"/plans/{world.plan_id}")).text
        assert '/consent"' in page and "har fylt 16 år" in page
        assert (await _give(http, world)).status_code == 303
    async with _browser(server, "verge") as http:  # an appointed verge may too
        assert (await _give(http, world)).status_code == 303
    async with _browser(server, "koordinator") as http:
        assert (await _give(http, world)).status_code == 403


# -- the command line ---------------------------------------------------------------------


def test_cli_birth_date_and_consent_given_by(tmp_path: Path) -> None:
    from tests.test_cli import samplan

    today = today_oslo()
    under = _years_before(today + timedelta(days=1), 16).isoformat()
    plan_id = samplan(
        tmp_path, "plan", "create", "--title", "Plan for Åse 🌱", "--person", "Åse Ødegård",
        "--birth-date", under,
    ).stdout.strip()  # fmt: skip
    people = {"planeier": "ase@example.no", "verge": "mor@example.no", "deltaker": "per@ex.no"}
    for role, email in people.items():
        samplan(tmp_path, "user", "add", "--email", email, "--name", role, "--no-password")
        samplan(tmp_path, "member", "add", "--plan", plan_id, "--email", email, "--role", role)
    give = ("consent", "give", "--plan", plan_id, "--email", people["deltaker"], "--scope", "all")

    refused = samplan(tmp_path, *give, "--given-by", people["planeier"], ok=False)
    assert refused.returncode == 2 and "under 16" in refused.stderr
    koordinator = samplan(tmp_path, *give, "--given-by", people["deltaker"], ok=False)
    assert koordinator.returncode == 2 and "only the planeier or the verge" in koordinator.stderr
    samplan(tmp_path, *give, "--given-by", people["verge"])
    samplan(tmp_path, *give)  # the operator, from a signed form: no age check, as before

    # The 16th birthday is today: now the planeier gives consent.
    turned = samplan(
        tmp_path, "plan", "set", plan_id, "--birth-date", _years_before(today, 16).isoformat()
    ).stdout
    assert "16 or older" in turned and _years_before(today, 16).isoformat() not in turned
    samplan(tmp_path, *give, "--given-by", people["planeier"])
    revoke = ("consent", "revoke", "--plan", plan_id, "--email", people["deltaker"])
    samplan(tmp_path, *revoke, "--given-by", people["planeier"])

    with sqlite3.connect(tmp_path / "cli.sqlite3") as db:
        givers = [
            row[0]
            for row in db.execute(
                "SELECT u.email FROM consents c LEFT JOIN users u ON u.id = c.given_by_user_id"
                " WHERE c.plan_id = ? ORDER BY c.id",
                (plan_id,),
            )
        ]
        audit = db.execute(
            "SELECT details FROM audit_log WHERE action = 'plan_change' AND plan_id = ?",
            (plan_id,),
        ).fetchall()
    assert givers == [people["verge"], None, people["planeier"]]
    assert audit == [('{"field":"person_birth_date","set":true}',)]

    for bad, message in (
        ("2099-01-01", "future"),
        ("14.03.2009", "YYYY-MM-DD"),
        ("1850-01-01", "1900"),
    ):
        result = samplan(tmp_path, "plan", "set", plan_id, "--birth-date", bad, ok=False)
        assert result.returncode == 2 and message in result.stderr, bad
    nothing = samplan(tmp_path, "plan", "set", plan_id, ok=False)
    assert nothing.returncode == 2 and "--birth-date" in nothing.stderr
    cleared = samplan(tmp_path, "plan", "set", plan_id, "--clear-birth-date").stdout
    assert "planeier or the verge" in cleared
    unknown = samplan(tmp_path, "plan", "set", "no-such-plan", "--clear-birth-date", ok=False)
    assert unknown.returncode == 2 and "no plan" in unknown.stderr


def test_demo_records_jonas_birth_date(tmp_path: Path) -> None:
    """Jonas is 16 in the sample plan and signed his consent himself on 28.08.2025."""
    from server.demo import content as demo_content
    from tests.test_cli import samplan

    samplan(tmp_path, "demo")
    with sqlite3.connect(tmp_path / "cli.sqlite3") as db:
        db.execute("UPDATE plans SET person_birth_date = NULL")  # as loaded before this change
    samplan(tmp_path, "demo")  # idempotent, and fills in what is missing
    with sqlite3.connect(tmp_path / "cli.sqlite3") as db:
        (born,) = db.execute("SELECT person_birth_date FROM plans").fetchone()
    birth = date.fromisoformat(born)
    assert birth == date.fromisoformat(demo_content.PLAN["person_birth_date"])
    assert age_on(birth, date.fromisoformat(demo_content.CONSENT["given_on"])) == 16
    assert consent_rule(birth) == ConsentRule.FROM_16
