"""The KE's administration over a real server with plain HTTP clients (issue 14): two
municipalities, Eksempelvik (A, the world's plans) and Bærum (B), each with its own KE
administrator, unit, coordinator and plan.

Every route under /ke/{municipality_id}/ is tried by A's administrator against B (404,
nothing changed), by a non-KE user who coordinates a plan in A (403, an access-log row each,
nothing changed) and without a form token (403, nothing changed); then each bad input the
issue names, appointing and starting a plan, "Ny plan" for the KE's coordinators, and purge
keeping each municipality's own retention period."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import httpx
import pytest

from server.core.clock import today_oslo
from server.plans.lifecycle import purge
from storage.models import utcnow
from storage.repositories.templates import TemplateInput
from tests.support.database import rows as database_rows
from tests.support.live import LiveServer
from tests.support.passwords import hash_password
from tests.support.web import PASSWORD, csrf_of, signed_in
from tests.support.world import ROLE_USERS, World

pytestmark = pytest.mark.both_databases

KARI = ROLE_USERS["koordinator"][0]  # koordinator of the world's plan in A, no KE role
PER = ROLE_USERS["leser"][0]


@dataclass
class Two:
    a: int
    b: int
    anne: int  # KE administrator of A
    bjorn: int  # KE administrator of B
    siri: int  # on A's list of coordinators
    tove: int  # on B's list, koordinator of plan_b
    unit_a: int
    unit_b: int
    plan_b: str
    template_a: int = 0
    template_b: int = 0


PEOPLE = {
    "anne": ("anne.ke@eksempelvik.test", "Anne Ødegård"),
    "bjorn": ("bjorn.ke@baerum.test", "Bjørn Ærø 🌲"),
    "siri": ("siri.aas@eksempelvik.test", "Siri Åsheim"),
    "tove": ("tove.bo@baerum.test", "Tove Bø ✨"),
}


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
    b = (await repos.municipalities.ensure("Bærum kommune 🌲")).id
    await repos.municipalities.add_admin(a, ids["anne"], granted_by=None)
    await repos.municipalities.add_admin(b, ids["bjorn"], granted_by=None)
    unit_a = await repos.municipalities.add_unit(a, "Skole 🎒 Åsen")
    unit_b = await repos.municipalities.add_unit(b, "NAV Bærum ✨")
    await repos.coordinators.put(a, ids["siri"], unit_a.id, added_by=None)
    await repos.coordinators.put(b, ids["tove"], unit_b.id, added_by=None)
    plan_b = await repos.plans.create_plan(b, "Individuell plan – Øystein Ås", "Øystein Ås")
    await repos.plans.add_member(plan_b.id, ids["tove"], "koordinator")
    await repos.municipalities.set_plan_unit(plan_b.id, unit_b.id)
    template = TemplateInput("Mal for barn 🧒", "", "", "", [("Skole og læring 🎒", "", ())])
    template_a = await repos.templates.save(a, None, template)
    template_b = await repos.templates.save(b, None, template)
    return Two(
        a,
        b,
        ids["anne"],
        ids["bjorn"],
        ids["siri"],
        ids["tove"],
        unit_a.id,
        unit_b.id,
        plan_b.id,
        template_a,
        template_b,
    )


def _rows(server: LiveServer, sql: str, *args: object) -> list[tuple[Any, ...]]:
    return database_rows(server, sql, args)


def _state(server: LiveServer) -> dict[str, list[tuple[Any, ...]]]:
    """Everything a KE route may change, to compare before and after a refusal."""
    queries = {
        "admins": "SELECT municipality_id, user_id FROM municipality_admins ORDER BY 1, 2",
        "units": "SELECT id, municipality_id, name FROM units ORDER BY id",
        "coordinators": "SELECT municipality_id, user_id, unit_id FROM municipality_coordinators"
        " ORDER BY 1, 2",
        "plans": "SELECT id, municipality_id, unit_id, access_version FROM plans ORDER BY id",
        "members": "SELECT plan_id, user_id, role FROM memberships ORDER BY 1, 2",
        "retention": "SELECT id, retention_days FROM municipalities ORDER BY id",
        "notifications": "SELECT user_id, kind FROM notifications ORDER BY id",
        "templates": "SELECT id, municipality_id, name, position, about_me FROM plan_templates"
        " ORDER BY id",
        "template_areas": "SELECT template_id, position, name, hint, subheadings"
        " FROM plan_template_areas ORDER BY id",
        "statements": "SELECT municipality_id, kind, body FROM public_statements ORDER BY 1, 2",
    }
    return {name: _rows(server, sql) for name, sql in queries.items()}


async def _audit(server: LiveServer, action: str) -> list[tuple[Any, ...]]:
    await server.services.audit.flush()
    return _rows(
        server,
        "SELECT actor_user_id, role, plan_id, details FROM audit_log WHERE action = ? ORDER BY id",
        action,
    )


def _ddmm(days: int) -> str:
    return (today_oslo() + timedelta(days=days)).strftime("%d.%m.%Y")


def start_form(**overrides: str) -> dict[str, Any]:
    form: dict[str, Any] = {
        "person_name": "Åse Ødegård 🌻",
        "birth_date": "14.03.2009",
        "title": "",
        "period_start": _ddmm(0),
        "period_end": _ddmm(365),
        "next_revision": _ddmm(180),
        "area": ["2"],
        "area_title_2": "Skole og læring 🎒",
        "extra_areas": "",
        "guardian_name": "",
        "guardian_email": "",
    }
    form.update(overrides)
    return form


Route = tuple[str, str, dict[str, Any]]


TEMPLATE_FORM = {
    "name": "Ny mal 🧩 Ærlig",
    "rows": "1",
    "area_name_0": "Fritid og venner ⚽",
    "area_hint_0": "Hva liker du å gjøre?",
    "area_subs_0": "Aktiviteter\nVenner",
    "area_pos_0": "1",
}


# A move with the person's consent (server/ke/moves.py); `to` is a municipality of the
# installation (1: the world's own, refused for A's plans, and never reached for B's).
MOVE_FORM = {
    "to": "1",
    "giver": "planeier",
    "giver_name": "",
    "method": "written",
    "given_on": "01.12.2026",
    "confirm": "yes",
}


def routes(
    m: int, plan_id: str, unit_id: int, user_id: int, koordinator: int, template: int
) -> list[Route]:
    """Every route this capability adds, with a form that would change something."""
    base = f"/ke/{m}"
    statements = {"tilgjengelighet": "Vi følger WCAG 🌍", "personvern": "Åpent om alt 🔒"}
    return [
        ("GET", f"{base}/admins", {}),
        ("POST", f"{base}/admins", {"email": PER}),
        ("POST", f"{base}/admins/{user_id}/remove", {}),
        ("GET", f"{base}/units", {}),
        ("POST", f"{base}/units", {"name": "Helsestasjon Ødegård 🍼"}),
        ("POST", f"{base}/units/{unit_id}", {"name": "Nytt navn på enheten ✏️"}),
        ("POST", f"{base}/units/{unit_id}/delete", {}),
        ("GET", f"{base}/coordinators", {}),
        ("POST", f"{base}/coordinators", {"email": PER, "unit": str(unit_id)}),
        ("POST", f"{base}/coordinators/{koordinator}/remove", {}),
        ("GET", f"{base}/plans/new", {}),
        ("POST", f"{base}/plans/new", start_form(koordinator=str(koordinator))),
        ("GET", f"{base}/plans/{plan_id}/koordinator", {}),
        ("POST", f"{base}/plans/{plan_id}/koordinator", {"to": str(koordinator), "then": "leave"}),
        ("POST", f"{base}/plans/{plan_id}/unit", {"unit": ""}),
        ("GET", f"{base}/plans/{plan_id}/move", {}),
        ("POST", f"{base}/plans/{plan_id}/move", MOVE_FORM),
        ("GET", f"{base}/moves", {}),
        ("GET", f"{base}/retention", {}),
        ("POST", f"{base}/retention", {"days": "7"}),
        ("GET", f"{base}/templates", {}),
        ("POST", f"{base}/templates", TEMPLATE_FORM),
        ("GET", f"{base}/templates/new", {}),
        ("GET", f"{base}/templates/{template}", {}),
        ("POST", f"{base}/templates/{template}", TEMPLATE_FORM),
        ("POST", f"{base}/templates/{template}/delete", {}),
        ("POST", f"{base}/templates/{template}/move", {"direction": "down"}),
        ("GET", f"{base}/statements", {}),
        ("POST", f"{base}/statements", statements),
    ]


def test_every_route_is_in_the_list() -> None:
    """The table above is the app's KE administration routes, no more and no fewer."""
    from server.ke.routes import admin_routes

    def pattern(path: str) -> str:
        return (
            path.replace("/ke/11", "/ke/{municipality_id}")
            .replace("/plans/PLAN/", "/plans/{plan_id}/")
            .replace("/units/22", "/units/{unit_id:id}")
            .replace("/admins/33/", "/admins/{user_id:id}/")
            .replace("/coordinators/44/", "/coordinators/{user_id:id}/")
            .replace("/templates/55", "/templates/{template_id:id}")
        )

    listed = {(method, pattern(path)) for method, path, _ in routes(11, "PLAN", 22, 33, 44, 55)}
    mounted = {
        (method, route.path)
        for route in admin_routes()
        for method in (route.methods or set()) - {"HEAD"}
    }
    assert listed == mounted


