"""Meetings end to end over a real server: scheduling (roles and every validation error), the
.ics file, the Møter section, and an action item in the minutes turned into a measure that
real WebSocket clients see arrive live. Text uses æøå and an emoji."""

from __future__ import annotations

import json
import logging
import re
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import timedelta
from typing import Any

import httpx
import pytest
from icalendar import Calendar
from pycrdt import Array, Doc, Map

from crdt.schema import append_item, get_root, read_zone
from server.core.clock import OSLO, today_oslo
from tests.support.clients import connected
from tests.support.database import arows
from tests.support.live import LiveServer
from tests.support.passwords import hash_password
from tests.support.waiting import wait_for
from tests.support.web import PASSWORD, csrf_of, log_in
from tests.support.world import OUTSIDER, ROLE_USERS, World

pytestmark = pytest.mark.both_databases

log = logging.getLogger("tests.meetings")

GOAL_ID = "mål-1"
MEASURE_ID = "tiltak-åpent"
PLACE = "Blåbærveien 1, møterom «Tyttebær» 🫐"


@asynccontextmanager
async def _client(server: LiveServer, role: str) -> AsyncIterator[httpx.AsyncClient]:
    email = OUTSIDER[0] if role == "outsider" else ROLE_USERS[role][0]
    if role == "outsider":
        user = await server.services.repos.users.get_by_email(email)
        assert user is not None
        await server.services.repos.users.set_password_hash(user.id, hash_password(PASSWORD))
    async with httpx.AsyncClient(base_url=server.http) as http:
        response = await log_in(http, email)
        assert response.status_code == 303
        yield http


async def _seed_area(web: LiveServer, world: World) -> None:
    """A goal and an open measure in "Skole og læring", written the server's own way."""

    def change(doc: Doc[Any]) -> None:
        append_item(
            get_root(doc, "area", "goals"),
            {"id": GOAL_ID, "parentId": None, "label": "M1", "title": "Fullføre vg1 ✅"},
        )
        append_item(
            get_root(doc, "area", "measures"),
            {"id": MEASURE_ID, "goalId": GOAL_ID, "title": "Leksehjelp", "status": "pagar"},
        )

    await web.services.registry.edit(world.zones["area/skole"], change, "area", actor=None)


def _future_day(days: int = 7) -> str:
    return (today_oslo() + timedelta(days=days)).strftime("%d.%m.%Y")


def _form(world: World, **overrides: Any) -> dict[str, Any]:
    values: dict[str, Any] = {
        "title": "Ansvarsgruppemøte",
        "date": _future_day(),
        "start": "14:00",
        "end": "15:30",
        "place": PLACE,
        "video_link": "",
        "agenda": "Velkommen og runde 👋\nEventuelt – æøå",
        "agenda_ref": [f"measure|skole|{MEASURE_ID}", f"goal|skole|{GOAL_ID}"],
        "invitee": [str(world.users[r]) for r in ("koordinator", "deltaker", "planeier")],
    }
    values.update(overrides)
    return values


async def _schedule(http: httpx.AsyncClient, world: World, **overrides: Any) -> httpx.Response:
    page = await http.get(f"/plans/{world.plan_id}/meetings/new")
    data = {"csrf_token": csrf_of(page.text), **_form(world, **overrides)}
    return await http.post(f"/plans/{world.plan_id}/meetings/new", data=data)


async def _only_meeting(web: LiveServer, world: World) -> Any:
    meetings = [
        m
        for m in await web.services.meetings.list_for_plan(world.plan_id)
        if m.id != "mote-2026-01-15"
    ]
    assert len(meetings) == 1
    return meetings[0]


