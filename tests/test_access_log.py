"""'Hvem har vært i planen min' over real HTTP against the live server: who may see it, the
visits real WebSocket clients leave behind, filters, pages, the CSV export and bad input.

The audit log is written by a queue: tests wait (generously, logging how long) for the rows
they expect instead of assuming they are there.
"""

from __future__ import annotations

import asyncio
import csv
import html
import io
import json
import logging
import re
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from pycrdt import Text

from server.core.clock import OSLO, today_oslo
from storage.repositories.audit import AuditEvent
from tests.support.clients import connected
from tests.support.live import LiveServer
from tests.support.passwords import hash_password
from tests.support.web import PASSWORD, signed_in
from tests.support.world import OUTSIDER, ROLE_USERS, World

log = logging.getLogger("tests.access_log")
ASE = ROLE_USERS["deltaker"][1]
PER = ROLE_USERS["leser"][1]
WAIT_SECONDS = 20


@pytest.fixture
async def web(server: LiveServer, world: World) -> LiveServer:
    for role in ROLE_USERS:
        await server.services.repos.users.set_password_hash(
            world.users[role], hash_password(PASSWORD)
        )
    await server.services.repos.users.set_password_hash(
        world.users["outsider"], hash_password(PASSWORD)
    )
    return server


@asynccontextmanager
async def as_user(server: LiveServer, role: str) -> AsyncIterator[httpx.AsyncClient]:
    email = OUTSIDER[0] if role == "outsider" else ROLE_USERS[role][0]
    async with signed_in(server.http, email) as http:
        yield http


def url(world: World, **params: str) -> str:
    query = "&".join(f"{k}={v}" for k, v in params.items())
    return f"/plans/{world.plan_id}/access-log" + (f"?{query}" if query else "")


def rows_of(page: str) -> list[dict[str, str]]:
    """The table's rows: kind, status and the text of each cell."""
    found = []
    for attrs, body in re.findall(r'<tr data-testid="access-row-([^>]*)>(.*?)</tr>', page, re.S):
        cells = [
            " ".join(html.unescape(re.sub(r"<[^>]+>", " ", c)).split())
            for c in re.findall(r"<t[hd][^>]*>(.*?)</t[hd]>", body, re.S)
        ]
        status = re.search(r'data-status="([a-z]+)"', attrs)
        found.append(
            {
                "kind": attrs.split('"', 1)[0].rsplit("-", 1)[0],
                "status": status.group(1) if status else "",
                "who": cells[0],
                "role": cells[1],
                "what": cells[2],
                "when": cells[3],
                "duration": cells[4],
                "zones": cells[5],
                "edits": cells[6],
            }
        )
    return found


def alert_of(page: str) -> str:
    match = re.search(r'<div class="error-box" role="alert"[^>]*>(.*?)</div>', page, re.S)
    assert match, "the page shows an alert"
    return " ".join(html.unescape(re.sub(r"<[^>]+>", " ", match.group(1))).split())


async def wait_for_rows(
    http: httpx.AsyncClient, address: str, want: int, what: str, **match: str
) -> list[dict[str, str]]:
    """Reload the page until `want` rows match; log how long the queued audit writes took."""
    started = time.perf_counter()
    deadline = started + WAIT_SECONDS
    while True:
        page = await http.get(address)
        assert page.status_code == 200, page.text
        rows = [r for r in rows_of(page.text) if all(r[k] == v for k, v in match.items())]
        if len(rows) >= want or time.perf_counter() > deadline:
            log.info("access log: %s after %.0f ms", what, (time.perf_counter() - started) * 1000)
            assert len(rows) >= want, f"{what}: {rows_of(page.text)}"
            return rows
        await asyncio.sleep(0.05)


def visit_of_page(page: str) -> str:
    """The page load's id the plan page hands its script (and its sockets send back)."""
    match = re.search(r'data-app="([^"]+)"', page)
    assert match
    visit = json.loads(html.unescape(match.group(1)))["visit"]
    assert re.fullmatch(r"[0-9a-f]{32}", visit)
    return str(visit)