async def _send(
    http: httpx.AsyncClient, method: str, path: str, data: dict[str, Any], token: bool = True
) -> httpx.Response:
    if method == "GET":
        return await http.get(path)
    body = dict(data)
    if token:
        body["csrf_token"] = csrf_of((await http.get("/plans")).text)
    return await http.post(path, data=body)


async def test_a_ke_admin_of_a_reaches_nothing_of_b(
    web: LiveServer, world: World, two: Two
) -> None:
    before = _state(web)
    async with (
        signed_in(web.http, PEOPLE["anne"][0]) as anne,
        signed_in(web.http, PEOPLE["bjorn"][0]) as bjorn,
    ):
        # B's own administrator opens B's pages: the routes are there.
        for method, path, _data in routes(
            two.b, two.plan_b, two.unit_b, two.bjorn, two.tove, two.template_b
        ):
            if method == "GET":
                assert (await bjorn.get(path)).status_code == 200, path
        # A's administrator: B's municipality, B's objects under A, and B's unit on A's plan.
        crafted = [
            *routes(two.b, two.plan_b, two.unit_b, two.bjorn, two.tove, two.template_b),
            ("POST", f"/ke/{two.a}/units/{two.unit_b}", {"name": "Stjålet 🕵️"}),
            ("POST", f"/ke/{two.a}/units/{two.unit_b}/delete", {}),
            ("GET", f"/ke/{two.a}/plans/{two.plan_b}/koordinator", {}),
            ("POST", f"/ke/{two.a}/plans/{two.plan_b}/koordinator", {"to": str(two.siri)}),
            ("POST", f"/ke/{two.a}/plans/{two.plan_b}/unit", {"unit": str(two.unit_a)}),
            ("POST", f"/ke/{two.a}/plans/{world.plan_id}/unit", {"unit": str(two.unit_b)}),
            ("GET", "/ke/999999/admins", {}),
            ("GET", "/ke/abc/units", {}),
            ("GET", f"/ke/{two.a}/templates/{two.template_b}", {}),
            ("POST", f"/ke/{two.a}/templates/{two.template_b}", TEMPLATE_FORM),
            ("POST", f"/ke/{two.a}/templates/{two.template_b}/delete", {}),
            ("POST", f"/ke/{two.a}/templates/{two.template_b}/move", {"direction": "up"}),
            ("GET", f"/ke/{two.a}/plans/new?mal={two.template_b}", {}),
            (
                "POST",
                f"/ke/{two.a}/plans/new",
                start_form(koordinator=str(two.siri), template=str(two.template_b)),
            ),
        ]
        for method, path, data in crafted:
            response = await _send(anne, method, path, data)
            assert response.status_code == 404, (method, path, response.status_code)
            assert "Bærum" not in response.text and "Øystein" not in response.text
            assert "NAV Bærum" not in response.text and "Tove" not in response.text
        # Nor does B's coordinator or unit count as A's.
        bad = await _send(
            anne, "POST", f"/ke/{two.a}/plans/new", start_form(koordinator=str(two.tove))
        )
        assert bad.status_code == 400 and "Tove" not in bad.text
        bad = await _send(
            anne,
            "POST",
            f"/ke/{two.a}/plans/new",
            start_form(koordinator=str(two.siri), unit=str(two.unit_b)),
        )
        assert bad.status_code == 400 and "NAV Bærum" not in bad.text
        bad = await _send(
            anne, "POST", f"/ke/{two.a}/coordinators", {"email": PER, "unit": str(two.unit_b)}
        )
        assert bad.status_code == 400 and "NAV Bærum" not in bad.text
        appoint = f"/ke/{two.a}/plans/{world.plan_id}/koordinator"
        bad = await _send(anne, "POST", appoint, {"to": str(two.tove), "then": "deltaker"})
        assert bad.status_code == 400
    assert _state(web) == before


