"""The ansvarsgruppe (issues 11 and 12) against a real server: the koordinator changes a
member's role, unit and contribution, removes a member (their sockets close at once) and hands
the koordinator role over; every member writes their own contribution; each refusal says why
(role="alert") and changes nothing. And the command line that does the same for operators."""

from __future__ import annotations

import asyncio
import html
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx
import pytest

from crdt.client import YClient
from server.settings import Settings
from storage.models import Membership
from tests.support.clients import connected
from tests.support.database import arows
from tests.support.live import LiveServer
from tests.support.passwords import hash_password
from tests.support.web import PASSWORD, csrf_of, signed_in
from tests.support.world import ROLE_USERS, World

pytestmark = pytest.mark.both_databases

ROOT = Path(__file__).resolve().parent.parent
AASE = ROLE_USERS["deltaker"]  # Åse Ødegård
KARI = ROLE_USERS["koordinator"]
PER = ROLE_USERS["leser"]
BJORN = ("bjorn.aas@eksempelvik.test", "Bjørn Ås")
UNIT = "Helsestasjonen for ungdom, Ørsta 🏥"
CONTRIBUTION = "Følger opp skolehverdagen og øvelser på gymsalen 💪 – «hver tirsdag»"
OWN_WORDS = "Jeg tar med Jonas på e-sport på fritidsklubben 🎮, og svarer på SMS samme dag."


@pytest.fixture
async def bjorn(web: LiveServer, world: World) -> int:
    """A second deltaker, with consent to the whole plan and a password."""
    repos = web.services.repos
    user = await repos.users.create(*BJORN)
    await repos.users.set_password_hash(user.id, hash_password(PASSWORD))
    await repos.plans.add_member(world.plan_id, user.id, "deltaker", contribution="Kjører 🚗")
    await repos.consents.give(world.plan_id, user.id, "all", None, world.users["planeier"])
    return user.id


async def _post(
    http: httpx.AsyncClient, world: World, path: str, fields: dict[str, str]
) -> httpx.Response:
    """A form POST as the plan page sends it, with the form token from the page."""
    page = await http.get(f"/plans/{world.plan_id}")
    assert page.status_code == 200
    data = {"csrf_token": csrf_of(page.text), **fields}
    return await http.post(f"/plans/{world.plan_id}{path}", data=data)


def _alert(response: httpx.Response) -> str:
    """The error page's sentence, which must be in an element with role="alert"."""
    marker = 'role="alert" data-testid="error-message">'
    assert marker in response.text, response.text[:2000]
    return html.unescape(response.text.split(marker, 1)[1].split("</p>", 1)[0])


async def _member(web: LiveServer, world: World, role_user: str | int) -> Membership | None:
    user_id = role_user if isinstance(role_user, int) else world.users[role_user]
    return await web.services.plans.get_membership(world.plan_id, user_id)


async def _audit(web: LiveServer, action: str) -> list[dict[str, Any]]:
    await web.services.audit.flush()
    rows = await arows(
        web, "SELECT actor_user_id, details FROM audit_log WHERE action = ? ORDER BY id", (action,)
    )
    return [{"actor": actor, **json.loads(details)} for actor, details in rows]


def _row(page: str, user_id: int) -> str:
    return page.split(f'data-testid="member-{user_id}"', 1)[1].split("</li>", 1)[0]