def visit_url(server: LiveServer, world: World, zone: str, role: str, visit: str = "") -> str:
    address = server.ws_url(world.room(zone), world.token(role))
    return address + (f"&visit={visit}" if visit else "")


# --- who may see it ------------------------------------------------------------------------


async def test_owner_verge_and_koordinator_see_it_others_do_not(
    web: LiveServer, world: World
) -> None:
    for role, heading in (
        ("planeier", "Hvem har vært i planen min"),
        ("verge", "Hvem har vært i planen min"),
        ("koordinator", "Hvem har vært i planen"),
    ):
        async with as_user(web, role) as http:
            page = await http.get(url(world))
            assert page.status_code == 200, role
            assert f'<h1 data-testid="access-log-heading">{heading}</h1>' in page.text
            if role == "planeier":  # the first one here: nobody has opened the plan yet
                assert "Ingen har vært i planen ennå." in page.text
            assert page.headers["cache-control"] == "no-store"
            plan = await http.get(f"/plans/{world.plan_id}")
            assert 'data-testid="access-log-link"' in plan.text
            plans = await http.get("/plans")
            assert f'data-testid="access-log-link-{world.plan_id}"' in plans.text
    for role in ("deltaker", "leser"):
        async with as_user(web, role) as http:
            page = await http.get(url(world))
            assert page.status_code == 403, role
            assert "Bare planeieren, vergen og koordinatoren" in page.text
            assert "access-log-table" not in page.text
            plan = await http.get(f"/plans/{world.plan_id}")
            assert "/access-log" not in plan.text
            assert "/access-log" not in (await http.get("/plans")).text
    async with as_user(web, "outsider") as http:
        assert (await http.get(url(world))).status_code == 404  # not a member: no oracle
        own = await http.get(f"/plans/{world.other_plan_id}/access-log")
        assert own.status_code == 200 and "Hvem har vært i planen" in own.text  # its koordinator
    async with as_user(web, "planeier") as http:
        for missing in ("00000000-0000-4000-8000-000000000000", "ikke-en-plan", "%00"):
            assert (await http.get(f"/plans/{missing}/access-log")).status_code == 404
        english = await http.get(url(world, lang="en"))
        assert "Who has been in my plan" in english.text
    async with httpx.AsyncClient(base_url=web.http) as anonymous:
        response = await anonymous.get(url(world))
        assert response.status_code == 303
        assert response.headers["location"].startswith("/login?next=")
        assert "access-log" in response.headers["location"]


# --- what it shows -------------------------------------------------------------------------


async def test_visits_with_duration_zones_and_edits_and_an_ongoing_one(
    web: LiveServer, world: World
) -> None:
    async with as_user(web, "deltaker") as http:
        visit = visit_of_page((await http.get(f"/plans/{world.plan_id}")).text)
    # Her page load opens two zones (one visit); she types three times in Skole og læring.
    async with (
        connected(visit_url(web, world, "content", "deltaker", visit)),
        connected(visit_url(web, world, "area/skole", "deltaker", visit)) as skole,
    ):
        text = skole.doc.get("t", type=Text)
        for word in ("Åse ", "Ødegård ", "🎉"):
            text += word
        await asyncio.sleep(0.2)
    # Per reads the content with a token of his own (no page load, and a made-up visit id that
    # is not one): its own visit.
    async with (
        as_user(web, "planeier") as http,
        connected(visit_url(web, world, "content", "leser", "..%2F%C3%A6%C3%B8")),
    ):
        rows = await wait_for_rows(
            http, url(world), 1, "Åse's visit ended", who=ASE, kind="visit", status="ended"
        )
        ase = rows[0]
        assert ase["kind"] == "visit" and ase["status"] == "ended"
        assert ase["role"] == "Deltaker" and ase["what"] == "Besøk"
        assert ase["zones"] == "Felles del, Skole og læring"  # titles, not room ids
        assert ase["edits"] == "3"
        assert re.fullmatch(r"\d+ sek", ase["duration"]), ase["duration"]
        today = datetime.now(OSLO).strftime("%d.%m.%Y")
        assert re.fullmatch(rf"{today} kl\. \d\d\.\d\d ?– ?\d\d\.\d\d", ase["when"]), ase["when"]

        per = (
            await wait_for_rows(http, url(world), 1, "Per's open visit", who=PER, status="open")
        )[0]
        assert per["status"] == "open" and "pågår" in per["when"]
        assert per["role"] == "Leser" and per["zones"] == "Felles del" and per["edits"] == "0"
        assert per["duration"].endswith("så langt")

        joins = await web.services.repos.audit.for_plan(world.plan_id, 10, 0, "ws_join")
        details = [json.loads(j.details) for j in reversed(joins)]
        assert [d.get("visit") for d in details] == [visit, visit, None]
        views = await web.services.repos.audit.for_plan(world.plan_id, 10, 0, "plan_view")
        assert json.loads(views[0].details) == {"visit": visit}

        page = await http.get(url(world))
        assert page.text.count('<th scope="col">') == 7
        assert "<caption" in page.text and 'scope="row"' in page.text
        assert "Side 1 av 1" in page.text and "access-log-next" not in page.text


