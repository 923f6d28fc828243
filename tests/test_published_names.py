"""Published minutes name the right people, always: through real `samplan export` / `samplan
import` runs, real SQLite files and a live server.

The user ids inside published minutes are those of the database they were published in and
can never change (the sha256 covers them). After an import into a database where people got
other ids, "user 11" there may be someone else: the page, the print page and the PDF must
still say who was responsible, and so must a plan moved on once more. Someone who has since
left the plan keeps their name.
"""

from __future__ import annotations

import io
import json
import logging
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from pycrdt import Doc
from pypdf import PdfReader

from crdt.schema import ACTION_ITEMS, append_item, get_root
from server.demo.content import DEMO_PASSWORD
from server.demo.loader import load_demo
from server.meetings.scheduling import seed_minutes
from server.services import Repositories
from server.settings import Settings
from storage.repositories.meetings import AgendaItem
from tests.conftest import make_settings
from tests.support.live import live_server
from tests.support.passwords import hash_password
from tests.support.web import csrf_of, signed_in
from tests.test_export import JONAS, KARI, samplan

log = logging.getLogger("tests.published_names")

AASE = ("aase.odegard@eksempelvik.demo", "Åse Ødegård")
BJORN = ("bjorn.aero@eksempelvik.demo", "Bjørn Ærø")
MEETING_ID = "mote-navn-2026"
CALL_SCHOOL = "Ringe skolen om leksehjelp 📞"  # Bjørn's, and he is no attendee
APPLY = "Søke om støttekontakt"  # Åse's; she is an attendee without a name of her own


def responsible(html: str, what: str) -> str:
    """The name the page gives the action item `what` (empty when it gives none)."""
    match = re.search(rf"<li>{re.escape(what)}(?: – ([^<]*?))?(?: – [^<]*)?</li>", html)
    assert match, html[-3000:]
    return match.group(1) or ""


def attendee(html: str, role: str) -> str:
    match = re.search(rf"<li>([^<]*?) \({role}\)", html)
    assert match, html[-3000:]
    return match.group(1)


async def make_source(settings: Settings) -> tuple[str, dict[str, int]]:
    """The demo plan with Åse and Bjørn as deltakere; minutes published (over HTTP, by the
    koordinator) where Åse attends without a name of her own and Bjørn, not attending, is
    responsible for a task; then Bjørn leaves the plan. Returns the plan id and the source's
    user ids by e-mail."""
    repos = await Repositories.open(settings)
    try:
        plan_id = (await load_demo(repos)).plan_id
        ids: dict[str, int] = {}
        for email, name in (AASE, BJORN):
            user = await repos.users.create(email, name)
            await repos.plans.add_member(plan_id, user.id, "deltaker")
            ids[email] = user.id
        for email in (KARI, JONAS):
            user = await repos.users.get_by_email(email)
            assert user is not None
            ids[email] = user.id
    finally:
        await repos.close()
    async with live_server(settings) as server:
        start = datetime(2026, 4, 20, 12, 0, tzinfo=UTC)
        meeting = await server.services.meetings.schedule(
            plan_id,
            title="Ansvarsgruppemøte – navn 🌼",
            starts_at=start,
            ends_at=start + timedelta(hours=1),
            place="Eksempelvik rådhus",
            video_link=None,
            agenda=[AgendaItem("sak-1", "Skole")],
            invitee_ids=[ids[KARI], ids[AASE[0]]],
            created_by_user_id=ids[KARI],
            meeting_id=MEETING_ID,
        )
        assert meeting.zone_id is not None
        attendees = [
            {"userId": str(ids[KARI]), "name": "Kari Nilsen", "role": "koordinator"},
            {"userId": str(ids[AASE[0]]), "name": "", "role": "deltaker"},
        ]

        def tasks(doc: Doc[Any]) -> None:
            items = get_root(doc, "minutes", ACTION_ITEMS)
            for what, who in ((CALL_SCHOOL, BJORN[0]), (APPLY, AASE[0])):
                append_item(
                    items, {"agendaId": "sak-1", "what": what, "responsibleUserId": str(ids[who])}
                )

        edit = server.services.registry.edit
        seeded = seed_minutes(meeting, attendees, ids[KARI])
        await edit(meeting.zone_id, seeded, "minutes", actor=ids[KARI])
        await edit(meeting.zone_id, tasks, "minutes", actor=ids[KARI])
        async with signed_in(server.http, KARI, DEMO_PASSWORD) as http:
            csrf = csrf_of((await http.get("/plans")).text)
            base = f"/plans/{plan_id}/meetings/{MEETING_ID}"
            published = await http.post(f"{base}/publish", data={"csrf_token": csrf})
            assert published.headers.get("location") == f"{base}/published/1", published.text
        assert await server.services.repos.plans.remove_member(plan_id, ids[BJORN[0]])
    return plan_id, ids