async def test_koordinator_edits_a_member_and_it_shows_on_page_and_print(
    web: LiveServer, world: World
) -> None:
    aase = world.users["deltaker"]
    async with signed_in(web.http, KARI[0]) as http:
        response = await _post(
            http,
            world,
            f"/members/{aase}",
            {"role": "leser", "unit": UNIT, "contribution": CONTRIBUTION},
        )
        assert response.status_code == 303
        assert response.headers["location"] == f"/plans/{world.plan_id}#member-{aase}"
        page = html.unescape((await http.get(f"/plans/{world.plan_id}")).text)
        printed = html.unescape((await http.get(f"/plans/{world.plan_id}/print")).text)
    row = _row(page, aase)
    assert "Åse Ødegård" in row and "Leser" in row and UNIT in row and CONTRIBUTION in row
    assert "Sist endret av Kari Nilsen" in row  # who wrote it, as the server saw it
    assert UNIT in printed and CONTRIBUTION in printed and "Sist endret av Kari Nilsen" in printed
    member = await _member(web, world, "deltaker")
    assert member is not None and member.role == "leser" and member.unit == UNIT
    assert member.contribution == CONTRIBUTION
    assert member.contribution_updated_by == world.users["koordinator"]
    [row_details] = await _audit(web, "membership_change")
    assert row_details == {
        "actor": world.users["koordinator"],
        "user_id": aase,
        "role": "leser",
        "previous_role": "deltaker",
        "unit_changed": True,
        "contribution_changed": True,
    }
    logged = " ".join(d for (d,) in await arows(web, "SELECT details FROM audit_log"))
    assert "tirsdag" not in logged and "Ørsta" not in logged  # never the text


async def test_a_member_edits_their_own_contribution_and_no_one_elses(
    web: LiveServer, world: World, bjorn: int
) -> None:
    aase = world.users["deltaker"]
    async with signed_in(web.http, AASE[0]) as http:
        page = (await http.get(f"/plans/{world.plan_id}")).text
        assert f'action="/plans/{world.plan_id}/members/{aase}"' in page  # her own form
        assert f'action="/plans/{world.plan_id}/members/{bjorn}"' not in page
        assert f"/members/{bjorn}/remove" not in page and "/handover" not in page
        response = await _post(http, world, f"/members/{aase}", {"contribution": OWN_WORDS})
        assert response.status_code == 303
        page = html.unescape((await http.get(f"/plans/{world.plan_id}")).text)
        assert OWN_WORDS in _row(page, aase) and "Sist endret av Åse Ødegård" in _row(page, aase)

        # Crafted: Bjørn's contribution, her own role and unit. Each refused, nothing changed.
        refused = await _post(http, world, f"/members/{bjorn}", {"contribution": "Ingenting 🙃"})
        assert refused.status_code == 403
        assert _alert(refused) == "Du kan bare endre ditt eget bidrag. Ingenting er endret."
        for fields in ({"role": "leser"}, {"unit": "Ålesund 🏢", "contribution": "x"}):
            refused = await _post(http, world, f"/members/{aase}", fields)
            assert refused.status_code == 403
            assert "Bare koordinatoren" in _alert(refused)
        no_token = await http.post(
            f"/plans/{world.plan_id}/members/{aase}", data={"contribution": "Uten skjema 🕳️"}
        )
        assert no_token.status_code == 403 and "utløpt" in _alert(no_token)
    # A leser writes nothing in the plan but comments: not even a contribution of his own.
    async with signed_in(web.http, PER[0]) as http:
        page = (await http.get(f"/plans/{world.plan_id}")).text
        assert f'action="/plans/{world.plan_id}/members/' not in page
        refused = await _post(
            http, world, f"/members/{world.users['leser']}", {"contribution": "Ser på 👀"}
        )
        assert refused.status_code == 403 and "En leser kan ikke endre bidrag" in _alert(refused)
    per = await _member(web, world, "leser")
    assert per is not None and per.contribution is None
    bjorn_row = await _member(web, world, bjorn)
    assert bjorn_row is not None and bjorn_row.contribution == "Kjører 🚗"
    mine = await _member(web, world, "deltaker")
    assert mine is not None and mine.role == "deltaker" and mine.unit is None
    assert mine.contribution == OWN_WORDS and mine.contribution_updated_by == aase


async def test_a_deltaker_crafting_koordinator_actions_is_refused(
    web: LiveServer, world: World, bjorn: int
) -> None:
    async with signed_in(web.http, AASE[0]) as http:
        for path, fields in (
            (f"/members/{bjorn}", {"role": "leser"}),
            (f"/members/{bjorn}/remove", {}),
            ("/handover", {"to": str(world.users["deltaker"]), "then": "leave"}),
        ):
            refused = await _post(http, world, path, fields)
            assert refused.status_code == 403, path
            assert _alert(refused).startswith("Bare koordinatoren"), path
    assert (await _member(web, world, bjorn)) is not None
    kari = await _member(web, world, "koordinator")
    assert kari is not None and kari.role == "koordinator"
    assert await _audit(web, "membership_change") == []
    assert await _audit(web, "koordinator_handover") == []


