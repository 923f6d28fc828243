"""The KE overview, its CSV and the log control over a real server with plain HTTP clients
(issue 14): two municipalities kept apart on every KE route, 403 and an access-log row for
anyone who administers no KE, malformed parameters answered 400, an empty CSV that is still a
CSV, and no word anyone wrote in the page or the file."""

from __future__ import annotations

import asyncio
import csv
import io
import json
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from pycrdt import Array, Map
from sqlalchemy import select

from crdt.schema import append_item
from server.core.tokens import issue_plan_token
from storage.models import AuditEntry
from storage.repositories.audit import AuditEvent
from tests.support.clients import connected
from tests.support.live import LiveServer
from tests.support.passwords import hash_password
from tests.support.web import PASSWORD, csrf_of, signed_in
from tests.support.world import ROLE_USERS, World

pytestmark = pytest.mark.both_databases

SECRET_WORDS = "Hemmelig diagnose 🦄 Ærlig øl på ål"
SECRET_TITLE = "Plan etter hjerneslag 🧠 æøå"
B_PERSON = "Bjørn Bærumsen 🌲"
B_UNIT = "Bærum skole 🏫"
A_UNIT = "Helsestasjon Øst 🏥"


@dataclass
class KeWorld:
    a: int
    b: int
    a_admin: str
    b_admin: str
    a_unit: int
    b_unit: int
    b_plan: str
    b_koordinator: int


async def ke_world(server: LiveServer, world: World) -> KeWorld:
    repos = server.services.repos
    plan = await repos.plans.get_plan(world.plan_id)
    assert plan is not None
    a = plan.municipality_id
    b = (await repos.municipalities.ensure("Bærum kommune 🌲")).id
    b_plan = await repos.plans.create_plan(b, "Individuell plan B", B_PERSON)
    berit = await repos.users.create("berit.aas@baerum.test", "Berit Ås i Bærum")
    await repos.plans.add_member(b_plan.id, berit.id, "koordinator")
    a_unit = await repos.municipalities.add_unit(a, A_UNIT)
    b_unit = await repos.municipalities.add_unit(b, B_UNIT)
    await repos.municipalities.set_plan_unit(world.plan_id, a_unit.id)
    await repos.municipalities.set_plan_unit(b_plan.id, b_unit.id)
    admins = {}
    for key, muni, email, name in (
        ("a", a, "aashild.ke@eksempelvik.test", "Åshild Kåsa"),
        ("b", b, "baard.ke@baerum.test", "Bård Ørnes"),
    ):
        user = await repos.users.create(email, name)
        await repos.users.set_password_hash(user.id, hash_password(PASSWORD))
        await repos.municipalities.add_admin(muni, user.id, granted_by=None)
        admins[key] = email
    return KeWorld(a, b, admins["a"], admins["b"], a_unit.id, b_unit.id, b_plan.id, berit.id)


def main_of(page: str) -> str:
    return page[page.index("<main") : page.index("</main>")]


def rows_of(body: bytes) -> list[list[str]]:
    text = body.decode("utf-8")
    assert text.startswith("\ufeff"), "a BOM, so Excel reads UTF-8"
    return list(csv.reader(io.StringIO(text[1:]), delimiter=";"))


async def _audit(server: LiveServer, action: str) -> list[AuditEntry]:
    await server.services.audit.flush()
    async with server.services.repos.sessionmaker() as session:
        return list(await session.scalars(select(AuditEntry).where(AuditEntry.action == action)))


