"""Consent to someone invited but not yet joined (issue 12, "Done when 1" in its literal order):
the planeier gives a deltaker consent to one area before the deltaker follows the link; the
consent waits with the invitation (a resend keeps it, a withdrawal drops it) and becomes the
new member's consent, given by the planeier, when they accept. Nobody else may give it."""

from __future__ import annotations

import re
from typing import Any

import httpx
import pytest

from crdt.client import YClient
from server.core.tokens import issue_plan_token
from tests import test_invitations
from tests.support.clients import connected
from tests.support.live import LiveServer
from tests.support.mail import Inbox
from tests.support.web import PASSWORD, csrf_of, signed_in
from tests.support.world import ROLE_USERS, World
from tests.test_invitations import (
    NILS,
    audit_rows,
    db_rows,
    invite,
    mail_to,
    post_form,
    token_of,
)

pytestmark = pytest.mark.both_databases

settings = test_invitations.settings  # the settings that send to the SMTP inbox fixture

PLAN_TITLE = "Plan for Åse Ødegård 🌷"
SKOLE = "Skole og læring ✏️"
FRITID = "Fritid og venner ⚽"
OLA = ("ola.oppsal@eksempelvik.test", "Ola Øvrebø 🎻")


async def _plan(server: LiveServer, world: World) -> str:
    """Kari is koordinator, the world's planeier is planeier, its deltaker is a deltaker
    (without consent), and there are two areas."""
    repos = server.services.repos
    municipality = await repos.plans.get_or_create_municipality("Eksempelvik kommune")
    plan = await repos.plans.create_plan(municipality, PLAN_TITLE, "Åse Ødegård")
    await repos.plans.add_zone(plan.id, "area", "skole", SKOLE, 0)
    await repos.plans.add_zone(plan.id, "area", "fritid", FRITID, 1)
    for role in ("koordinator", "planeier", "deltaker"):
        await repos.plans.add_member(plan.id, world.users[role], role)
    return plan.id


async def _consent(http: httpx.AsyncClient, plan_id: str, **fields: Any) -> httpx.Response:
    page = await http.get(f"/plans/{plan_id}")
    data = {"csrf_token": csrf_of(page.text), **fields}
    return await http.post(f"/plans/{plan_id}/consent", data=data)


def _stored(server: LiveServer) -> list[tuple[Any, ...]]:
    return db_rows(
        server,
        "SELECT invitation_id, status, scope, valid_until, given_by_user_id "
        "FROM invitation_consents ORDER BY invitation_id",
    )


def _row(html: str, invitation_id: int) -> str:
    match = re.search(
        rf'<li class="consent" data-testid="consent-invitation-{invitation_id}".*?</li>', html, re.S
    )
    assert match, "the invitee has a row in the Samtykke section"
    return match.group(0)


async def _close_code(server: LiveServer, url: str) -> int:
    client = YClient(url)
    await client.connect()
    try:
        return await client.wait_closed(timeout=10)
    finally:
        await client.close()