async def test_a_removed_member_is_shut_out_at_once(web: LiveServer, world: World) -> None:
    aase = world.users["deltaker"]
    async with signed_in(web.http, AASE[0]) as aase_http:
        assert (await aase_http.get(f"/plans/{world.plan_id}")).status_code == 200
        client = YClient(web.ws_url(world.room("content"), world.token("deltaker")))
        await client.connect()
        await client.wait_for(client.synced.is_set)
        async with signed_in(web.http, KARI[0]) as http:
            response = await _post(http, world, f"/members/{aase}/remove", {})
            assert response.status_code == 303
        assert await client.wait_closed(timeout=10) == 4403  # as for withdrawn consent
        await client.close()
        # Her session no longer opens the plan, nor her token a socket.
        assert (await aase_http.get(f"/plans/{world.plan_id}")).status_code == 404
    late = YClient(web.ws_url(world.room("content"), world.token("deltaker")))
    await late.connect()
    assert await late.wait_closed(timeout=10) == 4404  # a non-member: as for no plan at all
    await late.close()
    assert await _member(web, world, "deltaker") is None
    assert [(r["user_id"], r["role"]) for r in await _audit(web, "membership_remove")] == [
        (aase, "deltaker")
    ]
    # Her consent ended with her membership: added back, she sees nothing until the planeier
    # consents again.
    consent, _giver = (await web.services.consents.latest_by_user(world.plan_id))[aase]
    assert (
        consent.revoked_at is not None and consent.revoked_by_user_id == world.users["koordinator"]
    )
    await web.services.plans.add_member(world.plan_id, aase, "deltaker")
    async with signed_in(web.http, AASE[0]) as aase_http:
        assert (await aase_http.get(f"/plans/{world.plan_id}")).status_code == 404


async def test_planeier_koordinator_and_verge_are_not_removed_by_accident(
    web: LiveServer, world: World
) -> None:
    async with signed_in(web.http, KARI[0]) as http:
        for role, status, text in (
            ("planeier", 409, "Planeieren kan ikke fjernes"),
            ("koordinator", 409, "Overlat koordinatorrollen"),
            ("verge", 400, "Kryss av for at vergemålet"),
        ):
            refused = await _post(http, world, f"/members/{world.users[role]}/remove", {})
            assert refused.status_code == status, role
            assert text in _alert(refused), role
            assert await _member(web, world, role) is not None
        # the verge goes with the box ticked
        response = await _post(
            http, world, f"/members/{world.users['verge']}/remove", {"confirm_verge": "1"}
        )
        assert response.status_code == 303
    assert await _member(web, world, "verge") is None


async def test_a_second_koordinator_is_refused(web: LiveServer, world: World) -> None:
    async with signed_in(web.http, KARI[0]) as http:
        for role_user in ("deltaker", "leser"):
            refused = await _post(
                http, world, f"/members/{world.users[role_user]}", {"role": "koordinator"}
            )
            assert refused.status_code == 409
            assert "Planen har allerede en koordinator" in _alert(refused)
        # nor is the koordinator demoted, or the planeier's role changed, on the page
        refused = await _post(
            http, world, f"/members/{world.users['koordinator']}", {"role": "deltaker"}
        )
        assert refused.status_code == 409
        refused = await _post(http, world, f"/members/{world.users['planeier']}", {"role": "leser"})
        assert refused.status_code == 409
    for role in ROLE_USERS:
        member = await _member(web, world, role)
        assert member is not None and member.role == role


