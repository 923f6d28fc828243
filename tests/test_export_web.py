"""Printing and downloading a plan over real HTTP against a live server: who may (planeier,
verge, koordinator), who gets 403 or the plan page's 404, the audit rows, the PDF/A itself
(opened with pypdf; with the published minutes, never the drafts) and an export taken while
someone is editing."""

from __future__ import annotations

import asyncio
import io
import json
import logging
import re
import time
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import date
from typing import Any

import httpx
import pytest
from pypdf import PdfReader

from crdt.schema import append_item, find_item, get_root, read_zone, set_fields
from crdt.zone_state import doc_from_stored
from server.demo import content as demo_content
from server.demo.loader import load_demo
from server.services import Repositories
from server.settings import Settings
from server.transfer.print_view import print_context
from tests.support.clients import connected
from tests.support.live import LiveServer, live_server
from tests.support.passwords import hash_password
from tests.support.web import PASSWORD, csrf_of, log_in
from tests.support.world import OUTSIDER, ROLE_USERS, World
from tests.test_export import (
    DECISION_1,
    DECISION_2,
    JONAS,
    MEETING_ID,
    VIDEO_LINK,
    publish_minutes_on,
)

pytestmark = pytest.mark.both_databases

log = logging.getLogger("tests.export")

URLS = ("print", "export.json", "export.pdf")
ALLOWED = ("planeier", "verge", "koordinator")
NOT_FOUND_NB = "Vi finner ikke siden"


@pytest.fixture
async def web(server: LiveServer, world: World) -> LiveServer:
    users = server.services.repos.users
    for role in (*ROLE_USERS, "outsider"):
        await users.set_password_hash(world.users[role], hash_password(PASSWORD))
    return server


def email_of(role: str) -> str:
    return OUTSIDER[0] if role == "outsider" else ROLE_USERS[role][0]


@asynccontextmanager
async def logged_in(
    server: LiveServer, email: str, password: str = PASSWORD
) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=server.http, timeout=60) as http:
        assert (await log_in(http, email, password)).status_code == 303
        yield http


def error_text(html: str) -> str:
    match = re.search(r'data-testid="error-message">([^<]*)<', html)
    assert match, html[:500]
    return match.group(1)


async def test_only_planeier_verge_and_koordinator_print_or_download(
    web: LiveServer, world: World
) -> None:
    plan = world.plan_id
    async with httpx.AsyncClient(base_url=web.http) as anonymous:
        for url in URLS:
            response = await anonymous.get(f"/plans/{plan}/{url}")
            assert response.status_code == 303
            assert response.headers["location"] == f"/login?next=/plans/{plan}/{url}"
    for role in ALLOWED:
        async with logged_in(web, email_of(role)) as http:
            page = await http.get(f"/plans/{plan}")
            assert 'data-testid="plan-actions"' in page.text  # the links, for these roles
            printed = await http.get(f"/plans/{plan}/print")
            assert printed.status_code == 200 and "text/html" in printed.headers["content-type"]
            assert '<h2 id="s-about">Om meg</h2>' in printed.text
            assert printed.headers["cache-control"] == "no-store"
            data = await http.get(f"/plans/{plan}/export.json")
            assert data.status_code == 200 and data.json()["plan"]["id"] == plan
            assert data.headers["content-disposition"].startswith("attachment; filename=")
            assert data.headers["cache-control"] == "no-store"
            pdf = await http.get(f"/plans/{plan}/export.pdf")
            assert pdf.status_code == 200 and pdf.content.startswith(b"%PDF-")
            assert pdf.headers["content-type"] == "application/pdf"
            assert pdf.headers["content-disposition"].endswith('.pdf"')
    for role in ("deltaker", "leser"):
        async with logged_in(web, email_of(role)) as http:
            page = await http.get(f"/plans/{plan}")
            assert page.status_code == 200 and 'data-testid="plan-actions"' not in page.text
            for url in URLS:
                response = await http.get(f"/plans/{plan}/{url}")
                assert response.status_code == 403, (role, url)
                assert "Bare planeieren, vergen og koordinatoren" in error_text(response.text)
    async with logged_in(web, email_of("outsider")) as http:
        for target in (plan, str(uuid.uuid4()), "ikke-en-plan"):
            expected = await http.get(f"/plans/{target}")
            assert expected.status_code == 404
            for url in URLS:
                response = await http.get(f"/plans/{target}/{url}")
                assert response.status_code == 404, (target, url)
                assert error_text(response.text) == error_text(expected.text)
                assert NOT_FOUND_NB in response.text and "Jonas" not in response.text
        own = await http.get(f"/plans/{world.other_plan_id}/export.json")  # the outsider's plan
        assert own.status_code == 200 and own.json()["plan"]["id"] == world.other_plan_id
        assert "Jonas" not in own.text  # never another plan's data


