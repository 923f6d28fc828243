"""Notes before a meeting (issue 13, "Før møtet") over real HTTP, WebSockets and /events
against the live server: who may write and read each note (person, verge under 16 and from
16, koordinator, deltaker, leser), the agenda proposal and the person's yes or no, the live
signal that carries no words, the access log, and bad input. Each rule is also tried by a
crafted client (plain HTTP, a raw /events socket, a y-websocket client on every zone).
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, date, datetime, timedelta
from typing import Any

import httpx
import pytest
import websockets

from crdt.protocol import CloseCode
from crdt.schema import read_zone
from server.core.clock import today_oslo
from tests.support.clients import connected
from tests.support.database import rows as database_rows
from tests.support.live import LiveServer
from tests.support.waiting import wait_for
from tests.support.web import csrf_of, log_in
from tests.support.world import ROLE_USERS, ZONE_SUFFIXES, World

pytestmark = pytest.mark.both_databases

ROLES = ("planeier", "verge", "koordinator", "deltaker", "leser")
PRIVATE = "Bare for meg: jeg gruer meg til gymtimene 😟 æøå"
FOR_KARI = "Jeg vil snakke om at lekser tar for lang tid 📚 – Ørjan hjelper ikke"
FOR_ALL = "Det går bra med e-sport-klubben 🎮 og vennene mine på Ås"
WAIT = 20.0


def db_rows(server: LiveServer, sql: str, *args: Any) -> list[tuple[Any, ...]]:
    return database_rows(server, sql, args)


async def set_age(server: LiveServer, world: World, years: int) -> None:
    """Jonas's birth date so he is `years` old today (in Oslo), a month past the birthday."""
    today = today_oslo()
    born = date(today.year - years, today.month, 1) - timedelta(days=31)
    await server.services.plans.set_person_birth_date(world.plan_id, born)


async def meeting(server: LiveServer, world: World, *, days: float = 7, title: str = "") -> str:
    start = datetime.now(UTC) + timedelta(days=days)
    record = await server.services.meetings.schedule(
        world.plan_id,
        title=title or "Ansvarsgruppemøte 🌷 våren",
        starts_at=start,
        ends_at=start + timedelta(hours=1),
        place="Møterom Blåklokka, Ørnes skole",
        video_link=None,
        agenda=[],
        invitee_ids=[world.users[r] for r in ("planeier", "koordinator", "deltaker")],
        created_by_user_id=world.users["koordinator"],
    )
    return record.id


class Member:
    """A logged-in member with the form token, talking to the notes routes as a page does."""

    def __init__(self, http: httpx.AsyncClient, token: str, world: World) -> None:
        self.http, self.token, self.world = http, token, world

    def url(self, meeting_id: str, tail: str = "") -> str:
        return f"/plans/{self.world.plan_id}/meetings/{meeting_id}/notes{tail}"

    async def post(self, path: str, body: dict[str, Any], *, token: bool = True) -> httpx.Response:
        if token:
            body = {"csrf_token": self.token, **body}
        return await self.http.post(path, json=body, headers={"accept": "application/json"})

    async def write(
        self, meeting_id: str, text: str, audience: str, kind: str = "topic"
    ) -> httpx.Response:
        return await self.post(
            self.url(meeting_id), {"kind": kind, "audience": audience, "text": text}
        )

    async def note_id(self, meeting_id: str, text: str, audience: str) -> str:
        response = await self.write(meeting_id, text, audience)
        assert response.status_code == 201, response.text
        return str(response.json()["note"]["id"])

    async def texts(self, meeting_id: str) -> list[str]:
        response = await self.http.get(self.url(meeting_id), headers={"accept": "application/json"})
        assert response.status_code == 200, response.text
        return [n["text"] for n in response.json()["notes"]]

    async def get(self, meeting_id: str, note_id: str) -> httpx.Response:
        return await self.http.get(
            self.url(meeting_id, f"/{note_id}"), headers={"accept": "application/json"}
        )


@asynccontextmanager
async def as_member(server: LiveServer, world: World, role: str) -> AsyncIterator[Member]:
    async with httpx.AsyncClient(base_url=server.http, timeout=60) as http:
        assert (await log_in(http, ROLE_USERS[role][0])).status_code == 303
        page = await http.get("/plans")
        yield Member(http, csrf_of(page.text), world)