async def test_filters_by_person_kind_and_dates(web: LiveServer, world: World) -> None:
    async with as_user(web, "deltaker") as ase:
        assert (await ase.get(f"/plans/{world.plan_id}")).status_code == 200  # a page view
    async with connected(visit_url(web, world, "comments", "leser")):
        pass
    async with as_user(web, "koordinator") as http:
        await wait_for_rows(http, url(world), 1, "Per's visit", who=PER, status="ended")
        await wait_for_rows(http, url(world), 1, "Åse's page view", who=ASE)

        leser = str(world.users["leser"])
        only_per = rows_of((await http.get(url(world, person=leser))).text)
        assert {r["who"] for r in only_per} == {PER}
        page = await http.get(url(world, person=leser))
        assert f'<option value="{leser}" selected>' in page.text  # the form keeps the filter

        views = rows_of((await http.get(url(world, kind="page_views"))).text)
        assert views and {r["kind"] for r in views} == {"page_view"}
        assert {r["what"] for r in views} == {"Åpnet plansiden"}
        assert ASE in {r["who"] for r in views}
        visits = rows_of((await http.get(url(world, kind="visits"))).text)
        assert visits and {r["kind"] for r in visits} == {"visit"}

        today = today_oslo()
        shown = today.strftime("%d.%m.%Y")
        same_day = rows_of((await http.get(url(world, **{"from": shown, "to": shown}))).text)
        assert {r["who"] for r in same_day} >= {ASE, PER}
        yesterday = (today - timedelta(days=1)).strftime("%d.%m.%Y")
        before = await http.get(url(world, to=yesterday))
        assert before.status_code == 200 and rows_of(before.text) == []
        assert "Ingen treff med dette filteret" in before.text
        tomorrow = (today + timedelta(days=1)).strftime("%d.%m.%Y")
        assert rows_of((await http.get(url(world, **{"from": tomorrow}))).text) == []


async def test_pages_of_twenty_five_newest_first(web: LiveServer, world: World) -> None:
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
    async with as_user(web, "planeier") as http:
        empty_filter = url(world, **{"from": "15.01.2026", "to": "15.01.2026"})
        first = await http.get(empty_filter)
        assert "60 treff" in first.text and "Side 1 av 3" in first.text
        rows = rows_of(first.text)
        assert len(rows) == 25
        assert rows[0]["when"] == "15.01.2026 kl. 09.59"  # 08:59 UTC is 09:59 in Oslo
        assert "access-log-previous" not in first.text
        next_link = re.search(r'href="([^"]+)" rel="next"', first.text)
        assert next_link
        second = await http.get(url(world) + html.unescape(next_link.group(1)))
        assert "Side 2 av 3" in second.text and 'rel="prev"' in second.text
        assert rows_of(second.text)[0]["when"] == "15.01.2026 kl. 09.34"
        last = await http.get(empty_filter + "&page=3")
        assert len(rows_of(last.text)) == 10 and 'rel="next"' not in last.text
        assert rows_of(last.text)[-1]["when"] == "15.01.2026 kl. 09.00"

        beyond = await http.get(empty_filter + "&page=4")
        assert beyond.status_code == 400
        assert "Side 4 finnes ikke med dette filteret. Siste side er 3." in alert_of(beyond.text)
        assert "page=3" in beyond.text and "access-log-table" not in beyond.text


