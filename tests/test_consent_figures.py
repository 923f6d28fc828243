"""Consent is the boundary of every figure a member sees (issue 11, "Past consent"): Mine
planer's counts and dates, the plan page's member details and its JSON, and reminders come
only from zones the member may open. Real server, real SQLite, logged in over HTTP.

In this module's world the deltaker Åse Ødegård has the demo's Ahmed's consent: two areas'
worth of it (here the world's "Skole og læring" only, of its two areas) and one meeting."""

from __future__ import annotations

import html
import json
import re
from datetime import UTC, date, datetime, timedelta
from typing import Any

import httpx
import pytest

from tests.support.clients import connected
from tests.support.live import LiveServer
from tests.support.web import signed_in
from tests.support.world import MEETING, ROLE_USERS, World

UNITS = {
    "koordinator": ("Tjenestekontoret 🏢 Eksempelvik", "Koordinerer tjenestene og kaller inn ✅"),
    "leser": ("BUP Ålesund 🧠", "Vurderer behovet for utredning på nytt 🩺"),
    "verge": ("Foresatt 👪", "Følger opp hjemme, også i helgene"),
    "deltaker": ("Eksempelvik ungdomsskole 🏫", "Går gjennom lekser med Jonas hver fredag 📚"),
}
REVISION = "2020-03-01"  # long past: shown as 01.03.2020 with an "overdue" badge


async def _setup(server: LiveServer, world: World, scope: list[str]) -> None:
    """Units, contributions, Åse's narrow consent and stored summaries of every zone."""
    repos = server.services.repos
    for role, (unit, contribution) in UNITS.items():
        await repos.plans.add_member(
            world.plan_id, world.users[role], role, unit=unit, contribution=contribution
        )
    await repos.consents.give(
        world.plan_id, world.users["deltaker"], scope, None, world.users["planeier"]
    )
    plans = server.services.plans
    await plans.save_zone_summary(world.zones["content"], {"nextRevision": REVISION})
    await plans.save_zone_summary(
        world.zones["area/skole"], {"openMeasureEnds": ["2020-01-01"], "openMeasures": []}
    )
    await plans.save_zone_summary(
        world.zones["area/fritid"],
        {"openMeasureEnds": ["2020-01-02", "2020-01-03"], "openMeasures": []},
    )


def _cell_html(page: str, name: str, plan_id: str) -> str:
    match = re.search(rf'data-testid="{name}-{plan_id}">(.*?)</dd>', page, re.S)
    assert match, f"{name} is on Mine planer"
    return match.group(1)


def _cell(page: str, name: str, plan_id: str) -> str:
    return re.sub(r"<[^>]+>", "", _cell_html(page, name, plan_id)).strip()


async def _mine_planer(server: LiveServer, role: str) -> str:
    async with signed_in(server.http, ROLE_USERS[role][0]) as http:
        response = await http.get("/plans")
        assert response.status_code == 200
        return response.text


async def _plan_page(http: httpx.AsyncClient, world: World) -> tuple[str, dict[str, Any]]:
    response = await http.get(f"/plans/{world.plan_id}")
    assert response.status_code == 200
    match = re.search(r'data-app="([^"]*)"', response.text)
    assert match
    return response.text, json.loads(html.unescape(match.group(1)))


async def test_mine_planer_counts_only_the_areas_the_consent_covers(
    web: LiveServer, world: World
) -> None:
    await _setup(web, world, ["area/skole", f"minutes/{MEETING}"])

    page = await _mine_planer(web, "deltaker")
    assert _cell(page, "overdue-measures", world.plan_id) == "1"  # Skole only, not Fritid's 2
    assert _cell(page, "next-revision", world.plan_id) != "01.03.2020"
    assert "01.03.2020" not in page  # the revision date lives in `content`

    page = await _mine_planer(web, "koordinator")
    assert _cell(page, "overdue-measures", world.plan_id) == "3"
    assert _cell(page, "next-revision", world.plan_id).startswith("01.03.2020")

    # Consent that also covers `content` brings the revision date; Fritid still counts not.
    await web.services.repos.consents.give(
        world.plan_id,
        world.users["deltaker"],
        ["area/skole", "content", f"minutes/{MEETING}"],
        None,
        world.users["planeier"],
    )
    page = await _mine_planer(web, "deltaker")
    assert _cell(page, "next-revision", world.plan_id).startswith("01.03.2020")
    assert _cell(page, "overdue-measures", world.plan_id) == "1"


