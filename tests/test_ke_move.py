"""Moving a plan to another municipality when the person moves (issue 14), over a real server
with plain HTTP clients: Eksempelvik kommune (A, the world's plan) and Bø i Telemark 🏔 (B),
each with its own KE administrator.

A's KE moves the plan with the person's consent: the plan, its zones' history, versions and
access log stay on the same plan id, untouched; its members keep their access; the koordinator
stays until B's KE appoints one, and B's overview flags the plan until then; A no longer
reaches it (404) but keeps its record in "Flyttede planer". Without consent nothing changes,
and B's KE can neither move A's plan nor read A's record."""

from __future__ import annotations

import json
import sqlite3
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from pycrdt import Doc

from crdt.schema import append_item, get_root, read_zone
from crdt.zone_state import doc_from_stored
from server.core.clock import today_oslo
from tests.support.live import LiveServer
from tests.support.passwords import hash_password
from tests.support.waiting import wait_for
from tests.support.web import PASSWORD, csrf_of, signed_in
from tests.support.world import ROLE_USERS, World

PEOPLE = {
    "anne": ("anne.ke@eksempelvik.test", "Anne Ødegård"),
    "bjorn": ("bjorn.ke@bo.test", "Bjørn Ærø 🏔"),
    "siri": ("siri.aas@bo.test", "Siri Åsheim"),
}
TITLE = "Individuell plan for Jonas Berg"  # the world's plan: never shown to a KE


@dataclass
class Two:
    a: int
    b: int
    anne: int  # KE administrator of A
    bjorn: int  # KE administrator of B
    siri: int  # on B's list of coordinators
    unit_a: int


@pytest.fixture
async def two(web: LiveServer, world: World) -> Two:
    repos = web.services.repos
    secret = hash_password(PASSWORD)
    ids = {}
    for key, (email, name) in PEOPLE.items():
        user = await repos.users.create(email, name)
        await repos.users.set_password_hash(user.id, secret)
        ids[key] = user.id
    a = await repos.municipalities.of_plan(world.plan_id)
    assert a is not None
    b = (await repos.municipalities.ensure("Bø i Telemark 🏔")).id
    await repos.municipalities.add_admin(a, ids["anne"], granted_by=None)
    await repos.municipalities.add_admin(b, ids["bjorn"], granted_by=None)
    unit_a = await repos.municipalities.add_unit(a, "Skole 🎒 Åsen")
    await repos.municipalities.set_plan_unit(world.plan_id, unit_a.id)
    await repos.coordinators.put(b, ids["siri"], None, added_by=None)
    return Two(a, b, ids["anne"], ids["bjorn"], ids["siri"], unit_a.id)


def _rows(server: LiveServer, sql: str, *args: object) -> list[tuple[Any, ...]]:
    path = Path(server.settings.resolved_database_url().split("///", 1)[1])
    with sqlite3.connect(path) as db:
        return db.execute(sql, args).fetchall()


async def _history(server: LiveServer, world: World, up_to: int) -> dict[str, Any]:
    """What must move intact: the zones, what they hold, who changed what (the history),
    versions, members, consents, and the access-log rows up to id `up_to` (hash and all).
    The log's own rows (zone_updates) may be compacted into a snapshot at any time, so the
    zones are compared by what they hold."""
    await server.services.audit.flush()
    plan_id = world.plan_id
    zones = "SELECT id FROM zones WHERE plan_id = ?"
    queries = {
        "zones": "SELECT id, kind, key, title FROM zones WHERE plan_id = ? ORDER BY id",
        "changes": f"SELECT id, zone_id, user_id, items FROM zone_changes"
        f" WHERE zone_id IN ({zones}) ORDER BY id",
        "versions": "SELECT id, kind, name FROM plan_versions WHERE plan_id = ? ORDER BY id",
        "version_zones": "SELECT count(*) FROM plan_version_zones WHERE version_id IN"
        " (SELECT id FROM plan_versions WHERE plan_id = ?)",
        "members": "SELECT user_id, role FROM memberships WHERE plan_id = ? ORDER BY user_id",
        "consents": "SELECT user_id, status FROM consents WHERE plan_id = ? ORDER BY id",
    }
    out: dict[str, Any] = {name: _rows(server, sql, plan_id) for name, sql in queries.items()}
    out["audit"] = _rows(
        server,
        "SELECT id, action, hash FROM audit_log WHERE plan_id = ? AND id <= ? ORDER BY id",
        plan_id,
        up_to,
    )
    out["content"] = {
        suffix: read_zone(
            doc_from_stored(await server.services.repos.zone_log.load(zone_id)),
            suffix.partition("/")[0],
        )
        for suffix, zone_id in world.zones.items()
    }
    return out