async def test_handover_moves_the_role_in_one_step(web: LiveServer, world: World) -> None:
    aase, kari = world.users["deltaker"], world.users["koordinator"]
    # As a leser afterwards Kari needs consent like any leser; the planeier has given it.
    await web.services.consents.give(world.plan_id, kari, "all", None, world.users["planeier"])
    async with signed_in(web.http, KARI[0]) as kari_http:
        page = (await kari_http.get(f"/plans/{world.plan_id}")).text
        assert 'data-testid="handover-form"' in page and "Overlat koordinatorrollen" in page
        response = await _post(kari_http, world, "/handover", {"to": str(aase), "then": "leser"})
        assert response.status_code == 303
        assert response.headers["location"] == f"/plans/{world.plan_id}#plan-members"
        # The old koordinator has lost the koordinator's actions ...
        refused = await _post(
            kari_http, world, f"/members/{world.users['leser']}", {"role": "deltaker"}
        )
        assert refused.status_code == 403 and "Bare koordinatoren" in _alert(refused)
        page = (await kari_http.get(f"/plans/{world.plan_id}")).text
        assert "handover-form" not in page
    # ... and the new one has them.
    async with signed_in(web.http, AASE[0]) as aase_http:
        page = (await aase_http.get(f"/plans/{world.plan_id}")).text
        assert 'data-testid="handover-form"' in page
        response = await _post(
            aase_http, world, f"/members/{kari}", {"unit": "Tjenester for funksjonshemmede ♿"}
        )
        assert response.status_code == 303
    new, old = await _member(web, world, "deltaker"), await _member(web, world, "koordinator")
    assert new is not None and new.role == "koordinator"
    assert (
        old is not None and old.role == "leser" and old.unit == "Tjenester for funksjonshemmede ♿"
    )
    assert await _audit(web, "koordinator_handover") == [
        {"actor": kari, "from_user_id": kari, "to_user_id": aase, "old_role": "leser"}
    ]


async def test_handover_grants_no_consent(web: LiveServer, world: World) -> None:
    """Staying as a deltaker without the planeier's consent: the plan is closed to her until
    it is given, and a crafted POST gets the same 404 as any outsider."""
    async with signed_in(web.http, KARI[0]) as http:
        response = await _post(
            http, world, "/handover", {"to": str(world.users["deltaker"]), "then": "deltaker"}
        )
        assert response.status_code == 303 and response.headers["location"] == "/plans"
        assert (await http.get(f"/plans/{world.plan_id}")).status_code == 404
        token = csrf_of((await http.get("/plans")).text)
        crafted = await http.post(
            f"/plans/{world.plan_id}/members/{world.users['leser']}",
            data={"csrf_token": token, "role": "deltaker"},
        )
        assert crafted.status_code == 404
    kari, per = await _member(web, world, "koordinator"), await _member(web, world, "leser")
    assert kari is not None and kari.role == "deltaker"
    assert per is not None and per.role == "leser"


async def test_handover_and_leave(web: LiveServer, world: World) -> None:
    kari = world.users["koordinator"]
    async with signed_in(web.http, KARI[0]) as http:
        client = YClient(web.ws_url(world.room("content"), world.token("koordinator")))
        await client.connect()
        await client.wait_for(client.synced.is_set)
        response = await _post(
            http, world, "/handover", {"to": str(world.users["leser"]), "then": "leave"}
        )
        assert response.status_code == 303 and response.headers["location"] == "/plans"
        assert await client.wait_closed(timeout=10) == 4403  # she has left: her socket closes
        await client.close()
        assert (await http.get(f"/plans/{world.plan_id}")).status_code == 404
    assert await _member(web, world, kari) is None
    per = await _member(web, world, "leser")
    assert per is not None and per.role == "koordinator"


async def test_handover_refusals_change_nothing(web: LiveServer, world: World) -> None:
    async with signed_in(web.http, KARI[0]) as http:
        for fields, status, text in (
            ({"to": str(world.users["outsider"]), "then": "leser"}, 400, "bare overlates til en"),
            ({"to": "999999", "then": "deltaker"}, 400, "bare overlates til en"),
            ({"to": "ikke-et-tall", "then": "deltaker"}, 400, "bare overlates til en"),
            ({"to": str(world.users["planeier"]), "then": "leser"}, 409, "annen deltaker"),
            ({"to": str(world.users["koordinator"]), "then": "leser"}, 409, "annen deltaker"),
            ({"to": str(world.users["deltaker"]), "then": "koordinator"}, 400, "Velg hva"),
        ):
            refused = await _post(http, world, "/handover", fields)
            assert refused.status_code == status, fields
            assert text in _alert(refused), fields
    for role in ROLE_USERS:
        member = await _member(web, world, role)
        assert member is not None and member.role == role
    assert await _audit(web, "koordinator_handover") == []