async def test_a_non_ke_user_is_refused_everywhere_with_an_access_log_row(
    web: LiveServer, world: World, two: Two
) -> None:
    before = _state(web)
    crafted = [
        *routes(two.a, world.plan_id, two.unit_a, two.anne, two.siri, two.template_a),
        *routes(two.b, two.plan_b, two.unit_b, two.bjorn, two.tove, two.template_b),
    ]
    async with signed_in(web.http, KARI) as kari:
        for method, path, data in crafted:
            response = await _send(kari, method, path, data)
            assert response.status_code == 403, (method, path, response.status_code)
            assert "koordinerende enhet" in response.text
    refused = await _audit(web, "ke_refused")
    assert len(refused) == len(crafted)
    assert {(actor, role, plan) for actor, role, plan, _ in refused} == {
        (world.users["koordinator"], None, None)
    }
    assert [json.loads(d)["path"] for *_, d in refused] == [path for _, path, _ in crafted]
    assert _state(web) == before
    # Not signed in: the log-in page, and nothing changed either.
    async with httpx.AsyncClient(base_url=web.http) as nobody:
        for method, path, data in crafted[:6]:
            response = await _send(nobody, method, path, data, token=False)
            assert response.status_code == 303 and "/login" in response.headers["location"]
    assert _state(web) == before


