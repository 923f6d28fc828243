"""Min plan in a real browser (issue 13): Jonas, the planeier, on his phone sees his goals, the
next meeting and who has been in his plan; a goal title Kari changes from another client
appears at once and is announced in the page's live region (read from the accessibility tree).
Then the universal-design bar: axe-core clean on desktop and phone, every link reached by Tab
in order, no horizontal scrolling at 320 px or at 200 % zoom. Screenshots for the README.
"""

from __future__ import annotations

import logging
import time
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

import pytest

from crdt.schema import get_root, set_text
from storage.repositories.meetings import AgendaItem
from tests.browser.helpers import AXE_JS, PASSWORD, TIMEOUT_MS, log_latency
from tests.browser.test_plan_page import HAVE_AXE, shoot
from tests.conftest import skip_or_fail
from tests.support.clients import connected
from tests.support.world import ROLE_USERS, World

if TYPE_CHECKING:
    from playwright.async_api import Page

    from tests.browser.conftest import Browsing
    from tests.browser.helpers import PlanContent
    from tests.support.live import LiveServer

pytestmark = pytest.mark.asyncio(loop_scope="module")
log = logging.getLogger("tests.browser")

PHONE = {"viewport": {"width": 390, "height": 844}, "is_mobile": True, "has_touch": True}
READY = '#min-app[data-ready="true"]'
NEW_TITLE = "Lese en hel bok på egen hånd 📚 før sommeren – æøå"
MEETING_TITLE = "Ansvarsgruppemøte 🌱 vår"
PLACE = "Møterom Blåklokka, Ørnes skole"
ASE = ROLE_USERS["deltaker"][1]
AXE_ALL_JS = """async () => {
  const result = await axe.run(document, { runOnly: { type: 'tag', values:
    ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa', 'best-practice'] } })
  return { rules: result.passes.length + result.violations.length,
    violations: result.violations.map((v) => ({ id: v.id, impact: v.impact,
      nodes: v.nodes.slice(0, 5).map((n) => n.target.join(' ')) })) }
}"""
NO_SIDEWAYS_JS = """() => ({ scroll: document.documentElement.scrollWidth,
  client: document.documentElement.clientWidth })"""


async def meeting_and_visit(server: LiveServer, world: World) -> None:
    """A meeting next week, and Åse having been in the plan (her socket joins and leaves)."""
    start = datetime.now(UTC) + timedelta(days=7)
    await server.services.meetings.schedule(
        world.plan_id,
        title=MEETING_TITLE,
        starts_at=start,
        ends_at=start + timedelta(hours=1),
        place=PLACE,
        video_link="https://video.eksempelvik.test/møte-æøå",
        agenda=[AgendaItem("a1", "Hvordan går det på skolen? 😊")],
        invitee_ids=[world.users["planeier"], world.users["koordinator"], world.users["deltaker"]],
        created_by_user_id=world.users["koordinator"],
    )
    async with connected(server.ws_url(world.room("area/fritid"), world.token("deltaker"))):
        pass


async def open_min_plan(page: Page, base: str, world: World, *, until_visitor: bool) -> None:
    """Open Min plan; the visitors list is read from the audit log, written by a queue, so
    reload (bounded) until Åse is listed when the test needs her."""
    started = time.perf_counter()
    deadline = started + TIMEOUT_MS / 1000
    while True:
        await page.goto(f"{base}/plans/{world.plan_id}/min")
        await page.locator(READY).wait_for(state="attached")
        listed = await page.get_by_test_id("min-visitor").filter(has_text=ASE).count()
        if not until_visitor or listed or time.perf_counter() > deadline:
            break
        await page.wait_for_timeout(200)
    log_latency("Min plan loaded and synced", started)


async def open_own_form(page: Page) -> None:
    """Open the first goal's "Skriv med egne ord" form, with a sentence too long (its message
    shown): the page's new controls in every state are checked too."""
    goal = page.get_by_test_id("min-goal").first
    await goal.get_by_role("button", name="Skriv med egne ord").click()
    await goal.get_by_label("Si det med en setning").fill("Blåbær og æøå 🫐 " * 20)
    await goal.get_by_role("button", name="Lagre").click()
    await goal.get_by_test_id("min-own-note-error").wait_for()