@asynccontextmanager
async def members(server: LiveServer, world: World) -> AsyncIterator[dict[str, Member]]:
    async with (
        as_member(server, world, "planeier") as jonas,
        as_member(server, world, "verge") as line,
        as_member(server, world, "koordinator") as kari,
        as_member(server, world, "deltaker") as ase,
        as_member(server, world, "leser") as per,
    ):
        yield {"planeier": jonas, "verge": line, "koordinator": kari, "deltaker": ase, "leser": per}


def agenda_titles(server: LiveServer, doc: Any) -> list[str]:
    return [str(item["title"]) for item in read_zone(doc, "minutes")["agenda"]]


async def minutes_agenda(server: LiveServer, zone_id: int) -> list[str]:
    return agenda_titles(server, await server.services.registry.read(zone_id))


# --- who reads what ------------------------------------------------------------------------


async def test_from_16_each_note_is_read_only_by_those_the_person_chose(
    web: LiveServer, world: World
) -> None:
    await set_age(web, world, 16)
    mid = await meeting(web, world)
    async with members(web, world) as m:
        private = await m["planeier"].note_id(mid, PRIVATE, "me")
        for_kari = await m["planeier"].note_id(mid, FOR_KARI, "koordinator")
        for_all = await m["planeier"].note_id(mid, FOR_ALL, "group")
        seen = {role: await m[role].texts(mid) for role in ROLES}
        assert seen == {
            "planeier": [PRIVATE, FOR_KARI, FOR_ALL],
            "verge": [FOR_ALL],  # from 16 the person's notes are his: only what he shares
            "koordinator": [FOR_KARI, FOR_ALL],
            "deltaker": [FOR_ALL],
            "leser": [FOR_ALL],
        }
        # A crafted request for one note by id: the same 404 for a note that is not yours to
        # read as for one that does not exist, and never a word of it.
        readable = {
            "planeier": {private, for_kari, for_all},
            "verge": {for_all},
            "koordinator": {for_kari, for_all},
            "deltaker": {for_all},
            "leser": {for_all},
        }
        for role in ROLES:
            for note_id, text in ((private, PRIVATE), (for_kari, FOR_KARI), (for_all, FOR_ALL)):
                response = await m[role].get(mid, note_id)
                if note_id in readable[role]:
                    assert response.status_code == 200
                    assert response.json()["note"]["text"] == text
                else:
                    assert response.status_code == 404, (role, text)
                    assert text not in response.text
                    nothing = await m[role].get(mid, "0123456789abcdef")
                    assert (nothing.status_code, nothing.json()) == (404, response.json())


async def test_under_16_the_verge_writes_too_and_the_two_share_what_the_koordinator_sees(
    web: LiveServer, world: World
) -> None:
    await set_age(web, world, 12)
    mid = await meeting(web, world)
    line_says = "Jonas sover dårlig før skoledager 😴 – hilsen Line Ødegård"
    async with members(web, world) as m:
        await m["planeier"].note_id(mid, PRIVATE, "me")
        await m["planeier"].note_id(mid, FOR_KARI, "koordinator")
        await m["verge"].note_id(mid, line_says, "koordinator")
        assert await m["verge"].texts(mid) == [FOR_KARI, line_says]
        assert await m["planeier"].texts(mid) == [PRIVATE, FOR_KARI, line_says]
        assert await m["koordinator"].texts(mid) == [FOR_KARI, line_says]
        assert await m["deltaker"].texts(mid) == []
        # Jonas turns 16: his koordinator note is his alone again, and the verge no longer
        # writes (404, as a route she has no business calling).
        await set_age(web, world, 16)
        assert await m["verge"].texts(mid) == [line_says]
        refused = await m["verge"].write(mid, "Enda en ting fra Line ✍️", "group")
        assert refused.status_code == 404
        assert await m["koordinator"].texts(mid) == [FOR_KARI, line_says]