async def test_every_form_needs_its_token(web: LiveServer, world: World, two: Two) -> None:
    before = _state(web)
    async with signed_in(web.http, PEOPLE["anne"][0]) as anne:
        for method, path, data in routes(
            two.a, world.plan_id, two.unit_a, two.anne, two.siri, two.template_a
        ):
            if method == "POST":
                response = await _send(anne, method, path, data, token=False)
                assert response.status_code == 403, path
                assert "utløpt" in response.text
    assert _state(web) == before


async def test_administrators_add_each_other_but_never_remove_the_last(
    web: LiveServer, world: World, two: Two
) -> None:
    admins = f"/ke/{two.a}/admins"
    async with signed_in(web.http, PEOPLE["anne"][0]) as anne:
        page = await anne.get(admins)
        assert page.status_code == 200 and "Anne Ødegård" in page.text
        assert 'data-testid="ke-nav"' in page.text and 'aria-current="page"' in page.text
        before = _state(web)
        alone = await _send(anne, "POST", f"{admins}/{two.anne}/remove", {})
        assert alone.status_code == 409 and "siste administratoren" in alone.text
        assert 'role="alert"' in alone.text
        unknown = await _send(anne, "POST", admins, {"email": "ingen.æøå@eksempelvik.test"})
        assert unknown.status_code == 400 and "ingen aktiv konto" in unknown.text
        assert _state(web) == before

        added = await _send(anne, "POST", admins, {"email": PER.upper()})
        assert added.status_code == 303
        assert await web.services.repos.municipalities.administers(world.users["leser"], two.a)
        again = await _send(anne, "POST", admins, {"email": PER})
        assert again.status_code == 409 and "allerede administrator" in again.text
        gone = await _send(anne, "POST", f"{admins}/{world.users['leser']}/remove", {})
        assert gone.status_code == 303
        assert not await web.services.repos.municipalities.administers(world.users["leser"], two.a)
    async with signed_in(web.http, PER) as per:  # no longer a KE administrator anywhere
        assert (await per.get(admins)).status_code == 403
    rows = [(a, role, json.loads(d)) for a, role, _p, d in await _audit(web, "ke_admin_add")] + [
        (a, role, json.loads(d)) for a, role, _p, d in await _audit(web, "ke_admin_remove")
    ]
    assert rows == [
        (two.anne, "ke_admin", {"municipality_id": two.a, "user_id": world.users["leser"]}),
        (two.anne, "ke_admin", {"municipality_id": two.a, "user_id": world.users["leser"]}),
    ]
    assert [json.loads(d)["page"] for *_, d in await _audit(web, "ke_view")] == ["admins"]