async def test_two_municipalities_never_meet_on_any_ke_route(web: LiveServer, world: World) -> None:
    ke = await ke_world(web, world)
    b_routes = [f"/ke/{ke.b}", f"/ke/{ke.b}/overview.csv", f"/ke/{ke.b}/access"]
    async with signed_in(web.http, ke.a_admin) as http:
        home = await http.get("/ke")
        assert home.status_code == 303 and home.headers["location"] == f"/ke/{ke.a}"
        nowhere = await http.get("/ke/987654")
        assert nowhere.status_code == 404
        for path in b_routes:
            answer = await http.get(path)
            assert answer.status_code == 404, path
            # the same 404 as a municipality nobody has
            assert main_of(answer.text) == main_of(nowhere.text)
            assert B_PERSON not in answer.text and B_UNIT not in answer.text
        token = csrf_of((await http.get(f"/ke/{ke.a}")).text)
        posted = await http.post(
            f"/ke/{ke.b}/settings",
            data={"csrf_token": token, "in_use_days": "7", "revision_days": "30"},
        )
        assert posted.status_code == 404
        b_row = await web.services.repos.municipalities.get(ke.b)
        assert b_row is not None and (b_row.in_use_days, b_row.revision_days) == (90, 365)

        page = await http.get(f"/ke/{ke.a}")
        assert page.status_code == 200
        assert "Jonas Berg" in page.text and A_UNIT in page.text
        assert B_PERSON not in page.text and B_UNIT not in page.text
        assert "Berit Ås i Bærum" not in page.text  # B's koordinator is not in A's filter
        assert "2 planer" in page.text  # the world's two plans, not B's
        exported = await http.get(f"/ke/{ke.a}/overview.csv")
        assert exported.status_code == 200
        rows = rows_of(exported.content)
        assert len(rows) == 3 and {r[1] for r in rows[1:]} == {"Jonas Berg", "Åse Ødegård"}
        assert B_PERSON not in exported.text
        # B's unit and koordinator used as A's filter: unknown here, as a made-up id
        for params in ({"unit": str(ke.b_unit)}, {"coordinator": str(ke.b_koordinator)}):
            filtered = await http.get(f"/ke/{ke.a}", params=params)
            assert filtered.status_code == 400 and B_PERSON not in filtered.text
            assert B_UNIT not in filtered.text
            as_csv = await http.get(f"/ke/{ke.a}/overview.csv", params=params)
            assert as_csv.status_code == 400 and B_PERSON not in as_csv.text
        log = await http.get(f"/ke/{ke.a}/access", params={"plan": ke.b_plan})
        assert log.status_code == 200 and B_PERSON not in log.text

    async with signed_in(web.http, ke.b_admin) as http:
        page = await http.get(f"/ke/{ke.b}")
        assert page.status_code == 200 and B_PERSON in page.text and "Jonas Berg" not in page.text
        for path in (f"/ke/{ke.a}", f"/ke/{ke.a}/overview.csv", f"/ke/{ke.a}/access"):
            assert (await http.get(path)).status_code == 404, path

    views = await _audit(web, "ke_overview_view")
    exports = await _audit(web, "ke_overview_export")
    logs = await _audit(web, "ke_log_view")
    assert views and exports and logs
    assert all(
        e.role == "ke_admin" and json.loads(e.details)["municipality_id"] in (ke.a, ke.b)
        for e in views + exports + logs
    )
    assert {json.loads(e.details)["plans"] for e in exports} >= {2}


async def test_someone_who_administers_no_ke_gets_403_and_a_log_row(
    web: LiveServer, world: World
) -> None:
    ke = await ke_world(web, world)
    paths = ["/ke", f"/ke/{ke.a}", f"/ke/{ke.a}/overview.csv", f"/ke/{ke.a}/access", "/ke/x"]
    async with signed_in(web.http, ROLE_USERS["koordinator"][0]) as http:
        for path in paths:
            answer = await http.get(path)
            assert answer.status_code == 403, path
            assert "koordinerende enhet" in answer.text and "Jonas Berg" not in answer.text
        token = csrf_of((await http.get("/plans")).text)
        posted = await http.post(
            f"/ke/{ke.a}/settings", data={"csrf_token": token, "in_use_days": "1"}
        )
        assert posted.status_code == 403
    refused = await _audit(web, "ke_refused")
    koordinator = world.users["koordinator"]
    seen = [json.loads(e.details)["path"] for e in refused if e.actor_user_id == koordinator]
    assert seen == [*paths, f"/ke/{ke.a}/settings"]
    async with httpx.AsyncClient(base_url=web.http) as anonymous:
        assert (await anonymous.get(f"/ke/{ke.a}")).status_code == 303  # to the log-in page


