"""Invitations by e-mail (issue 12) over real HTTP, with a real SMTP server (aiosmtpd): Kari
invites the person the plan is about, a newcomer and someone with an account; the e-mails
carry a one-time link and no plan content; each link works once, and every refusal (used,
expired, withdrawn, replaced, the wrong person, already a member, a second koordinator, not
an address, a deltaker's crafted POST) says why and changes nothing."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import update

from server.core.passwords import password_problem
from server.settings import Settings
from storage.db import write_session
from storage.models import Invitation
from tests.support.database import rows as database_rows
from tests.support.live import LiveServer
from tests.support.mail import PUBLIC, Inbox, mail_settings
from tests.support.passwords import hash_password
from tests.support.waiting import wait_for
from tests.support.web import PASSWORD, csrf_of, log_in, signed_in
from tests.support.world import OUTSIDER, ROLE_USERS, World
from tests.test_oidc import Setup, oidc  # noqa: F401  (the OIDC fixture)

pytestmark = pytest.mark.both_databases

PLAN_TITLE = "Individuell plan for Åse Ødegård 🌷"
AREA_TITLE = "Skole og læring ✏️"
AASE = ("aase.plan@eksempelvik.test", "Åse Ødegård")
NILS = ("nils.nygard@eksempelvik.test", "Nils Nygård 🧩")
NEW_PASSWORD = "Åse sin hemmelige sti 🌷 2026"
LINK = re.compile(re.escape(PUBLIC) + r"/invitation/([A-Za-z0-9_-]{43})")


def db_rows(server: LiveServer, sql: str, *args: Any) -> list[tuple[Any, ...]]:
    return database_rows(server, sql, args)


async def audit_rows(server: LiveServer, action: str) -> list[tuple[Any, ...]]:
    await server.services.audit.flush()
    rows = db_rows(
        server,
        "SELECT actor_user_id, role, plan_id, details FROM audit_log WHERE action = ? ORDER BY id",
        action,
    )
    return [(actor, role, plan, json.loads(details)) for actor, role, plan, details in rows]


async def aase_plan(server: LiveServer, world: World) -> str:
    """A plan about Åse with Kari as koordinator; Åse herself has no account yet."""
    repos = server.services.repos
    municipality = await repos.plans.get_or_create_municipality("Eksempelvik kommune")
    plan = await repos.plans.create_plan(municipality, PLAN_TITLE, AASE[1])
    await repos.plans.add_zone(plan.id, "area", "skole", AREA_TITLE, 0)
    await repos.plans.add_member(plan.id, world.users["koordinator"], "koordinator")
    return plan.id


async def invite(
    http: httpx.AsyncClient, plan_id: str, email: str, name: str, role: str, **extra: str
) -> httpx.Response:
    page = await http.get(f"/plans/{plan_id}")
    data = {"csrf_token": csrf_of(page.text), "email": email, "name": name, "role": role, **extra}
    return await http.post(f"/plans/{plan_id}/invitations", data=data)


async def post_form(http: httpx.AsyncClient, page_path: str, path: str, **data: str) -> Any:
    page = await http.get(page_path)
    return await http.post(path, data={"csrf_token": csrf_of(page.text), **data})


def alert(html: str) -> str:
    match = re.search(r'role="alert"[^>]*>(.*?)</(?:p|div)>', html, re.S)
    assert match, "the refusal is an alert"
    return re.sub(r"<[^>]+>", " ", match.group(1))


def error_key(html: str) -> str:
    match = re.search(r'data-error="([^"]+)"', html)
    assert match, html
    return match.group(1)


async def mail_to(inbox: Inbox, address: str, count: int = 1) -> list[Any]:
    await wait_for(lambda: len(inbox.to(address)) >= count, timeout=20, what=f"mail to {address}")
    return inbox.to(address)


def token_of(message: Any) -> str:
    match = LINK.search(message.get_content())
    assert match, "the e-mail holds the link, on SAMPLAN_PUBLIC_URL"
    return match.group(1)


def invitation_count(server: LiveServer) -> int:
    return int(db_rows(server, "SELECT count(*) FROM invitations")[0][0])


def outbox_count(server: LiveServer) -> int:
    return int(db_rows(server, "SELECT count(*) FROM email_outbox")[0][0])


def role_in(server: LiveServer, plan_id: str, email: str) -> str | None:
    rows = db_rows(
        server,
        "SELECT m.role FROM memberships m JOIN users u ON u.id = m.user_id "
        "WHERE m.plan_id = ? AND u.email = ?",
        plan_id,
        email,
    )
    return rows[0][0] if rows else None


def user_exists(server: LiveServer, email: str) -> bool:
    return bool(db_rows(server, "SELECT 1 FROM users WHERE email = ?", email))


def test_password_strength_rule() -> None:
    assert password_problem("kort") == "password.error.short"
    assert password_problem("ååååååååååååå") == "password.error.common"
    assert password_problem("Password123") == "password.error.common"
    assert password_problem("aase.plan", email="aase.plan@eksempelvik.test") == (
        "password.error.short"
    )
    assert password_problem("Åse Ødegård", name="Åse Ødegård") == "password.error.personal"
    assert password_problem("aase.plan.x", email="aase.plan.x@e.test") == "password.error.personal"
    assert password_problem("Aase@E.test", email="aase@e.test") == "password.error.personal"
    assert password_problem(NEW_PASSWORD, email=AASE[0], name=AASE[1]) is None


@pytest.fixture
def settings(tmp_path: Path, inbox: Inbox, server_database: str) -> Settings:
    return mail_settings(tmp_path, inbox, database_url=server_database)


async def test_invite_three_and_each_accepts_once(
    web: LiveServer, world: World, inbox: Inbox, caplog: pytest.LogCaptureFixture
) -> None:
    server = web
    plan_id = await aase_plan(server, world)
    per = ROLE_USERS["leser"]
    async with signed_in(server.http, ROLE_USERS["koordinator"][0]) as kari:
        for email, name, role, extra in (
            (*AASE, "planeier", {}),
            (*NILS, "deltaker", {"unit": "PPT Eksempelvik", "contribution": "Kartlegging æøå"}),
            (per[0].upper(), per[1], "leser", {}),
        ):
            sent = await invite(kari, plan_id, email, name, role, **extra)
            assert sent.status_code == 303, sent.text
            assert sent.headers["location"] == f"/plans/{plan_id}?invited=1#plan-invitations"
        page = await kari.get(f"/plans/{plan_id}?invited=1")
        assert "Invitasjonen er sendt." in page.text
        roles = re.findall(r'<option value="([a-z]+)"', page.text)
        assert roles == ["planeier", "verge", "deltaker", "leser"]  # never koordinator
        assert "Ventende invitasjoner" in page.text
        for name in (AASE[1], NILS[1], per[1]):
            assert name in page.text  # the koordinator sees who has not yet accepted

    tokens = {}
    for address in (AASE[0], NILS[0], per[0]):
        [message] = await mail_to(inbox, address)
        text = f"{message['Subject']}\n{message.get_content()}"
        tokens[address] = token_of(message)
        assert "planen til Å. Ø." in text  # initials, as every e-mail
        assert "7 dager" in text
        for secret in (*AASE[1].split(), "Nils", "Nygård", "Per Lund", PLAN_TITLE, AREA_TITLE):
            assert secret not in text, secret
        for secret in ("PPT", "Kartlegging", "planeier", "deltaker", "Individuell plan"):
            assert secret not in text, secret
    # Only hashes are stored.
    stored = {h for (h,) in db_rows(server, "SELECT token_hash FROM invitations")}
    assert not stored & set(tokens.values())

    # Åse has no account: she chooses a name and a password and lands in her plan.
    async with httpx.AsyncClient(base_url=server.http) as aase:
        link = f"/invitation/{tokens[AASE[0]]}"
        form = await aase.get(link)
        assert form.status_code == 200 and 'data-mode="create"' in form.text
        assert "Å. Ø." in form.text and PLAN_TITLE not in form.text and AREA_TITLE not in form.text
        for password, again, key in (
            ("kort 🙂", "kort 🙂", "password.error.short"),
            (NEW_PASSWORD, NEW_PASSWORD + "x", "password.error.mismatch"),
            ("Åse Ødegård", "Åse Ødegård", "password.error.personal"),
        ):
            refused = await aase.post(
                link,
                data={
                    "csrf_token": csrf_of(form.text),
                    "name": AASE[1],
                    "password": password,
                    "password_again": again,
                },
            )
            assert refused.status_code == 400 and error_key(refused.text) == key
            assert 'role="alert"' in refused.text
            assert not user_exists(server, AASE[0])  # nothing written
        joined = await aase.post(
            link,
            data={
                "csrf_token": csrf_of(form.text),
                "name": AASE[1],
                "password": NEW_PASSWORD,
                "password_again": NEW_PASSWORD,
            },
        )
        assert joined.status_code == 303 and joined.headers["location"] == f"/plans/{plan_id}"
        plan_page = await aase.get(f"/plans/{plan_id}")
        assert plan_page.status_code == 200 and PLAN_TITLE in plan_page.text
        again = await aase.get(link)  # the link is spent, even for her
        assert again.status_code == 410 and error_key(again.text) == "invitation.error.used"
    assert role_in(server, plan_id, AASE[0]) == "planeier"
    async with signed_in(server.http, AASE[0], NEW_PASSWORD):
        pass  # the password she chose works

    # Per has an account: he signs in as himself and joins.
    async with httpx.AsyncClient(base_url=server.http) as per_http:
        link = f"/invitation/{tokens[per[0]]}"
        first = await per_http.get(link)
        assert 'data-mode="signin"' in first.text and f"/login?next={link}" in first.text
        assert (await log_in(per_http, per[0])).status_code == 303
        join = await per_http.get(link)
        assert 'data-mode="join"' in join.text
        joined = await per_http.post(link, data={"csrf_token": csrf_of(join.text)})
        # A leser sees the plan once the planeier consents, like any member.
        assert joined.status_code == 303 and joined.headers["location"] == "/plans?joined=1"
        waiting = await per_http.get("/plans?joined=1")
        assert 'data-testid="plan-joined"' in waiting.text and "samtykket" in waiting.text
        assert (await per_http.get(f"/plans/{plan_id}")).status_code == 404
        used = await per_http.post(link, data={"csrf_token": csrf_of(join.text)})
        assert used.status_code == 410 and error_key(used.text) == "invitation.error.used"
    assert role_in(server, plan_id, per[0]) == "leser"

    # Nils is new; his unit and contribution come from the invitation.
    async with httpx.AsyncClient(base_url=server.http) as nils:
        link = f"/invitation/{tokens[NILS[0]]}"
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
        assert joined.status_code == 303 and joined.headers["location"] == "/plans?joined=1"
        mine = await nils.get("/plans")
        assert mine.status_code == 200 and PLAN_TITLE in mine.text
    rows = db_rows(
        server,
        "SELECT m.role, m.unit, m.contribution FROM memberships m JOIN users u "
        "ON u.id = m.user_id WHERE u.email = ?",
        NILS[0],
    )
    assert rows == [("deltaker", "PPT Eksempelvik", "Kartlegging æøå")]

    # Every link is spent; a stranger holding one gets nowhere.
    async with httpx.AsyncClient(base_url=server.http) as stranger:
        for token in tokens.values():
            spent = await stranger.get(f"/invitation/{token}")
            assert spent.status_code == 410 and "bare brukes én gang" in alert(spent.text)
    async with signed_in(server.http, ROLE_USERS["koordinator"][0]) as kari:
        page = await kari.get(f"/plans/{plan_id}")
        assert "Ingen ventende invitasjoner." in page.text

    # The server's request log shows no link: the token is the key.
    access = [r.getMessage() for r in caplog.records if r.name == "uvicorn.access"]
    assert any("/invitation/[scrubbed]" in line for line in access)
    assert not any(token in line for line in access for token in tokens.values())

    created = await audit_rows(server, "invitation_create")
    accepted = await audit_rows(server, "invitation_accept")
    assert [(a, r, p) for a, r, p, _ in created] == [
        (world.users["koordinator"], "koordinator", plan_id)
    ] * 3
    assert sorted(d["role"] for *_, d in created) == ["deltaker", "leser", "planeier"]
    assert sorted((r, d["new_account"]) for _, r, _, d in accepted) == [
        ("deltaker", True),
        ("leser", False),
        ("planeier", True),
    ]
    for *_, details in created + accepted:
        assert set(details) <= {"invitation", "role", "new_account", "method"}


async def test_used_expired_withdrawn_and_replaced_links_are_refused(
    web: LiveServer, world: World, inbox: Inbox
) -> None:
    server = web
    plan_id = await aase_plan(server, world)
    people = {
        "expired": ("utlopt@eksempelvik.test", "Ærlig Utløpt"),
        "withdrawn": ("trukket@eksempelvik.test", "Øystein Trukket"),
        "resent": ("ny.lenke@eksempelvik.test", "Åsmund Ny 🔁"),
    }
    async with signed_in(server.http, ROLE_USERS["koordinator"][0]) as kari:
        for email, name in people.values():
            assert (await invite(kari, plan_id, email, name, "deltaker")).status_code == 303
        tokens = {k: token_of((await mail_to(inbox, e))[0]) for k, (e, _) in people.items()}
        ids = dict(db_rows(server, "SELECT email, id FROM invitations"))

        # Expired: the clock passed expires_at (written through the server's own engine).
        async with write_session(server.services.repos.sessionmaker) as session:
            await session.execute(
                update(Invitation)
                .where(Invitation.id == ids[people["expired"][0]])
                .values(expires_at=datetime.now(UTC) - timedelta(minutes=1))
            )
        page = await kari.get(f"/plans/{plan_id}")
        assert "Utløpt" in page.text  # the koordinator sees it expired, and may resend

        # Withdrawn.
        plan_path = f"/plans/{plan_id}"
        wid = ids[people["withdrawn"][0]]
        gone = await post_form(kari, plan_path, f"{plan_path}/invitations/{wid}/withdraw")
        assert gone.status_code == 303
        twice = await post_form(kari, plan_path, f"{plan_path}/invitations/{wid}/withdraw")
        assert twice.status_code == 409 and "tatt imot eller trukket tilbake" in alert(twice.text)
        resend_gone = await post_form(kari, plan_path, f"{plan_path}/invitations/{wid}/resend")
        assert resend_gone.status_code == 409

        # Resent: a new link, the old one dead.
        rid = ids[people["resent"][0]]
        again = await post_form(kari, plan_path, f"{plan_path}/invitations/{rid}/resend")
        assert again.status_code == 303
        messages = await mail_to(inbox, people["resent"][0], 2)
        new_token = token_of(messages[1])
        assert new_token != tokens["resent"]

    async with httpx.AsyncClient(base_url=server.http) as someone:
        for key, token, reason in (
            ("expired", tokens["expired"], "invitation.error.expired"),
            ("withdrawn", tokens["withdrawn"], "invitation.error.withdrawn"),
            ("resent", tokens["resent"], "invitation.error.unknown"),
            ("made up", "A" * 43, "invitation.error.unknown"),
            ("short", "kort-æøå", "invitation.error.unknown"),
        ):
            page = await someone.get(f"/invitation/{token}")
            assert page.status_code == 410, key
            assert error_key(page.text) == reason and 'role="alert"' in page.text
            tried = await someone.post(
                f"/invitation/{token}",
                data={
                    "csrf_token": "x",
                    "name": "Tyv 🦝",
                    "password": PASSWORD,
                    "password_again": PASSWORD,
                },
            )
            assert tried.status_code == 410 and error_key(tried.text) == reason
        # The new link works.
        form = await someone.get(f"/invitation/{new_token}")
        assert 'data-mode="create"' in form.text
    # The expired one, resent, works again with its new link.
    async with signed_in(server.http, ROLE_USERS["koordinator"][0]) as kari:
        eid = ids[people["expired"][0]]
        revived = await post_form(kari, plan_path, f"{plan_path}/invitations/{eid}/resend")
        assert revived.status_code == 303
    revived_token = token_of((await mail_to(inbox, people["expired"][0], 2))[1])
    async with httpx.AsyncClient(base_url=server.http) as someone:
        assert 'data-mode="create"' in (await someone.get(f"/invitation/{revived_token}")).text

    for email, _ in people.values():
        assert not user_exists(server, email)
        assert role_in(server, plan_id, email) is None
    assert db_rows(server, "SELECT resent_count FROM invitations WHERE id = ?", rid) == [(1,)]
    withdrawn = await audit_rows(server, "invitation_withdraw")
    resent = await audit_rows(server, "invitation_resend")
    assert [d for *_, d in withdrawn] == [{"invitation": wid}]
    assert [d for *_, d in resent] == [{"invitation": rid}, {"invitation": eid}]


async def test_closed_plans_take_no_invitations_and_deleted_plans_leave_none(
    web: LiveServer, world: World, inbox: Inbox
) -> None:
    server = web
    plan_id = await aase_plan(server, world)
    base = f"/plans/{plan_id}"
    async with signed_in(server.http, ROLE_USERS["koordinator"][0]) as kari:
        assert (await invite(kari, plan_id, *AASE, "planeier")).status_code == 303
        assert (await invite(kari, plan_id, *NILS, "deltaker")).status_code == 303
        ids = dict(db_rows(server, "SELECT email, id FROM invitations"))
        assert await server.services.plans.set_plan_status(plan_id, "closed")
        page = await kari.get(base)
        assert "invite-form" not in page.text and "Ventende invitasjoner" in page.text
        refused = await post_form(
            kari, base, f"{base}/invitations", email="x@eksempelvik.test", name="X", role="leser"
        )
        assert refused.status_code == 409
        resent = await post_form(kari, base, f"{base}/invitations/{ids[AASE[0]]}/resend")
        assert resent.status_code == 409
        withdrawn = await post_form(kari, base, f"{base}/invitations/{ids[NILS[0]]}/withdraw")
        assert withdrawn.status_code == 303  # taking one back is still possible
    assert invitation_count(server) == 2
    await wait_for(lambda: len(inbox.messages) == 2, timeout=20, what="two e-mails")
    assert outbox_count(server) == 2
    # Deleting the plan takes its invitations and their e-mails (addresses) with it.
    assert await server.services.plans.delete_plan(plan_id) is not None
    assert invitation_count(server) == 0 and outbox_count(server) == 0


async def test_a_signed_in_different_person_is_refused(
    web: LiveServer, world: World, inbox: Inbox
) -> None:
    server = web
    plan_id = await aase_plan(server, world)
    async with signed_in(server.http, ROLE_USERS["koordinator"][0]) as kari:
        assert (await invite(kari, plan_id, *AASE, "planeier")).status_code == 303
    token = token_of((await mail_to(inbox, AASE[0]))[0])
    # Jonas (signed in as himself) opens Åse's link: refused, and nothing changes.
    async with signed_in(server.http, ROLE_USERS["planeier"][0]) as jonas:
        page = await jonas.get(f"/invitation/{token}")
        assert page.status_code == 403
        assert error_key(page.text) == "invitation.error.other_person"
        assert "Ingenting er endret" in alert(page.text)
        tried = await jonas.post(f"/invitation/{token}", data={"csrf_token": csrf_of(page.text)})
        assert tried.status_code == 403
    assert role_in(server, plan_id, ROLE_USERS["planeier"][0]) is None
    assert role_in(server, plan_id, AASE[0]) is None
    assert db_rows(server, "SELECT accepted_at FROM invitations") == [(None,)]
    async with httpx.AsyncClient(base_url=server.http) as aase:
        # A form without its token (made elsewhere) is refused and creates nothing.
        await aase.get(f"/invitation/{token}")
        forged = await aase.post(
            f"/invitation/{token}",
            data={"name": AASE[1], "password": NEW_PASSWORD, "password_again": NEW_PASSWORD},
        )
        assert forged.status_code == 403
        assert error_key(forged.text) == "invitation.error.expired_form"
        assert not user_exists(server, AASE[0])
        # Her own link still works for her, in English too.
        page = await aase.get(f"/invitation/{token}", params={"lang": "en"})
        assert 'data-mode="create"' in page.text
        assert "You are invited as plan owner in the individual plan for Å. Ø." in page.text
        assert "Create account and join" in page.text


async def test_bad_invitations_are_refused_and_nothing_is_sent(
    web: LiveServer, world: World, inbox: Inbox
) -> None:
    server = web
    plan_id = world.plan_id
    deltaker = ROLE_USERS["deltaker"]
    async with signed_in(server.http, ROLE_USERS["koordinator"][0]) as kari:
        for email, name, role, key, status in (
            (deltaker[0], deltaker[1], "leser", "invite.error.member", 409),
            (
                "ny.koordinator@eksempelvik.test",
                "Kåre Ny",
                "koordinator",
                "invite.error.koordinator",
                400,
            ),
            ("ikke-en-adresse 🙃", "Åse Ødegård", "deltaker", "invite.error.email", 400),
            ("åse@", "Åse Ødegård", "deltaker", "invite.error.email", 400),
            ("ok@eksempelvik.test", "", "deltaker", "invite.error.name", 400),
            ("ok@eksempelvik.test", "Åse Ødegård", "sjef", "invite.error.role", 400),
        ):
            refused = await invite(kari, plan_id, email, name, role, unit="Skole 🏫")
            assert refused.status_code == status, (email, role)
            assert error_key(refused.text) == key
            assert 'role="alert"' in refused.text and "Skole 🏫" in refused.text  # kept
        koordinator = await invite(kari, plan_id, "kaare@eksempelvik.test", "Kåre", "koordinator")
        assert "bare én koordinator" in alert(koordinator.text)
        bad = await invite(kari, plan_id, "ikke-en-adresse 🙃", "Åse", "deltaker")
        assert "«ikke-en-adresse 🙃» er ikke en e-postadresse" in alert(bad.text)
        # A second invitation to a pending address is refused too.
        assert (await invite(kari, plan_id, *NILS, "deltaker")).status_code == 303
        twice = await invite(kari, plan_id, NILS[0], NILS[1], "leser")
        assert twice.status_code == 409 and error_key(twice.text) == "invite.error.pending"
        # An expired form token.
        stale = await kari.post(
            f"/plans/{plan_id}/invitations",
            data={
                "csrf_token": "gammel",
                "email": "x@eksempelvik.test",
                "name": "X",
                "role": "leser",
            },
        )
        assert stale.status_code == 403
    assert invitation_count(server) == 1 and outbox_count(server) == 1
    assert [d for *_, d in await audit_rows(server, "invitation_create")] == [
        {"invitation": 1, "role": "deltaker"}
    ]


async def test_already_a_member_when_accepting(web: LiveServer, world: World, inbox: Inbox) -> None:
    server = web
    plan_id = await aase_plan(server, world)
    verge = ROLE_USERS["verge"]
    async with signed_in(server.http, ROLE_USERS["koordinator"][0]) as kari:
        assert (await invite(kari, plan_id, *verge, "verge")).status_code == 303
    token = token_of((await mail_to(inbox, verge[0]))[0])
    # Meanwhile someone added Line by another route.
    await server.services.plans.add_member(plan_id, world.users["verge"], "leser")
    async with signed_in(server.http, verge[0]) as line:
        page = await line.get(f"/invitation/{token}")
        assert page.status_code == 409 and error_key(page.text) == "invitation.error.member"
        tried = await line.post(f"/invitation/{token}", data={"csrf_token": csrf_of(page.text)})
        assert tried.status_code == 409
    assert role_in(server, plan_id, verge[0]) == "leser"  # unchanged
    assert db_rows(server, "SELECT accepted_at FROM invitations") == [(None,)]


async def test_a_deltaker_cannot_do_what_the_koordinator_does(
    web: LiveServer, world: World, inbox: Inbox
) -> None:
    server = web
    plan_id = world.plan_id
    async with signed_in(server.http, ROLE_USERS["koordinator"][0]) as kari:
        assert (await invite(kari, plan_id, *NILS, "deltaker")).status_code == 303
    [(invitation_id, before)] = db_rows(server, "SELECT id, token_hash FROM invitations")
    base = f"/plans/{plan_id}"
    async with signed_in(server.http, ROLE_USERS["deltaker"][0]) as aase:
        page = await aase.get(base)
        assert "Ventende invitasjoner" not in page.text and "invite-form" not in page.text
        token = csrf_of(page.text)
        for path, data in (
            (
                f"{base}/invitations",
                {"email": "venn@eksempelvik.test", "name": "Venn 🤝", "role": "leser"},
            ),
            (f"{base}/invitations/{invitation_id}/resend", {}),
            (f"{base}/invitations/{invitation_id}/withdraw", {}),
        ):
            refused = await aase.post(path, data={"csrf_token": token, **data})
            assert refused.status_code == 403, path
            assert "Bare koordinatoren" in alert(refused.text)
    await server.services.repos.users.set_password_hash(
        world.users["outsider"], hash_password(PASSWORD)
    )
    async with signed_in(server.http, OUTSIDER[0]) as ola:
        page = await ola.get("/plans")
        refused = await ola.post(
            f"{base}/invitations/{invitation_id}/withdraw", data={"csrf_token": csrf_of(page.text)}
        )
        assert refused.status_code == 404
    assert db_rows(
        server, "SELECT id, token_hash, withdrawn_at, resent_count FROM invitations"
    ) == [(invitation_id, before, None, 0)]
    assert outbox_count(server) == 1
    assert await audit_rows(server, "invitation_withdraw") == []


@pytest.fixture
async def oidc_with_kari(oidc: Setup) -> Setup:  # noqa: F811
    await oidc.app.services.repos.users.set_password_hash(
        oidc.world.users["koordinator"], hash_password(PASSWORD)
    )
    return oidc


async def test_with_oidc_accepting_links_the_identity(oidc_with_kari: Setup) -> None:
    setup = oidc_with_kari
    app, provider, world = setup.app, setup.provider, setup.world
    async with signed_in(app.http, ROLE_USERS["koordinator"][0]) as kari:
        assert (await invite(kari, world.plan_id, *AASE, "verge")).status_code == 303
        assert (await invite(kari, world.plan_id, *NILS, "deltaker")).status_code == 303
    outbox = await app.services.repos.notifications.outbox()
    links = {e.to: re.search(r"/invitation/([A-Za-z0-9_-]{43})", e.body) for e in outbox}
    tokens = {to: match.group(1) for to, match in links.items() if match}

    async with httpx.AsyncClient(base_url=app.http) as stranger:
        # Someone else's identity at the provider: refused, nothing created.
        provider.email, provider.name = "noen.andre@eksempelvik.test", "Noen Andre"
        page = await stranger.get(f"/invitation/{tokens[NILS[0]]}")
        assert 'data-mode="oidc"' in page.text and "Logg inn med ID-porten" in page.text
        assert "invitation-password" not in page.text  # no password is chosen with OIDC on
        refused = await stranger.get(f"/invitation/{tokens[NILS[0]]}/oidc", follow_redirects=True)
        assert refused.status_code == 403
        assert error_key(refused.text) == "invitation.error.other_identity"
        assert not user_exists(app, provider.email) and not user_exists(app, NILS[0])
        # A password POST is refused too: the identity is what links.
        login = await stranger.get("/login")  # a form token for this browser
        form = {"csrf_token": csrf_of(login.text), "name": "X", "password": PASSWORD}
        posted = await stranger.post(f"/invitation/{tokens[NILS[0]]}", data=form)
        assert posted.status_code == 400 and not user_exists(app, NILS[0])

    async with httpx.AsyncClient(base_url=app.http) as aase:
        provider.email, provider.name = AASE[0].upper(), "Åse Ødegård"
        landed = await aase.get(f"/invitation/{tokens[AASE[0]]}/oidc", follow_redirects=True)
        assert landed.status_code == 200 and landed.url.path == f"/plans/{world.plan_id}"
        again = await aase.get(f"/invitation/{tokens[AASE[0]]}/oidc", follow_redirects=True)
        assert again.status_code == 410
    assert role_in(app, world.plan_id, AASE[0]) == "verge"
    assert db_rows(app, "SELECT name, password_hash FROM users WHERE email = ?", AASE[0]) == [
        ("Åse Ødegård", None)
    ]
    accepted = await audit_rows(app, "invitation_accept")
    assert [d["method"] for *_, d in accepted] == ["oidc"]
