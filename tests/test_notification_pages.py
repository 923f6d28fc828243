"""The notification pages over real HTTP: the list, opening one (CSRF, only your own), the
bell's count, Mine planer's unread messages, marking a plan's messages read, and the e-mail
preferences (CSRF, bad input changes nothing)."""

from __future__ import annotations

import contextlib
import re
from collections.abc import AsyncIterator
from urllib.parse import unquote

import httpx
import pytest

from tests.support.live import LiveServer
from tests.support.web import csrf_of, log_in
from tests.support.world import ROLE_USERS, World

pytestmark = pytest.mark.both_databases


@contextlib.asynccontextmanager
async def _client(web: LiveServer, role: str) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=web.http) as http:
        response = await log_in(http, ROLE_USERS[role][0])
        assert response.status_code == 303
        yield http


async def test_list_open_and_count(web: LiveServer, world: World) -> None:
    notifier = web.services.notifier
    made = await notifier.message_posted(world.plan_id, "melding-æøå", str(world.users["deltaker"]))
    assert {n.user_id for n in made} == {
        world.users[r] for r in ("planeier", "verge", "koordinator", "leser")
    }
    async with httpx.AsyncClient(base_url=web.http) as anonymous:
        assert (await anonymous.get("/notifications")).status_code == 303
        assert (await anonymous.get("/notifications/unread")).status_code == 401
    mine = next(n for n in made if n.user_id == world.users["koordinator"])
    other = next(n for n in made if n.user_id == world.users["leser"])
    async with _client(web, "koordinator") as http:
        assert (await http.get("/notifications/unread")).json() == {"unread": 1}
        plans = (await http.get("/plans")).text
        assert re.search(r"plans\.unread|Nytt siden sist", plans)
        page = await http.get("/notifications")
        assert page.status_code == 200
        assert f'data-testid="notification-{mine.id}"' in page.text
        assert "Ny melding" in page.text and 'data-unread="true"' in page.text
        assert f"notification-{other.id}" not in page.text
        token = csrf_of(page.text)
        refused = await http.post(f"/notifications/{mine.id}/open", data={"csrf_token": "feil"})
        assert refused.status_code == 403
        assert (await http.get("/notifications/unread")).json() == {"unread": 1}
        foreign = await http.post(f"/notifications/{other.id}/open", data={"csrf_token": token})
        assert foreign.status_code == 404
        bad = await http.post("/notifications/abc/open", data={"csrf_token": token})
        assert bad.status_code == 404
        opened = await http.post(f"/notifications/{mine.id}/open", data={"csrf_token": token})
        assert opened.status_code == 303
        assert unquote(opened.headers["location"]) == f"/plans/{world.plan_id}#message-melding-æøå"
        assert (await http.get("/notifications/unread")).json() == {"unread": 0}
        assert "Nytt siden sist" not in (await http.get("/plans")).text
    async with _client(web, "leser") as http:
        plans = (await http.get("/plans")).text
        assert "Nytt siden sist" in plans
        token = csrf_of(plans)
        url = f"/plans/{world.plan_id}/messages/read"
        assert (await http.post(url, data={"csrf_token": "feil"})).status_code == 403
        assert (
            await http.post(
                f"/plans/{world.other_plan_id}/messages/read", data={"csrf_token": token}
            )
        ).status_code == 404
        marked = await http.post(url, data={"csrf_token": token})
        assert marked.json() == {"unread": 0, "marked": 1}
        assert "Nytt siden sist" not in (await http.get("/plans")).text
    async with _client(web, "verge") as http:
        page = await http.get("/notifications")
        read_all = await http.post("/notifications/read", data={"csrf_token": csrf_of(page.text)})
        assert read_all.status_code == 303
        assert (await http.get("/notifications/unread")).json() == {"unread": 0}


async def test_email_preferences(web: LiveServer, world: World) -> None:
    repo = web.services.repos.notifications
    user = world.users["deltaker"]
    async with _client(web, "deltaker") as http:
        page = await http.get("/settings/notifications")
        assert page.status_code == 200
        assert "<legend>" in page.text and 'data-testid="pref-message"' in page.text
        assert re.search(r'value="message" data-testid="pref-message" checked', page.text)
        assert not re.search(r'value="comment" data-testid="pref-comment" checked', page.text)
        token = csrf_of(page.text)
        before = await repo.email_prefs(user)
        no_csrf = await http.post("/settings/notifications", data={"email": ["comment"]})
        assert no_csrf.status_code == 403
        bad = await http.post(
            "/settings/notifications", data={"csrf_token": token, "email": ["comment", "søppel"]}
        )
        assert bad.status_code == 400 and "Ingenting ble endret" in bad.text
        assert await repo.email_prefs(user) == before
        saved = await http.post(
            "/settings/notifications", data={"csrf_token": token, "email": ["comment", "minutes"]}
        )
        assert saved.status_code == 303
        prefs = await repo.email_prefs(user)
        assert prefs["comment"] and prefs["minutes"] and not prefs["message"]
        assert not prefs["deadline"]
        again = await http.get(saved.headers["location"])
        assert 'data-testid="prefs-saved"' in again.text and 'role="status"' in again.text
    async with httpx.AsyncClient(base_url=web.http) as anonymous:
        assert (await anonymous.get("/settings/notifications")).status_code == 303


async def test_language_setting(web: LiveServer, world: World) -> None:
    """The settings page shows the account's language in a labelled select, saves a choice
    (with a valid form token; the pages follow at once) and refuses anything else with an
    alert, changing nothing."""
    users = web.services.repos.users
    aase = world.users["deltaker"]
    async with _client(web, "deltaker") as http:
        page = await http.get("/settings/notifications")
        assert '<label for="pref-language">Språk i Samplan og i e-post</label>' in page.text
        assert re.search(r'<select[^>]* id="pref-language" name="language"', page.text)
        assert 'aria-describedby="pref-language-hint"' in page.text
        assert '<option value="nb" lang="nb" selected>Norsk bokmål</option>' in page.text
        assert '<option value="en" lang="en">English</option>' in page.text
        assert '<option value="nn" lang="nn">Norsk nynorsk</option>' in page.text
        token = csrf_of(page.text)
        form = {"csrf_token": token, "email": ["message"]}

        refused = await http.post("/settings/notifications", data={**form, "csrf_token": "feil"})
        assert refused.status_code == 403
        bad = await http.post("/settings/notifications", data={**form, "language": "svensk 🇸🇪"})
        assert bad.status_code == 400
        alert = re.search(r'<div class="error-box" role="alert"[^>]*>(.*?)</div>', bad.text, re.S)
        assert alert
        assert "Velg bokmål, nynorsk eller engelsk. Ingenting ble endret." in alert.group(1)
        assert 'aria-invalid="true" aria-describedby="prefs-error pref-language-hint"' in bad.text
        assert "svensk" not in bad.text
        assert (await users.get(aase)).language is None  # type: ignore[union-attr]
        assert (await web.services.repos.notifications.email_prefs(aase))["minutes"]

        saved = await http.post("/settings/notifications", data={**form, "language": "en"})
        assert saved.status_code == 303
        assert (await users.get(aase)).language == "en"  # type: ignore[union-attr]
        again = await http.get(saved.headers["location"])
        assert '<html lang="en">' in again.text and "Your choices are saved." in again.text
        assert '<option value="en" lang="en" selected>English</option>' in again.text
        # Saving the e-mail choices without the field (an older form) leaves it as it was.
        kept = await http.post("/settings/notifications", data=form)
        assert kept.status_code == 303
        assert (await users.get(aase)).language == "en"  # type: ignore[union-attr]
