"""Starting a plan from the browser (issue 12), end to end on a real server: the "Ny plan"
form, the draft only its koordinator (and planeier/verge) sees, the consent to the plan being
made, who may start plans (`samplan user mark-coordinator`), and life areas added, renamed,
moved and retired, with their audit rows, export and print."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from pycrdt import Array, Doc, Map

from crdt.client import YClient
from server.core.clock import today_oslo
from server.services import Repositories
from server.settings import Settings
from tests.support.clients import connected
from tests.support.database import rows as database_rows
from tests.support.live import LiveServer
from tests.support.passwords import hash_password
from tests.support.web import PASSWORD, csrf_of, signed_in
from tests.support.world import ROLE_USERS, World, build_world

pytestmark = pytest.mark.both_databases

PERSON = "Åse Ødegård"
AREA_ONE = "Skole og læring 🎒"
AREA_TWO = "Venner, fritid og æøå 🌈"


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


def _rows(server: LiveServer, sql: str, *args: object) -> list[tuple[Any, ...]]:
    return database_rows(server, sql, args)


async def _audit(server: LiveServer, action: str, plan_id: str) -> list[dict[str, Any]]:
    await server.services.audit.flush()
    rows = _rows(
        server,
        "SELECT details FROM audit_log WHERE action = ? AND plan_id = ? ORDER BY id",
        action,
        plan_id,
    )
    return [json.loads(details) for (details,) in rows]


def _born_years_ago(years: int) -> date:
    today = today_oslo()
    try:
        return today.replace(year=today.year - years) - timedelta(days=30)
    except ValueError:  # 29 February
        return date(today.year - years, 2, 28)


def _ddmm(value: date) -> str:
    return value.strftime("%d.%m.%Y")


def _start_form(**overrides: str) -> dict[str, Any]:
    today = today_oslo()
    form: dict[str, Any] = {
        "person_name": PERSON,
        "birth_date": _ddmm(_born_years_ago(17)),
        "title": "",
        "period_start": _ddmm(today),
        "period_end": _ddmm(today + timedelta(days=365)),
        "next_revision": _ddmm(today + timedelta(days=180)),
        "area": ["2"],
        "area_title_2": AREA_ONE,
        "extra_areas": AREA_TWO,
        "guardian_name": "",
        "guardian_email": "",
    }
    form.update(overrides)
    return form


async def _post(http: httpx.AsyncClient, path: str, data: dict[str, Any]) -> httpx.Response:
    page = await http.get("/plans")
    return await http.post(path, data={"csrf_token": csrf_of(page.text), **data})


async def _start(http: httpx.AsyncClient, **overrides: str) -> str:
    response = await _post(http, "/plans/new", _start_form(**overrides))
    assert response.status_code == 303, response.text
    match = re.fullmatch(r"/plans/([0-9a-f-]{36})", response.headers["location"])
    assert match
    return match.group(1)


def _plan_count(server: LiveServer) -> int:
    return int(_rows(server, "SELECT count(*) FROM plans")[0][0])


async def test_kari_starts_a_draft_only_she_sees_until_the_consent_is_recorded(
    server: LiveServer, world: World
) -> None:
    async with (
        signed_in(server.http, ROLE_USERS["koordinator"][0]) as kari,
        signed_in(server.http, ROLE_USERS["deltaker"][0]) as ase,
    ):
        mine = await kari.get("/plans")
        assert 'data-testid="plan-new"' in mine.text and "Ny plan" in mine.text
        form = await kari.get("/plans/new")
        assert form.status_code == 200 and "<legend>" in form.text
        plan_id = await _start(kari)

        plan = await server.services.plans.get_plan(plan_id)
        assert plan is not None and plan.draft and plan.person_name == PERSON
        assert plan.title == f"Individuell plan – {PERSON}"
        zones = await server.services.plans.list_zones(plan_id)
        areas = [(z.key, z.title) for z in zones if z.kind == "area"]
        assert areas == [("skole-og-laering", AREA_ONE), ("venner-fritid-og-aeoa", AREA_TWO)]
        members = await server.services.plans.list_members(plan_id)
        assert [(m.user_id, m.role) for m in members] == [
            (world.users["koordinator"], "koordinator")
        ]
        # The period and revision date are in the content zone, written by Kari in the log.
        content = next(z for z in zones if z.kind == "content")
        rows = _rows(server, "SELECT user_id FROM zone_updates WHERE zone_id = ?", content.id)
        assert rows == [(world.users["koordinator"],)]
        stored = await server.services.repos.zone_log.load(content.id)
        doc: Doc[Any] = Doc()
        for _seq, update in stored.updates:
            doc.apply_update(update)
        meta = doc.get("meta", type=Map)
        assert meta["planPeriodStart"] == today_oslo().isoformat()
        assert meta["status"] == "utkast"
        assert await _audit(server, "plan_create", plan_id) == [
            {"areas": 2, "draft": True, "guardian_named": False, "birth_date_set": True}
        ]

        page = await kari.get(f"/plans/{plan_id}")
        assert page.status_code == 200 and 'data-testid="plan-draft"' in page.text
        assert AREA_ONE in page.text and AREA_TWO in page.text
        assert plan_id in (await kari.get("/plans")).text

        # Åse (a user here) is made a deltaker with consent to everything: still, while the
        # plan is a draft she sees nothing, on the page or on a socket.
        await server.services.plans.add_member(plan_id, world.users["deltaker"], "deltaker")
        await server.services.consents.give(plan_id, world.users["deltaker"], "all", None, None)
        assert (await ase.get(f"/plans/{plan_id}")).status_code == 404
        assert plan_id not in (await ase.get("/plans")).text
        client = YClient(server.ws_url(f"plan/{plan_id}/content", world.token("deltaker", plan_id)))
        await client.connect()
        try:
            assert await client.wait_closed() == 4403
        finally:
            await client.close()

        # Kari records Åse's oral consent (17: she gives it herself): the draft ends.
        done = await _post(
            kari,
            f"/plans/{plan_id}/plan-consent",
            {
                "status": "given",
                "giver": "planeier",
                "method": "oral",
                "given_on": _ddmm(today_oslo()),
            },
        )
        assert done.status_code == 303
        plan = await server.services.plans.get_plan(plan_id)
        assert plan is not None and not plan.draft
        rows = _rows(
            server,
            "SELECT status, giver, giver_name, method, recorded_by_user_id FROM plan_consents"
            " WHERE plan_id = ?",
            plan_id,
        )
        assert rows == [("given", "planeier", PERSON, "oral", world.users["koordinator"])]
        assert await _audit(server, "plan_consent_give", plan_id) == [
            {"giver": "planeier", "method": "oral", "rule": "from_16"}
        ]
        assert (await ase.get(f"/plans/{plan_id}")).status_code == 200
        meta = (await kari.get(f"/plans/{plan_id}/export.json")).json()["zones"]
        content_meta = next(z for z in meta if z["kind"] == "content")["content"]["meta"]
        assert content_meta["status"] == "aktiv"
        assert plan_id in (await ase.get("/plans")).text


async def test_a_person_under_16_cannot_be_the_consent_giver_and_a_refusal_keeps_the_draft(
    server: LiveServer, world: World
) -> None:
    async with signed_in(server.http, ROLE_USERS["koordinator"][0]) as kari:
        plan_id = await _start(
            kari,
            person_name="Lille Ødegård 🧒",
            birth_date=_ddmm(_born_years_ago(12)),
            guardian_name="Marit Ødegård",
            guardian_email="marit.odegard@eksempelvik.test",
        )
        plan = await server.services.plans.get_plan(plan_id)
        assert plan is not None and plan.guardian_name == "Marit Ødegård"
        answer = {"status": "given", "method": "written", "given_on": _ddmm(today_oslo())}
        refused = await _post(
            kari, f"/plans/{plan_id}/plan-consent", {**answer, "giver": "planeier"}
        )
        assert refused.status_code == 400
        assert 'role="alert"' in refused.text and "under 16 år" in refused.text
        assert _rows(server, "SELECT count(*) FROM plan_consents")[0][0] == 0
        plan = await server.services.plans.get_plan(plan_id)
        assert plan is not None and plan.draft

        # The guardian refuses (recorded by Kari): it stays a draft, the refusal is recorded.
        no = await _post(
            kari,
            f"/plans/{plan_id}/plan-consent",
            {**answer, "giver": "verge", "status": "refused"},
        )
        assert no.status_code == 303
        plan = await server.services.plans.get_plan(plan_id)
        assert plan is not None and plan.draft
        assert _rows(server, "SELECT status, giver_name FROM plan_consents") == [
            ("refused", "Marit Ødegård")
        ]
        # Later the guardian says yes: the plan leaves the draft.
        yes = await _post(kari, f"/plans/{plan_id}/plan-consent", {**answer, "giver": "verge"})
        assert yes.status_code == 303
        plan = await server.services.plans.get_plan(plan_id)
        assert plan is not None and not plan.draft
        page = await kari.get(f"/plans/{plan_id}")
        assert "Samtykke gitt" in page.text and "Samtykke nektet" in page.text


async def test_a_deltaker_crafting_koordinator_posts_is_refused_and_nothing_changes(
    server: LiveServer, world: World
) -> None:
    before = [
        (z.key, z.title, z.position) for z in await server.services.plans.list_zones(world.plan_id)
    ]
    async with signed_in(server.http, ROLE_USERS["deltaker"][0]) as ase:
        base = f"/plans/{world.plan_id}"
        for path, data in (
            (f"{base}/areas", {"title": "Snikområde 🕵️"}),
            (f"{base}/areas/skole", {"action": "rename", "title": "Kapret æøå"}),
            (f"{base}/areas/skole", {"action": "down"}),
            (f"{base}/areas/skole", {"action": "retire"}),
            (
                f"{base}/plan-consent",
                {
                    "status": "given",
                    "giver": "planeier",
                    "method": "oral",
                    "given_on": "01.01.2026",
                },
            ),
        ):
            response = await _post(ase, path, data)
            assert response.status_code == 403, (path, response.status_code)
            assert 'role="alert"' in response.text
        # Without a form token, the same POST is refused too.
        assert (await ase.post(f"{base}/areas", data={"title": "Uten token"})).status_code == 403
    after = [
        (z.key, z.title, z.position) for z in await server.services.plans.list_zones(world.plan_id)
    ]
    assert after == before
    assert _rows(server, "SELECT count(*) FROM plan_consents")[0][0] == 0
    # A deltaker of a draft does not even learn it exists.
    async with signed_in(server.http, ROLE_USERS["koordinator"][0]) as kari:
        draft_id = await _start(kari)
    await server.services.plans.add_member(draft_id, world.users["deltaker"], "deltaker")
    async with signed_in(server.http, ROLE_USERS["deltaker"][0]) as ase:
        crafted = await _post(ase, f"/plans/{draft_id}/areas", {"title": "Snik ✋"})
        assert crafted.status_code == 404
    assert (
        len([z for z in await server.services.plans.list_zones(draft_id) if z.kind == "area"]) == 2
    )


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("period_end", "01.01.2020", "kan ikke slutte før den starter"),
        ("birth_date", "01.01.2999", "kan ikke være fram i tid"),
        ("period_start", "", "dd.mm.åååå"),
        ("next_revision", "31.02.2027", "dd.mm.åååå"),
        ("person_name", "   ", "Skriv navnet"),
    ],
)
async def test_bad_input_is_refused_with_a_message_and_nothing_is_created(
    server: LiveServer, world: World, field: str, value: str, message: str
) -> None:
    plans = _plan_count(server)
    async with signed_in(server.http, ROLE_USERS["koordinator"][0]) as kari:
        response = await _post(kari, "/plans/new", _start_form(**{field: value}))
    assert response.status_code == 400
    assert 'role="alert"' in response.text and message in response.text
    assert f'data-testid="error-{field}"' in response.text
    assert AREA_TWO in response.text  # what was typed is kept
    assert _plan_count(server) == plans
    assert _rows(server, "SELECT count(*) FROM audit_log WHERE action = 'plan_create'")[0][0] == 0


def _samplan(server: LiveServer, *args: str) -> subprocess.CompletedProcess[str]:
    env = {
        **os.environ,
        "SAMPLAN_DATABASE_URL": server.settings.resolved_database_url(),
        "SAMPLAN_VAR_DIR": str(server.settings.var_dir),
        "SAMPLAN_SECRET_KEY": server.settings.resolved_secret_key(),
    }
    return subprocess.run(
        [sys.executable, "-m", "server.cli", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


async def test_mark_coordinator_from_the_cli_lets_a_user_start_plans(
    server: LiveServer, world: World
) -> None:
    email = "nora.odegard@eksempelvik.test"
    user = await server.services.repos.users.create(
        email, "Nora Ødegård 🌟", hash_password(PASSWORD)
    )
    async with signed_in(server.http, email) as nora:
        assert 'data-testid="plan-new"' not in (await nora.get("/plans")).text
        assert (await nora.get("/plans/new")).status_code == 403
        refused = await _post(nora, "/plans/new", _start_form())
        assert refused.status_code == 403 and _plan_count(server) == 2

        done = _samplan(server, "user", "mark-coordinator", email)
        assert done.returncode == 0, done.stderr
        assert 'data-testid="plan-new"' in (await nora.get("/plans")).text
        plan_id = await _start(nora)
        member = await server.services.plans.get_membership(plan_id, user.id)
        assert member is not None and member.role == "koordinator"

        assert _samplan(server, "user", "unmark-coordinator", email).returncode == 0
        # Still the koordinator of the plan she started: she may start plans anyway.
        assert 'data-testid="plan-new"' in (await nora.get("/plans")).text
    unknown = _samplan(server, "user", "mark-coordinator", "ingen@eksempelvik.test")
    assert unknown.returncode == 2 and "no user" in unknown.stderr


async def test_life_areas_are_added_renamed_moved_and_retired_and_stay_in_export_and_print(
    server: LiveServer, world: World
) -> None:
    async with signed_in(server.http, ROLE_USERS["koordinator"][0]) as kari:
        plan_id = await _start(kari)
        base = f"/plans/{plan_id}"
        added = await _post(kari, f"{base}/areas", {"title": "Helse ❤️ og æøå"})
        assert added.status_code == 303
        twice = await _post(kari, f"{base}/areas", {"title": "helse ❤️ og æøå"})
        assert twice.status_code == 400 and 'role="alert"' in twice.text
        empty = await _post(kari, f"{base}/areas", {"title": "  "})
        assert empty.status_code == 400

        async def order() -> list[tuple[str, str]]:
            zones = await server.services.plans.list_zones(plan_id)
            live = [z for z in zones if z.kind == "area" and z.retired_at is None]
            return [(z.key, z.title) for z in sorted(live, key=lambda z: (z.position, z.id))]

        assert [k for k, _ in await order()] == [
            "skole-og-laering",
            "venner-fritid-og-aeoa",
            "helse-og-aeoa",
        ]
        renamed = await _post(
            kari, f"{base}/areas/skole-og-laering", {"action": "rename", "title": "Skole 🏫 og ære"}
        )
        assert renamed.status_code == 303
        assert (await order())[0] == ("skole-og-laering", "Skole 🏫 og ære")
        assert (
            await _post(kari, f"{base}/areas/helse-og-aeoa", {"action": "up"})
        ).status_code == 303
        assert [k for k, _ in await order()] == [
            "skole-og-laering",
            "helse-og-aeoa",
            "venner-fritid-og-aeoa",
        ]
        first = await _post(kari, f"{base}/areas/skole-og-laering", {"action": "up"})
        assert first.status_code == 400
        retired = await _post(kari, f"{base}/areas/venner-fritid-og-aeoa", {"action": "retire"})
        assert retired.status_code == 303
        assert [k for k, _ in await order()] == ["skole-og-laering", "helse-og-aeoa"]
        again = await _post(
            kari, f"{base}/areas/venner-fritid-og-aeoa", {"action": "rename", "title": "x"}
        )
        assert again.status_code == 409

        for action, count in (
            ("area_add", 1),
            ("area_rename", 1),
            ("area_move", 1),
            ("area_retire", 1),
        ):
            assert len(await _audit(server, action, plan_id)) == count, action

        # Not offered for editing any more, but in the export and print, marked as retired.
        page = await kari.get(base)
        assert f"plan/{plan_id}/area/venner-fritid-og-aeoa" not in page.text
        areas = (await kari.get(f"{base}/areas")).json()["areas"]
        assert [a["key"] for a in areas] == ["skole-og-laering", "helse-og-aeoa"]
        export = (await kari.get(f"{base}/export.json")).json()
        zones = {z["key"]: z for z in export["zones"] if z["kind"] == "area"}
        assert zones["venner-fritid-og-aeoa"]["retired_at"] is not None
        assert zones["venner-fritid-og-aeoa"]["title"] == AREA_TWO
        assert zones["skole-og-laering"]["retired_at"] is None
        printed = (await kari.get(f"{base}/print")).text
        assert AREA_TWO in printed and 'data-testid="area-retired"' in printed

        # A socket cannot write to the retired area.
        token = world.token("koordinator", plan_id)
        room = f"plan/{plan_id}/area/venner-fritid-og-aeoa"
        async with connected(server.ws_url(room, token)) as c:
            c.denied.clear()
            goal = Map({"id": "g-æøå", "title": "Forsøk 🚫"})
            c.doc.get("goals", type=Array).append(goal)
            await c.wait_for(lambda: bool(c.denied), timeout=30)


async def test_the_areas_section_names_only_the_areas_a_deltaker_may_open(
    server: LiveServer, world: World
) -> None:
    """An area's title is plan content: with consent to "Skole og læring" alone, Åse (the
    world's deltaker) sees neither "Fritid ⚽" nor its section; the koordinator sees both."""
    await server.services.consents.give(
        world.plan_id, world.users["deltaker"], ["area/skole"], None, world.users["planeier"]
    )
    async with signed_in(server.http, ROLE_USERS["deltaker"][0]) as aase:
        page = await aase.get(f"/plans/{world.plan_id}")
        assert page.status_code == 200
        assert 'data-testid="areas-item-skole"' in page.text
        assert 'data-testid="areas-item-fritid"' not in page.text
        assert "Fritid ⚽" not in page.text
        areas = (await aase.get(f"/plans/{world.plan_id}/areas")).json()["areas"]
        assert [a["key"] for a in areas] == ["skole"]
    async with signed_in(server.http, ROLE_USERS["koordinator"][0]) as kari:
        page = await kari.get(f"/plans/{world.plan_id}")
        for key in ("skole", "fritid"):
            assert f'data-testid="areas-item-{key}"' in page.text