async def test_jonas_on_his_phone_sees_his_plan_live(
    browse: Browsing, plan: PlanContent, server: LiveServer, world: World
) -> None:
    await meeting_and_visit(server, world)
    # Jonas logs in on his phone and lands on Min plan: he has one plan.
    jonas = await browse.new_page("planeier", **PHONE)
    await jonas.goto(f"{browse.base}/login")
    await jonas.get_by_test_id("login-email").fill(ROLE_USERS["planeier"][0])
    await jonas.get_by_test_id("login-password").fill(PASSWORD)
    await jonas.get_by_test_id("login-submit").click()
    await jonas.wait_for_url(f"{browse.base}/plans/{world.plan_id}/min")
    # Mine planer links to it too: one tap.
    await jonas.goto(f"{browse.base}/plans")
    await jonas.get_by_test_id(f"min-plan-link-{world.plan_id}").click()
    await jonas.wait_for_url(f"**/plans/{world.plan_id}/min")
    await open_min_plan(jonas, browse.base, world, until_visitor=True)

    assert await jonas.get_by_role("heading", level=1).inner_text() == "Min plan"
    goals = jonas.get_by_test_id("min-goal-title")
    assert plan.goal_title in await goals.all_inner_texts()
    measure = jonas.get_by_test_id("min-measure").filter(has_text=plan.measure_title)
    assert "Kari Nilsen, PPT Eksempelvik" in await measure.inner_text()
    assert "19.06.2026" in await measure.inner_text()
    meeting = jonas.get_by_test_id("min-meeting")
    assert MEETING_TITLE in await meeting.inner_text() and PLACE in await meeting.inner_text()
    assert ASE in " ".join(await jonas.get_by_test_id("min-visitor").all_inner_texts())
    assert await jonas.get_by_test_id("min-full-plan").get_attribute("href") == (
        f"/plans/{world.plan_id}"
    )
    await shoot(jonas, "min-plan-phone.png")

    # Kari changes the goal's title from another client: it appears at once, and the live
    # region (role="status" in the accessibility tree) says the plan changed.
    status = jonas.get_by_test_id("min-live")
    assert await status.get_attribute("role") == "status"
    assert (await status.inner_text()).strip() == ""
    async with connected(server.ws_url(world.room("area/skole"), world.token("koordinator"))) as k:
        started = time.perf_counter()
        set_text(get_root(k.doc, "area", "goals")[0]["title"], NEW_TITLE)
        goal = jonas.get_by_test_id("min-goal-title").filter(has_text=NEW_TITLE)
        await goal.wait_for()
        log_latency("Kari's goal title → Min plan", started)
    await jonas.wait_for_function(
        "() => document.getElementById('min-live').textContent.length > 0"
    )
    tree = await jonas.locator("#main").aria_snapshot()
    log.info("accessibility tree of Min plan:\n%s", tree)
    assert "- status: Noe er nytt i planen nå." in tree
    assert '- heading "Målene mine" [level=2]' in tree and NEW_TITLE in tree
    assert '- heading "Neste møte" [level=2]' in tree
    assert plan.goal_title not in await goals.all_inner_texts()


async def test_axe_finds_no_violations_on_desktop_or_phone(
    browse: Browsing, plan: PlanContent, server: LiveServer, world: World
) -> None:
    if not HAVE_AXE:
        skip_or_fail("axe-core is missing: run `npm ci` in tests/interop")
    await meeting_and_visit(server, world)
    found = {}
    for name, options in (("desktop", {}), ("phone", PHONE)):
        page = await browse.user("planeier", plan=False, bypass_csp=True, **options)
        await open_min_plan(page, browse.base, world, until_visitor=name == "desktop")
        if name == "desktop":
            await shoot(page, "min-plan.png")
        await open_own_form(page)
        await page.add_script_tag(path=str(AXE_JS))
        result = await page.evaluate(AXE_ALL_JS)
        assert result["rules"] > 20, f"axe did not really run on {name}"
        log.info("axe Min plan %s: %d rules, %s", name, result["rules"], result["violations"])
        found[name] = result["violations"]
    assert found == {"desktop": [], "phone": []}