def export_from(settings: Settings, plan_id: str, out: Path) -> dict[str, Any]:
    result = samplan(settings, "export", plan_id, "--out", str(out))
    assert result.returncode == 0, result.stderr
    document: dict[str, Any] = json.loads(out.read_text(encoding="utf-8"))
    return document


async def crowded_target(settings: Settings, taken: dict[int, tuple[str, str]]) -> None:
    """A database where the ids in `taken` already belong to the given (e-mail, name), with
    strangers filling the ids below them: so the import must renumber."""
    repos = await Repositories.open(settings)
    try:
        last = 0  # a fresh database draws ids 1, 2, 3, ...
        for wanted, (email, name) in sorted(taken.items()):
            while last < wanted - 1:
                last = (await repos.users.create(f"fremmed{last}@annet.test", "Fremmed")).id
            user = await repos.users.create(email, name, hash_password(DEMO_PASSWORD))
            assert user.id == wanted
            last = wanted
    finally:
        await repos.close()


async def pages(settings: Settings, plan_id: str, *, pdf: bool = False) -> dict[str, str]:
    """The published version's page and the print page (and the PDF's text), as Kari."""
    async with live_server(settings) as server:
        kari = await server.services.repos.users.get_by_email(KARI)
        assert kari is not None
        await server.services.repos.users.set_password_hash(kari.id, hash_password(DEMO_PASSWORD))
        async with signed_in(server.http, KARI, DEMO_PASSWORD) as http:
            page = await http.get(f"/plans/{plan_id}/meetings/{MEETING_ID}/published/1")
            printed = await http.get(f"/plans/{plan_id}/print")
            assert page.status_code == 200 and printed.status_code == 200
            out = {"page": page.text, "print": printed.text}
            if pdf:
                response = await http.get(f"/plans/{plan_id}/export.pdf")
                assert response.status_code == 200
                reader = PdfReader(io.BytesIO(response.content))
                out["pdf"] = " ".join(" ".join(p.extract_text().split()) for p in reader.pages)
    return out


def printed_tasks(html: str) -> dict[str, str]:
    """{task: responsible} of the print page's published minutes."""
    found = re.findall(r"<li>([^<]*?) – ([^<]*?)</li>", html)
    return {what: who for what, who in found if what in (CALL_SCHOOL, APPLY)}


async def test_a_member_who_left_the_plan_is_still_named(tmp_path: Path) -> None:
    """No import at all: Bjørn left the plan after the meeting; the minutes still say it was
    his task, on the page and on paper."""
    source = make_settings(tmp_path / "a")
    plan_id, _ = await make_source(source)
    seen = await pages(source, plan_id)
    assert responsible(seen["page"], CALL_SCHOOL) == BJORN[1]
    assert responsible(seen["page"], APPLY) == AASE[1]
    assert attendee(seen["page"], "deltaker") == AASE[1]
    assert printed_tasks(seen["print"]) == {CALL_SCHOOL: BJORN[1], APPLY: AASE[1]}