async def test_malformed_parameters_are_a_clear_400_and_an_empty_filter_an_empty_csv(
    web: LiveServer, world: World
) -> None:
    ke = await ke_world(web, world)
    bad = [
        {"sort": "title"},
        {"sort": "person';--"},
        {"dir": "up"},
        {"page": "0"},
        {"page": "-1"},
        {"page": "ett"},
        {"page": "99999999999999999999"},
        {"status": "slettet"},
        {"indicator": "coordinator.kanskje"},
        {"unit": "skole"},
        {"coordinator": "1 OR 1=1"},
        {"unit": "٣"},  # a digit, but not an ASCII one
    ]
    async with signed_in(web.http, ke.a_admin) as http:
        for params in bad:
            page = await http.get(f"/ke/{ke.a}", params=params)
            assert page.status_code == 400, params
            assert 'role="alert"' in page.text and 'data-testid="ke-table"' not in page.text
            name = next(iter(params))
            assert f'id="ke-error-{name}"' in page.text, params
            assert (await http.get(f"/ke/{ke.a}/overview.csv", params=params)).status_code == 400
        # A page past the end is no error: the last page is shown.
        assert (await http.get(f"/ke/{ke.a}", params={"page": "40"})).status_code == 200
        for params in (
            {"from": "31.02.2026"},
            {"to": "i går"},
            {"plan": "ikke-en-id ✗"},
            {"person": "Åse"},
            {"page": "0"},
            {"from": "02.03.2026", "to": "01.03.2026"},
        ):
            assert (await http.get(f"/ke/{ke.a}/access", params=params)).status_code == 400

        nothing = {"status": "closed", "indicator": "coordinator.no"}
        page = await http.get(f"/ke/{ke.a}", params=nothing)
        assert page.status_code == 200 and "0 planer" in page.text
        assert 'data-testid="ke-empty"' in page.text
        empty = await http.get(f"/ke/{ke.a}/overview.csv", params=nothing)
        assert empty.status_code == 200
        assert empty.headers["content-type"].startswith("text/csv")
        header = rows_of(empty.content)
        assert len(header) == 1 and header[0][:2] == ["Plan-ID", "Planen gjelder"]
        assert empty.content.endswith(b"\r\n")
    exports = await _audit(web, "ke_overview_export")
    assert any(json.loads(e.details)["plans"] == 0 for e in exports)


async def test_the_overview_shows_facts_and_never_a_word_of_the_plan(
    web: LiveServer, world: World
) -> None:
    ke = await ke_world(web, world)
    plans = web.services.repos.plans
    secret = await plans.create_plan(ke.a, SECRET_TITLE, "Åse Ødegård-Ås")
    await plans.add_member(secret.id, world.users["koordinator"], "koordinator")
    await plans.add_zone(secret.id, "area", "helse", f"Helse {SECRET_WORDS}", 0)
    token = issue_plan_token(web.services.secret_key, world.users["koordinator"], secret.id, 600)
    async with connected(web.ws_url(f"plan/{secret.id}/area/helse", token)) as client:
        with client.doc.transaction():
            append_item(
                client.doc.get("measures", type=Array),
                {"title": f"Tiltak {SECRET_WORDS}", "end": "2020-01-01", "status": "pagar"},
            )
            append_item(
                client.doc.get("evaluations", type=Array),
                {"date": "2020-01-02", "worked": f"Evaluering {SECRET_WORDS}"},
            )
        live = web.services.registry.rooms
        zone = await plans.get_zone(secret.id, "area", "helse")
        assert zone is not None
        await client.wait_for(
            lambda: zone.id in live and len(live[zone.id].doc.get("measures", type=Array)) == 1
        )
    async with connected(web.ws_url(f"plan/{secret.id}/content", token)) as client:
        with client.doc.transaction():
            client.doc.get("meta", type=Map)["nextRevision"] = "2020-02-01"
            append_item(
                client.doc.get("collaboration", type=Array),
                {"name": f"Samarbeid {SECRET_WORDS}", "purpose": SECRET_WORDS},
            )
        content = await plans.get_zone(secret.id, "content", "")
        assert content is not None
        await client.wait_for(
            lambda: (
                content.id in live
                and live[content.id].doc.get("meta", type=Map).get("nextRevision") == "2020-02-01"
            )
        )
    # Wait until both rooms are unloaded and their summaries stored.
    for _ in range(200):
        await asyncio.sleep(0.1)
        if not web.services.registry.rooms:
            break
    await web.services.summaries.flush()

    async with signed_in(web.http, ke.a_admin) as http:
        page = await http.get(f"/ke/{ke.a}", params={"indicator": "overdue.no"})
        exported = await http.get(f"/ke/{ke.a}/overview.csv", params={"indicator": "overdue.no"})
    assert page.status_code == 200 and exported.status_code == 200
    for text in (page.text, exported.content.decode("utf-8")):
        assert "Åse Ødegård-Ås" in text  # the person's name: an SQL fact
        for word in (
            "Hemmelig",
            "🦄",
            "Ærlig øl",
            "hjerneslag",
            "🧠",
            "Tiltak",
            "Evaluering",
            "Samarbeid",
        ):
            assert word not in text, word
    rows = rows_of(exported.content)
    assert len(rows) == 2  # only the plan with an overdue measure
    row = dict(zip(rows[0], rows[1], strict=True))
    assert row["Plan-ID"] == secret.id
    assert row["Forfalte tiltak"] == "1"
    assert row["Neste revisjon"] == "01.02.2020 (forfalt)"
    assert row["Koordinator"] == "Kari Nilsen"
    assert row["Evaluert (siste evaluering)"] == "Nei (02.01.2020)"


