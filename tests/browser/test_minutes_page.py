"""Meetings in a real browser (issue 5): the koordinator schedules a meeting with the form,
the koordinator and a deltaker write the same minutes section together and see each other's
text live, and an action item becomes a measure that shows on the plan page under its goal.
Latencies are logged, never asserted. Text has æøå and an emoji.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

import pytest

from crdt.schema import read_zone
from server.core.clock import today_oslo
from server.meetings.scheduling import seed_minutes
from storage.repositories.meetings import AgendaItem
from tests.browser.helpers import (
    ARTIFACTS,
    READY,
    PlanContent,
    log_in,
    open_plan,
    text_of,
    type_at_end,
    wait_text,
    wait_until,
)
from tests.conftest import skip_or_fail
from tests.support.world import ROLE_USERS, World

if TYPE_CHECKING:
    from playwright.async_api import Page

    from tests.browser.conftest import Browsing

pytestmark = pytest.mark.asyncio(loop_scope="module")
log = logging.getLogger("tests.browser")

MINUTES_READY = '#minutes-app[data-ready="true"][data-synced="true"]'
SAVED = """() => { const d = document.querySelector('#minutes-app').dataset
  return d.connection === 'connected' && d.synced === 'true' && d.saved === 'true' }"""


async def _open_minutes(page: Page, url: str) -> None:
    await page.goto(url)
    await page.locator(MINUTES_READY).wait_for(state="attached")


async def test_schedule_write_minutes_together_and_make_a_measure(
    browse: Browsing, plan: PlanContent, world: World
) -> None:
    kari = await browse.user("koordinator")
    day = (today_oslo() + timedelta(days=10)).strftime("%d.%m.%Y")

    # 1. Schedule with the form (keyboard-usable labels: filled by their label text).
    await kari.get_by_test_id("meeting-new").click()
    await kari.get_by_label("Dato (dd.mm.åååå)", exact=True).fill(day)
    await kari.get_by_label("Fra kl. (tt:mm)", exact=True).fill("09:00")
    await kari.get_by_label("Til kl. (tt:mm)", exact=True).fill("10:30")
    await kari.get_by_label("Sted", exact=True).fill("Grupperom 2, Ørnes skole 🏫")
    await kari.get_by_label("Andre saker", exact=True).fill("Skoledagen – æøå 📚")
    await kari.get_by_test_id("meeting-submit").click()
    await kari.locator(READY).wait_for(state="attached")
    meetings = [
        m
        for m in await browse.server.services.meetings.list_for_plan(world.plan_id)
        if m.id != "mote-2026-01-15"
    ]
    assert len(meetings) == 1
    meeting = meetings[0]
    section = kari.get_by_test_id(f"meeting-{meeting.id}")
    assert day in await section.inner_text()
    minutes_url = f"{browse.base}/plans/{world.plan_id}/meetings/{meeting.id}"

    # 2. Both open the minutes; each types in the same agenda section and sees the other.
    await kari.get_by_test_id(f"meeting-minutes-{meeting.id}").click()
    await kari.locator(MINUTES_READY).wait_for(state="attached")
    ase = await browse.user("deltaker", plan=False)
    await _open_minutes(ase, minutes_url)
    agenda_id = meeting.agenda[0].id
    body = f"agenda-body-{agenda_id}"
    await type_at_end(kari, body, "Kari: Jonas trives på skolen 😊 – særlig i norsk.")
    await wait_text(
        ase, body, "Kari: Jonas trives", "minutes body koordinator → deltaker", contains=True
    )
    await type_at_end(ase, body, " Åse: lekser går bedre, blåbær 🫐")
    expected = "Kari: Jonas trives på skolen 😊 – særlig i norsk. Åse: lekser går bedre, blåbær 🫐"
    await wait_text(kari, body, expected, "minutes body deltaker → koordinator")
    await wait_text(ase, body, expected, "minutes body, deltaker's own view")
    decision = f"agenda-decision-{agenda_id}"
    await type_at_end(ase, decision, "Vedtak: fortsette ✅ – øve mer")
    await wait_text(
        kari, decision, "Vedtak: fortsette ✅ – øve mer", "decision deltaker → koordinator"
    )

    # Attendance, by the deltaker, seen by the koordinator.
    ase_id = world.users["deltaker"]
    await ase.get_by_test_id(f"attendee-status-{ase_id}").select_option("present")
    await wait_until(
        kari,
        "(id) => document.querySelector(`[data-testid='attendee-status-${id}']`)"
        ".value === 'present'",
        ase_id,
        "attendance deltaker → koordinator",
    )

    # 3. An action item, made into a measure under the goal.
    await kari.get_by_test_id("add-action").click()
    action = kari.locator("[data-testid^='action-what-']").last
    await action.wait_for()
    item_id = (await action.get_attribute("data-testid") or "").removeprefix("action-what-")
    what = "Øve på lesing med lydbok 🎧 hver dag"
    await action.click()
    await kari.keyboard.type(what)
    await kari.get_by_test_id(f"action-who-{item_id}").select_option(str(ase_id))
    due = (today_oslo() + timedelta(days=30)).strftime("%d.%m.%Y")
    await kari.get_by_test_id(f"action-due-{item_id}").fill(due)
    await kari.get_by_test_id(f"action-due-{item_id}").press("Enter")
    await kari.get_by_test_id(f"action-goal-{item_id}").select_option(f"skole|{plan.goal_id}")
    await wait_until(kari, SAVED, None, "action item saved")
    await wait_text(ase, f"action-what-{item_id}", what, "action item koordinator → deltaker")
    await kari.get_by_test_id(f"action-convert-{item_id}").click()
    await kari.locator(MINUTES_READY).wait_for(state="attached")
    await kari.get_by_test_id(f"action-converted-{item_id}").wait_for()
    await ase.get_by_test_id(f"action-converted-{item_id}").wait_for()  # live, no reload

    # The measure is in the area zone under the goal, with the meeting id, and on the page.
    # Nobody holds the area zone open: the server loaded it for the edit and may have let it
    # go again, so read its durable state, wherever it is.
    area = await browse.server.services.registry.read(world.zones["area/skole"])
    measures = [m for m in read_zone(area, "area")["measures"] if m["title"] == what]
    assert len(measures) == 1
    assert measures[0]["goalId"] == plan.goal_id and measures[0]["meetingId"] == meeting.id
    await open_plan(kari, browse.base, world.plan_id)
    testid = f"measure-title-{measures[0]['id']}"
    await wait_text(kari, testid, what, "the measure on the plan page")
    inside = await kari.evaluate(
        """([goal, id]) => document.querySelector(`[data-testid="goal-${goal}"]`)
             .contains(document.querySelector(`[data-testid="${id}"]`))""",
        [plan.goal_id, testid],
    )
    assert inside, "the measure is shown under its goal"
    assert await text_of(kari, testid) == what


async def test_reader_sees_minutes_read_only(
    browse: Browsing, plan: PlanContent, world: World
) -> None:
    """The leser (not invited) may read the minutes: no editors, no buttons, no .ics link."""
    services = browse.server.services
    start = datetime.now(UTC) + timedelta(days=3)
    meeting = await services.meetings.schedule(
        world.plan_id,
        title="Ansvarsgruppemøte",
        starts_at=start,
        ends_at=start + timedelta(hours=1),
        place="Ørnes skole",
        video_link=None,
        agenda=[AgendaItem("sak-1", "Velkommen 👋")],
        invitee_ids=[world.users["koordinator"], world.users["deltaker"]],
        created_by_user_id=world.users["koordinator"],
    )
    assert meeting.zone_id is not None
    people = [{"userId": str(world.users["deltaker"]), "name": "Åse Ødegård", "role": "Deltaker"}]
    await services.registry.edit(
        meeting.zone_id, seed_minutes(meeting, people, None), "minutes", actor=None
    )
    per = await browse.user("leser", plan=False)
    await _open_minutes(per, f"{browse.base}/plans/{world.plan_id}/meetings/{meeting.id}")
    await per.get_by_test_id("agenda-body-sak-1").wait_for()
    assert await per.locator("[data-testid='add-action']").count() == 0
    assert await per.locator("[contenteditable='true']").count() == 0
    assert await per.locator("[data-testid='minutes-ics']").count() == 0
    assert await per.get_by_test_id("minutes-publish").count() == 1


async def test_axe_and_screenshot_of_the_form_and_the_minutes(
    browse: Browsing, plan: PlanContent, world: World
) -> None:
    """No serious accessibility violations on the scheduling form (with its errors) and the
    minutes page (with an action item); a screenshot of each for the docs."""
    from tests.browser.test_plan_page import HAVE_AXE, axe_violations

    if not HAVE_AXE:
        skip_or_fail("axe-core is missing: run `npm ci` in tests/interop")
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page = await browse.new_page("axe", bypass_csp=True)  # the CSP would block axe's script
    await log_in(page, browse.base, ROLE_USERS["koordinator"][0])
    await page.goto(f"{browse.base}/plans/{world.plan_id}/meetings/new")
    await page.get_by_label("Dato (dd.mm.åååå)", exact=True).fill("01.01.2020")
    await page.get_by_label("Fra kl. (tt:mm)", exact=True).fill("14:00")
    await page.get_by_label("Til kl. (tt:mm)", exact=True).fill("13:00")
    await page.get_by_label("Videolenke", exact=True).fill("https://video.example/rom-ø")
    await page.get_by_test_id("meeting-submit").click()
    await page.get_by_test_id("meeting-errors").wait_for()
    serious = {"form": await axe_violations(page, "meeting form")}
    errors = await page.get_by_test_id("meeting-errors").inner_text()
    assert "tilbake i tid" in errors and "slutte etter" in errors
    await page.screenshot(path=str(ARTIFACTS / "meeting-form-errors.png"), full_page=True)

    await page.get_by_label("Dato (dd.mm.åååå)", exact=True).fill(
        (today_oslo() + timedelta(days=5)).strftime("%d.%m.%Y")
    )
    await page.get_by_label("Til kl. (tt:mm)", exact=True).fill("15:00")
    await page.get_by_label("Andre saker", exact=True).fill("Status fra skolen 📚\nEventuelt")
    await page.get_by_test_id("meeting-submit").click()
    await page.locator(READY).wait_for(state="attached")
    await page.locator("[data-testid^='meeting-minutes-']").first.click()
    await page.locator(MINUTES_READY).wait_for(state="attached")
    await page.get_by_test_id("add-action").click()
    await page.locator("[data-testid^='action-what-']").last.fill("Søke om lydbøker 🎧")
    serious["minutes"] = await axe_violations(page, "minutes")
    await page.screenshot(path=str(ARTIFACTS / "minutes-page.png"), full_page=True)
    assert not any(serious.values()), serious


async def test_write_publish_and_the_deltaker_sees_it_live_with_a_notification(
    browse: Browsing, plan: PlanContent, world: World
) -> None:
    """Issue 5's whole promise in one run: the koordinator and a deltaker write the minutes
    together, the koordinator publishes from the minutes page, and the deltaker's open plan
    page shows the published minutes and a notification badge without a reload; the published
    version's hash verifies."""
    import hashlib
    import json
    import time

    import httpx

    services = browse.server.services
    start = datetime.now(UTC) + timedelta(days=1)
    meeting = await services.meetings.schedule(
        world.plan_id,
        title="Ansvarsgruppemøte våren 🌱",
        starts_at=start,
        ends_at=start + timedelta(hours=1),
        place="Møterom Ø, rådhuset",
        video_link=None,
        agenda=[AgendaItem("sak-1", "Skolehverdagen 📚")],
        invitee_ids=[world.users["koordinator"], world.users["deltaker"]],
        created_by_user_id=world.users["koordinator"],
    )
    assert meeting.zone_id is not None
    people = [{"userId": str(world.users["deltaker"]), "name": "Åse Ødegård", "role": "Deltaker"}]
    await services.registry.edit(
        meeting.zone_id, seed_minutes(meeting, people, None), "minutes", actor=None
    )
    minutes_url = f"{browse.base}/plans/{world.plan_id}/meetings/{meeting.id}"

    # The deltaker's plan page stays open the whole time; a marker shows it never reloads.
    ase_plan = await browse.user("deltaker")
    await ase_plan.evaluate("window.__notReloaded = true")
    count = ase_plan.get_by_test_id("notification-count")
    before = int(await count.get_attribute("data-count") or 0) if await count.count() else 0

    kari = await browse.user("koordinator", plan=False)
    await _open_minutes(kari, minutes_url)
    ase = await browse.user("deltaker", plan=False)
    await _open_minutes(ase, minutes_url)
    body = "agenda-body-sak-1"
    await type_at_end(kari, body, "Kari: Jonas har hatt en god vår 🌼 på Ørnes skole.")
    await wait_text(ase, body, "Kari: Jonas har hatt", "koordinator → deltaker", contains=True)
    await type_at_end(ase, body, " Åse: leksehjelpen fungerer – tusen takk!")
    written = (
        "Kari: Jonas har hatt en god vår 🌼 på Ørnes skole."
        " Åse: leksehjelpen fungerer – tusen takk!"
    )
    await wait_text(kari, body, written, "deltaker → koordinator")
    await type_at_end(kari, "agenda-decision-sak-1", "Leksehjelpen fortsetter ✅")

    # Publish at once (the form waits until what was just typed is stored).
    started = time.perf_counter()
    await kari.get_by_test_id(f"publish-{meeting.id}").get_by_role("button").click()
    await kari.get_by_test_id("published-minutes").wait_for()

    listed = f"""() => !!document.querySelector('[data-testid="published-{meeting.id}"]')
      && window.__notReloaded === true"""
    await wait_until(ase_plan, listed, None, "published minutes on the deltaker's page")
    shown = time.perf_counter() - started
    badge = f"""() => window.__notReloaded === true && Number(document.querySelector(
      '[data-testid="notification-count"] [data-count]').textContent) > {before}"""
    await wait_until(ase_plan, badge, None, "notification badge on the deltaker's page")
    log.info(
        "publish click -> minutes on the deltaker's page %.0f ms, badge %.0f ms",
        shown * 1000,
        (time.perf_counter() - started) * 1000,
    )

    # The published version is what both wrote, and its hash verifies.
    [record] = await services.repos.versions.list_published(world.plan_id, meeting.id)
    url = f"{minutes_url}/published/{record.number}.json"
    cookies = await kari.context.cookies()
    async with httpx.AsyncClient(cookies={c["name"]: c["value"] for c in cookies}) as http:
        response = await http.get(url)
    assert response.status_code == 200
    digest = hashlib.sha256(response.content).hexdigest()
    assert digest == record.sha256 == response.headers["x-content-sha256"]
    frozen = json.dumps(json.loads(response.content), ensure_ascii=False)
    assert "Ørnes skole" in frozen and "leksehjelpen fungerer" in frozen
    assert "Leksehjelpen fortsetter ✅" in frozen