async def _audit(server: LiveServer, action: str) -> list[tuple[Any, ...]]:
    await server.services.audit.flush()
    return _rows(
        server,
        "SELECT actor_user_id, role, plan_id, details FROM audit_log WHERE action = ? ORDER BY id",
        action,
    )


async def _post(http: httpx.AsyncClient, path: str, data: dict[str, Any]) -> httpx.Response:
    body = {**data, "csrf_token": csrf_of((await http.get("/plans")).text)}
    return await http.post(path, data=body)


def _consent(target: int, **overrides: str) -> dict[str, str]:
    form = {
        "to": str(target),
        "giver": "planeier",
        "giver_name": "",
        "method": "written",
        "given_on": (today_oslo() - timedelta(days=2)).strftime("%d.%m.%Y"),
        "confirm": "yes",
    }
    form.update(overrides)
    return form


async def _make_history(server: LiveServer, world: World) -> None:
    """A goal written by the koordinator (an update and a change record), a version, and
    page views by members (access-log rows)."""

    def add(doc: Doc[Any]) -> str:
        goals = get_root(doc, "area", "goals")
        return append_item(goals, {"label": "M1", "title": "Trives på skolen 🏫 æøå"})

    await server.services.registry.edit(
        world.zones["area/skole"], add, "area", actor=world.users["koordinator"]
    )
    async with signed_in(server.http, ROLE_USERS["planeier"][0]) as jonas:
        assert (await jonas.get(f"/plans/{world.plan_id}")).status_code == 200
    async with signed_in(server.http, ROLE_USERS["koordinator"][0]) as kari:
        page = await kari.get(f"/plans/{world.plan_id}")
        form = {"name": "Før flyttingen 🚚", "csrf_token": csrf_of(page.text)}
        made = await kari.post(f"/plans/{world.plan_id}/versions", data=form)
        assert made.status_code == 303