async def test_koordinator_schedules_a_meeting_with_seeded_minutes(
    web: LiveServer, world: World
) -> None:
    await _seed_area(web, world)
    async with _client(web, "koordinator") as http:
        form = await http.get(f"/plans/{world.plan_id}/meetings/new")
        assert form.status_code == 200
        assert "Leksehjelp" in form.text and "Fullføre vg1 ✅" in form.text
        response = await _schedule(http, world)
        assert response.status_code == 303, response.text
        meeting = await _only_meeting(web, world)
        assert meeting.place == PLACE
        assert meeting.starts_at.astimezone(OSLO).strftime("%d.%m.%Y %H:%M") == (
            f"{_future_day()} 14:00"
        )
        assert set(meeting.invitee_ids) == {
            world.users[r] for r in ("koordinator", "deltaker", "planeier")
        }
        titles = [item.title for item in meeting.agenda]
        assert titles[2:] == ["Velkommen og runde 👋", "Eventuelt – æøå"]
        assert meeting.agenda[0].ref is not None and meeting.agenda[0].ref.item_id == MEASURE_ID

        plan_page = await http.get(f"/plans/{world.plan_id}")
        assert f'data-testid="meeting-{meeting.id}"' in plan_page.text
        assert _future_day() in plan_page.text
        mine = await http.get("/plans")
        assert f"{_future_day()} kl. 14:00" in mine.text

    # The minutes zone was seeded: a deltaker's client sees attendees and agenda sections.
    room = world.room(f"minutes/{meeting.id}")
    async with connected(web.ws_url(room, world.token("deltaker", world.plan_id))) as client:
        data = read_zone(client.doc, "minutes")
    assert data["meeting"]["meetingId"] == meeting.id
    assert {a["name"] for a in data["attendees"]} == {"Kari Nilsen", "Åse Ødegård", "Jonas Berg"}
    assert all(a["present"] is None and a["apology"] is None for a in data["attendees"])
    assert [a["id"] for a in data["agenda"]] == [item.id for item in meeting.agenda]
    assert data["agenda"][3]["title"] == "Eventuelt – æøå"


@pytest.mark.parametrize(
    ("overrides", "error"),
    [
        ({"date": "31.02.2030"}, "meetings.error.date"),
        ({"date": "01.01.2020"}, "meetings.error.past"),
        ({"start": "25:00"}, "meetings.error.time"),
        ({"start": "15:00", "end": "14:00"}, "meetings.error.end_before_start"),
        ({"invitee": []}, "meetings.error.invitees"),
        ({"invitee": ["999999"]}, "meetings.error.invitee_unknown"),
        ({"video_link": "javascript:alert(1)"}, "meetings.error.link"),
        ({"video_link": "ftp://video.example/rom"}, "meetings.error.link"),
        ({"place": "", "video_link": ""}, "meetings.error.where"),
        ({"agenda_ref": ["measure|skole|finnes-ikke"]}, "meetings.error.agenda_ref"),
        ({"agenda_ref": ["goal|fritid|" + GOAL_ID]}, "meetings.error.agenda_ref"),
    ],
)
async def test_bad_scheduling_input_saves_nothing(
    web: LiveServer, world: World, overrides: dict[str, Any], error: str
) -> None:
    await _seed_area(web, world)
    zones_before = len(await web.services.plans.list_zones(world.plan_id))
    async with _client(web, "koordinator") as http:
        response = await _schedule(http, world, **overrides)
    assert response.status_code == 400
    assert 'role="alert"' in response.text
    assert f'data-error="{error}"' in response.text
    assert PLACE.replace("«", "&#171;")[:10] in response.text or overrides.get("place") == ""
    assert [m.id for m in await web.services.meetings.list_for_plan(world.plan_id)] == []
    assert len(await web.services.plans.list_zones(world.plan_id)) == zones_before


async def test_only_the_koordinator_schedules(web: LiveServer, world: World) -> None:
    for role in ("deltaker", "planeier", "leser"):
        async with _client(web, role) as http:
            assert (await http.get(f"/plans/{world.plan_id}/meetings/new")).status_code == 403
            page = await http.get(f"/plans/{world.plan_id}")
            response = await http.post(
                f"/plans/{world.plan_id}/meetings/new",
                data={"csrf_token": csrf_of(page.text), **_form(world, agenda_ref=[])},
            )
            assert response.status_code == 403
    async with _client(web, "outsider") as http:
        assert (await http.get(f"/plans/{world.plan_id}/meetings/new")).status_code == 404
    async with httpx.AsyncClient(base_url=web.http) as anonymous:
        response = await anonymous.get(f"/plans/{world.plan_id}/meetings/new")
        assert response.status_code == 303
    async with _client(web, "koordinator") as http:  # no CSRF token: nothing saved
        response = await http.post(
            f"/plans/{world.plan_id}/meetings/new", data=_form(world, agenda_ref=[])
        )
        assert response.status_code == 400
    assert [m.id for m in await web.services.meetings.list_for_plan(world.plan_id)] == []


