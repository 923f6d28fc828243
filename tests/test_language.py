"""The language switch over a real server: bokmål, nynorsk and English, each named in itself;
every language link keeps every other query parameter of the page (the access log's filters
and page number, `next`, `saved`), encoded, and never echoes an OIDC code or a token; a
signed-in user's switch is remembered on their account, so a browser that never chose shows
their language. And the catalogs: every bokmål key is in nynorsk and English, with the same
placeholders and markup, and the nynorsk is nynorsk."""

from __future__ import annotations

import html
import json
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import parse_qsl, urlsplit

import httpx
import pytest

from storage.repositories.audit import AuditEvent
from tests.support.live import LiveServer
from tests.support.web import log_in, signed_in
from tests.support.world import ROLE_USERS, World

I18N = Path(__file__).resolve().parents[1] / "client" / "i18n"


def switch_pattern(to: str) -> re.Pattern[str]:
    return re.compile(rf'<a href="([^"]*)" lang="{to}" hreflang="{to}">')


def switch_link(page: str, to: str = "en") -> str:
    """The header's link to the page in language `to`, as the browser reads the href."""
    match = switch_pattern(to).search(page)
    assert match, f"every page has the language link to {to}"
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
        back = switch_link(english.text, "nb")
        assert query_of(back) == [*filters.items(), ("page", "2"), ("lang", "nb")]
        assert "Side 2 av 3" in (await http.get(back)).text

        # A value as typed, with æøå, spaces and characters that mean something in a URL:
        # kept, encoded, and shown back in the other language's error message.
        typed = "1. mars & æøå 🙂 #2=3"
        bad = await http.get(address, params={"from": typed, "page": "2", "lang": "nb"})
        assert bad.status_code == 400
        raw = switch_pattern("en").search(bad.text)
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


async def test_every_page_offers_bokmål_nynorsk_and_english_each_in_itself(
    web: LiveServer, world: World
) -> None:
    """The switch names each language in that language, with its `lang`, and marks the one
    shown (no link to the page itself); nynorsk is chosen by link, kept by the cookie."""
    async with httpx.AsyncClient(base_url=web.http) as browser:
        bokmål = (await browser.get("/login", params={"next": "/plans/æøå 🙂"})).text
        assert '<html lang="nb">' in bokmål
        current = '<span lang="nb" aria-current="true" data-testid="language-current">Bokmål</span>'
        assert current in bokmål
        names = re.findall(r'<a href="[^"]*" lang="(\w+)" hreflang="\1">([^<]+)</a>', bokmål)
        assert names == [("nn", "Nynorsk"), ("en", "English")]
        to_nynorsk = switch_link(bokmål, "nn")
        assert query_of(to_nynorsk) == [("next", "/plans/æøå 🙂"), ("lang", "nn")]

        nynorsk = await browser.get(to_nynorsk)
        assert nynorsk.status_code == 200
        assert '<html lang="nn">' in nynorsk.text
        assert nynorsk.cookies.get("samplan_lang") == "nn"
        assert "Logg inn for å sjå og skrive i planen din." in nynorsk.text
        assert "Gløymt passord?" in nynorsk.text and "Hopp til innhaldet" in nynorsk.text
        assert "Glemt passord?" not in nynorsk.text
        assert 'aria-current="true" data-testid="language-current">Nynorsk</span>' in nynorsk.text
        assert re.findall(r'<a href="[^"]*" lang="(\w+)" hreflang="\1">', nynorsk.text) == [
            "nb",
            "en",
        ]
        assert query_of(switch_link(nynorsk.text, "nb")) == [
            ("next", "/plans/æøå 🙂"),
            ("lang", "nb"),
        ]
        # No `?lang=` now: the cookie keeps nynorsk, on this page and on an error page.
        again = await browser.get("/login/forgot")
        assert '<html lang="nn">' in again.text and "Gløymt passord" in again.text
        lost = await browser.get("/finst-ikkje-æøå")
        assert lost.status_code == 404 and '<html lang="nn">' in lost.text
        assert "Vi finn ikkje sida." in lost.text