async def test_consent_before_joining_becomes_the_new_members(
    web: LiveServer, world: World, inbox: Inbox
) -> None:
    server = web
    plan_id = await _plan(server, world)
    path = f"/plans/{plan_id}"
    planeier = world.users["planeier"]
    async with signed_in(server.http, ROLE_USERS["koordinator"][0]) as kari:
        assert (await invite(kari, plan_id, *NILS, "deltaker")).status_code == 303
        [first] = await mail_to(inbox, NILS[0])
        [(invitation_id,)] = db_rows(server, "SELECT id FROM invitations")
        # The koordinator sees the invitee in the Samtykke section, read-only.
        page = await kari.get(path)
        row = _row(page.text, invitation_id)
        assert NILS[1] in row and "invitert, ikke svart ennå" in row and "<form" not in row
        # A crafted POST by the koordinator is refused: consent is not theirs to give.
        refused = await _consent(
            kari, plan_id, invitation_id=str(invitation_id), action="give", scope="area/skole"
        )
        assert refused.status_code == 403 and 'role="alert"' in refused.text
        assert "Bare planeieren eller vergen" in refused.text
    async with signed_in(server.http, ROLE_USERS["deltaker"][0]) as deltaker:
        refused = await _consent(
            deltaker, plan_id, invitation_id=str(invitation_id), action="give", scope="all"
        )
        assert refused.status_code == 403
        page = await deltaker.get(path)
        assert NILS[1] not in page.text  # a deltaker sees only her own consent
    assert _stored(server) == []

    async with signed_in(server.http, ROLE_USERS["planeier"][0]) as aase:
        page = await aase.get(path)
        row = _row(page.text, invitation_id)
        assert "invitert, ikke svart ennå" in row and "Ikke gitt ennå" in row
        assert f'name="invitation_id" value="{invitation_id}"' in row
        assert SKOLE in row and FRITID in row  # the same zone choices as for a member
        # Bad input changes nothing.
        for fields, message in (
            ({"action": "give"}, "Velg minst én del"),
            ({"action": "give", "scope": "area/ukjent-æøå"}, "Velg minst én del"),
            ({"action": "give", "scope": "area/skole", "until": "31.02.2027"}, "dd.mm.åååå"),
            ({"action": "flytt 🚚", "scope": "area/skole"}, "Ukjent handling"),
            ({"action": "revoke"}, "ikke noe gjeldende samtykke"),
        ):
            bad = await _consent(aase, plan_id, invitation_id=str(invitation_id), **fields)
            assert bad.status_code == 400 and message in bad.text, fields
            assert 'role="alert"' in bad.text
        for other in ("999999", "æøå"):
            bad = await _consent(aase, plan_id, invitation_id=other, action="give", scope="all")
            assert bad.status_code == 400 and "Invitasjonen er ikke lenger åpen" in bad.text
        assert _stored(server) == []
        # Consent to one area, then changed to another and back: the latest counts.
        for scope in ("area/fritid", "area/skole"):
            given = await _consent(
                aase, plan_id, invitation_id=str(invitation_id), action="give", scope=scope
            )
            assert given.status_code == 303 and given.headers["location"].endswith("#plan-consent")
        row = _row((await aase.get(path)).text, invitation_id)
        assert "Samtykke gitt" in row and SKOLE in row and ROLE_USERS["planeier"][1] in row
    assert _stored(server) == [(invitation_id, "given", '["area/skole"]', None, planeier)]
    [(given_at,)] = db_rows(server, "SELECT given_at FROM invitation_consents")

    # A resent invitation keeps the consent.
    async with signed_in(server.http, ROLE_USERS["koordinator"][0]) as kari:
        resent = await post_form(kari, path, f"{path}/invitations/{invitation_id}/resend")
        assert resent.status_code == 303
    assert len(_stored(server)) == 1
    token = token_of((await mail_to(inbox, NILS[0], 2))[1])
    assert token != token_of(first)

    # Nils follows the link, sets a password and lands directly in the plan.
    async with httpx.AsyncClient(base_url=server.http) as nils:
        link = f"/invitation/{token}"
        form = await nils.get(link)
        joined = await nils.post(
            link,
            data={
                "csrf_token": csrf_of(form.text),
                "name": NILS[1],
                "password": PASSWORD,
                "password_again": PASSWORD,
            },
        )
        assert joined.status_code == 303 and joined.headers["location"] == path
        page = await nils.get(path)
        assert page.status_code == 200 and SKOLE in page.text
    [(nils_id,)] = db_rows(server, "SELECT id FROM users WHERE email = ?", NILS[0])
    consents = db_rows(
        server,
        "SELECT status, scope, valid_until, given_by_user_id, given_at, revoked_at "
        "FROM consents WHERE plan_id = ? AND user_id = ?",
        plan_id,
        nils_id,
    )
    # Given by the planeier, when she gave it (the history says both).
    assert consents == [("given", '["area/skole"]', None, planeier, given_at, None)]
    assert _stored(server) == []
    async with signed_in(server.http, ROLE_USERS["planeier"][0]) as aase:
        row = re.search(
            rf'data-testid="consent-{nils_id}".*?</li>', (await aase.get(path)).text, re.S
        )
        assert row and "Samtykke gitt" in row.group(0) and ROLE_USERS["planeier"][1] in row.group(0)
        assert "invitert, ikke svart ennå" not in row.group(0)

    # He opens exactly that area; another area, the plan text and the comments are refused.
    token_for = issue_plan_token(world.secret, nils_id, plan_id, 3600)
    async with connected(server.ws_url(f"plan/{plan_id}/area/skole", token_for)) as client:
        assert client.close_code is None
    for zone in ("area/fritid", "content", "comments"):
        assert await _close_code(server, server.ws_url(f"plan/{plan_id}/{zone}", token_for)) == (
            4403
        ), zone

    given = await audit_rows(server, "consent_give")
    assert [(a, r, p) for a, r, p, _ in given] == [(planeier, "planeier", plan_id)] * 2
    assert given[-1][3] == {
        "invitation": invitation_id,
        "scope": ["area/skole"],
        "valid_until": None,
    }
    [accepted] = await audit_rows(server, "invitation_accept")
    assert accepted[0] == nils_id
    assert accepted[3]["consent"] == "given" and accepted[3]["consent_given_by"] == planeier
    assert accepted[3]["consent_given_at"].startswith(str(given_at)[:19].replace(" ", "T"))