async def test_every_link_is_reached_by_keyboard_in_order(
    browse: Browsing, plan: PlanContent, server: LiveServer, world: World
) -> None:
    await meeting_and_visit(server, world)
    page = await browse.user("verge", plan=False)
    await open_min_plan(page, browse.base, world, until_visitor=False)
    # Every control the page shows now ("Om meg"'s editor, each goal's "Skriv med egne ord",
    # the note form; the forms are closed). A radio group is one Tab stop (its checked radio).
    wanted = await page.eval_on_selector_all(
        "#min-app a[href], #min-app button, #min-app input:not([type=radio]), "
        "#min-app input[type=radio]:checked, #min-app select, #min-app textarea, "
        "#min-app [contenteditable=true]",
        "(els) => els.filter((el) => el.checkVisibility()).map((el) => el.outerHTML.slice(0, 120))",
    )
    # the full plan, "Skriv med egne ord" twice, "Om meg", the video link, the access log
    assert len(wanted) >= 6, wanted
    await page.locator("body").focus()
    reached: list[str] = []
    for _ in range(60):
        await page.keyboard.press("Tab")
        focused = await page.evaluate(
            "() => document.activeElement.closest('#min-app') ? "
            "document.activeElement.outerHTML.slice(0, 120) : null"
        )
        if focused and focused not in reached:
            reached.append(focused)
        if len(reached) == len(wanted):
            break
    assert reached == wanted
    # The focus is visible on each (an outline, not only a colour).
    outline = await page.evaluate("() => getComputedStyle(document.activeElement).outlineStyle")
    assert outline != "none"
    # "Skriv med egne ord" opens the form by keyboard, its fields follow in order, and
    # Escape closes it with the focus back on the button.
    opener = page.get_by_role("button", name="Skriv med egne ord").first
    await opener.focus()
    await page.keyboard.press("Enter")
    form = page.get_by_test_id("min-own-form").first
    order = []
    for step in range(6):
        if step:
            await page.keyboard.press("Tab")
        order.append(
            await page.evaluate(
                "() => document.activeElement.labels && document.activeElement.labels.length"
                " ? document.activeElement.labels[0].textContent.trim()"
                " : document.activeElement.textContent.trim()"
            )
        )
    assert order == [
        "Jeg vil",
        "Vil ikke si",
        "Velg en emoji",
        "Si det med en setning",
        "Lagre",
        "Avbryt",
    ]
    await page.keyboard.press("Escape")
    await form.wait_for(state="hidden")
    assert await opener.evaluate("(el) => el === document.activeElement")
    # Enter on "Se hele planen" opens the full plan.
    await page.get_by_test_id("min-full-plan").focus()
    await page.keyboard.press("Enter")
    await page.wait_for_url(f"**/plans/{world.plan_id}")


async def test_no_sideways_scrolling_at_320_px_or_200_percent_zoom(
    browse: Browsing, plan: PlanContent, server: LiveServer, world: World
) -> None:
    await meeting_and_visit(server, world)
    # 200 % zoom of a 1280 × 900 window lays out like a 640 × 450 one at two device pixels
    # per CSS pixel, which is what the browser does when zooming.
    sizes = {
        "320 px": {"viewport": {"width": 320, "height": 640}},
        "200 %": {"viewport": {"width": 640, "height": 450}, "device_scale_factor": 2},
    }
    for name, options in sizes.items():
        page = await browse.user("planeier", plan=False, **options)
        await open_min_plan(page, browse.base, world, until_visitor=False)
        await open_own_form(page)
        width = await page.evaluate(NO_SIDEWAYS_JS)
        log.info("Min plan at %s: %s", name, width)
        assert width["scroll"] <= width["client"], (name, width)