async def test_ics_for_invitees_only(web: LiveServer, world: World) -> None:
    async with _client(web, "koordinator") as http:
        response = await _schedule(http, world, agenda_ref=[])
        assert response.status_code == 303
    meeting = await _only_meeting(web, world)
    url = f"/plans/{world.plan_id}/meetings/{meeting.id}.ics"
    async with _client(web, "deltaker") as http:
        response = await http.get(url)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/calendar")
    calendar = Calendar.from_ical(response.content)
    events = list(calendar.walk("VEVENT"))
    assert len(events) == 1
    event = events[0]
    start = event.decoded("dtstart")
    assert start == meeting.starts_at
    assert start.astimezone(OSLO).strftime("%d.%m.%Y %H:%M") == f"{_future_day()} 14:00"
    assert event.decoded("dtend").astimezone(OSLO).strftime("%H:%M") == "15:30"
    assert str(event.get("location")) == PLACE
    assert str(event.get("summary")) == "Ansvarsgruppemøte"
    assert str(event.get("url")).endswith(f"/plans/{world.plan_id}/meetings/{meeting.id}")
    assert str(event.get("uid")).startswith(f"samplan-meeting-{meeting.id}@")
    text = response.content.decode()
    for private in ("Jonas", "Åse", "Velkommen", "Eventuelt"):
        assert private not in text  # no names, no agenda in a calendar
    log.info("ics: %d bytes", len(response.content))

    async with _client(web, "leser") as http:  # a member, not invited
        assert (await http.get(url)).status_code == 403
        plan_page = await http.get(f"/plans/{world.plan_id}")
        assert f"{meeting.id}.ics" not in plan_page.text
    async with _client(web, "koordinator") as http:
        assert (await http.get(url)).status_code == 200
        missing = f"/plans/{world.plan_id}/meetings/finnes-ikke.ics"
        assert (await http.get(missing)).status_code == 404
    async with _client(web, "outsider") as http:
        assert (await http.get(url)).status_code == 404
        minutes = f"/plans/{world.plan_id}/meetings/{meeting.id}"
        assert (await http.get(minutes)).status_code == 404


async def test_minutes_page_access(web: LiveServer, world: World) -> None:
    async with _client(web, "koordinator") as http:
        assert (await _schedule(http, world, agenda_ref=[])).status_code == 303
    meeting = await _only_meeting(web, world)
    minutes = f"/plans/{world.plan_id}/meetings/{meeting.id}"
    for role, access in [("koordinator", "rw"), ("deltaker", "rw"), ("leser", "r")]:
        async with _client(web, role) as http:
            page = await http.get(minutes)
            assert page.status_code == 200, role
            assert f"&#34;access&#34;: &#34;{access}&#34;" in page.text, role
            assert 'id="minutes-publish"' in page.text
            missing = await http.get(f"/plans/{world.plan_id}/meetings/finnes-ikke")
            assert missing.status_code == 404
    await web.services.consents.revoke(world.plan_id, world.users["deltaker"], None)
    async with _client(web, "deltaker") as http:  # no consent: nothing of the plan
        assert (await http.get(minutes)).status_code == 404
        assert (await http.get(f"{minutes}.ics")).status_code == 404


# --- action item -> measure ---------------------------------------------------------------


def _measures(doc: Doc[Any]) -> list[dict[str, Any]]:
    return list(read_zone(doc, "area")["measures"])