async def test_units_empty_or_twice_are_refused_and_one_in_use_stays(
    web: LiveServer, world: World, two: Two
) -> None:
    units = f"/ke/{two.a}/units"
    async with signed_in(web.http, PEOPLE["anne"][0]) as anne:
        before = _state(web)
        for name in ("", "   ", "x" * 201):
            empty = await _send(anne, "POST", units, {"name": name})
            assert empty.status_code == 400 and "Skriv et navn" in empty.text
        twice = await _send(anne, "POST", units, {"name": "  skole 🎒   ÅSEN "})
        assert twice.status_code == 409 and "allerede en enhet" in twice.text
        assert _state(web) == before

        assert (
            await _send(anne, "POST", units, {"name": "Helsestasjon Ødegård 🍼"})
        ).status_code == 303
        helse = next(
            u for u in await web.services.repos.municipalities.units(two.a) if "Helse" in u.name
        )
        before = _state(web)
        clash = await _send(anne, "POST", f"{units}/{helse.id}", {"name": "Skole 🎒 Åsen"})
        assert clash.status_code == 409 and "allerede en enhet" in clash.text
        blank = await _send(anne, "POST", f"{units}/{helse.id}", {"name": " "})
        assert blank.status_code == 400
        assert _state(web) == before
        renamed = await _send(anne, "POST", f"{units}/{helse.id}", {"name": "Helsestasjonen på Ås"})
        assert renamed.status_code == 303
        assert (await web.services.repos.municipalities.unit(two.a, helse.id)).name == (  # type: ignore[union-attr]
            "Helsestasjonen på Ås"
        )

        unit_page = f"/ke/{two.a}/plans/{world.plan_id}/unit"
        assert (await _send(anne, "POST", unit_page, {"unit": str(two.unit_a)})).status_code == 303
        before = _state(web)
        in_use = await _send(anne, "POST", f"{units}/{two.unit_a}/delete", {})
        assert in_use.status_code == 409 and "minst én plan" in in_use.text
        assert _state(web) == before
        assert (await _send(anne, "POST", f"{units}/{helse.id}/delete", {})).status_code == 303
        shown = await anne.get(units)
        assert "Helsestasjonen på Ås" not in shown.text and "1 planer" in shown.text
    plan = await web.services.plans.get_plan(world.plan_id)
    assert plan is not None and plan.unit_id == two.unit_a
    actions = {a for a in ("ke_unit_add", "ke_unit_rename", "ke_unit_delete", "ke_plan_unit")}
    for action in actions:
        rows = await _audit(web, action)
        assert len(rows) == 1 and rows[0][:2] == (two.anne, "ke_admin"), action
    assert (await _audit(web, "ke_plan_unit"))[0][2] == world.plan_id  # a row on the plan


async def test_the_ke_list_opens_ny_plan_in_its_municipality(
    web: LiveServer, world: World, two: Two
) -> None:
    async with signed_in(web.http, PER) as per:
        assert (await per.get("/plans/new")).status_code == 403  # on no list, not marked
    coordinators = f"/ke/{two.a}/coordinators"
    async with signed_in(web.http, PEOPLE["anne"][0]) as anne:
        unknown = await _send(anne, "POST", coordinators, {"email": "nobody@æøå.test"})
        assert unknown.status_code == 400
        added = await _send(anne, "POST", coordinators, {"email": PER, "unit": ""})
        assert added.status_code == 303
        listed = await anne.get(coordinators)
        assert "Per Lund" in listed.text and "Siri Åsheim" in listed.text
    async with signed_in(web.http, PER) as per:
        form = await per.get("/plans/new")
        assert form.status_code == 200 and "Siri Åsheim" in form.text  # a colleague on the list
        assert "Tove" not in form.text  # B's coordinators are not offered
        crafted = await _send(per, "POST", "/plans/new", start_form(koordinator=str(two.tove)))
        assert crafted.status_code == 400
        started = await _send(per, "POST", "/plans/new", start_form())
        assert started.status_code == 303
        plan_id = started.headers["location"].rsplit("/", 1)[1]
    assert await web.services.repos.municipalities.of_plan(plan_id) == two.a
    async with signed_in(web.http, PEOPLE["anne"][0]) as anne:
        gone = await _send(anne, "POST", f"{coordinators}/{world.users['leser']}/remove", {})
        assert gone.status_code == 303
        again = await _send(anne, "POST", f"{coordinators}/{world.users['leser']}/remove", {})
        assert again.status_code == 400
    async with signed_in(web.http, PER) as per:  # the koordinator of the plan he started
        assert (await per.get("/plans/new")).status_code == 200
    assert len(await _audit(web, "ke_coordinator_add")) == 1
    assert len(await _audit(web, "ke_coordinator_remove")) == 1