async def test_the_ke_moves_a_plan_with_consent_and_everything_moves_intact(
    web: LiveServer, world: World, two: Two
) -> None:
    plan = world.plan_id
    await _make_history(web, world)
    # who changed what reaches zone_changes when the edit is folded (compaction runs beside
    # the loop, in the fold worker): under load that can come after the version's page answers
    await wait_for(
        lambda: bool(
            _rows(web, "SELECT 1 FROM zone_changes WHERE zone_id = ?", world.zones["area/skole"])
        ),
        timeout=60,
        what="the edit folded into zone_changes",
    )
    await web.services.audit.flush()
    [(last_id,)] = _rows(web, "SELECT max(id) FROM audit_log")
    before = await _history(web, world, last_id)
    assert before["audit"] and before["changes"] and before["versions"]

    async with signed_in(web.http, PEOPLE["anne"][0]) as anne:
        overview = await anne.get(f"/ke/{two.a}")
        assert f'href="/ke/{two.a}/plans/{plan}/koordinator"' in overview.text
        page = await anne.get(f"/ke/{two.a}/plans/{plan}/koordinator")
        assert f'href="/ke/{two.a}/plans/{plan}/move"' in page.text
        form = await anne.get(f"/ke/{two.a}/plans/{plan}/move")
        assert form.status_code == 200
        assert "J. B." in form.text and plan[:8] in form.text and TITLE not in form.text
        assert "Bø i Telemark 🏔" in form.text and 'for="f-to"' in form.text
        moved = await _post(anne, f"/ke/{two.a}/plans/{plan}/move", _consent(two.b))
        assert moved.status_code == 303, moved.text
        assert moved.headers["location"] == f"/ke/{two.a}/moves?done=planMoved"
        record = await anne.get(moved.headers["location"])
        assert 'role="status"' in record.text and "Planen er flyttet" in record.text
        assert f'data-plan="{plan}"' in record.text and "J. B. (" + plan[:8] in record.text
        assert "Bø i Telemark 🏔" in record.text and "Anne Ødegård" in record.text
        assert "Personen selv (Jonas Berg), skriftlig" in record.text
        assert TITLE not in record.text
        # A reaches the plan no more: not in its overview, 404 on every KE route for it.
        assert plan not in (await anne.get(f"/ke/{two.a}")).text
        for path in ("koordinator", "move"):
            gone = await anne.get(f"/ke/{two.a}/plans/{plan}/{path}")
            assert gone.status_code == 404 and "Bø i Telemark" not in gone.text
        again = await _post(anne, f"/ke/{two.a}/plans/{plan}/move", _consent(two.b))
        assert again.status_code == 404
        unit = await _post(anne, f"/ke/{two.a}/plans/{plan}/unit", {"unit": str(two.unit_a)})
        assert unit.status_code == 404

    # The plan is B's now, without A's unit; everything else is as it was.
    [(municipality, unit_id, status)] = _rows(
        web, "SELECT municipality_id, unit_id, status FROM plans WHERE id = ?", plan
    )
    assert (municipality, unit_id, status) == (two.b, None, "active")
    assert await _history(web, world, last_id) == before
    [(actor, role, plan_id, details)] = await _audit(web, "plan_move")
    assert (actor, role, plan_id) == (two.anne, "ke_admin", plan)
    assert json.loads(details) | {"move_id": 0} == {
        "municipality_id": two.a,
        "move_id": 0,
        "to_municipality_id": two.b,
        "consent_giver": "planeier",
        "consent_method": "written",
        "consent_given_on": (today_oslo() - timedelta(days=2)).isoformat(),
        "unit_cleared": True,
    }
    told = {u for u, k in _rows(web, "SELECT user_id, kind FROM notifications") if k == "moved"}
    assert told == {
        world.users[r] for r in ("planeier", "verge", "koordinator", "deltaker", "leser")
    }

    # The members keep their access.
    for role in ("planeier", "deltaker"):
        async with signed_in(web.http, ROLE_USERS[role][0]) as member:
            assert (await member.get(f"/plans/{plan}")).status_code == 200

    # B's overview flags it until B appoints; the old koordinator stays until then.
    async with signed_in(web.http, PEOPLE["bjorn"][0]) as bjorn:
        overview = await bjorn.get(f"/ke/{two.b}")
        assert f'data-plan="{plan}"' in overview.text
        assert "Flyttet inn: koordinator må oppnevnes" in overview.text
        assert "Kari Nilsen" in overview.text  # the koordinator, still
        page = await bjorn.get(f"/ke/{two.b}/plans/{plan}/koordinator")
        assert 'data-testid="ke-plan-moved-in"' in page.text
        assert "J. B." not in (await bjorn.get(f"/ke/{two.b}/moves")).text  # A's record
        appoint = {"to": str(two.siri), "then": "deltaker"}
        done = await _post(bjorn, f"/ke/{two.b}/plans/{plan}/koordinator", appoint)
        assert done.status_code == 303
        overview = await bjorn.get(f"/ke/{two.b}")
        assert "Flyttet inn" not in overview.text and "Siri Åsheim" in overview.text
    members = {m.user_id: m.role for m in await web.services.plans.list_members(plan)}
    assert members[two.siri] == "koordinator"
    assert members[world.users["koordinator"]] == "deltaker"  # appoint's own rule
    [(_a, _r, _p, appointed)] = await _audit(web, "koordinator_appoint")
    assert json.loads(appointed)["moved_in_settled"] == 1


