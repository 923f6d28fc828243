"""Before the meeting, in real browsers (issue 13): Jonas (16) on a 390 px phone writes a note
only the koordinator may read; an over-long one is refused with the reason beside the field
and his words still in it. Kari sees the note while preparing the meeting and proposes it for
the agenda; the question appears live on Jonas's Min plan; he says yes and the agenda item
appears live in Kari's minutes. Åse (the deltaker, Ahmed in the story) never sees the note
while it is for the koordinator only. Jonas's access log shows that Kari read it.
"""

from __future__ import annotations

import logging
import time
from datetime import UTC, date, datetime, timedelta
from typing import TYPE_CHECKING

import pytest

from server.core.clock import today_oslo
from tests.browser.helpers import AXE_JS, TIMEOUT_MS, log_latency
from tests.browser.test_min_plan_page import AXE_ALL_JS, NO_SIDEWAYS_JS, PHONE
from tests.browser.test_plan_page import HAVE_AXE
from tests.conftest import skip_or_fail
from tests.support.world import World

if TYPE_CHECKING:
    from playwright.async_api import Page

    from tests.browser.conftest import Browsing
    from tests.browser.helpers import PlanContent
    from tests.support.live import LiveServer

pytestmark = pytest.mark.asyncio(loop_scope="module")
log = logging.getLogger("tests.browser")

NOTE = "Jeg vil snakke om at lekser tar for lang tid 📚 og at jeg er sliten etter gym – æøå"
TOO_LONG = "Å" * 2000 + "🙂"
MEETING_TITLE = "Ansvarsgruppemøte 🌷 våren"


async def coming_meeting(server: LiveServer, world: World) -> str:
    today = today_oslo()
    born = date(today.year - 16, today.month, 1) - timedelta(days=31)
    await server.services.plans.set_person_birth_date(world.plan_id, born)
    start = datetime.now(UTC) + timedelta(days=7)
    record = await server.services.meetings.schedule(
        world.plan_id,
        title=MEETING_TITLE,
        starts_at=start,
        ends_at=start + timedelta(hours=1),
        place="Møterom Blåklokka, Ørnes skole",
        video_link=None,
        agenda=[],
        invitee_ids=[world.users[r] for r in ("planeier", "koordinator", "deltaker")],
        created_by_user_id=world.users["koordinator"],
    )
    return record.id


async def min_plan(page: Page, base: str, world: World) -> None:
    await page.goto(f"{base}/plans/{world.plan_id}/min")
    await page.locator('#min-app[data-ready="true"]').wait_for(state="attached")
    await page.locator('[data-testid="min-notes"][data-loaded="true"]').wait_for(state="attached")