async def test_the_guardian_answers_in_the_browser_and_the_person_under_16_may_not(
    server: LiveServer, world: World
) -> None:
    async with signed_in(server.http, ROLE_USERS["koordinator"][0]) as kari:
        plan_id = await _start(kari, birth_date=_ddmm(_born_years_ago(13)))
    # The invitation work will add them from the guardian named at the start; here directly.
    await server.services.plans.add_member(plan_id, world.users["verge"], "verge")
    await server.services.plans.add_member(plan_id, world.users["planeier"], "planeier")
    async with signed_in(server.http, ROLE_USERS["planeier"][0]) as jonas:
        page = await jonas.get(f"/plans/{plan_id}")
        assert page.status_code == 200  # the planeier sees the draft ...
        assert 'data-testid="plan-consent-answer"' not in page.text  # ... but, 13, cannot answer
        refused = await _post(jonas, f"/plans/{plan_id}/plan-consent", {"status": "given"})
        assert refused.status_code == 403 and "under 16 år" in refused.text
    assert _rows(server, "SELECT count(*) FROM plan_consents")[0][0] == 0
    async with signed_in(server.http, ROLE_USERS["verge"][0]) as line:
        page = await line.get(f"/plans/{plan_id}")
        assert 'data-testid="plan-consent-answer"' in page.text
        done = await _post(line, f"/plans/{plan_id}/plan-consent", {"status": "given"})
        assert done.status_code == 303
        again = await _post(line, f"/plans/{plan_id}/plan-consent", {"status": "refused"})
        assert again.status_code == 409  # answered: no longer a draft
    rows = _rows(
        server,
        "SELECT status, giver, giver_name, giver_user_id, method FROM plan_consents"
        " WHERE plan_id = ?",
        plan_id,
    )
    assert rows == [("given", "verge", "Line Berg", world.users["verge"], "browser")]
    plan = await server.services.plans.get_plan(plan_id)
    assert plan is not None and not plan.draft