async def test_the_log_control_flags_what_looks_unusual(web: LiveServer, world: World) -> None:
    ke = await ke_world(web, world)
    repos = web.services.repos
    now = datetime.now(UTC).replace(microsecond=0)
    noon = now.replace(hour=11, minute=0, second=0)  # 12:00 or 13:00 in Oslo: day time
    if noon > now:
        noon -= timedelta(days=1)
    night = noon.replace(hour=23, minute=30) - timedelta(days=1)  # 00:30 or 01:30 in Oslo
    extra = [await repos.plans.create_plan(ke.a, f"Plan {i}", f"Person {i} Ærø") for i in range(10)]
    kari, leser = world.users["koordinator"], world.users["leser"]
    outsider = world.users["outsider"]
    events = [
        # the koordinator in her own plan by day: nothing to flag
        AuditEvent("plan_view", kari, "koordinator", world.plan_id, at=noon),
        # the leser by night, with no meeting or measure: unexplained and at night
        AuditEvent("plan_view", leser, "leser", world.plan_id, at=night),
        # the outsider opens eleven plans she has no role in within 20 minutes
        *(
            AuditEvent("print", outsider, None, p.id, at=noon - timedelta(minutes=20 - i))
            for i, p in enumerate([*extra, await repos.plans.get_plan(world.plan_id)])
            if p is not None
        ),
        # B's plan: never on A's log
        AuditEvent("plan_view", ke.b_koordinator, "koordinator", ke.b_plan, at=night),
    ]
    await repos.audit.append_many(events)
    async with signed_in(web.http, ke.a_admin) as http:
        page = await http.get(f"/ke/{ke.a}/access")
        assert page.status_code == 200
        assert B_PERSON not in page.text and "Berit Ås i Bærum" not in page.text
        assert "13 åpninger" in page.text
        flagged = await http.get(f"/ke/{ke.a}/access", params={"flagged": "1"})
        assert "12 åpninger" in flagged.text
        just_leser = await http.get(
            f"/ke/{ke.a}/access", params={"person": str(leser), "flagged": "1"}
        )
        body = just_leser.text
        assert "1 åpninger" in body
        assert 'data-flags="unexplained night"' in body
        by_plan = await http.get(f"/ke/{ke.a}/access", params={"plan": extra[0].id[:8]})
        assert 'data-flags="unexplained burst"' in by_plan.text
        assert "1 åpninger" in by_plan.text
        earlier = await http.get(
            f"/ke/{ke.a}/access",
            params={"from": "01.01.2020", "to": "31.12.2020"},
        )
        assert "0 åpninger" in earlier.text
    for word in ("Plan 0", "Plan 1"):
        assert word not in page.text  # plan titles are not shown, the person is
    assert "Person 0 Ærø" in page.text


async def test_an_administrator_of_two_municipalities_chooses_on_ke(
    web: LiveServer, world: World
) -> None:
    ke = await ke_world(web, world)
    repos = web.services.repos
    both = await repos.users.get_by_email(ke.a_admin)
    assert both is not None
    await repos.municipalities.add_admin(ke.b, both.id, granted_by=None)
    async with signed_in(web.http, ke.a_admin) as http:
        home = await http.get("/ke")
        assert home.status_code == 200
        assert f'href="/ke/{ke.a}"' in home.text and f'href="/ke/{ke.b}"' in home.text
        assert "Bærum kommune 🌲" in home.text
        assert (await http.get(f"/ke/{ke.b}")).status_code == 200  # now B's admin too