async def test_nynorsk_is_remembered_on_the_account(web: LiveServer, world: World) -> None:
    """Åse Ødegård switches to nynorsk while signed in: stored on her account, so another
    browser shows nynorsk too. Per chooses nynorsk on the settings page; the choice is offered
    there, named in itself. The print page's toolbar has the same switch."""
    users = web.services.repos.users
    aase = world.users["deltaker"]
    async with signed_in(web.http, ROLE_USERS["deltaker"][0]) as http:
        page = await http.get("/plans", params={"lang": "nn"})
        assert '<html lang="nn">' in page.text and "Planane mine" in page.text
        assert (await users.get(aase)).language == "nn"  # type: ignore[union-attr]
    async with signed_in(web.http, ROLE_USERS["deltaker"][0]) as other:
        assert other.cookies.get("samplan_lang") is None
        plans = (await other.get("/plans")).text
        assert '<html lang="nn">' in plans and "Planane mine" in plans
        assert "Mine planer" not in plans
        settings = (await other.get("/settings/notifications")).text
        assert '<option value="nn" lang="nn" selected>Norsk nynorsk</option>' in settings
        assert "Språkvalet øvst på sida endrar det også." in settings

    per = world.users["leser"]
    async with signed_in(web.http, ROLE_USERS["leser"][0]) as http:
        form = (await http.get("/settings/notifications")).text
        options = re.findall(r'<option value="(\w+)" lang="\1"[^>]*>([^<]+)</option>', form)
        assert options == [("nb", "Norsk bokmål"), ("nn", "Norsk nynorsk"), ("en", "English")]
        token = re.search(r'name="csrf_token" value="([^"]+)"', form)
        assert token
        saved = await http.post(
            "/settings/notifications",
            data={"csrf_token": token.group(1), "email": ["message"], "language": "nn"},
        )
        assert saved.status_code == 303 and saved.cookies.get("samplan_lang") == "nn"
        assert (await users.get(per)).language == "nn"  # type: ignore[union-attr]
        assert "Vala er lagra." in (await http.get(saved.headers["location"])).text

    async with signed_in(web.http, ROLE_USERS["koordinator"][0]) as kari:
        printed = (await kari.get(f"/plans/{world.plan_id}/print", params={"lang": "nn"})).text
        assert '<html lang="nn">' in printed and "Bruk utskrifta i nettlesaren" in printed
        assert re.findall(r'<a href="[^"]*" lang="(\w+)" hreflang="\1">([^<]+)</a>', printed) == [
            ("nb", "Bokmål"),
            ("en", "English"),
        ]


# --- the catalogs ----------------------------------------------------------------------------

_PLACEHOLDER = re.compile(r"\{\w+\}")
_MARKUP = re.compile(r"<[^>]*>|&\w+;")


def catalog(lang: str) -> dict[str, str]:
    data = json.loads((I18N / f"{lang}.json").read_text(encoding="utf-8"))
    assert all(isinstance(v, str) and v for v in data.values()), lang
    return dict(data)


@pytest.mark.parametrize("lang", ["nn", "en"])
def test_every_bokmål_key_is_translated_with_the_same_placeholders(lang: str) -> None:
    nb, other = catalog("nb"), catalog(lang)
    missing = [key for key in nb if key not in other]
    assert missing == [], f"{lang}.json lacks {len(missing)} key(s): {missing[:20]}"
    stale = [key for key in other if key not in nb]
    assert stale == [], f"{lang}.json has keys bokmål no longer has: {stale}"
    for key, text in nb.items():
        assert sorted(_PLACEHOLDER.findall(other[key])) == sorted(_PLACEHOLDER.findall(text)), key
        assert _MARKUP.findall(other[key]) == _MARKUP.findall(text), key
        assert other[key].count("\n") == text.count("\n"), key


# Words bokmål writes and nynorsk never does (nynorsk: ikkje, kva, kven, kvar, korleis, eg,
# enno, berre, viss, noko, nokon, namn, frå, heile, mykje, vere, gjere, gjer, dykk, veke...).
_BOKMÅL_ONLY = re.compile(
    r"\b(ikke|hva|hvem|hvor|hvordan|hvilke|jeg|ennå|bare|hvis|noe|noen|navn|navnet|fra|hele|"
    r"mye|være|gjøre|gjør|dere|uke|uker|gang|lenken|tegn|høyst|dager|ble|nå|siden|"
    r"skrevet|vært|egen|eget|egne|kommer)\b",
    re.IGNORECASE,
)


def test_the_nynorsk_is_nynorsk() -> None:
    """No bokmål word left in nn.json (a key copied from nb.json and not translated shows
    up here), and the words a nynorsk reader expects are there."""
    nn = catalog("nn")
    leftovers = {key: found for key, text in nn.items() if (found := _BOKMÅL_ONLY.findall(text))}
    assert leftovers == {}
    words = set(re.findall(r"[^\W\d_]+", " ".join(nn.values()).lower()))
    assert {"ikkje", "kva", "kven", "eg", "enno", "berre", "korleis", "namn", "frå"} <= words
    assert catalog("nn")["min.title"] != catalog("nb")["min.title"]