async def test_bad_filter_input_gets_a_clear_message(web: LiveServer, world: World) -> None:
    member_ids = set(world.users.values())
    stranger = max(member_ids) + 1000
    cases = {
        "from=31.02.2026": "«31.02.2026» er ikke en dato",
        "to=i%20morgen": "«i morgen» er ikke en dato",
        "from=2026-01-15": "«2026-01-15» er ikke en dato",
        "from=16.01.2026&to=15.01.2026": "Til-datoen kan ikke være før fra-datoen",
        f"person={stranger}": "Den personen er ikke med i planen",
        f"person={world.users['outsider']}": "Den personen er ikke med i planen",
        "person=%C3%85se": "Den personen er ikke med i planen",
        "kind=alt_mulig": "Ukjent valg under «Hva»",
        "to=31.12.9999": "Året i «31.12.9999» må være mellom 1900 og 2999",
        "from=01.01.0001": "Året i «01.01.0001» må være mellom 1900 og 2999",
        "from=15.01.26": "«15.01.26» er ikke en dato",
        "page=99999999999999999999999999": "finnes ikke med dette filteret. Siste side er 1",
        "page=0": "Sidetallet må være et helt tall",
        "page=-2": "Sidetallet må være et helt tall",
        "page=to": "Sidetallet må være et helt tall",
        "format=xml": "Ukjent format",
        "format=csv&from=32.01.2026": "«32.01.2026» er ikke en dato",
    }
    async with as_user(web, "verge") as http:
        for query, message in cases.items():
            page = await http.get(f"/plans/{world.plan_id}/access-log?{query}")
            assert page.status_code == 400, query
            assert page.headers["content-type"].startswith("text/html"), query
            assert message in alert_of(page.text), (query, alert_of(page.text))
            assert 'data-testid="access-log-filter"' in page.text  # the form is still there
        page = await http.get(url(world, **{"from": "31.02.2026"}))
        assert 'value="31.02.2026"' in page.text  # shown back as typed, to correct it
        assert 'aria-invalid="true" aria-describedby="access-log-error-from' in page.text
        hostile = await http.get(url(world, **{"from": "<script>alert(1)</script>"}))
        assert hostile.status_code == 400 and "<script>alert(1)" not in hostile.text
        assert (await http.get(url(world))).status_code == 200  # and it keeps working


# --- CSV -------------------------------------------------------------------------------------