async def test_after_an_import_that_renumbered_people_the_minutes_name_the_right_ones(
    tmp_path: Path,
) -> None:
    """In the target, Åse's and Bjørn's old ids belong to Jonas and Kari, both members of the
    imported plan: looked up as they stand, the minutes would hand Bjørn's task to Kari."""
    source = make_settings(tmp_path / "a")
    plan_id, ids = await make_source(source)
    first = export_from(source, plan_id, tmp_path / "a.json")
    people = {p["id"]: p["name"] for p in first["people"]}
    assert people[ids[BJORN[0]]] == BJORN[1]  # not a member any more, still carried
    (entry,) = first["published_minutes"]
    assert entry["content_user_ids"] == {
        str(ids[email]): ids[email] for email in (KARI, AASE[0], BJORN[0])
    }

    target = make_settings(tmp_path / "b")
    await crowded_target(
        target,
        {ids[AASE[0]]: (JONAS, "Jonas Berg"), ids[BJORN[0]]: (KARI, "Kari Nilsen (NAV)")},
    )
    result = samplan(target, "import", str(tmp_path / "a.json"))
    assert result.returncode == 0, result.stderr
    seen = await pages(target, plan_id, pdf=True)
    log.info("page after a renumbering import: %s", seen["page"][-1500:])
    assert responsible(seen["page"], CALL_SCHOOL) == BJORN[1]
    assert responsible(seen["page"], APPLY) == AASE[1]
    assert attendee(seen["page"], "deltaker") == AASE[1]
    assert printed_tasks(seen["print"]) == {CALL_SCHOOL: BJORN[1], APPLY: AASE[1]}
    pdf = seen["pdf"]
    # (the emoji as the PDF's fonts have it, or not)
    assert re.search(rf"{CALL_SCHOOL.split(' 📞')[0]}[^–]* – {BJORN[1]}", pdf), pdf[-2000:]
    assert f"{APPLY} – {AASE[1]}" in pdf and "Åse Ødegård (Deltaker)" in pdf

    # Moved on once more, to a third database: the content still holds the FIRST database's
    # ids, so what the second one exports must say who they are in ITS people.
    second = export_from(target, plan_id, tmp_path / "b.json")
    (moved,) = second["published_minutes"]
    assert moved["content"] == entry["content"] and moved["sha256"] == entry["sha256"]
    names = {p["id"]: p["name"] for p in second["people"]}
    assert {k: names[v] for k, v in moved["content_user_ids"].items()} == {
        str(ids[KARI]): "Kari Nilsen (NAV)",
        str(ids[AASE[0]]): AASE[1],
        str(ids[BJORN[0]]): BJORN[1],
    }
    third = make_settings(tmp_path / "c")
    await crowded_target(third, {2: (JONAS, "Jonas Berg")})
    result = samplan(third, "import", str(tmp_path / "b.json"))
    assert result.returncode == 0, result.stderr
    seen = await pages(third, plan_id)
    assert responsible(seen["page"], CALL_SCHOOL) == BJORN[1]
    assert responsible(seen["page"], APPLY) == AASE[1]
    assert printed_tasks(seen["print"]) == {CALL_SCHOOL: BJORN[1], APPLY: AASE[1]}


async def test_a_file_from_before_content_user_ids_still_imports_and_names_people(
    tmp_path: Path,
) -> None:
    """An older export has no content_user_ids: its minutes' ids are taken as people ids (as
    its exporter assumed), and they are translated like any others."""
    source = make_settings(tmp_path / "a")
    plan_id, ids = await make_source(source)
    document = export_from(source, plan_id, tmp_path / "a.json")
    for entry in document["published_minutes"]:
        del entry["content_user_ids"]
    older = tmp_path / "older.json"
    older.write_text(json.dumps(document, ensure_ascii=False, indent=2), encoding="utf-8")
    target = make_settings(tmp_path / "b")
    await crowded_target(target, {ids[BJORN[0]]: (KARI, "Kari Nilsen (NAV)")})
    result = samplan(target, "import", str(older))
    assert result.returncode == 0, result.stderr
    seen = await pages(target, plan_id)
    assert responsible(seen["page"], CALL_SCHOOL) == BJORN[1]
    assert responsible(seen["page"], APPLY) == AASE[1]