async def test_the_consent_to_the_plan_and_retired_areas_travel_in_export_and_import(
    server: LiveServer, world: World, tmp_path: Path
) -> None:
    async with signed_in(server.http, ROLE_USERS["koordinator"][0]) as kari:
        plan_id = await _start(kari)
        base = f"/plans/{plan_id}"
        answer = {"status": "refused", "giver": "planeier", "method": "written"}
        answer["given_on"] = _ddmm(today_oslo())
        assert (await _post(kari, f"{base}/plan-consent", answer)).status_code == 303
        retire = {"action": "retire"}
        assert (await _post(kari, f"{base}/areas/skole-og-laering", retire)).status_code == 303
        exported = (await kari.get(f"{base}/export.json")).json()
        printed = (await kari.get(f"{base}/print")).text
    assert exported["plan"]["draft"] is True
    [row] = exported["plan_consents"]
    assert (row["status"], row["giver_name"], row["method"]) == ("refused", PERSON, "written")
    assert row["recorded_by_user_id"] == world.users["koordinator"]
    assert 'data-testid="print-plan-consent"' in printed and "Samtykke nektet" in printed

    # Into a fresh database with the command line, and out again: the same record.
    target = tmp_path / "target"
    target.mkdir()
    path = target / "plan.json"
    path.write_text(json.dumps(exported, ensure_ascii=False), encoding="utf-8")
    env = {
        **os.environ,
        "SAMPLAN_VAR_DIR": str(target / "var"),
        "SAMPLAN_DATABASE_URL": f"sqlite+aiosqlite:///{target / 'target.sqlite3'}",
        "SAMPLAN_SECRET_KEY": server.settings.resolved_secret_key(),
    }

    def cli(*args: str) -> subprocess.CompletedProcess[str]:
        run = [sys.executable, "-m", "server.cli", *args]
        return subprocess.run(run, env=env, capture_output=True, text=True, timeout=120)

    imported = cli("import", str(path))
    assert imported.returncode == 0, imported.stderr
    again = json.loads(cli("export", plan_id).stdout)
    assert again["plan"]["draft"] is True
    assert [{**r, "recorded_by_user_id": None} for r in again["plan_consents"]] == [
        {**row, "recorded_by_user_id": None}
    ]
    retired = {z["key"]: z["retired_at"] for z in again["zones"] if z["kind"] == "area"}
    assert retired["skole-og-laering"] is not None and retired["venner-fritid-og-aeoa"] is None