async def test_action_item_becomes_a_measure_live(web: LiveServer, world: World) -> None:
    await _seed_area(web, world)
    async with _client(web, "koordinator") as http:
        assert (await _schedule(http, world, agenda_ref=[])).status_code == 303
    meeting = await _only_meeting(web, world)
    minutes_room = world.room(f"minutes/{meeting.id}")
    area_room = world.room("area/skole")
    due = (today_oslo() + timedelta(days=14)).isoformat()
    deltaker = str(world.users["deltaker"])

    async with (
        connected(web.ws_url(minutes_room, world.token("deltaker"))) as minutes,
        connected(web.ws_url(area_room, world.token("koordinator"))) as area,
    ):
        items: Array[Any] = get_root(minutes.doc, "minutes", "actionItems")

        def add(item_id: str, **values: Any) -> None:
            append_item(
                items,
                {
                    "id": item_id,
                    "agendaId": None,
                    "what": "Søke om skyss til trening 🚌",
                    "responsibleUserId": deltaker,
                    "due": due,
                    "areaId": "skole",
                    "goalId": GOAL_ID,
                    "measureId": None,
                    **values,
                },
            )

        add("ok")
        add("fortid", due=(today_oslo() - timedelta(days=1)).isoformat())
        add("fremmed", responsibleUserId=str(world.users["outsider"]))
        add("ingen", responsibleUserId=None)
        add("uten-mål", goalId="finnes-ikke")
        server_room = web.services.registry.rooms[meeting.zone_id]
        await wait_for(
            lambda: len(read_zone(server_room.doc, "minutes")["actionItems"]) == 5,
            what="the action items reach the server",
        )
        before = _measures(area.doc)

        async with _client(web, "deltaker") as http:
            page = await http.get(f"/plans/{world.plan_id}/meetings/{meeting.id}")
            assert page.status_code == 200
            token = csrf_of(page.text)

            async def convert(item_id: str) -> httpx.Response:
                return await http.post(
                    f"/plans/{world.plan_id}/meetings/{meeting.id}/actions/{item_id}/measure",
                    data={"csrf_token": token},
                )

            for item_id, error in [
                ("fortid", "minutes.error.due_past"),
                ("fremmed", "minutes.error.responsible"),
                ("ingen", "minutes.error.responsible"),
                ("uten-mål", "minutes.error.goal"),
            ]:
                response = await convert(item_id)
                assert response.status_code == 400, item_id
                assert f'data-error="{error}"' in response.text and 'role="alert"' in response.text
            assert (await convert("finnes-ikke")).status_code == 404
            assert _measures(area.doc) == before

            started = time.monotonic()
            response = await convert("ok")
            assert response.status_code == 303
            assert "converted=ok" in response.headers["location"]
            await wait_for(
                lambda: len(_measures(area.doc)) == len(before) + 1,
                what="the measure arrives at the area client",
            )
            took = time.monotonic() - started
            log.info("POST to measure seen by the area client: %.0f ms", took * 1000)
            measure = _measures(area.doc)[-1]
            assert measure["goalId"] == GOAL_ID
            assert measure["meetingId"] == meeting.id
            assert measure["title"] == "Søke om skyss til trening 🚌"
            assert measure["responsible"] == [deltaker]
            assert measure["end"] == due
            assert measure["status"] == "planlagt"
            await wait_for(
                lambda: _item(minutes.doc, "ok").get("measureId") == measure["id"],
                what="the action item links to the measure",
            )
            again = await convert("ok")
            assert again.status_code == 409
            assert 'data-error="minutes.error.converted"' in again.text
            assert len(_measures(area.doc)) == len(before) + 1

        async with _client(web, "leser") as http:
            page = await http.get(f"/plans/{world.plan_id}/meetings/{meeting.id}")
            assert page.status_code == 200
            response = await http.post(
                f"/plans/{world.plan_id}/meetings/{meeting.id}/actions/fortid/measure",
                data={"csrf_token": csrf_of(page.text)},
            )
            assert response.status_code == 403
        assert len(_measures(area.doc)) == len(before) + 1

    await web.services.audit.flush()
    rows = await arows(
        web, "SELECT details FROM audit_log WHERE action = 'measure_from_minutes' ORDER BY id"
    )
    assert len(rows) == 1
    details = json.loads(rows[0][0])
    assert details == {
        "meeting_id": meeting.id,
        "action_item_id": "ok",
        "measure_id": measure["id"],
    }
    assert not re.search(r"skyss|Søke", rows[0][0])


def _item(doc: Doc[Any], item_id: str) -> Map[Any]:
    for item in get_root(doc, "minutes", "actionItems"):
        if isinstance(item, Map) and item.get("id") == item_id:
            return item
    raise AssertionError(f"no action item {item_id}")