async def test_nobody_else_writes_changes_or_answers_for_the_person(
    web: LiveServer, world: World
) -> None:
    await set_age(web, world, 12)  # the verge may read Jonas's koordinator note
    mid = await meeting(web, world)
    async with members(web, world) as m:
        note = await m["planeier"].note_id(mid, FOR_KARI, "koordinator")
        shared = await m["planeier"].note_id(mid, FOR_ALL, "group")
        for role in ("koordinator", "deltaker", "leser"):
            assert (
                await m[role].write(mid, "Skrevet i Jonas sitt navn 🙃", "group")
            ).status_code == 404
        change = {"kind": "hard", "audience": "group", "text": "Endret av en annen 😈"}
        for role in ("verge", "koordinator", "deltaker", "leser"):
            for target in (note, shared):
                edit = await m[role].post(m[role].url(mid, f"/{target}"), change)
                delete = await m[role].post(m[role].url(mid, f"/{target}/delete"), {})
                answer = await m[role].post(
                    m[role].url(mid, f"/{target}/answer"), {"answer": "yes"}
                )
                assert (edit.status_code, delete.status_code, answer.status_code) == (404, 404, 404)
        for role in ("planeier", "verge", "deltaker", "leser"):
            for target in (note, shared):
                propose = await m[role].post(m[role].url(mid, f"/{target}/propose"), {})
                assert propose.status_code == 404, role
        assert await m["planeier"].texts(mid) == [FOR_KARI, FOR_ALL]
        # The writer changes his own: the words and who reads them.
        edited = await m["planeier"].post(
            m["planeier"].url(mid, f"/{note}"),
            {"kind": "good", "audience": "me", "text": FOR_KARI + " (nå bare for meg)"},
        )
        assert edited.status_code == 200 and edited.json()["note"]["audience"] == "me"
        assert await m["koordinator"].texts(mid) == [FOR_ALL]
        assert (await m["planeier"].post(m["planeier"].url(mid, f"/{note}/delete"), {})).json()
        assert await m["planeier"].texts(mid) == [FOR_ALL]


# --- bad input -----------------------------------------------------------------------------


async def test_bad_input_is_refused_with_a_clear_sentence_and_stores_nothing(
    web: LiveServer, world: World
) -> None:
    await set_age(web, world, 16)
    mid = await meeting(web, world)
    past = await meeting(web, world, days=-2, title="Forrige møte 🍂")
    async with as_member(web, world, "planeier") as jonas:
        long = ("Æ" * 1999) + "🙂"  # 2000 characters: the most a note holds
        assert (await jonas.write(mid, long, "koordinator")).status_code == 201
        too_long = await jonas.write(mid, long + "ø", "koordinator")
        assert too_long.status_code == 400
        assert "for langt" in too_long.json()["error"] and "2000" in too_long.json()["error"]
        empty = await jonas.write(mid, "  \n ", "group")
        assert empty.status_code == 400 and "Skriv noe" in empty.json()["error"]
        odd = await jonas.write(mid, "Hei på deg 👋", "alle-sammen")
        assert odd.status_code == 400
        gone = await jonas.write("finnes-ikke", "Hei på deg 👋", "group")
        assert gone.status_code == 404 and "finner ikke dette møtet" in gone.json()["error"]
        over = await jonas.write(past, "For sent, men viktig 🕰️", "group")
        assert over.status_code == 409 and "Møtet er over" in over.json()["error"]
        forged = await jonas.post(
            jonas.url(mid),
            {"kind": "topic", "audience": "me", "text": "Uten skjema ✋"},
            token=False,
        )
        assert forged.status_code == 403
        assert await jonas.texts(mid) == [long]
        assert await jonas.texts(past) == []


# --- the agenda ----------------------------------------------------------------------------