async def test_a_move_without_consent_is_refused_and_nothing_changes(
    web: LiveServer, world: World, two: Two
) -> None:
    plan = world.plan_id
    state = "SELECT municipality_id, unit_id, status, access_version FROM plans ORDER BY id"
    before = _rows(web, state)
    path = f"/ke/{two.a}/plans/{plan}/move"
    async with signed_in(web.http, PEOPLE["anne"][0]) as anne:
        missing = _consent(two.b, giver="", method="", given_on="")
        refused = await anne.post(
            path, data={**missing, "csrf_token": csrf_of((await anne.get(path)).text)}
        )
        assert refused.status_code == 400
        assert 'role="alert"' in refused.text and 'aria-invalid="true"' in refused.text
        assert "Personens samtykke til flyttingen må registreres" in refused.text
        assert "Planen er ikke flyttet, ingenting er endret." in refused.text
        assert 'value="written"' in refused.text  # the form is kept
        future = (today_oslo() + timedelta(days=1)).strftime("%d.%m.%Y")
        for bad, expected in (
            ({"given_on": future}, "kan ikke være fram i tid"),
            ({"given_on": "31.02.2026 🙃"}, "Skriv datoen samtykket ble gitt"),
            ({"confirm": ""}, "Kryss av for at planen skal flyttes"),
            ({"to": str(two.a)}, "Velg kommunen planen skal flyttes til"),
            ({"to": "999999"}, "Velg kommunen planen skal flyttes til"),
            ({"giver": "koordinator"}, "Velg hvem som ga samtykket"),
            ({"method": "browser"}, "Velg om samtykket ble gitt muntlig eller skriftlig"),
        ):
            response = await _post(anne, path, _consent(two.b, **bad))
            assert response.status_code == 400, bad
            assert expected in response.text, bad
        # Under 16 the person's own word is not enough: the guardian gives it.
        born = today_oslo().replace(year=today_oslo().year - 12) - timedelta(days=3)
        await web.services.repos.plans.set_person_birth_date(plan, born)
        child = await _post(anne, path, _consent(two.b))
        assert child.status_code == 400 and "under 16" in child.text
        assert 'data-testid="ke-move-giver-planeier"' in child.text
        assert _rows(web, "SELECT count(*) FROM plan_moves") == [(0,)]
        assert _rows(web, state) == before
        # The guardian's consent, given orally, is enough.
        verge = _consent(two.b, giver="verge", method="oral")
        assert (await _post(anne, path, verge)).status_code == 303
    [(giver, name, method, user_id)] = _rows(
        web,
        "SELECT consent_giver, consent_giver_name, consent_method, consent_giver_user_id"
        " FROM plan_moves",
    )
    assert (giver, name, method, user_id) == ("verge", "Line Berg", "oral", world.users["verge"])
    refusals = await _audit(web, "plan_move_refused")
    assert len(refusals) == 9
    assert json.loads(refusals[0][3])["fields"] == ["given_on", "giver", "method"]


async def test_b_cannot_move_as_plan_nor_read_as_record(
    web: LiveServer, world: World, two: Two
) -> None:
    plan = world.plan_id
    async with signed_in(web.http, PEOPLE["bjorn"][0]) as bjorn:
        for path in (f"/ke/{two.a}/plans/{plan}/move", f"/ke/{two.b}/plans/{plan}/move"):
            assert (await bjorn.get(path)).status_code == 404
            response = await _post(bjorn, path, _consent(two.b))
            assert response.status_code == 404 and "Jonas" not in response.text
        assert (await bjorn.get(f"/ke/{two.a}/moves")).status_code == 404
    assert _rows(web, "SELECT municipality_id FROM plans WHERE id = ?", plan) == [(two.a,)]
    async with signed_in(web.http, PEOPLE["anne"][0]) as anne:
        assert (await _post(anne, f"/ke/{two.a}/plans/{plan}/move", _consent(two.b))).is_redirect
    async with signed_in(web.http, PEOPLE["bjorn"][0]) as bjorn:
        listing = await bjorn.get(f"/ke/{two.a}/moves")
        assert listing.status_code == 404 and "J. B." not in listing.text
        own = await bjorn.get(f"/ke/{two.b}/moves")
        assert own.status_code == 200 and 'data-testid="ke-moves-empty"' in own.text
    # A plan member who administers no KE: 403 and an access-log row.
    async with signed_in(web.http, ROLE_USERS["koordinator"][0]) as kari:
        for path in (f"/ke/{two.b}/moves", f"/ke/{two.b}/plans/{plan}/move"):
            refused = await kari.get(path)
            assert refused.status_code == 403 and "koordinerende enhet" in refused.text
    paths = [json.loads(d)["path"] for *_, d in await _audit(web, "ke_refused")]
    assert paths == [f"/ke/{two.b}/moves", f"/ke/{two.b}/plans/{plan}/move"]