async def _notifications(server: LiveServer, plan_id: str) -> list[tuple[Any, ...]]:
    return _rows(
        server,
        "SELECT user_id, kind, link FROM notifications WHERE plan_id = ? ORDER BY user_id",
        plan_id,
    )


async def test_appointing_someone_not_on_the_list_changes_nothing(
    web: LiveServer, world: World, two: Two
) -> None:
    appoint = f"/ke/{two.a}/plans/{world.plan_id}/koordinator"
    async with signed_in(web.http, PEOPLE["anne"][0]) as anne:
        page = await anne.get(appoint)
        assert page.status_code == 200 and "Kari Nilsen" in page.text
        before = _state(web)
        for to in (str(world.users["leser"]), str(world.users["planeier"]), "", "9" * 12):
            refused = await _send(anne, "POST", appoint, {"to": to, "then": "deltaker"})
            assert refused.status_code == 400, to
            assert "står ikke på kommunens liste" in refused.text
        await web.services.repos.coordinators.put(
            two.a, world.users["planeier"], None, added_by=None
        )
        planeier = await _send(anne, "POST", appoint, {"to": str(world.users["planeier"])})
        assert planeier.status_code == 409
        choice = await _send(anne, "POST", appoint, {"to": str(two.siri), "then": "verge"})
        assert choice.status_code == 400
        await web.services.repos.coordinators.remove(two.a, world.users["planeier"])
        assert _state(web) == before
    assert await _audit(web, "koordinator_appoint") == []


async def test_the_ke_appoints_a_koordinator_and_everyone_concerned_is_told(
    web: LiveServer, world: World, two: Two
) -> None:
    appoint = f"/ke/{two.a}/plans/{world.plan_id}/koordinator"
    kari = world.users["koordinator"]
    async with signed_in(web.http, PEOPLE["anne"][0]) as anne:
        done = await _send(anne, "POST", appoint, {"to": str(two.siri), "then": "deltaker"})
        assert done.status_code == 303 and done.headers["location"].endswith("?done=appointed")
        page = await anne.get(done.headers["location"])
        assert "Siri Åsheim" in page.text and "Medlemmene av planen har fått beskjed" in page.text
        # The KE administrator is no member and opens no plan content.
        assert (await anne.get(f"/plans/{world.plan_id}")).status_code == 404
        assert "Skole og læring" not in page.text  # an area's title is content
    members = {m.user_id: m.role for m in await web.services.plans.list_members(world.plan_id)}
    assert members[two.siri] == "koordinator" and members[kari] == "deltaker"
    assert two.anne not in members
    [(actor, role, plan_id, details)] = await _audit(web, "koordinator_appoint")
    assert (actor, role, plan_id) == (two.anne, "ke_admin", world.plan_id)
    assert json.loads(details) == {
        "municipality_id": two.a,
        "from_user_id": kari,
        "to_user_id": two.siri,
        "old_role": "deltaker",
        "new_previous_role": None,
    }
    told = {uid: (kind, link) for uid, kind, link in await _notifications(web, world.plan_id)}
    plan_link = f"/plans/{world.plan_id}#plan-members"
    assert told[two.siri] == ("koordinator", plan_link)
    # Kari (a deltaker now, with no consent to see the plan) is told too, pointed to Mine planer.
    assert told[kari] == ("koordinator", "/plans")
    assert told[world.users["planeier"]] == ("koordinator", plan_link)
    assert told[world.users["deltaker"]] == ("koordinator", plan_link)  # consented: may open
    assert two.anne not in told
    async with signed_in(web.http, PEOPLE["siri"][0]) as siri:
        mine = await siri.get("/plans")
        assert f'data-testid="plan-{world.plan_id}"' in mine.text

    # Back to Kari, and Siri leaves the plan.
    async with signed_in(web.http, PEOPLE["anne"][0]) as anne:
        await web.services.repos.coordinators.put(two.a, kari, None, added_by=None)
        back = await _send(anne, "POST", appoint, {"to": str(kari), "then": "leave"})
        assert back.status_code == 303
    members = {m.user_id: m.role for m in await web.services.plans.list_members(world.plan_id)}
    assert members[kari] == "koordinator" and two.siri not in members
    rows = await _audit(web, "koordinator_appoint")
    assert json.loads(rows[-1][3])["old_role"] == "left"
    siri_told = [n for n in await _notifications(web, world.plan_id) if n[0] == two.siri]
    assert [link for _u, _k, link in siri_told] == [
        f"/plans/{world.plan_id}#plan-members",
        "/plans",
    ]


