"""Accounts (issue 12): "Glemt passord" by e-mail through a real SMTP server (aiosmtpd), a
one-time link that expires; "Min konto" (name, password, deactivate); the koordinator's
deactivation, allowed only for someone in no plan but theirs; and the command line.
A deactivated account's sessions, cookies, tokens and sockets are refused at once, its name
stays on what it wrote, and every action is an audit row."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import re
import subprocess
import sys
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
import websockets

from crdt.client import YClient
from crdt.protocol import CloseCode
from server.settings import Settings
from storage.models import utcnow
from storage.repositories.accounts import AccountRepo
from tests.support.database import arows, is_postgres
from tests.support.live import LiveServer
from tests.support.mail import PUBLIC, Inbox, mail_settings
from tests.support.waiting import wait_for
from tests.support.web import PASSWORD, csrf_of, log_in
from tests.support.world import ROLE_USERS, World

pytestmark = pytest.mark.both_databases

NEW_PASSWORD = "Nytt passord for Åse 🌻 æøå"
ASE = ROLE_USERS["deltaker"]  # ("ase.odegard@eksempelvik.test", "Åse Ødegård")
PER = ROLE_USERS["leser"]


@contextlib.asynccontextmanager
async def browser_as(server: LiveServer, email: str | None) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=server.http, timeout=60) as http:
        if email is not None:
            assert (await log_in(http, email)).status_code == 303
        yield http


def _cookie(http: httpx.AsyncClient) -> str:
    return str(http.cookies["samplan_session"])


def _headers(server: LiveServer, cookie: str) -> dict[str, str]:
    return {"Origin": server.http, "Cookie": f"samplan_session={cookie}"}


async def _zone(server: LiveServer, world: World, *, cookie: str = "", token: str = "") -> YClient:
    client = YClient(server.ws_url(world.room("content"), token or None))
    await client.connect(additional_headers=_headers(server, cookie) if cookie else None)
    await client.wait_for(client.synced.is_set)
    return client


async def _refused(server: LiveServer, world: World, *, cookie: str = "", token: str = "") -> int:
    """The close code a new zone socket gets (it is accepted, then closed with a code)."""
    url = server.ws_url(world.room("content"), token or None)
    headers = _headers(server, cookie) if cookie else None
    async with websockets.connect(url, additional_headers=headers) as ws:
        with pytest.raises(websockets.ConnectionClosed):
            while True:
                await asyncio.wait_for(ws.recv(), 30)
        assert ws.close_code is not None
        return ws.close_code


async def _post_form(http: httpx.AsyncClient, page: str, path: str, **data: str) -> httpx.Response:
    form = await http.get(page)
    return await http.post(path, data={"csrf_token": csrf_of(form.text), **data})


async def _forgot(http: httpx.AsyncClient, email: str) -> httpx.Response:
    return await _post_form(http, "/login/forgot", "/login/forgot", email=email)


def _alert(html: str) -> str:
    match = re.search(r'role="alert"[^>]*>(.*?)</div>', html, re.S)
    assert match, "the error is in a role=alert box"
    return re.sub(r"<[^>]+>", " ", match.group(1))


async def _audit(server: LiveServer, settings: Settings) -> list[tuple[str, int | None, Any]]:
    await server.services.audit.flush()
    rows = await arows(settings, "SELECT action, actor_user_id, details FROM audit_log ORDER BY id")
    return [(a, u, json.loads(d) if d else {}) for a, u, d in rows]


def _link_in(message: Any) -> str:
    match = re.search(rf"{re.escape(PUBLIC)}(/login/reset\?token=[A-Za-z0-9_\-]+)", str(message))
    assert match, "the e-mail carries the reset link on the public URL"
    return match.group(1)


@pytest.fixture
def settings(tmp_path: Path, inbox: Inbox, server_database: str) -> Settings:
    return mail_settings(tmp_path, inbox, database_url=server_database)


async def test_reset_link_sets_the_password_once_and_logs_in(
    web: LiveServer, world: World, inbox: Inbox, settings: Settings
) -> None:
    handler = inbox
    async with (
        browser_as(web, ASE[0]) as other_browser,
        browser_as(web, None) as http,
    ):
        old_socket = await _zone(web, world, cookie=_cookie(other_browser))
        login = await http.get("/login")
        assert 'href="/login/forgot"' in login.text and "Glemt passord?" in login.text
        page = await _forgot(http, "  ASE.Odegard@eksempelvik.TEST ")
        assert page.status_code == 200 and 'data-testid="forgot-sent"' in page.text
        await wait_for(lambda: bool(handler.to(ASE[0])), timeout=30, what="the reset e-mail")
        message = handler.to(ASE[0])[0]
        body = message.get_content()
        assert message["Subject"] == "Samplan: Velg nytt passord"
        assert "Hei Åse Ødegård!" in body and "60 minutter" in body and "én gang" in body
        for plan_text in ("Jonas", "Individuell", "Skole"):  # no plan content
            assert plan_text not in body
        link = _link_in(body)
        raw = link.split("=", 1)[1]

        # Only the hash is kept; the outbox's copy of the body is emptied once sent.
        async def emptied() -> bool:
            return all(
                e.sent_at and e.body == "" for e in await web.services.repos.notifications.outbox()
            )

        await wait_for(emptied, what="the sent reset e-mail's body emptied")
        [(stored,)] = await arows(settings, "SELECT token_hash FROM password_resets")
        assert stored != raw and len(stored) == 64
        if not is_postgres(settings):  # nowhere in the file either (WAL, free pages)
            database = Path(settings.resolved_database_url().split("///")[1])
            assert raw.encode() not in await asyncio.to_thread(database.read_bytes)

        form = await http.get(link)
        assert form.status_code == 200 and 'name="token"' in form.text
        token = re.search(r'name="token" value="([^"]+)"', form.text).group(1)  # type: ignore[union-attr]

        async def submit(password: str, again: str | None = None) -> httpx.Response:
            fresh = await http.get("/login/forgot")  # the form token of the browser's session now
            return await http.post(
                "/login/reset",
                data={
                    "csrf_token": csrf_of(fresh.text),
                    "token": token,
                    "password": password,
                    "password2": password if again is None else again,
                },
            )

        weak = await submit("kort 🙂")
        assert weak.status_code == 400 and "minst 10 tegn" in _alert(weak.text)
        personal = await submit(ASE[0])
        assert personal.status_code == 400 and "navnet ditt eller e-postadressen" in _alert(
            personal.text
        )
        differ = await submit(NEW_PASSWORD, NEW_PASSWORD + "!")
        assert differ.status_code == 400 and "ikke like" in _alert(differ.text)
        assert (await http.get(link)).status_code == 200  # refusals did not spend the link

        done = await submit(NEW_PASSWORD)
        assert done.status_code == 303 and done.headers["location"] == "/plans"
        plans = await http.get("/plans")
        assert plans.status_code == 200 and "Åse Ødegård" in plans.text

        # Every other browser of the account is logged out, and its socket closed.
        assert await old_socket.wait_closed() == CloseCode.UNAUTHENTICATED
        assert (await other_browser.get("/plans")).status_code == 303

        # Used twice: a clear page, and nothing changes.
        again = await http.get(link)
        assert again.status_code == 410 and "allerede brukt" in _alert(again.text)
        replay = await submit("Et helt annet passord 🐙 æøå")
        assert replay.status_code == 410 and "allerede brukt" in _alert(replay.text)

    async with httpx.AsyncClient(base_url=web.http) as fresh:
        assert (await log_in(fresh, ASE[0], PASSWORD)).status_code == 401
        assert (await log_in(fresh, ASE[0], NEW_PASSWORD)).status_code == 303

    rows = await _audit(web, settings)
    uid = world.users["deltaker"]
    assert ("password_reset_request", uid, {"sent": True}) in rows
    assert any(a == "password_reset" and u == uid for a, u, _ in rows)
    assert ("login", uid, {"method": "password_reset"}) in rows
    assert raw not in json.dumps(rows) and NEW_PASSWORD not in json.dumps(rows, ensure_ascii=False)


async def test_unknown_address_gets_the_same_page_and_no_email(
    web: LiveServer, world: World, inbox: Inbox, settings: Settings
) -> None:
    handler = inbox
    await web.services.repos.accounts.deactivate(world.users["leser"], None)

    def shown(page: httpx.Response) -> str:
        return re.sub(r'value="[^"]+"', "", page.text)

    async with browser_as(web, None) as http:
        unknown = await _forgot(http, "ukjent.person@eksempelvik.test")
        deactivated = await _forgot(http, PER[0])
        known = await _forgot(http, ASE[0])
        bad = await _forgot(http, "ikke en adresse 🙂")
    assert unknown.status_code == deactivated.status_code == known.status_code == 200
    assert shown(unknown) == shown(known) == shown(deactivated)
    assert bad.status_code == 400 and "gyldig e-postadresse" in _alert(bad.text)

    await wait_for(lambda: bool(handler.to(ASE[0])), timeout=30, what="the one real e-mail")
    await web.services.mailer.drain()
    assert [m["To"] for m in handler.messages] == [ASE[0]]
    assert len(await web.services.repos.notifications.outbox()) == 1
    rows = [r for r in await _audit(web, settings) if r[0] == "password_reset_request"]
    # Each is recorded by a background task after its page went out: in any order.
    assert sorted(((u, d["sent"]) for _, u, d in rows), key=str) == sorted(
        [(None, False), (world.users["leser"], False), (world.users["deltaker"], True)], key=str
    )
    assert "ukjent" not in json.dumps(rows)  # never the typed address


async def test_reset_requests_are_limited_per_address(
    web: LiveServer, world: World, inbox: Inbox
) -> None:
    """Three links an hour per account; the fourth request looks the same and sends none."""
    handler = inbox
    async with browser_as(web, None) as http:
        pages = [await _forgot(http, ASE[0]) for _ in range(4)]
    assert all(p.status_code == 200 and 'data-testid="forgot-sent"' in p.text for p in pages)
    await wait_for(lambda: len(handler.to(ASE[0])) == 3, timeout=30, what="three e-mails")
    await web.services.mailer.drain()
    assert len(await web.services.repos.notifications.outbox()) == 3


async def test_an_expired_link_is_refused(web: LiveServer, world: World) -> None:
    two_hours_ago = AccountRepo(
        web.services.repos.sessionmaker, clock=lambda: utcnow() - timedelta(hours=2)
    )
    raw = await two_hours_ago.issue_reset(world.users["deltaker"], 3600)
    async with browser_as(web, None) as http:
        page = await http.get("/login/reset", params={"token": raw})
        assert page.status_code == 410 and "utløpt" in _alert(page.text)
        assert 'href="/login/forgot"' in page.text
        posted = await _post_form(
            http,
            "/login/forgot",
            "/login/reset",
            token=raw,
            password=NEW_PASSWORD,
            password2=NEW_PASSWORD,
        )
        assert posted.status_code == 410 and "utløpt" in _alert(posted.text)
        made_up = await http.get("/login/reset", params={"token": "æøå-🙂-ikke-en-lenke"})
        assert made_up.status_code == 410
        english = await http.get("/login/reset", params={"token": raw, "lang": "en"})
        assert "expired" in _alert(english.text)
        assert raw not in english.text  # the token is not carried into the language link
    assert (await log_in(httpx.AsyncClient(base_url=web.http), ASE[0])).status_code == 303


async def test_change_name_and_password_on_my_account(
    web: LiveServer, world: World, settings: Settings
) -> None:
    new_name = "Åse Ø. Ødegård 🌻"
    async with browser_as(web, ASE[0]) as http, browser_as(web, ASE[0]) as phone:
        page = await http.get("/plans")
        assert 'href="/account"' in page.text and "Min konto" in page.text
        account = await http.get("/account")
        assert account.status_code == 200 and ASE[0] in account.text and ASE[1] in account.text

        empty = await _post_form(http, "/account", "/account/name", name="   ")
        assert empty.status_code == 400 and "Skriv inn navnet ditt" in _alert(empty.text)
        saved = await _post_form(http, "/account", "/account/name", name=new_name)
        assert saved.status_code == 303 and saved.headers["location"] == "/account?saved=name"
        shown = await http.get("/account?saved=name")
        assert "Navnet er lagret." in shown.text and new_name in shown.text
        plan = await http.get(f"/plans/{world.plan_id}")
        assert new_name in plan.text

        async def change(current: str, new: str, again: str | None = None) -> httpx.Response:
            return await _post_form(
                http,
                "/account",
                "/account/password",
                current=current,
                password=new,
                password2=new if again is None else again,
            )

        wrong = await change("feil passord æøå", NEW_PASSWORD)
        assert wrong.status_code == 400 and "stemmer ikke" in _alert(wrong.text)
        weak = await change(PASSWORD, "aaaaaaaaaaaa")
        assert weak.status_code == 400 and "lett å gjette" in _alert(weak.text)
        named = await change(PASSWORD, new_name)
        assert named.status_code == 400 and "navnet ditt" in _alert(named.text)
        phone_socket = await _zone(web, world, cookie=_cookie(phone))
        done = await change(PASSWORD, NEW_PASSWORD)
        assert done.status_code == 303
        assert "Passordet er endret" in (await http.get(done.headers["location"])).text
        assert (await http.get("/plans")).status_code == 200  # this browser stays in
        assert await phone_socket.wait_closed() == CloseCode.UNAUTHENTICATED
        assert (await phone.get("/plans")).status_code == 303  # the other one is out
    async with httpx.AsyncClient(base_url=web.http) as fresh:
        assert (await log_in(fresh, ASE[0], NEW_PASSWORD)).status_code == 303
    assert (await web.services.repos.users.get(world.users["deltaker"])).name == new_name  # type: ignore[union-attr]
    actions = [(a, u) for a, u, _ in await _audit(web, settings)]
    uid = world.users["deltaker"]
    assert ("account_name_change", uid) in actions
    assert ("account_password_change_failed", uid) in actions
    assert ("account_password_change", uid) in actions


async def test_deactivating_myself_closes_everything_at_once(
    web: LiveServer, world: World, settings: Settings
) -> None:
    uid = world.users["deltaker"]
    token = world.token("deltaker")
    async with browser_as(web, ASE[0]) as http, browser_as(web, ASE[0]) as phone:
        cookie = _cookie(http)
        mine = await _zone(web, world, cookie=cookie)
        on_phone = await _zone(web, world, cookie=_cookie(phone))
        by_token = await _zone(web, world, token=token)
        events = await websockets.connect(
            f"ws://127.0.0.1:{web.port}/events", additional_headers=_headers(web, cookie)
        )
        koordinator = await _zone(web, world, token=world.token("koordinator"))

        unconfirmed = await _post_form(http, "/account", "/account/deactivate")
        assert unconfirmed.status_code == 400 and "Kryss av" in _alert(unconfirmed.text)
        assert mine.close_code is None

        done = await _post_form(http, "/account", "/account/deactivate", confirm="1")
        assert done.status_code == 200 and "Kontoen er deaktivert" in done.text
        for client in (mine, on_phone, by_token):
            assert await client.wait_closed() == CloseCode.UNAUTHENTICATED
        with pytest.raises(websockets.ConnectionClosed):
            while True:
                await asyncio.wait_for(events.recv(), 30)
        assert events.close_code == CloseCode.UNAUTHENTICATED
        assert koordinator.close_code is None  # nobody else's

        # The old cookie and the token are refused: pages, zone sockets, the event stream.
        async with httpx.AsyncClient(base_url=web.http, cookies={"samplan_session": cookie}) as old:
            assert (await old.get("/plans")).status_code == 303
            assert (await old.get("/account")).status_code == 303
        assert await _refused(web, world, cookie=cookie) == CloseCode.UNAUTHENTICATED
        assert await _refused(web, world, token=token) == CloseCode.UNAUTHENTICATED
        async with websockets.connect(
            f"ws://127.0.0.1:{web.port}/events", additional_headers=_headers(web, cookie)
        ) as again:
            with pytest.raises(websockets.ConnectionClosed):
                await asyncio.wait_for(again.recv(), 30)
            assert again.close_code == CloseCode.UNAUTHENTICATED
        await koordinator.close()

    async with httpx.AsyncClient(base_url=web.http) as fresh:
        refused = await log_in(fresh, ASE[0])
        assert refused.status_code == 403 and "deaktivert" in _alert(refused.text)
        # The name stays on the plan (and on what she wrote: names come from the account).
        assert (await log_in(fresh, ROLE_USERS["koordinator"][0])).status_code == 303
        assert ASE[1] in (await fresh.get(f"/plans/{world.plan_id}")).text
    assert (await web.services.repos.users.names([uid]))[uid] == ASE[1]
    notifications = web.services.repos.notifications  # and no more e-mail to the account
    assert await notifications.wants_email([uid, world.users["leser"]], "message") == {
        world.users["leser"]
    }
    rows = await _audit(web, settings)
    assert any(a == "account_deactivate" and u == uid and d["via"] == "self" for a, u, d in rows)
    assert ("login_failed", uid, {"method": "password", "reason": "deactivated"}) in rows


async def test_a_koordinator_deactivates_only_someone_in_no_other_plan(
    web: LiveServer, world: World, settings: Settings
) -> None:
    kari, per, ase = (world.users[r] for r in ("koordinator", "leser", "deltaker"))
    # Åse is also in a plan Kari does not coordinate: not Kari's account to end.
    await web.services.repos.plans.add_member(world.other_plan_id, ase, "leser")
    async with browser_as(web, ROLE_USERS["koordinator"][0]) as http:
        plan_url = f"/plans/{world.plan_id}"
        page = (await http.get(plan_url)).text
        assert f'data-testid="member-deactivate-{per}"' in page
        assert f'data-testid="member-deactivate-{ase}"' not in page
        assert f'data-testid="member-deactivate-{kari}"' not in page

        crafted = await _post_form(http, plan_url, f"{plan_url}/members/{ase}/deactivate")
        assert crafted.status_code == 403 and "bare er med i planer" in crafted.text
        no_token = await http.post(f"{plan_url}/members/{per}/deactivate", data={})
        assert no_token.status_code == 403
        outsider = world.users["outsider"]
        not_here = await _post_form(http, plan_url, f"{plan_url}/members/{outsider}/deactivate")
        assert not_here.status_code == 404
        assert await web.services.repos.accounts.is_active(per)

        # A deltaker's crafted POST is refused, whatever the target.
        async with browser_as(web, ASE[0]) as aase:
            by_deltaker = await _post_form(aase, plan_url, f"{plan_url}/members/{per}/deactivate")
            assert by_deltaker.status_code == 403
        assert await web.services.repos.accounts.is_active(per)

        per_socket = await _zone(web, world, token=world.token("leser"))
        done = await _post_form(http, plan_url, f"{plan_url}/members/{per}/deactivate")
        assert done.status_code == 303
        assert await per_socket.wait_closed() == CloseCode.UNAUTHENTICATED
        assert not await web.services.repos.accounts.is_active(per)
        assert await web.services.repos.accounts.is_active(ase)
    async with httpx.AsyncClient(base_url=web.http) as fresh:
        assert (await log_in(fresh, PER[0])).status_code == 403
    rows = await _audit(web, settings)
    assert (
        "account_deactivate",
        kari,
        {"user_id": per, "via": "koordinator", "sessions": 0},
    ) in rows
    assert any(a == "member_account_deactivate" and u == kari for a, u, _ in rows)
    found = await arows(settings, "SELECT deactivated_by FROM users WHERE id = :id", {"id": per})
    assert found == [(kari,)]


def _samplan(settings: Settings, *args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
    env = {
        **os.environ,
        "SAMPLAN_VAR_DIR": str(settings.var_dir),
        "SAMPLAN_DATABASE_URL": settings.resolved_database_url(),
        "SAMPLAN_SECRET_KEY": settings.resolved_secret_key(),
    }
    return subprocess.run(
        [sys.executable, "-m", "server.cli", *args],
        env=env,
        input=stdin,
        capture_output=True,
        text=True,
        timeout=120,
        cwd=Path(__file__).resolve().parent.parent,
    )


async def test_the_command_line_sets_passwords_and_deactivates_on_a_running_server(
    web: LiveServer, world: World, settings: Settings
) -> None:
    def run(*args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
        return _samplan(settings, *args, stdin=stdin)

    weak = await asyncio.to_thread(run, "user", "set-password", ASE[0], "--password", "kort")
    assert weak.returncode == 2 and "at least 10 characters" in weak.stderr
    unknown = await asyncio.to_thread(run, "user", "deactivate", "ukjent@eksempelvik.test")
    assert unknown.returncode == 2 and "no user with e-mail" in unknown.stderr

    async with browser_as(web, ASE[0]) as old:
        set_it = await asyncio.to_thread(
            run, "user", "set-password", ASE[0], stdin=NEW_PASSWORD + "\n"
        )
        assert set_it.returncode == 0, set_it.stderr
        assert (await old.get("/plans")).status_code == 303  # her sessions ended
    async with httpx.AsyncClient(base_url=web.http) as fresh:
        assert (await log_in(fresh, ASE[0], NEW_PASSWORD)).status_code == 303

    # Deactivated from another process: the server closes Per's socket at its next poll.
    per_socket = await _zone(web, world, token=world.token("leser"))
    off = await asyncio.to_thread(run, "user", "deactivate", PER[0])
    assert off.returncode == 0 and "deactivated" in off.stdout, off.stderr
    assert await per_socket.wait_closed() in (CloseCode.FORBIDDEN, CloseCode.UNAUTHENTICATED)
    assert await _refused(web, world, token=world.token("leser")) == CloseCode.UNAUTHENTICATED
    async with httpx.AsyncClient(base_url=web.http) as fresh:
        assert (await log_in(fresh, PER[0])).status_code == 403
    twice = await asyncio.to_thread(run, "user", "deactivate", PER[0])
    assert twice.returncode == 0 and "already" in twice.stdout
    on = await asyncio.to_thread(run, "user", "reactivate", PER[0])
    assert on.returncode == 0, on.stderr
    async with httpx.AsyncClient(base_url=web.http) as fresh:
        assert (await log_in(fresh, PER[0])).status_code == 303

    rows = await _audit(web, settings)
    per = world.users["leser"]
    assert ("account_password_set", None) in [(a, u) for a, u, _ in rows]
    assert ("account_deactivate", None, {"user_id": per, "via": "operator", "sessions": 0}) in rows
    assert ("account_reactivate", None, {"user_id": per, "via": "operator"}) in rows