async def test_without_consent_a_deltaker_gets_the_404(web: LiveServer, world: World) -> None:
    await web.services.consents.revoke(world.plan_id, world.users["deltaker"], None)
    async with logged_in(web, email_of("deltaker")) as http:
        for url in URLS:
            response = await http.get(f"/plans/{world.plan_id}/{url}")
            assert response.status_code == 404 and NOT_FOUND_NB in response.text


async def test_every_print_and_download_is_an_audit_row(web: LiveServer, world: World) -> None:
    for role in ("verge", "deltaker"):
        async with logged_in(web, email_of(role)) as http:
            for url in URLS:
                await http.get(f"/plans/{world.plan_id}/{url}")
    await web.services.audit.flush()
    audit = web.services.repos.audit
    rows = [
        (r.action, r.actor_user_id, r.role, r.client_address, json.loads(r.details))
        for action in ("print", "export")
        for r in reversed(await audit.for_plan(world.plan_id, 100, 0, action))
    ]
    verge = world.users["verge"]
    assert rows == [  # the deltaker was refused: no rows for what it never got
        ("print", verge, "verge", "127.0.0.1", {"format": "html"}),
        ("export", verge, "verge", "127.0.0.1", {"format": "json"}),
        ("export", verge, "verge", "127.0.0.1", {"format": "pdf"}),
    ]
    assert (await audit.verify()).ok


@pytest.fixture
async def demo(settings: Settings) -> AsyncIterator[tuple[LiveServer, str]]:
    repos = await Repositories.open(settings)
    try:
        plan_id = (await load_demo(repos)).plan_id
    finally:
        await repos.close()
    async with live_server(settings) as server:
        yield server, plan_id


async def test_the_pdf_is_pdf_a_with_the_goals_and_measures(
    demo: tuple[LiveServer, str],
) -> None:
    server, plan_id = demo
    kari = "kari.nilsen@eksempelvik.demo"
    async with logged_in(server, kari, demo_content.DEMO_PASSWORD) as http:
        lag = _LoopLag()
        lag.start()
        started = time.perf_counter()
        response = await http.get(f"/plans/{plan_id}/export.pdf")
        seconds = time.perf_counter() - started
        worst = await lag.stop()
        assert response.status_code == 200
        english = await http.get(f"/plans/{plan_id}/export.pdf?lang=en")
    reader = PdfReader(io.BytesIO(response.content))
    log.info(
        "PDF of the demo plan: %d pages, %d bytes, %.0f ms over HTTP; the event loop's "
        "longest stall meanwhile %.0f ms",
        len(reader.pages),
        len(response.content),
        seconds * 1000,
        worst * 1000,
    )
    text = " ".join(" ".join(page.extract_text().split()) for page in reader.pages)
    zones = demo_content.zone_data({m.email: i for i, m in enumerate(demo_content.MEMBERS, 1)})
    titles = [
        item["title"]
        for (kind, _), data in zones.items()
        if kind == "area"
        for root in ("goals", "measures")
        for item in data[root]
    ]
    assert len(titles) > 10
    missing = [title for title in titles if " ".join(title.split()) not in text]
    assert not missing, missing
    for words in ("Om meg", "Ansvarsgruppe", "Samtykke", "Møter", "Jonas Berg", "Kari Nilsen"):
        assert words in text
    xmp = reader.xmp_metadata
    assert xmp is not None
    packet = xmp.stream.get_data().decode("utf-8")
    assert re.search(r'pdfaid:part="2"', packet) and re.search(r'pdfaid:conformance="A"', packet)
    assert reader.metadata is not None and reader.metadata.title == demo_content.PLAN["title"]
    english_text = " ".join(p.extract_text() for p in PdfReader(io.BytesIO(english.content)).pages)
    assert "About me" in english_text and "Responsibility group" in english_text