async def test_koordinator_cancels_a_meeting(web: LiveServer, world: World) -> None:
    async with _client(web, "koordinator") as http:
        assert (await _schedule(http, world, agenda_ref=[])).status_code == 303
    meeting = await _only_meeting(web, world)
    cancel = f"/plans/{world.plan_id}/meetings/{meeting.id}/cancel"
    async with _client(web, "deltaker") as http:
        page = await http.get(f"/plans/{world.plan_id}")
        assert f'data-testid="meeting-cancel-{meeting.id}"' not in page.text
        response = await http.post(cancel, data={"csrf_token": csrf_of(page.text)})
        assert response.status_code == 403
        assert f"{_future_day()} kl. 14:00" in (await http.get("/plans")).text  # invited
    assert (await _only_meeting(web, world)).cancelled_at is None
    async with _client(web, "koordinator") as http:
        page = await http.get(f"/plans/{world.plan_id}")
        assert (await http.post(cancel, data={})).status_code == 403  # no CSRF token
        response = await http.post(cancel, data={"csrf_token": csrf_of(page.text)})
        assert response.status_code == 303
        page = await http.get(f"/plans/{world.plan_id}")
        assert "Avlyst" in page.text
        assert f'data-testid="meeting-cancel-{meeting.id}"' not in page.text
        assert f"{_future_day()} kl. 14:00" not in (await http.get("/plans")).text
        ics = await http.get(f"/plans/{world.plan_id}/meetings/{meeting.id}.ics")
    (event,) = Calendar.from_ical(ics.content).walk("VEVENT")
    assert str(event.get("status")) == "CANCELLED"
    assert (await _only_meeting(web, world)).cancelled_at is not None


# --- editing (rescheduling) -----------------------------------------------------------------

NEW_PLACE = "Ørnes skole, rom «Måke» 🐦"


async def _edit(
    http: httpx.AsyncClient, world: World, meeting_id: str, **fields: Any
) -> httpx.Response:
    url = f"/plans/{world.plan_id}/meetings/{meeting_id}/edit"
    page = await http.get(url)
    assert page.status_code == 200, page.text
    data = {"csrf_token": csrf_of(page.text), **fields}
    return await http.post(url, data=data)


def _edit_form(world: World, **overrides: Any) -> dict[str, Any]:
    values: dict[str, Any] = {
        "title": "Ansvarsgruppemøte – endret ✏️",
        "date": _future_day(10),
        "start": "09:15",
        "end": "10:45",
        "place": NEW_PLACE,
        "video_link": "https://video.eksempelvik.test/rom-æøå",
        "invitee": [str(world.users[r]) for r in ("koordinator", "deltaker", "leser")],
    }
    values.update(overrides)
    return values


async def _ics_event(http: httpx.AsyncClient, world: World, meeting_id: str) -> Any:
    response = await http.get(f"/plans/{world.plan_id}/meetings/{meeting_id}.ics")
    assert response.status_code == 200
    (event,) = Calendar.from_ical(response.content).walk("VEVENT")
    return event


