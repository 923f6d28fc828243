"""Issue 13, "Done when" 1, told as one story in real browsers against the real server.

Jonas (planeier, 16) on a 390 px phone opens Min plan: his goals, the next meeting and who has
been in his plan. Before the meeting he writes a note only the koordinator may read. Kari sees
it while preparing the meeting and proposes it for the agenda; Jonas says yes and the item
appears on Kari's page. Ahmed (the deltaker; the test world calls her Åse Ødegård) never
receives the note before Jonas says yes: not on her pages (the meeting page lists nothing, Min
plan is a 404), and not through a crafted client either (a raw /events socket, plain HTTP on
every notes route, a pycrdt client on the meeting's minutes zone). Last, Jonas sets his own
status on a goal and Kari's full plan page, open the whole time, shows it in its aria-live
region, read from the browser's accessibility tree.

The fixtures and helpers are the existing ones (tests/browser/conftest.py, helpers.py and the
issue 13 page tests); this file only puts them in the story's order.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from typing import TYPE_CHECKING, Any

import pytest
import websockets

from crdt.schema import read_zone
from tests.browser.helpers import log_latency, open_plan
from tests.browser.test_meeting_notes_page import MEETING_TITLE, coming_meeting
from tests.browser.test_min_plan_page import ASE, PHONE, open_min_plan
from tests.support.clients import connected
from tests.support.waiting import wait_for
from tests.test_meeting_notes import _cookie, _drain, as_member

if TYPE_CHECKING:
    from tests.browser.conftest import Browsing
    from tests.browser.helpers import PlanContent
    from tests.support.live import LiveServer
    from tests.support.world import World

pytestmark = pytest.mark.asyncio(loop_scope="module")
log = logging.getLogger("tests.browser")

NOTE = "Jeg gruer meg til gymtimene 😟 og vil snakke om leksene – bare med Kari, æøå"
FOR_ALL = "Det går bra med håndballen på Ørnes 🤾 – æøå"
WANTS = "Lese en hel bok om fotball ⚽ før sommeren – på egen hånd, æøå"
SAYS = "Jeg leste 40 sider i går, blåbærsterkt 🫐"
WAIT = 20.0


def _no_note(what: str, text: str) -> None:
    assert NOTE not in text, f"the note reached Ahmed through {what}"
    assert NOTE.encode().hex() not in text, f"the note (hex) reached Ahmed through {what}"


async def test_jonas_ahmed_and_kari_before_and_after_the_meeting(
    browse: Browsing, plan: PlanContent, server: LiveServer, world: World
) -> None:
    mid = await coming_meeting(server, world)  # Jonas is 16; a meeting next week
    meeting_url = f"{browse.base}/plans/{world.plan_id}/meetings/{mid}"
    # Ahmed has been in the plan (his socket joins and leaves; the access log has it).
    async with connected(server.ws_url(world.room("area/fritid"), world.token("deltaker"))):
        pass

    # Ahmed's crafted clients listen from before the note exists until after the yes.
    events_url = f"ws://127.0.0.1:{server.port}/events"
    headers = {
        "Origin": server.http,
        "Cookie": f"samplan_session={await _cookie(server, 'deltaker')}",
    }
    minutes_updates: list[bytes] = []
    async with (
        websockets.connect(events_url, additional_headers=headers) as ahmed_events,
        connected(server.ws_url(world.room(f"minutes/{mid}"), world.token("deltaker"))) as minutes,
        as_member(server, world, "deltaker") as ahmed_http,
        as_member(server, world, "planeier") as jonas_http,
    ):
        hub = server.services.events
        await wait_for(lambda: hub.subscribers(world.users["deltaker"]) == 1, what="Ahmed /events")
        subscription = minutes.doc.observe(lambda event: minutes_updates.append(event.update))

        # 1. Jonas on his phone: his goals, the next meeting, who has been in his plan.
        jonas = await browse.user("planeier", plan=False, **PHONE)
        await open_min_plan(jonas, browse.base, world, until_visitor=True)
        await jonas.locator('[data-testid="min-notes"][data-loaded="true"]').wait_for(
            state="attached"
        )
        goal_titles = await jonas.get_by_test_id("min-goal-title").all_inner_texts()
        assert plan.goal_title in goal_titles
        meeting_text = await jonas.get_by_test_id("min-meeting").inner_text()
        assert MEETING_TITLE in meeting_text and "Blåklokka" in meeting_text
        visitors = await jonas.get_by_test_id("min-visitor").all_inner_texts()
        assert any(ASE in v for v in visitors), visitors
        width = await jonas.evaluate("() => [document.documentElement.scrollWidth, innerWidth]")
        log.info("Min plan at 390 px: %d goals, scrollWidth/innerWidth %s", len(goal_titles), width)
        assert width[0] <= width[1]

        # Ahmed's own page: the meeting, with nothing shared; Min plan is not his (404).
        ahmed = await browse.user("deltaker", plan=False)
        await ahmed.goto(meeting_url)
        ahmed_list = ahmed.locator('[data-testid="meeting-notes-list"][data-loaded="true"]')
        await ahmed_list.wait_for(state="attached")
        refused = await ahmed.request.get(f"{browse.base}/plans/{world.plan_id}/min")
        assert refused.status == 404
        _no_note("the Min plan 404", await refused.text())

        # 2. Jonas writes a note before the meeting, for the koordinator only.
        form = jonas.get_by_test_id("min-note-form")
        await form.get_by_label("Det jeg vil si").fill(NOTE)
        await form.get_by_label("Meg og koordinator").check()
        started = time.perf_counter()
        await form.get_by_role("button", name="Lagre").click()
        await form.get_by_role("status").get_by_text("Notatet er lagret.").wait_for()
        log_latency("Jonas's note saved", started)
        mine = jonas.get_by_test_id("min-note").filter(has_text=NOTE)
        assert "Meg og koordinator" in await mine.inner_text()

        # 3. Kari prepares the meeting: the note is there, credited to Jonas; she proposes it.
        kari = await browse.user("koordinator", plan=False)
        await kari.goto(meeting_url)
        shared = kari.get_by_test_id("meeting-note").filter(has_text=NOTE)
        await shared.wait_for()
        assert "Skrevet av Jonas Berg" in await shared.inner_text()
        started = time.perf_counter()
        await shared.get_by_role("button", name="Foreslå som sak på møtet").click()
        question = mine.get_by_test_id("min-note-question")
        await question.wait_for()
        log_latency("Kari's proposal → Jonas's Min plan", started)

        # 4. Before Jonas answers: nothing of the note has reached Ahmed by any way.
        [note] = [
            n
            for n in (
                await jonas_http.http.get(
                    jonas_http.url(mid), headers={"accept": "application/json"}
                )
            ).json()["notes"]
            if n["text"] == NOTE
        ]
        note_id = str(note["id"])
        await ahmed.reload()
        await ahmed_list.wait_for(state="attached")
        assert (await ahmed_list.inner_text()).strip() == "Ingen har delt noe før dette møtet."
        _no_note("his meeting page", await ahmed.content())
        listed = await ahmed_http.http.get(
            ahmed_http.url(mid), headers={"accept": "application/json"}
        )
        assert listed.status_code == 200 and listed.json()["notes"] == []
        answers = {"GET list": listed.text}
        one = await ahmed_http.get(mid, note_id)
        answers["GET note"] = one.text
        assert one.status_code == 404
        for tail in ("", "/delete", "/propose", "/answer"):
            response = await ahmed_http.post(
                ahmed_http.url(mid, f"/{note_id}{tail}"), {"answer": "yes", "text": "æøå 🕵️"}
            )
            assert response.status_code == 404, tail
            answers[f"POST {tail or 'edit'}"] = response.text
        add = await ahmed_http.write(mid, "Jeg later som jeg er Jonas 🕵️ æøå", "group")
        assert add.status_code == 404
        answers["POST add"] = add.text
        for route, text in answers.items():
            _no_note(f"HTTP {route}", text)
            assert note_id not in text, route
        state = minutes.doc.get_update()
        assert NOTE.encode() not in state
        assert all(NOTE.encode() not in u for u in minutes_updates)
        assert NOTE not in json.dumps(read_zone(minutes.doc, "minutes"), ensure_ascii=False)
        frames_before = await _drain(ahmed_events, 0.5)
        for frame in frames_before:
            _no_note("/events", frame)
        assert not any("meeting_note" in f for f in frames_before), frames_before
        log.info(
            "Ahmed before the yes: %d HTTP answers, %d minutes updates (%d bytes), "
            "%d /events frames, none with the note",
            len(answers),
            len(minutes_updates),
            sum(len(u) for u in minutes_updates),
            len(frames_before),
        )

        # 5. Jonas says yes: the item appears in Kari's minutes and her list says so.
        started = time.perf_counter()
        await question.get_by_role("button", name="Ja").click()
        await mine.get_by_test_id("min-note-on-agenda").wait_for()
        await kari.wait_for_function(
            """(text) => {
              const app = document.getElementById('minutes-app')
              return app.innerText.includes(text) ||
                [...app.querySelectorAll('input, textarea')].some((el) => el.value === text)
            }""",
            arg=NOTE,
        )
        log_latency("Jonas's yes → the agenda in Kari's minutes", started)
        on_agenda = kari.get_by_test_id("meeting-note-on-agenda")
        assert "Jonas Berg sa ja." in await on_agenda.inner_text()
        # Now the group's agenda has it, as Jonas chose: Ahmed's minutes client, listening
        # the whole time, gets it only now (so it was live, and had carried nothing before).
        await minutes.wait_for(
            lambda: any(
                NOTE in str(item["title"]) for item in read_zone(minutes.doc, "minutes")["agenda"]
            )
        )
        minutes.doc.unobserve(subscription)

        # Ahmed's /events socket is live too: a note Jonas shares with everyone is the first
        # and only signal he ever gets, and it carries ids only.
        await jonas_http.write(mid, FOR_ALL, "group")
        frames = [*frames_before, await asyncio.wait_for(ahmed_events.recv(), WAIT)]
        frames += await _drain(ahmed_events, 0.5)
        events: list[dict[str, Any]] = [json.loads(f) for f in frames]
        assert events == [{"type": "meeting_note", "planId": world.plan_id, "meetingId": mid}]
        for frame in frames:
            _no_note("/events", frame)
            assert note_id not in frame

    # 6. Jonas sets his own status on a goal; Kari's full plan page shows it live, announced.
    await open_plan(kari, browse.base, world.plan_id)
    region = kari.get_by_test_id(f"own-{plan.goal_id}")
    assert await region.get_attribute("aria-live") == "polite"
    assert (await region.inner_text()).strip() == ""
    goal = jonas.get_by_test_id("min-goal").filter(has_text=plan.goal_title)
    await goal.get_by_role("button", name="Skriv med egne ord").click()
    await goal.get_by_label("Jeg vil", exact=True).fill(WANTS)
    await goal.get_by_label("Går bra").check()
    await goal.get_by_label("Velg en emoji").select_option("💪")
    await goal.get_by_label("Si det med en setning").fill(SAYS)
    started = time.perf_counter()
    await goal.get_by_role("button", name="Lagre").click()
    await kari.get_by_test_id(f"own-status-{plan.goal_id}").filter(has_text=SAYS).wait_for()
    log_latency("Jonas's own status → Kari's plan page", started)
    await kari.wait_for_function(
        "(id) => document.querySelector(`[data-testid='own-status-by-${id}']`)"
        ".dataset.credit === 'owner'",
        arg=plan.goal_id,
    )
    tree = await region.aria_snapshot()
    log.info("accessibility tree of the live region on Kari's page:\n%s", tree)
    assert tree.splitlines()[0].lstrip().startswith("- status")
    assert SAYS in tree and WANTS in tree and "Går bra." in tree
    assert 'img "sterk"' in tree
    assert "Jonas Berg skrev dette" in tree