async def test_mine_planer_without_consent_shows_no_meeting_and_nobody_present(
    web: LiveServer, world: World
) -> None:
    """A member the plan is not shared with yet sees it listed, and no figure from inside it:
    not even the meeting they are invited to, nor who is in the plan now."""
    await _setup(web, world, ["area/skole"])
    starts = datetime.now(UTC) + timedelta(days=3)
    await web.services.meetings.schedule(
        world.plan_id,
        title="Ansvarsgruppemøte om skolehverdagen 🎒",
        starts_at=starts,
        ends_at=starts + timedelta(hours=1),
        place="Møterom Ærfuglen",
        video_link=None,
        agenda=[],
        invitee_ids=[world.users["deltaker"], world.users["koordinator"]],
        created_by_user_id=world.users["koordinator"],
    )
    kari = ROLE_USERS["koordinator"][1]
    async with connected(web.ws_url(world.room("content"), world.token("koordinator"))):
        page = await _mine_planer(web, "deltaker")
        assert "/meetings/" in _cell_html(page, "next-meeting", world.plan_id)  # invited
        assert kari in _cell(page, "present-now", world.plan_id)
        await web.services.repos.consents.revoke(world.plan_id, world.users["deltaker"], None)
        page = await _mine_planer(web, "deltaker")
        assert "/meetings/" not in _cell_html(page, "next-meeting", world.plan_id)
        assert kari not in _cell(page, "present-now", world.plan_id)
        assert _cell(page, "overdue-measures", world.plan_id) == "0"
        page = await _mine_planer(web, "koordinator")
        assert "/meetings/" in _cell_html(page, "next-meeting", world.plan_id)
        assert kari in _cell(page, "present-now", world.plan_id)


async def test_plan_page_hides_contact_details_without_consent_to_content(
    web: LiveServer, world: World
) -> None:
    await _setup(web, world, ["area/skole", f"minutes/{MEETING}"])
    others = [role for role in ROLE_USERS if role != "deltaker"]
    async with signed_in(web.http, ROLE_USERS["deltaker"][0]) as http:
        page, app_data = await _plan_page(http, world)
        text = html.unescape(page)
        for role in others:
            email, name = ROLE_USERS[role]
            assert name in text  # who is in the ansvarsgruppe, always
            assert email not in text
            for detail in UNITS.get(role, ()):
                assert detail not in text
        own_email = ROLE_USERS["deltaker"][0]
        assert own_email in text and UNITS["deltaker"][0] in text  # one's own, always
        members = {m["id"]: m for m in app_data["members"]}
        for role in others:
            shown = members[world.users[role]]
            assert shown["name"] == ROLE_USERS[role][1] and shown["role"] == role
            assert shown["email"] is None and shown["unit"] is None
            assert shown["contribution"] is None
        assert members[world.users["deltaker"]]["email"] == own_email

        # Consent to `content` brings every member's details, on the page and in its JSON.
        await web.services.repos.consents.give(
            world.plan_id, world.users["deltaker"], ["area/skole", "content"], None, None
        )
        page, app_data = await _plan_page(http, world)
        text = html.unescape(page)
        assert ROLE_USERS["koordinator"][0] in text and UNITS["leser"][1] in text
        members = {m["id"]: m for m in app_data["members"]}
        assert members[world.users["leser"]]["unit"] == UNITS["leser"][0]