async def test_withdrawing_drops_the_consent(web: LiveServer, world: World, inbox: Inbox) -> None:
    server = web
    plan_id = await _plan(server, world)
    path = f"/plans/{plan_id}"
    async with signed_in(server.http, ROLE_USERS["koordinator"][0]) as kari:
        assert (await invite(kari, plan_id, *OLA, "leser")).status_code == 303
        assert (await invite(kari, plan_id, *NILS, "deltaker")).status_code == 303
    ids = dict(db_rows(server, "SELECT email, id FROM invitations"))
    ola, nils = ids[OLA[0]], ids[NILS[0]]
    async with signed_in(server.http, ROLE_USERS["planeier"][0]) as aase:
        for invitation_id in (ola, nils):
            given = await _consent(
                aase,
                plan_id,
                invitation_id=str(invitation_id),
                action="give",
                scope=["area/skole", "area/fritid"],
                until="31.12.2099",
            )
            assert given.status_code == 303
        row = _row((await aase.get(path)).text, ola)
        assert f"{SKOLE}, {FRITID}" in row and "31.12.2099" in row
        # The planeier withdraws her consent to Nils before he answers.
        revoked = await _consent(aase, plan_id, invitation_id=str(nils), action="revoke")
        assert revoked.status_code == 303
        assert "Ikke gitt ennå" in _row((await aase.get(path)).text, nils)
    assert [(i, status) for i, status, *_ in _stored(server)] == [(ola, "given")]
    scope, until = _stored(server)[0][2:4]  # a date on PostgreSQL, its ISO text on SQLite
    assert (scope, str(until)) == ('["area/skole", "area/fritid"]', "2099-12-31")
    # The koordinator withdraws Ola's invitation: his consent goes with it.
    async with signed_in(server.http, ROLE_USERS["koordinator"][0]) as kari:
        gone = await post_form(kari, path, f"{path}/invitations/{ola}/withdraw")
        assert gone.status_code == 303
        assert OLA[1] not in (await kari.get(path)).text
    assert _stored(server) == []
    async with signed_in(server.http, ROLE_USERS["planeier"][0]) as aase:
        late = await _consent(aase, plan_id, invitation_id=str(ola), action="give", scope="all")
        assert late.status_code == 400 and "Invitasjonen er ikke lenger åpen" in late.text
    assert _stored(server) == []

    # Nils, whose consent was withdrawn, joins and waits for consent like any member.
    token = token_of((await mail_to(inbox, NILS[0]))[0])
    async with httpx.AsyncClient(base_url=server.http) as nils_http:
        link = f"/invitation/{token}"
        form = await nils_http.get(link)
        joined = await nils_http.post(
            link,
            data={
                "csrf_token": csrf_of(form.text),
                "name": NILS[1],
                "password": PASSWORD,
                "password_again": PASSWORD,
            },
        )
        assert joined.status_code == 303 and joined.headers["location"] == "/plans?joined=1"
    assert db_rows(server, "SELECT count(*) FROM consents WHERE plan_id = ?", plan_id) == [(0,)]
    [accepted] = await audit_rows(server, "invitation_accept")
    assert "consent" not in accepted[3]
    revoked = await audit_rows(server, "consent_revoke")
    assert [d for *_, d in revoked] == [
        {"invitation": nils, "scope": ["area/skole", "area/fritid"]}
    ]


async def test_a_refusal_before_joining_is_recorded_as_the_members(
    web: LiveServer, world: World, inbox: Inbox
) -> None:
    server = web
    plan_id = await _plan(server, world)
    path = f"/plans/{plan_id}"
    planeier = world.users["planeier"]
    async with signed_in(server.http, ROLE_USERS["koordinator"][0]) as kari:
        assert (await invite(kari, plan_id, *OLA, "leser")).status_code == 303
    [(ola,)] = db_rows(server, "SELECT id FROM invitations")
    async with signed_in(server.http, ROLE_USERS["planeier"][0]) as aase:
        refused = await _consent(aase, plan_id, invitation_id=str(ola), action="refuse")
        assert refused.status_code == 303
        row = _row((await aase.get(path)).text, ola)
        assert 'data-state="refused"' in row and "Nektet" in row
        # Nothing given, so nothing to withdraw: the refusal stays.
        again = await _consent(aase, plan_id, invitation_id=str(ola), action="revoke")
        assert again.status_code == 400
    assert _stored(server) == [(ola, "refused", "[]", None, planeier)]
    token = token_of((await mail_to(inbox, OLA[0]))[0])
    async with httpx.AsyncClient(base_url=server.http) as ola_http:
        form = await ola_http.get(f"/invitation/{token}")
        joined = await ola_http.post(
            f"/invitation/{token}",
            data={
                "csrf_token": csrf_of(form.text),
                "name": OLA[1],
                "password": PASSWORD,
                "password_again": PASSWORD,
            },
        )
        assert joined.status_code == 303 and joined.headers["location"] == "/plans?joined=1"
        assert (await ola_http.get(path)).status_code == 404
    [(ola_id,)] = db_rows(server, "SELECT id FROM users WHERE email = ?", OLA[0])
    rows = db_rows(
        server,
        "SELECT status, scope, given_by_user_id, revoked_at FROM consents WHERE user_id = ?",
        ola_id,
    )
    assert rows == [("refused", "[]", planeier, None)]
    [accepted] = await audit_rows(server, "invitation_accept")
    assert accepted[3]["consent"] == "refused"