async def test_csv_export_has_every_row_norwegian_excel_format_and_is_logged(
    web: LiveServer, world: World
) -> None:
    repos = web.services.repos
    tricky = await repos.users.create("formel@eksempelvik.test", '=HYPERKOBLING("x") Ærlig')
    await repos.plans.add_member(world.plan_id, tricky.id, "leser")
    start = datetime(2026, 1, 15, 8, 0, tzinfo=UTC)
    events = [
        AuditEvent(
            "plan_view",
            world.users["deltaker"],
            "deltaker",
            world.plan_id,
            at=start + timedelta(minutes=i),
            details={"visit": f"{i:032x}"},
        )
        for i in range(40)
    ]
    events += [
        AuditEvent(
            "ws_join",
            world.users["deltaker"],
            "deltaker",
            world.plan_id,
            "area/fritid",
            at=start + timedelta(hours=2),
            details={"conn": "c1", "visit": "f" * 32},
        ),
        AuditEvent(
            "ws_leave",
            world.users["deltaker"],
            "deltaker",
            world.plan_id,
            "area/fritid",
            at=start + timedelta(hours=2, minutes=12, seconds=30),
            details={"conn": "c1", "visit": "f" * 32, "edits": 7, "seconds": 750},
        ),
        AuditEvent("plan_view", tricky.id, "leser", world.plan_id, at=start + timedelta(hours=3)),
        # Open in the log, but Kari has no socket here: the server died before the leave.
        AuditEvent(
            "ws_join",
            world.users["koordinator"],
            "koordinator",
            world.plan_id,
            "content",
            at=start + timedelta(hours=4),
            details={"conn": "c2"},
        ),
    ]
    await repos.audit.append_many(events)

    async with as_user(web, "koordinator") as http:
        response = await http.get(url(world, format="csv"))
        assert response.status_code == 200
        assert response.headers["content-type"] == "text/csv; charset=utf-8"
        disposition = response.headers["content-disposition"]
        assert disposition.startswith('attachment; filename="tilgangslogg-')
        assert f"{today_oslo().isoformat()}.csv" in disposition
        body = response.content
        assert body.startswith(b"\xef\xbb\xbf")  # the BOM Excel needs to read UTF-8
        lines = body.decode("utf-8-sig").split("\r\n")
        assert lines[-1] == ""
        table = list(csv.reader(io.StringIO(body.decode("utf-8-sig")), delimiter=";"))
        assert table[0] == [
            "Hva", "Hvem", "Bruker-id", "Rolle", "Start", "Slutt", "Status",
            "Varighet (sekunder)", "Deler av planen", "Endringer",
        ]  # fmt: skip
        assert len(table) == 1 + 43  # every page, not just the first 25
        orphan, formula, visit = table[1], table[2], table[3]
        assert orphan[1] == "Kari Nilsen" and orphan[5:7] == ["", "slutt ukjent"]
        assert formula[1] == '\'=HYPERKOBLING("x") Ærlig'  # text, never a formula
        assert visit == [
            "Besøk", ASE, str(world.users["deltaker"]), "Deltaker",
            "2026-01-15T11:00:00+01:00", "2026-01-15T11:12:30+01:00", "avsluttet",
            "750", "Fritid ⚽", "7",
        ]  # fmt: skip
        assert table[-1][:5] == [
            "Åpnet plansiden", ASE, str(world.users["deltaker"]), "Deltaker",
            "2026-01-15T09:00:00+01:00",
        ]  # fmt: skip

        only_tricky = await http.get(url(world, format="csv", person=str(tricky.id)))
        assert len(list(csv.reader(io.StringIO(only_tricky.text), delimiter=";"))) == 2

        shown = rows_of((await http.get(url(world, kind="visits"))).text)
        assert [(r["who"], r["status"]) for r in shown][:2] == [
            ("Kari Nilsen", "unknown"),
            (ASE, "ended"),
        ]
        assert "slutt ukjent" in shown[0]["when"] and "pågår" not in shown[0]["when"]

        page = await http.get(url(world, person=str(tricky.id)))
        csv_link = re.search(r'href="([^"]+)" download', page.text)
        assert csv_link and html.unescape(csv_link.group(1)) == f"?person={tricky.id}&format=csv"

    started = time.perf_counter()
    deadline = started + WAIT_SECONDS
    while True:
        await asyncio.sleep(0.05)
        exports = await repos.audit.for_plan(world.plan_id, 10, 0, "access_log_export")
        if len(exports) >= 2 or time.perf_counter() > deadline:
            break
    log.info("export audit rows after %.0f ms", (time.perf_counter() - started) * 1000)
    assert len(exports) == 2
    latest, first = (json.loads(e.details) for e in exports)
    assert first == {"rows": 43, "kind": "all", "person": None, "from": None, "to": None}
    assert latest["person"] == tricky.id and latest["rows"] == 1
    assert exports[0].actor_user_id == world.users["koordinator"]
    assert exports[0].role == "koordinator"


# Every test here that starts a server runs on SQLite and on PostgreSQL (tests/conftest.py).
pytestmark = pytest.mark.both_databases