async def test_the_ke_starts_a_plan_for_a_coordinator_and_gets_no_role_in_it(
    web: LiveServer, world: World, two: Two
) -> None:
    start = f"/ke/{two.a}/plans/new"
    count = len(_rows(web, "SELECT id FROM plans"))
    async with signed_in(web.http, PEOPLE["anne"][0]) as anne:
        form = await anne.get(start)
        assert (
            form.status_code == 200 and "Siri Åsheim" in form.text and "Skole 🎒 Åsen" in form.text
        )
        before = _state(web)
        for koordinator in ("", str(world.users["leser"]), str(two.anne)):
            refused = await _send(anne, "POST", start, start_form(koordinator=koordinator))
            assert refused.status_code == 400 and "står ikke på kommunens liste" in refused.text
        both = await _send(
            anne, "POST", start, start_form(koordinator="", person_name="", unit="123456")
        )
        assert both.status_code == 400
        assert {"start.error.personName", "ke.error.notCoordinator", "ke.error.unit"} <= set(
            re.findall(r'data-error="([^"]+)"', both.text)
        )
        assert _state(web) == before and len(_rows(web, "SELECT id FROM plans")) == count

        done = await _send(
            anne, "POST", start, start_form(koordinator=str(two.siri), unit=str(two.unit_a))
        )
        assert done.status_code == 303
        match = re.fullmatch(
            rf"/ke/{two.a}/plans/([0-9a-f-]{{36}})/koordinator\?done=started",
            done.headers["location"],
        )
        assert match
        plan_id = match.group(1)
        assert (await anne.get(f"/plans/{plan_id}")).status_code == 404
    plan = await web.services.plans.get_plan(plan_id)
    assert plan is not None and plan.draft and plan.municipality_id == two.a
    assert plan.unit_id == two.unit_a and plan.person_name == "Åse Ødegård 🌻"
    members = await web.services.plans.list_members(plan_id)
    assert [(m.user_id, m.role) for m in members] == [(two.siri, "koordinator")]
    [(actor, role, _p, details)] = [r for r in await _audit(web, "plan_create") if r[2] == plan_id]
    assert (actor, role) == (two.anne, "ke_admin") and json.loads(details)["draft"] is True
    assert await _notifications(web, plan_id) == [
        (two.siri, "koordinator", f"/plans/{plan_id}#plan-members")
    ]
    async with signed_in(web.http, PEOPLE["siri"][0]) as siri:
        assert f'data-testid="plan-{plan_id}"' in (await siri.get("/plans")).text
        assert (await siri.get(f"/plans/{plan_id}")).status_code == 200