async def test_koordinator_and_leser_with_full_consent_see_every_detail(
    web: LiveServer, world: World
) -> None:
    await _setup(web, world, ["area/skole"])
    for role in ("koordinator", "leser"):  # the leser keeps the world's whole-plan consent
        async with signed_in(web.http, ROLE_USERS[role][0]) as http:
            page, app_data = await _plan_page(http, world)
        text = html.unescape(page)
        for other, (unit, contribution) in UNITS.items():
            assert ROLE_USERS[other][0] in text
            assert unit in text and contribution in text
        members = {m["id"]: m for m in app_data["members"]}
        assert members[world.users["deltaker"]]["contribution"] == UNITS["deltaker"][1]


async def test_reminders_reach_only_members_who_may_open_the_zone(
    server: LiveServer, world: World
) -> None:
    services = server.services
    users = world.users
    await services.repos.consents.give(
        world.plan_id, users["deltaker"], ["area/skole"], None, users["planeier"]
    )
    today = date(2031, 3, 3)  # far from the start-up run's own today
    due = (today + timedelta(days=7)).isoformat()
    both = [str(users["deltaker"]), str(users["leser"])]
    for area, measure in (("skole", "m-skole-æøå"), ("fritid", "m-fotball-⚽")):
        await services.plans.save_zone_summary(
            world.zones[f"area/{area}"],
            {
                "openMeasureEnds": [due],
                "openMeasures": [{"id": measure, "end": due, "responsible": both}],
            },
        )
    await services.plans.save_zone_summary(world.zones["content"], {"nextRevision": "2031-03-01"})

    assert await services.reminders.run(today) == 4
    got = {
        role: sorted(
            (n.kind, n.item_id or "-")
            for n in await services.repos.notifications.list_for_user(users[role])
        )
        for role in ("deltaker", "leser", "koordinator", "planeier")
    }
    # Fritid is not Åse's to see: no deadline from it, though she is named responsible there.
    assert got["deltaker"] == [("deadline", "m-skole-æøå")]
    assert got["leser"] == [("deadline", "m-fotball-⚽"), ("deadline", "m-skole-æøå")]
    assert got["koordinator"] == [("revision", "-")]  # the revision date is the koordinator's
    assert got["planeier"] == []


async def test_the_minutes_page_hides_units_without_consent_to_content(
    web: LiveServer, world: World
) -> None:
    """The minutes page's member list follows the plan page's rule: names and roles always,
    another member's unit only with consent to `content`."""
    when = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
    meeting = await web.services.meetings.schedule(
        world.plan_id,
        title="Ansvarsgruppemøte 🤝 våren",
        starts_at=when,
        ends_at=when + timedelta(hours=1),
        place="Rådhuset, møterom Ærfugl",
        video_link=None,
        agenda=(),
        invitee_ids=(world.users["deltaker"], world.users["leser"]),
        created_by_user_id=world.users["koordinator"],
    )
    await _setup(web, world, ["area/skole", f"minutes/{meeting.id}"])
    async with signed_in(web.http, ROLE_USERS["deltaker"][0]) as http:
        response = await http.get(f"/plans/{world.plan_id}/meetings/{meeting.id}")
        assert response.status_code == 200
        match = re.search(r'data-app="([^"]*)"', response.text)
        assert match
        members = {m["id"]: m for m in json.loads(html.unescape(match.group(1)))["members"]}
        assert members[world.users["leser"]]["name"] == ROLE_USERS["leser"][1]
        assert members[world.users["leser"]]["unit"] is None
        assert members[world.users["deltaker"]]["unit"] == UNITS["deltaker"][0]
        assert UNITS["leser"][0] not in html.unescape(response.text)


# Every test here that starts a server runs on SQLite and on PostgreSQL (tests/conftest.py).
pytestmark = pytest.mark.both_databases