async def test_the_pdf_holds_the_published_minutes_and_not_the_drafts(
    demo: tuple[LiveServer, str],
) -> None:
    """Each meeting's newest published version goes into the archive PDF, with its approval;
    an older version and what was written after publishing (the draft) do not."""
    server, plan_id = demo
    zone_id = await publish_minutes_on(server, plan_id)
    draft = "Utkast som ikke er publisert 📝"

    def redraft(doc: Any) -> None:
        item = find_item(get_root(doc, "minutes", "agenda"), "sak-1")
        assert item is not None
        set_fields(item, {"decision": draft})

    await server.services.registry.edit(zone_id, redraft, "minutes", actor=None)
    base = f"/plans/{plan_id}/meetings/{MEETING_ID}/published"
    async with logged_in(server, JONAS, demo_content.DEMO_PASSWORD) as http:
        csrf = csrf_of((await http.get("/plans")).text)
        approved = await http.post(f"{base}/2/approve", data={"csrf_token": csrf})
        assert approved.status_code == 303
    kari = "kari.nilsen@eksempelvik.demo"
    async with logged_in(server, kari, demo_content.DEMO_PASSWORD) as http:
        response = await http.get(f"/plans/{plan_id}/export.pdf")
        assert response.status_code == 200
        printed = await http.get(f"/plans/{plan_id}/print")
    reader = PdfReader(io.BytesIO(response.content))
    text = " ".join(" ".join(page.extract_text().split()) for page in reader.pages)
    log.info("PDF with published minutes: %d pages", len(reader.pages))
    assert "Publiserte referater" in text
    # The newest version's decision and action item (emoji aside: the PDF's fonts may lack
    # them), not the older version's decision nor the draft written after publishing.
    assert DECISION_2.split(" 🫐")[0] in text and "Avtale med skolen" in text
    assert DECISION_1.split(" ✅")[0] not in text and draft.split(" 📝")[0] not in text
    assert "Ansvarsgruppemøte våren 2026 🌱" in printed.text
    assert re.search(r"Godkjent av planeier \d\d\.\d\d\.\d{4}", text), text[-2000:]
    assert "Line Berg (Verge / foresatt)" in text  # an attendee, her role in words
    demo_minutes = demo_content.zone_data(
        {m.email: i for i, m in enumerate(demo_content.MEMBERS, 1)}
    )[("minutes", demo_content.MEETING_ID)]
    for item in demo_minutes["agenda"]:  # the demo meeting's minutes were never published
        if item["decision"]:
            assert " ".join(item["decision"].split()) not in text
    assert "(Avlyst)" in text and VIDEO_LINK in printed.text


async def test_an_export_taken_while_someone_types_holds_only_durable_state(
    web: LiveServer, world: World
) -> None:
    """The zone is live in the room: the export waits for the edit to be durable, so what it
    shows is always what storage holds."""
    token = world.token("koordinator")
    title = "Åse Ødegård øver på ✍️ innleveringer"
    async with (
        connected(web.ws_url(world.room("area/skole"), token)) as client,
        logged_in(web, email_of("koordinator")) as http,
    ):
        append_item(get_root(client.doc, "area", "goals"), {"title": title, "parentId": None})
        deadline = time.monotonic() + 10
        while True:
            document = (await http.get(f"/plans/{world.plan_id}/export.json")).json()
            zone = next(z for z in document["zones"] if z["zone"] == "area/skole")
            if [g["title"] for g in zone["content"]["goals"]] == [title]:
                break
            assert time.monotonic() < deadline, "the edit never reached the export"
            await asyncio.sleep(0.05)
        assert world.zones["area/skole"] in web.services.registry.rooms  # read from the room
        stored = await web.services.repos.zone_log.load(world.zones["area/skole"])
        assert read_zone(doc_from_stored(stored), "area") == zone["content"]
        printed = await http.get(f"/plans/{world.plan_id}/print?lang=en")
        assert title in printed.text and '<h2 id="s-about">About me</h2>' in printed.text


