"""The language switch over a real server: the other-language link keeps every other query
parameter of the page (the access log's filters and page number, `next`, `saved`), encoded,
and never echoes an OIDC code or a token; a signed-in user's switch is remembered on their
account, so a browser that never chose shows their language."""

from __future__ import annotations

import html
import re
from datetime import UTC, datetime, timedelta
from urllib.parse import parse_qsl, urlsplit

import httpx

from storage.repositories.audit import AuditEvent
from tests.support.live import LiveServer
from tests.support.web import log_in, signed_in
from tests.support.world import ROLE_USERS, World

SWITCH = re.compile(r'<a href="([^"]*)" lang="(en|nb)" hreflang="(?:en|nb)">')


def switch_link(page: str) -> str:
    """The header's other-language link, as the browser reads the href."""
    match = SWITCH.search(page)
    assert match, "every page has the language link"
    return html.unescape(match.group(1))


def query_of(link: str) -> list[tuple[str, str]]:
    return parse_qsl(urlsplit(link).query, keep_blank_values=True)


async def test_the_access_log_link_keeps_filters_and_page(web: LiveServer, world: World) -> None:
    start = datetime(2026, 1, 15, 8, 0, tzinfo=UTC)
    await web.services.repos.audit.append_many(
        [
            AuditEvent(
                "plan_view",
                world.users["deltaker"],
                "deltaker",
                world.plan_id,
                at=start + timedelta(minutes=i),
            )
            for i in range(60)
        ]
    )
    ase = str(world.users["deltaker"])
    filters = {"person": ase, "from": "15.01.2026", "to": "15.01.2026", "kind": "page_views"}
    address = f"/plans/{world.plan_id}/access-log"
    async with signed_in(web.http, ROLE_USERS["planeier"][0]) as http:
        page = await http.get(address, params={**filters, "page": "2"})
        assert page.status_code == 200 and "Side 2 av 3" in page.text
        link = switch_link(page.text)
        assert urlsplit(link).path == address
        assert query_of(link) == [*filters.items(), ("page", "2"), ("lang", "en")]

        english = await http.get(link)
        assert english.status_code == 200
        assert "Page 2 of 3" in english.text and "60 results" in english.text
        assert f'<option value="{ase}" selected>' in english.text  # the form kept the filter
        assert 'value="15.01.2026"' in english.text
        back = switch_link(english.text)
        assert query_of(back) == [*filters.items(), ("page", "2"), ("lang", "nb")]
        assert "Side 2 av 3" in (await http.get(back)).text

        # A value as typed, with æøå, spaces and characters that mean something in a URL:
        # kept, encoded, and shown back in the other language's error message.
        typed = "1. mars & æøå 🙂 #2=3"
        bad = await http.get(address, params={"from": typed, "page": "2", "lang": "nb"})
        assert bad.status_code == 400
        raw = SWITCH.search(bad.text)
        assert raw is not None
        href = html.unescape(raw.group(1))
        assert " " not in href and "æ" not in href and "#" not in href
        assert "%C3%A6%C3%B8%C3%A5" in href and "%F0%9F%99%82" in href and "%232%3D3" in href
        assert query_of(href) == [("from", typed), ("page", "2"), ("lang", "en")]
        again = await http.get(href)
        assert again.status_code == 400
        assert html.escape(f"“{typed}” is not a date", quote=False) in again.text


async def test_every_page_keeps_its_parameters_but_never_a_code_or_token(
    web: LiveServer, world: World
) -> None:
    async with httpx.AsyncClient(base_url=web.http) as anonymous:
        login = await anonymous.get("/login", params={"next": "/plans/æøå?x=1 2"})
        assert query_of(switch_link(login.text)) == [("next", "/plans/æøå?x=1 2"), ("lang", "en")]
        # An OIDC callback's code and state (and a token) stay out of the page's links.
        callback = await anonymous.get(
            "/login/oidc/callback",
            params={"code": "hemmelig-kode", "state": "tilstand", "token": "t.o.k", "x": "ø"},
        )
        link = switch_link(callback.text)
        assert "hemmelig" not in callback.text and "tilstand" not in link and "t.o.k" not in link
        assert query_of(link) == [("x", "ø"), ("lang", "en")]
        # A path that would read as another host stays on this one.
        lost = await anonymous.get(httpx.URL(f"{web.http}//fremmed.example/side"))
        assert lost.status_code == 404
        assert switch_link(lost.text).startswith("/%2Ffremmed.example/side?")
    async with signed_in(web.http, ROLE_USERS["verge"][0]) as http:
        for address, params in (
            ("/settings/notifications", [("saved", "1")]),
            ("/plans", [("deleted", "1")]),
            ("/notifications", [("a", "ø"), ("a", "å å")]),  # repeated: both kept, in order
        ):
            page = await http.get(address, params=params)
            assert page.status_code == 200, address
            assert query_of(switch_link(page.text)) == [*params, ("lang", "en")], address


async def test_a_signed_in_switch_is_remembered_on_the_account(
    web: LiveServer, world: World
) -> None:
    users = web.services.repos.users
    kari = world.users["koordinator"]
    async with signed_in(web.http, ROLE_USERS["koordinator"][0]) as http:
        assert (await users.get(kari)).language is None  # type: ignore[union-attr]
        english = await http.get("/plans", params={"lang": "en"})
        assert '<html lang="en">' in english.text
        assert (await users.get(kari)).language == "en"  # type: ignore[union-attr]
        assert english.cookies.get("samplan_lang") == "en"
    # Another browser, that never chose: her pages are in the language she chose.
    async with signed_in(web.http, ROLE_USERS["koordinator"][0]) as other:
        assert '<html lang="en">' in (await other.get("/plans")).text
        back = await other.get("/notifications", params={"lang": "nb"})
        assert '<html lang="nb">' in back.text
        assert (await users.get(kari)).language == "nb"  # type: ignore[union-attr]
        assert (await other.get("/plans", params={"lang": "sv"})).status_code == 200
        assert (await users.get(kari)).language == "nb"  # type: ignore[union-attr]
    # Anonymous, nothing is stored; a browser's choice made before signing in becomes the
    # account's once they sign in, if they have none (Per reads Samplan in English).
    per = world.users["leser"]
    async with httpx.AsyncClient(base_url=web.http) as browser:
        assert '<html lang="en">' in (await browser.get("/login", params={"lang": "en"})).text
        assert (await users.get(per)).language is None  # type: ignore[union-attr]
        assert (await log_in(browser, ROLE_USERS["leser"][0])).status_code == 303
        assert (await users.get(per)).language == "en"  # type: ignore[union-attr]
    await users.set_language(per, "nb")
    async with httpx.AsyncClient(base_url=web.http, cookies={"samplan_lang": "en"}) as browser:
        assert (await log_in(browser, ROLE_USERS["leser"][0])).status_code == 303
        assert (await users.get(per)).language == "nb"  # an account's own choice stays