async def test_role_change_to_leser_makes_open_sockets_read_only(
    web: LiveServer, world: World
) -> None:
    async with connected(web.ws_url(world.room("content"), world.token("deltaker"))) as client:
        async with signed_in(web.http, KARI[0]) as http:
            response = await _post(
                http, world, f"/members/{world.users['deltaker']}", {"role": "leser"}
            )
            assert response.status_code == 303
        conns = web.services.connections.of_plan(world.plan_id)
        [mine] = [c for c in conns if c.user_id == world.users["deltaker"]]
        assert mine.role == "leser" and not mine.peer.can_write  # at once, before the watcher
        assert client.close_code is None


# --- the command line -------------------------------------------------------------------


def _env(settings: Settings) -> dict[str, str]:
    return {
        **os.environ,
        "SAMPLAN_VAR_DIR": str(settings.var_dir),
        "SAMPLAN_DATABASE_URL": settings.resolved_database_url(),
        "SAMPLAN_SECRET_KEY": "test-secret-ikke-hemmelig",
    }


async def _samplan(settings: Settings, *args: str) -> subprocess.CompletedProcess[str]:
    return await asyncio.to_thread(
        subprocess.run,
        [sys.executable, "-m", "server.cli", *args],
        env=_env(settings),
        capture_output=True,
        text=True,
        timeout=120,
        cwd=ROOT,
    )


async def test_cli_set_role_contribution_and_handover(web: LiveServer, world: World) -> None:
    settings, plan = web.settings, world.plan_id
    ok = await _samplan(
        settings, "member", "set-contribution", "--plan", plan, "--email", AASE[0],
        "--text", CONTRIBUTION,
    )  # fmt: skip
    assert ok.returncode == 0, ok.stderr
    member = await _member(web, world, "deltaker")
    assert member is not None and member.contribution == CONTRIBUTION
    assert member.contribution_updated_by is None and member.contribution_updated_at is not None
    async with signed_in(web.http, KARI[0]) as http:
        page = html.unescape((await http.get(f"/plans/{plan}")).text)
    assert CONTRIBUTION in page and "Sist endret av driftsansvarlig" in page

    ok = await _samplan(
        settings, "member", "set-role", "--plan", plan, "--email", AASE[0], "--role", "leser"
    )
    assert ok.returncode == 0, ok.stderr
    member = await _member(web, world, "deltaker")
    assert member is not None and member.role == "leser"

    for args, problem in (
        (("member", "set-role", "--plan", plan, "--email", PER[0], "--role", "koordinator"),
         "already has a koordinator"),
        (("member", "set-role", "--plan", plan, "--email", KARI[0], "--role", "deltaker"),
         "hand the role over first"),
        (("member", "remove", "--plan", plan, "--email", KARI[0]), "hand the role over first"),
        (("plan", "handover", plan, "--to", "ola.nordmann@eksempelvik.test", "--leave"),
         "is not a member of plan"),
        (("member", "set-contribution", "--plan", plan, "--email", "ola.nordmann@eksempelvik.test",
          "--text", "Hei 👋"), "is not a member of plan"),
    ):  # fmt: skip
        refused = await _samplan(settings, *args)
        assert refused.returncode == 2, args
        assert refused.stderr.startswith("samplan: ") and problem in refused.stderr, refused.stderr
    kari = await _member(web, world, "koordinator")
    assert kari is not None and kari.role == "koordinator"

    ok = await _samplan(
        settings, "plan", "handover", plan, "--to", PER[0], "--keep-role", "deltaker"
    )
    assert ok.returncode == 0, ok.stderr
    assert "is now the koordinator" in ok.stdout
    kari, per = await _member(web, world, "koordinator"), await _member(web, world, "leser")
    assert kari is not None and kari.role == "deltaker"
    assert per is not None and per.role == "koordinator"
    [handover] = await _audit(web, "koordinator_handover")
    assert handover == {
        "actor": None,
        "from_user_id": world.users["koordinator"],
        "to_user_id": world.users["leser"],
        "old_role": "deltaker",
    }