async def test_retention_is_set_per_municipality_and_purge_keeps_to_it(
    web: LiveServer, world: World, two: Two
) -> None:
    async with (
        signed_in(web.http, PEOPLE["anne"][0]) as anne,
        signed_in(web.http, PEOPLE["bjorn"][0]) as bjorn,
    ):
        before = _state(web)
        for days in ("0", "-3", "abc", "36501", "1e3", "٣"):
            bad = await _send(anne, "POST", f"/ke/{two.a}/retention", {"days": days})
            assert bad.status_code == 400 and "fra 1 til 36500" in bad.text, days
        assert _state(web) == before
        assert (
            await _send(anne, "POST", f"/ke/{two.a}/retention", {"days": "30"})
        ).status_code == 303
        assert (
            await _send(bjorn, "POST", f"/ke/{two.b}/retention", {"days": "90"})
        ).status_code == 303
        shown = await anne.get(f"/ke/{two.a}/retention")
        assert "etter 30 dager" in shown.text
    assert await web.services.repos.municipalities.retention() == {two.a: 30, two.b: 90}
    [(_a, _r, _p, details)] = [r for r in await _audit(web, "ke_retention_set") if r[0] == two.anne]
    assert json.loads(details) == {"municipality_id": two.a, "from_days": None, "to_days": 30}

    repos = web.services.repos
    c = await repos.municipalities.ensure("Åsnes kommune")  # no period of its own: the default
    plan_c = await repos.plans.create_plan(c.id, "Plan for Ørjan", "Ørjan Ås")
    now = utcnow()
    forty_days_ago = now - timedelta(days=40)
    for plan_id in (world.other_plan_id, two.plan_b, plan_c.id):
        await repos.plans.set_plan_status(plan_id, "closed", at=forty_days_ago)
    assert web.settings.retention_days == 365
    dry = await purge(repos, web.settings.retention_days, dry_run=True, now=now)
    assert [(i.plan_id, i.retention_days) for i in dry] == [(world.other_plan_id, 30)]
    done = await purge(repos, web.settings.retention_days, dry_run=False, now=now)
    assert [i.plan_id for i in done if i.rows is not None] == [world.other_plan_id]
    assert await web.services.plans.get_plan(world.other_plan_id) is None
    assert await web.services.plans.get_plan(two.plan_b) is not None  # Bærum keeps 90 days
    assert await web.services.plans.get_plan(plan_c.id) is not None  # the default: 365
    later = now + timedelta(days=51)  # 91 days after closing
    done = await purge(repos, web.settings.retention_days, dry_run=False, now=later)
    assert [(i.plan_id, i.retention_days) for i in done] == [(two.plan_b, 90)]
    deleted = _rows(
        web, "SELECT plan_id, details FROM audit_log WHERE action = 'plan_delete' ORDER BY id"
    )
    assert [
        (p, json.loads(d)["retention_days"], json.loads(d)["retention_source"]) for p, d in deleted
    ] == [
        (world.other_plan_id, 30, "municipality"),
        (two.plan_b, 90, "municipality"),
    ]
    assert await web.services.plans.get_plan(plan_c.id) is not None


async def test_a_coordinator_on_two_lists_chooses_the_municipality(
    web: LiveServer, world: World, two: Two
) -> None:
    await web.services.repos.coordinators.put(two.b, two.siri, None, added_by=None)
    known = {plan for (plan,) in _rows(web, "SELECT id FROM plans")}
    count = len(known)
    async with signed_in(web.http, PEOPLE["siri"][0]) as siri:
        form = await siri.get("/plans/new")
        assert 'data-testid="start-municipality"' in form.text and "Bærum kommune 🌲" in form.text
        unchosen = await _send(siri, "POST", "/plans/new", start_form())
        assert unchosen.status_code == 400
        assert "start.error.municipality" in unchosen.text
        # Tove is on B's list, not A's: a plan in A cannot be hers.
        crossed = await _send(
            siri,
            "POST",
            "/plans/new",
            start_form(municipality=str(two.a), koordinator=str(two.tove)),
        )
        assert crossed.status_code == 400 and "start.error.koordinator" in crossed.text
        assert len(_rows(web, "SELECT id FROM plans")) == count
        started = await _send(
            siri,
            "POST",
            "/plans/new",
            start_form(municipality=str(two.b), koordinator=str(two.tove)),
        )
        assert started.status_code == 303 and started.headers["location"] == "/plans?started=1"
    [(plan_id, municipality)] = [  # the one new plan (no rowid on PostgreSQL to sort by)
        row for row in _rows(web, "SELECT id, municipality_id FROM plans") if row[0] not in known
    ]
    assert municipality == two.b
    members = await web.services.plans.list_members(plan_id)
    assert [(m.user_id, m.role) for m in members] == [(two.tove, "koordinator")]