async def test_kari_proposes_jonas_says_yes_and_it_is_on_the_agenda_as_his(
    web: LiveServer, world: World
) -> None:
    await set_age(web, world, 16)
    mid = await meeting(web, world)
    record = await web.services.meetings.get(world.plan_id, mid)
    assert record is not None and record.zone_id is not None
    zone_id = record.zone_id
    async with members(web, world) as m:
        jonas, kari = m["planeier"], m["koordinator"]
        yes = await jonas.note_id(mid, FOR_KARI, "koordinator")
        no = await jonas.note_id(mid, FOR_ALL, "group")
        private = await jonas.note_id(mid, PRIVATE, "me")
        # Nothing to answer before Kari asks; she cannot ask about what she cannot read.
        early = await jonas.post(jonas.url(mid, f"/{yes}/answer"), {"answer": "yes"})
        assert early.status_code == 409
        assert (await kari.post(kari.url(mid, f"/{private}/propose"), {})).status_code == 404
        for note in (yes, no):
            assert (await kari.post(kari.url(mid, f"/{note}/propose"), {})).status_code == 200
        listed = (
            await jonas.http.get(jonas.url(mid), headers={"accept": "application/json"})
        ).json()
        asked = {n["id"]: (n["proposed"], n["proposedBy"]) for n in listed["notes"]}
        assert asked[yes] == (True, "Kari Nilsen") and asked[no] == (True, "Kari Nilsen")
        before = await minutes_agenda(web, zone_id)

        declined = await jonas.post(jonas.url(mid, f"/{no}/answer"), {"answer": "no"})
        assert declined.status_code == 200 and declined.json()["note"]["answer"] == "no"
        assert await minutes_agenda(web, zone_id) == before  # a no changes nothing

        # A newcomer on the minutes zone sees the item the moment Jonas says yes.
        async with connected(
            web.ws_url(world.room(f"minutes/{mid}"), world.token("koordinator"))
        ) as live:
            accepted = await jonas.post(jonas.url(mid, f"/{yes}/answer"), {"answer": "yes"})
            assert accepted.status_code == 200 and accepted.json()["note"]["onAgenda"] is True
            await live.wait_for(lambda: FOR_KARI in agenda_titles(web, live.doc))
        assert await minutes_agenda(web, zone_id) == [*before, FOR_KARI]
        # Written as Jonas's change (the server's record of who, never the client's word).
        [(author,)] = db_rows(
            web,
            "SELECT user_id FROM zone_updates WHERE zone_id = ? ORDER BY id DESC LIMIT 1",
            zone_id,
        )
        assert author == world.users["planeier"]
        again = await jonas.post(jonas.url(mid, f"/{yes}/answer"), {"answer": "yes"})
        assert again.status_code == 409
        assert (await kari.post(kari.url(mid, f"/{yes}/propose"), {})).status_code == 409
        assert await minutes_agenda(web, zone_id) == [*before, FOR_KARI]
        # Min plan shows the meeting's agenda as the minutes hold it now.
        page = (await jonas.http.get(f"/plans/{world.plan_id}/min")).text
        agenda = page.split('data-testid="min-meeting-agenda"', 1)[1].split("</ul>", 1)[0]
        assert FOR_KARI in agenda


def test_a_long_note_becomes_a_short_agenda_title_with_the_whole_note_below() -> None:
    from server.meetings.notes import AGENDA_TITLE_CHARS, agenda_section

    text = "Skolen 🏫 " + "og leksene " * 20 + "\nAndre linje med æøå"
    section = agenda_section(text)
    assert len(section["title"]) <= AGENDA_TITLE_CHARS + 2 and section["title"].endswith("…")
    assert section["body"] == [line.strip() for line in text.splitlines()]
    assert agenda_section("Kort 🙂")["body"] == []


# --- live, and the crafted deltaker --------------------------------------------------------


async def _cookie(server: LiveServer, role: str) -> str:
    async with httpx.AsyncClient(base_url=server.http) as http:
        assert (await log_in(http, ROLE_USERS[role][0])).status_code == 303
        return str(http.cookies["samplan_session"])


async def _drain(socket: Any, seconds: float) -> list[str]:
    """Every frame that arrives within `seconds` (a window to show that nothing comes)."""
    frames: list[str] = []
    try:
        while True:
            frames.append(await asyncio.wait_for(socket.recv(), seconds))
    except TimeoutError:
        return frames