async def test_a_new_municipality_starts_with_one_command(server: LiveServer, world: World) -> None:
    """README's walk-through: `samplan user add --coordinator` makes the first koordinator, who
    logs in and starts a plan in the browser; a weak password is refused and makes no user."""
    email = "siri.aasen@nykommune.test"
    weak = _samplan(
        server, "user", "add", "--email", email, "--name", "Siri Åsen", "--password", "kort"
    )
    assert weak.returncode == 2 and "10 characters" in weak.stderr
    assert await server.services.repos.users.get_by_email(email) is None

    made = _samplan(
        server,
        "user", "add", "--email", email, "--name", "Siri Åsen 🌻", "--password", PASSWORD,
        "--coordinator",
    )  # fmt: skip
    assert made.returncode == 0, made.stderr
    async with signed_in(server.http, email) as siri:
        assert 'data-testid="plan-new"' in (await siri.get("/plans")).text
        plan_id = await _start(siri)
        user = await server.services.repos.users.get_by_email(email)
        assert user is not None
        member = await server.services.plans.get_membership(plan_id, user.id)
        assert member is not None and member.role == "koordinator"


async def test_the_guardian_named_at_the_start_is_ready_to_invite_as_verge(
    server: LiveServer, world: World
) -> None:
    """The guardian typed on the Ny plan form waits in the plan page's invite form, as verge,
    until the koordinator sends the invitation; then the form is empty again."""
    guardian = ("mor.odegard@eksempelvik.test", "Mor Ødegård 🌷")
    async with signed_in(server.http, ROLE_USERS["koordinator"][0]) as kari:
        plan_id = await _start(kari, guardian_name=guardian[1], guardian_email=guardian[0])
        page = (await kari.get(f"/plans/{plan_id}")).text
        assert 'data-testid="invite-guardian"' in page
        assert f'value="{guardian[0]}"' in page and 'value="Mor Ødegård 🌷"' in page
        assert '<option value="verge" selected>' in page
        sent = await _post(
            kari,
            f"/plans/{plan_id}/invitations",
            {"email": guardian[0], "name": guardian[1], "role": "verge"},
        )
        assert sent.status_code == 303, sent.text[:300]
        page = (await kari.get(f"/plans/{plan_id}")).text
        assert 'data-testid="invite-guardian"' not in page
        assert f'value="{guardian[0]}"' not in page