async def test_koordinator_edits_a_meeting(web: LiveServer, world: World) -> None:
    invited = [str(world.users[r]) for r in ("koordinator", "deltaker")]
    async with _client(web, "koordinator") as http:
        assert (await _schedule(http, world, agenda_ref=[], invitee=invited)).status_code == 303
        meeting = await _only_meeting(web, world)
        first = await _ics_event(http, world, meeting.id)
        assert int(first.get("sequence")) == 0

        plan_page = await http.get(f"/plans/{world.plan_id}")
        link = f'href="/plans/{world.plan_id}/meetings/{meeting.id}/edit"'
        assert link in plan_page.text
        assert f'data-testid="meeting-edit-{meeting.id}"' in plan_page.text
        form = await http.get(f"/plans/{world.plan_id}/meetings/{meeting.id}/edit")
        assert form.status_code == 200
        assert 'value="14:00"' in form.text and 'value="15:30"' in form.text
        assert f'value="{_future_day()}"' in form.text
        assert "Blåbærveien 1" in form.text
        assert f'id="inv-{world.users["deltaker"]}" name="invitee"' in form.text
        assert 'data-testid="meeting-agenda-hint"' in form.text
        assert 'name="agenda"' not in form.text  # the agenda is edited in the minutes

        started = time.monotonic()
        response = await _edit(http, world, meeting.id, **_edit_form(world))
        assert response.status_code == 303, response.text
        log.info("edit round trip: %.3f s", time.monotonic() - started)
        edited = await _only_meeting(web, world)
        assert edited.starts_at.astimezone(OSLO).strftime("%d.%m.%Y %H:%M") == (
            f"{_future_day(10)} 09:15"
        )
        assert edited.place == NEW_PLACE and edited.title == "Ansvarsgruppemøte – endret ✏️"
        assert set(edited.invitee_ids) == {
            world.users[r] for r in ("koordinator", "deltaker", "leser")
        }
        assert edited.agenda == meeting.agenda  # kept as it was
        assert edited.sequence == 1 and edited.updated_at is not None
        event = await _ics_event(http, world, meeting.id)
        assert int(event.get("sequence")) == 1
        assert event.decoded("dtstart") == edited.starts_at
        assert event.decoded("dtend").astimezone(OSLO).strftime("%H:%M") == "10:45"
        assert NEW_PLACE in str(event.get("location"))
        changed = edited.updated_at.replace(microsecond=0)  # iCalendar keeps whole seconds
        assert event.decoded("last-modified") == changed == event.decoded("dtstamp")
        assert str(event.get("uid")) == str(first.get("uid"))

        again = _edit_form(world, place="Blåbærveien 1 🫐", start="10:00", end="11:00")
        assert (await _edit(http, world, meeting.id, **again)).status_code == 303
        event = await _ics_event(http, world, meeting.id)
        assert int(event.get("sequence")) == 2
        assert str(event.get("location")).startswith("Blåbærveien 1 🫐")
        assert event.decoded("dtstart").astimezone(OSLO).strftime("%H:%M") == "10:00"
        assert (await _only_meeting(web, world)).sequence == 2

    # The new invitee joined the minutes' attendees, once, after the first two.
    room = world.room(f"minutes/{meeting.id}")
    async with connected(web.ws_url(room, world.token("deltaker", world.plan_id))) as client:
        data = read_zone(client.doc, "minutes")
    names = [a["name"] for a in data["attendees"]]
    assert sorted(names[:2]) == ["Kari Nilsen", "Åse Ødegård"] and names[2:] == ["Per Lund"]
    assert data["attendees"][2]["userId"] == str(world.users["leser"])
    assert data["attendees"][2]["present"] is None
    assert [a["id"] for a in data["agenda"]] == [item.id for item in meeting.agenda]

    await web.services.audit.flush()
    rows = await arows(
        web, "SELECT details FROM audit_log WHERE action = 'meeting_update' ORDER BY id"
    )
    assert len(rows) == 2
    assert json.loads(rows[0][0]) == {
        "meeting_id": meeting.id,
        "invitees": sorted(world.users[r] for r in ("koordinator", "deltaker", "leser")),
    }


@pytest.mark.parametrize(
    ("overrides", "error"),
    [
        ({"date": "01.01.2020"}, "meetings.error.past"),
        ({"start": "15:00", "end": "14:00"}, "meetings.error.end_before_start"),
        ({"invitee": []}, "meetings.error.invitees"),
        ({"video_link": "javascript:alert('æøå')"}, "meetings.error.link"),
        ({"place": "", "video_link": ""}, "meetings.error.where"),
    ],
)
async def test_bad_edit_changes_nothing(
    web: LiveServer, world: World, overrides: dict[str, Any], error: str
) -> None:
    async with _client(web, "koordinator") as http:
        assert (await _schedule(http, world, agenda_ref=[])).status_code == 303
        before = await _only_meeting(web, world)
        response = await _edit(http, world, before.id, **_edit_form(world, **overrides))
        assert response.status_code == 400
        assert 'role="alert"' in response.text
        assert f'data-error="{error}"' in response.text
        assert f'action="/plans/{world.plan_id}/meetings/{before.id}/edit"' in response.text
        # what was typed comes back
        assert "Ansvarsgruppemøte – endret ✏️" in response.text
    assert await _only_meeting(web, world) == before