async def test_a_change_is_told_to_its_readers_only_and_never_with_its_words(
    web: LiveServer, world: World
) -> None:
    await set_age(web, world, 16)
    mid = await meeting(web, world)
    url = f"ws://127.0.0.1:{web.port}/events"
    cookies = {role: await _cookie(web, role) for role in ("koordinator", "deltaker", "verge")}

    def as_(role: str) -> dict[str, str]:
        return {"Origin": web.http, "Cookie": f"samplan_session={cookies[role]}"}

    hub = web.services.events
    async with (
        websockets.connect(url, additional_headers=as_("koordinator")) as kari,
        websockets.connect(url, additional_headers=as_("deltaker")) as ase,
        websockets.connect(url, additional_headers=as_("verge")) as line,
        as_member(web, world, "planeier") as jonas,
    ):
        for role in cookies:
            await wait_for(lambda r=role: hub.subscribers(world.users[r]) == 1, what=role)
        await jonas.note_id(mid, FOR_KARI, "koordinator")
        event = json.loads(await asyncio.wait_for(kari.recv(), WAIT))
        assert event == {"type": "meeting_note", "planId": world.plan_id, "meetingId": mid}
        await jonas.note_id(mid, FOR_ALL, "group")
        for socket in (kari, ase, line):  # a group note: everyone who may open the plan
            assert json.loads(await asyncio.wait_for(socket.recv(), WAIT))["type"] == "meeting_note"
        # The koordinator note came to nobody else: the group note was the first they got.
        assert await _drain(ase, 0.5) == [] and await _drain(line, 0.1) == []
        await _drain(kari, 0.1)


async def test_a_crafted_deltaker_never_learns_of_a_note_for_the_koordinator(
    web: LiveServer, world: World
) -> None:
    """Åse (deltaker, as Ahmed in the story) listens on /events, calls every notes route and
    opens every zone she may: no word of the note, not even its id, reaches her."""
    await set_age(web, world, 16)
    mid = await meeting(web, world)
    url = f"ws://127.0.0.1:{web.port}/events"
    cookie = await _cookie(web, "deltaker")
    headers = {"Origin": web.http, "Cookie": f"samplan_session={cookie}"}
    async with (
        websockets.connect(url, additional_headers=headers) as events,
        as_member(web, world, "deltaker") as ase,
        as_member(web, world, "planeier") as jonas,
        as_member(web, world, "koordinator") as kari,
    ):
        await wait_for(lambda: web.services.events.subscribers(world.users["deltaker"]) == 1)
        note = await jonas.note_id(mid, FOR_KARI, "koordinator")
        assert (await kari.post(kari.url(mid, f"/{note}/propose"), {})).status_code == 200
        seen: list[str] = []
        listed = await ase.http.get(ase.url(mid), headers={"accept": "application/json"})
        assert listed.status_code == 200 and listed.json()["notes"] == []
        seen.append(listed.text)
        for tail in ("", "/delete", "/propose", "/answer"):
            response = await ase.post(ase.url(mid, f"/{note}{tail}"), {"answer": "yes"})
            assert response.status_code == 404
            seen.append(response.text)
        seen.append((await ase.get(mid, note)).text)
        for page in (f"/plans/{world.plan_id}", f"/plans/{world.plan_id}/meetings/{mid}"):
            response = await ase.http.get(page)
            assert response.status_code == 200
            seen.append(response.text)
        suffixes = [*ZONE_SUFFIXES, f"minutes/{mid}"]
        for suffix in suffixes:
            async with connected(web.ws_url(world.room(suffix), world.token("deltaker"))) as z:
                seen.append(json.dumps(z.doc.get_update().hex()))
                seen.append(str(z.doc.get_update()))
        # Rooms a crafted client might guess at for the note: there is no such zone (4404).
        for guess in (f"notes/{mid}", f"notes/{note}", f"minutes/{note}", "notes"):
            async with connected(
                web.ws_url(world.room(guess), world.token("deltaker")), wait_sync=False
            ) as z:
                assert await z.wait_closed() == CloseCode.NOT_FOUND, guess
        seen.extend(await _drain(events, 0.5))
        everything = "\n".join(seen)
        assert FOR_KARI not in everything and note not in everything
        assert FOR_KARI.encode().hex() not in everything
        assert "meeting_note" not in everything


# --- the access log ------------------------------------------------------------------------