async def test_a_plan_started_for_a_colleague_is_theirs(server: LiveServer, world: World) -> None:
    """Kari picks a colleague who may start plans as the koordinator: the plan is Nora's, Kari
    has no role in it; an id that is not one of the colleagues offered creates nothing."""
    email = "nora.odegard@eksempelvik.test"
    nora = await server.services.repos.users.create(
        email, "Nora Ødegård 🌟", hash_password(PASSWORD)
    )
    assert await server.services.repos.plan_start.set_can_start_plans(email, True)
    async with signed_in(server.http, ROLE_USERS["koordinator"][0]) as kari:
        form = (await kari.get("/plans/new")).text
        assert f'<option value="{nora.id}">Nora Ødegård 🌟</option>' in form
        crafted = await _post(
            kari, "/plans/new", _start_form(koordinator=str(world.users["deltaker"]))
        )
        assert crafted.status_code == 400 and 'data-testid="error-koordinator"' in crafted.text
        assert _plan_count(server) == 2

        started = await _post(kari, "/plans/new", _start_form(koordinator=str(nora.id)))
        assert started.status_code == 303 and started.headers["location"] == "/plans?started=1"
        assert 'data-testid="plan-started"' in (await kari.get("/plans?started=1")).text
    (plan_id,) = [
        row[0]
        for row in _rows(server, "SELECT id FROM plans")
        if row[0] not in (world.plan_id, world.other_plan_id)
    ]
    members = {
        m.user_id: m.role
        for m, _, _ in await server.services.plans.list_members_with_names(plan_id)
    }
    assert members == {nora.id: "koordinator"}