class _LoopLag:
    """The longest a 10 ms sleep overran on this loop (the server's loop: it runs here)."""

    def __init__(self) -> None:
        self.worst = 0.0
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._run())

    async def _run(self) -> None:
        while True:
            before = time.perf_counter()
            await asyncio.sleep(0.01)
            self.worst = max(self.worst, time.perf_counter() - before - 0.01)

    async def stop(self) -> float:
        assert self._task is not None
        self._task.cancel()
        await asyncio.gather(self._task, return_exceptions=True)
        return self.worst


def test_printed_minutes_name_people_from_their_own_attendees() -> None:
    """Ids inside published minutes are those of the database they were published in: after an
    import that renumbered people, id 3 may be someone else here. The minutes' own attendee
    list names them; the plan's people only where the minutes do not."""
    content = {
        "attendees": [{"userId": "3", "name": "Åse Ødegård", "role": "deltaker", "present": True}],
        "agenda": [{"id": "s1", "title": "Skole", "body": "Linje én\nLinje to", "decision": "Ja"}],
        "actionItems": [
            {"what": "Ringe skolen", "responsibleUserId": "3", "due": "2026-02-01"},
            {"what": "Søke", "responsibleUserId": "4", "due": None},
        ],
    }
    entry = {
        "meeting_id": "m1",
        "number": 1,
        "title": "Møte 🌱",
        "content": json.dumps(content, ensure_ascii=False),
        "sha256": "0" * 64,
        "published_by": 4,
        "published_at": "2026-01-16T08:00:00+00:00",
        "approved_by": None,
        "approved_role": "verge",
        "approved_at": "2026-01-17T23:30:00+00:00",
    }
    document = {
        "plan": {"id": "p", "title": "T", "person_name": "Å", "municipality": "K", "status": "x"},
        "exported_at": "2026-02-01T10:00:00+00:00",
        "people": [{"id": 3, "name": "Per Annen"}, {"id": 4, "name": "Kari Nilsen"}],
        "members": [],
        "consents": [],
        "zones": [{"zone": "content", "kind": "content", "title": "Felles", "content": {}}],
        "meetings": [],
        "published_minutes": [entry, {**entry, "number": 0, "content": "{}"}],
    }
    printed = print_context(document, lambda key: key, date(2026, 2, 1))["published_minutes"]
    assert len(printed) == 1  # the newest version only
    minutes = printed[0]
    assert [a["name"] for a in minutes["attendees"]] == ["Åse Ødegård"]
    assert [a["responsible"] for a in minutes["action_items"]] == ["Åse Ødegård", "Kari Nilsen"]
    assert minutes["agenda"][0]["body"] == ["Linje én", "Linje to"]
    assert minutes["approved"] == "published.approvedBy.verge 18.01.2026"  # Oslo date
    assert minutes["published_by"] == "Kari Nilsen" and minutes["number"] == 1

    # With content_user_ids (every export now): the ids inside the content are translated to
    # people ids first; an id it does not map names nobody, however `people` is numbered.
    moved = {**entry, "content_user_ids": {"3": 4, "4": 5}}
    people = [*document["people"], {"id": 5, "name": "Bjørn Ærø"}]
    printed = print_context(
        {**document, "people": people, "published_minutes": [moved]},
        lambda key: key,
        date(2026, 2, 1),
    )["published_minutes"]
    assert [a["responsible"] for a in printed[0]["action_items"]] == ["Åse Ødegård", "Bjørn Ærø"]
    unmapped = {**entry, "content_user_ids": {}}
    printed = print_context(
        {**document, "published_minutes": [unmapped]}, lambda key: key, date(2026, 2, 1)
    )["published_minutes"]
    assert [a["responsible"] for a in printed[0]["action_items"]] == [
        "Åse Ødegård",
        "member.unknown",
    ]