async def test_every_read_by_someone_else_is_in_the_access_log(
    web: LiveServer, world: World
) -> None:
    await set_age(web, world, 16)
    mid = await meeting(web, world)
    async with members(web, world) as m:
        note = await m["planeier"].note_id(mid, FOR_KARI, "koordinator")
        await m["planeier"].texts(mid)  # his own reads are not logged
        await m["planeier"].get(mid, note)
        await m["koordinator"].texts(mid)
        await m["koordinator"].get(mid, note)
        await m["deltaker"].texts(mid)  # nothing he may read: nothing read
        await web.services.audit.flush()
        rows = db_rows(
            web,
            "SELECT actor_user_id, role, zone, details FROM audit_log WHERE action = 'note_read'",
        )
        assert [(r[0], r[1], r[2]) for r in rows] == [
            (world.users["koordinator"], "koordinator", f"minutes/{mid}")
        ] * 2
        assert all(json.loads(r[3]) == {"meeting_id": mid, "note_id": note} for r in rows)
        assert FOR_KARI not in json.dumps(rows)
        # Jonas sees it: on Min plan among who has been in his plan, and in the access log.
        log_page = (await m["planeier"].http.get(f"/plans/{world.plan_id}/access-log")).text
        assert "Leste et notat" in log_page and "Et notat før møtet" in log_page
        notes_only = await m["planeier"].http.get(
            f"/plans/{world.plan_id}/access-log?kind=note_reads"
        )
        assert notes_only.status_code == 200 and notes_only.text.count("access-note-read") == 2
        mine = (await m["planeier"].http.get(f"/plans/{world.plan_id}/min")).text
        visitors = mine.split('data-testid="min-visitors"', 1)[1].split("</section>", 1)[0]
        assert "Kari Nilsen" in visitors


# --- who may not even come near --------------------------------------------------------------


@pytest.mark.parametrize("role", ["deltaker", "leser"])
async def test_a_deltaker_or_leser_writes_nothing_and_sees_no_form(
    web: LiveServer, world: World, role: str
) -> None:
    mid = await meeting(web, world)
    async with as_member(web, world, role) as member:
        assert (await member.write(mid, "Jeg later som jeg er Jonas 🕵️", "group")).status_code == 404
        assert (await member.http.get(f"/plans/{world.plan_id}/min")).status_code == 404
        assert db_rows(web, "SELECT count(*) FROM meeting_notes") == [(0,)]


async def test_min_plan_offers_a_note_for_each_coming_meeting(
    web: LiveServer, world: World
) -> None:
    await set_age(web, world, 16)
    soon = await meeting(web, world, days=3, title="Møte om skolen 🏫")
    later = await meeting(web, world, days=30, title="Møte om fritid ⚽")
    await meeting(web, world, days=-3, title="Møte som er over 🍂")
    for role, forms in (("planeier", [soon, later]), ("verge", [])):
        async with as_member(web, world, role) as member:
            page = (await member.http.get(f"/plans/{world.plan_id}/min")).text
            found = [
                chunk.split('"', 1)[0]
                for chunk in page.split('data-testid="min-note-form" data-meeting="')[1:]
            ]
            assert found == forms, role
            assert ('data-testid="min-before"' in page) == bool(forms)


def test_the_rules_follow_the_age_on_todays_date() -> None:
    """core/note_access.py on its own: the day before and on the 16th birthday, and with no
    birth date recorded (the verge may write, as with consent; reading each other's
    koordinator notes needs a known age under 16)."""
    from dataclasses import dataclass

    from server.core.note_access import may_read_note, may_write_notes

    @dataclass
    class N:
        author_user_id: int
        author_role: str
        audience: str

    born = date(2010, 3, 15)
    before, on = date(2026, 3, 14), date(2026, 3, 15)
    note = N(1, "planeier", "koordinator")
    assert may_write_notes("verge", born, before) and not may_write_notes("verge", born, on)
    assert may_read_note(note, 2, "verge", born, before)
    assert not may_read_note(note, 2, "verge", born, on)
    assert may_write_notes("verge", None, on) and not may_read_note(note, 2, "verge", None, on)
    assert may_write_notes("planeier", born, before) and may_write_notes("planeier", None, on)
    for role in ("koordinator", "deltaker", "leser"):
        assert not may_write_notes(role, born, on)
    assert may_read_note(note, 3, "koordinator", born, on)
    assert not may_read_note(note, 4, "deltaker", born, on)
    assert not may_read_note(N(1, "planeier", "me"), 3, "koordinator", born, on)
    assert may_read_note(N(1, "planeier", "group"), 5, "leser", born, on)