async def test_only_the_koordinator_edits(web: LiveServer, world: World) -> None:
    async with _client(web, "koordinator") as http:
        assert (await _schedule(http, world, agenda_ref=[])).status_code == 303
    meeting = await _only_meeting(web, world)
    url = f"/plans/{world.plan_id}/meetings/{meeting.id}/edit"
    for role in ("deltaker", "planeier"):
        async with _client(web, role) as http:
            assert (await http.get(url)).status_code == 403
            page = await http.get(f"/plans/{world.plan_id}")
            assert f'data-testid="meeting-edit-{meeting.id}"' not in page.text
            response = await http.post(
                url, data={"csrf_token": csrf_of(page.text), **_edit_form(world)}
            )
            assert response.status_code == 403
    async with _client(web, "outsider") as http:
        assert (await http.get(url)).status_code == 404
        assert (await http.post(url, data=_edit_form(world))).status_code == 404
    async with _client(web, "koordinator") as http:
        missing = f"/plans/{world.plan_id}/meetings/finnes-ikke/edit"
        assert (await http.get(missing)).status_code == 404
        response = await http.post(url, data=_edit_form(world))  # no CSRF token
        assert response.status_code == 400
    assert await _only_meeting(web, world) == meeting


async def test_cancelled_meeting_and_closed_plan_refuse_edits(
    web: LiveServer, world: World
) -> None:
    async with _client(web, "koordinator") as http:
        assert (await _schedule(http, world, agenda_ref=[])).status_code == 303
        assert (await _schedule(http, world, agenda_ref=[], date=_future_day(3))).status_code == 303
        first, second = [
            m
            for m in await web.services.meetings.list_for_plan(world.plan_id)
            if m.id != "mote-2026-01-15"
        ]
        page = await http.get(f"/plans/{world.plan_id}")
        cancel = f"/plans/{world.plan_id}/meetings/{first.id}/cancel"
        assert (await http.post(cancel, data={"csrf_token": csrf_of(page.text)})).status_code == 303
        page = await http.get(f"/plans/{world.plan_id}")
        assert f'data-testid="meeting-edit-{first.id}"' not in page.text
        assert f'data-testid="meeting-edit-{second.id}"' in page.text
        url = f"/plans/{world.plan_id}/meetings/{first.id}/edit"
        refused = await http.get(url)
        assert refused.status_code == 409
        assert "Møtet er avlyst og kan ikke endres" in refused.text
        response = await http.post(
            url, data={"csrf_token": csrf_of(page.text), **_edit_form(world)}
        )
        assert response.status_code == 409
        cancelled = await web.services.meetings.get(world.plan_id, first.id)
        assert cancelled is not None and cancelled.sequence == 0 and cancelled.place == PLACE
        event = await _ics_event(http, world, first.id)
        assert int(event.get("sequence")) == 1 and str(event.get("status")) == "CANCELLED"

        closing = await http.post(
            f"/plans/{world.plan_id}/close",
            data={"csrf_token": csrf_of(page.text), "confirm": "yes"},
        )
        assert closing.status_code == 303
        url = f"/plans/{world.plan_id}/meetings/{second.id}/edit"
        assert (await http.get(url)).status_code == 409
        response = await http.post(
            url, data={"csrf_token": csrf_of(page.text), **_edit_form(world)}
        )
        assert response.status_code == 409
        assert "Planen er avsluttet" in response.text
    assert await web.services.meetings.get(world.plan_id, second.id) == second


async def test_ics_links_and_uid_come_from_public_url_never_the_host_header(
    web: LiveServer, world: World
) -> None:
    """A forged Host header ends up nowhere in the file: the URL is on SAMPLAN_PUBLIC_URL and
    the UID keeps the format calendars already hold (host of the public URL), so a meeting
    imported before is updated, never added twice."""
    async with _client(web, "koordinator") as http:
        assert (await _schedule(http, world, agenda_ref=[])).status_code == 303
    meeting = await _only_meeting(web, world)
    url = f"/plans/{world.plan_id}/meetings/{meeting.id}.ics"
    public = web.services.settings.public_url.rstrip("/")
    assert public == "http://127.0.0.1:8000"  # the embedded default
    uids = []
    async with _client(web, "deltaker") as http:
        for host in (None, "angriper.eksempel:666", "Åse-Ødegård-🫐.test"):
            headers = {} if host is None else {"host": host.encode("utf-8")}
            response = await http.get(url, headers=headers)
            assert response.status_code == 200, host
            text = response.content.decode()
            assert "angriper" not in text and "Ødegård" not in text
            event = next(iter(Calendar.from_ical(response.content).walk("VEVENT")))
            assert str(event.get("url")) == f"{public}/plans/{world.plan_id}/meetings/{meeting.id}"
            uids.append(str(event.get("uid")))
    assert uids == [f"samplan-meeting-{meeting.id}@127.0.0.1"] * 3