async def test_jonas_writes_kari_proposes_jonas_says_yes_and_ase_never_sees_it(
    browse: Browsing, plan: PlanContent, server: LiveServer, world: World
) -> None:
    mid = await coming_meeting(server, world)
    jonas = await browse.user("planeier", plan=False, **PHONE)
    await min_plan(jonas, browse.base, world)
    form = jonas.get_by_test_id("min-note-form")
    field = form.get_by_label("Det jeg vil si")
    status = form.get_by_role("status")

    # Too long: the reason is said at once, tied to the field, and nothing is lost.
    await field.fill(TOO_LONG)
    await form.get_by_label("Meg og koordinator").check()
    await form.get_by_role("button", name="Lagre").click()
    error = form.get_by_test_id("min-note-error")
    await error.get_by_text("Notatet er for langt", exact=False).wait_for()
    await status.get_by_text("Det du skrev, er ikke borte.", exact=False).wait_for()
    assert await field.input_value() == TOO_LONG
    assert await field.get_attribute("aria-invalid") == "true"
    assert await jonas.evaluate("() => document.activeElement.tagName") == "TEXTAREA"

    await field.fill(NOTE)
    await form.get_by_role("button", name="Lagre").click()
    await status.get_by_text("Notatet er lagret.").wait_for()
    mine = jonas.get_by_test_id("min-note").filter(has_text=NOTE)
    await mine.wait_for()
    assert "Meg og koordinator" in await mine.inner_text()
    assert await field.input_value() == ""
    width = await jonas.evaluate(NO_SIDEWAYS_JS)
    assert width["scroll"] <= width["client"], width

    # Åse (deltaker) opens the meeting and the plan: not a word of it, not even that it exists.
    ase = await browse.user("deltaker", plan=False)
    await ase.goto(f"{browse.base}/plans/{world.plan_id}/meetings/{mid}")
    ase_list = ase.locator('[data-testid="meeting-notes-list"][data-loaded="true"]')
    await ase_list.wait_for(state="attached")
    assert (await ase_list.inner_text()).strip() == "Ingen har delt noe før dette møtet."

    # Kari prepares the meeting: she sees the note and proposes it.
    kari = await browse.user("koordinator", plan=False)
    await kari.goto(f"{browse.base}/plans/{world.plan_id}/meetings/{mid}")
    shared = kari.get_by_test_id("meeting-note").filter(has_text=NOTE)
    await shared.wait_for()
    assert "Skrevet av Jonas Berg" in await shared.inner_text()
    started = time.perf_counter()
    await shared.get_by_role("button", name="Foreslå som sak på møtet").click()
    await kari.get_by_test_id("meeting-note-waiting").wait_for()

    # The question reaches Jonas's open Min plan by itself (an /events signal, then a fetch).
    question = mine.get_by_test_id("min-note-question")
    await question.wait_for()
    log_latency("Kari's proposal → Jonas's Min plan", started)
    assert "Kari Nilsen vil ta dette opp på møtet. Er det greit?" in await question.inner_text()

    # Åse's open page still shows nothing, and never did.
    assert NOTE not in await ase.content()

    started = time.perf_counter()
    await question.get_by_role("button", name="Ja").click()
    await mine.get_by_test_id("min-note-on-agenda").wait_for()
    await status.get_by_text("Takk! Nå skal vi snakke om det på møtet.").wait_for()
    # The agenda item appears live in Kari's minutes, and her notes list says he said yes.
    await kari.wait_for_function(
        """(text) => {
          const app = document.getElementById('minutes-app')
          return app.innerText.includes(text) ||
            [...app.querySelectorAll('input, textarea')].some((el) => el.value === text)
        }""",
        arg=NOTE,
    )
    await kari.get_by_test_id("meeting-note-on-agenda").wait_for()
    log_latency("Jonas's yes → the agenda in Kari's minutes", started)
    assert "Jonas Berg sa ja." in await kari.get_by_test_id("meeting-note-on-agenda").inner_text()

    # Jonas's access log shows that Kari read the note.
    await jonas.goto(f"{browse.base}/plans/{world.plan_id}/access-log?kind=note_reads")
    row = jonas.locator("tr").filter(has=jonas.get_by_test_id("access-note-read")).first
    await row.wait_for()
    assert "Kari Nilsen" in await row.inner_text()


async def test_min_plan_with_notes_and_an_error_has_no_axe_violations(
    browse: Browsing, plan: PlanContent, server: LiveServer, world: World
) -> None:
    if not HAVE_AXE:
        skip_or_fail("axe-core is missing: run `npm ci` in tests/interop")
    await coming_meeting(server, world)
    page = await browse.user("planeier", plan=False, bypass_csp=True, **PHONE)
    await min_plan(page, browse.base, world)
    form = page.get_by_test_id("min-note-form")
    await form.get_by_label("Det jeg vil si").fill("Det går bra på skolen 🙂 – æøå")
    await form.get_by_label("Alle i gruppa").check()
    await form.get_by_role("button", name="Lagre").click()
    await page.get_by_test_id("min-note").first.wait_for()
    await form.get_by_label("Det jeg vil si").fill(TOO_LONG)
    await form.get_by_role("button", name="Lagre").click()
    await form.get_by_test_id("min-note-error").get_by_text("for langt", exact=False).wait_for()
    await page.add_script_tag(path=str(AXE_JS))
    result = await page.evaluate(AXE_ALL_JS)
    assert result["rules"] > 20
    log.info("axe Min plan with notes: %d rules, %s", result["rules"], result["violations"])
    assert result["violations"] == []
    for width in (320,):
        await page.set_viewport_size({"width": width, "height": 640})
        size = await page.evaluate(NO_SIDEWAYS_JS)
        assert size["scroll"] <= size["client"], size
    # The form is used by keyboard alone: Tab reaches the text, Space picks who sees it.
    await page.get_by_label("Det jeg vil si").fill("Tastatur ⌨️ æøå")
    await page.get_by_label("Bare meg").focus()
    await page.keyboard.press("ArrowRight")
    assert await page.get_by_label("Meg og koordinator").is_checked()
    await page.keyboard.press("Tab")
    await page.keyboard.press("Enter")
    await (
        page.get_by_test_id("min-note")
        .filter(has_text="Tastatur ⌨️ æøå")
        .wait_for(timeout=TIMEOUT_MS)
    )
