"""Nynorsk in a real browser: Jonas (planeier) chooses "Nynorsk" in the header, and Min plan
and the full plan page speak nynorsk, not only in what the server renders but in what the
live client (the JS bundle) writes: a measure Kari adds from another client appears on Min
plan with its nynorsk words, date and live announcement, and the plan page's own status line,
labels and dates are nynorsk.
"""

from __future__ import annotations

import logging
import time
from datetime import timedelta
from typing import TYPE_CHECKING

import pytest

from crdt.schema import append_item, get_root
from server.core.clock import today_oslo
from tests.browser.helpers import AXE_JS, log_latency
from tests.browser.helpers import READY as PLAN_READY
from tests.browser.test_min_plan_page import (
    AXE_ALL_JS,
    PHONE,
    meeting_and_visit,
    open_min_plan,
)
from tests.browser.test_plan_page import HAVE_AXE, axe_violations
from tests.conftest import skip_or_fail
from tests.support.clients import connected
from tests.support.world import World

if TYPE_CHECKING:
    from tests.browser.conftest import Browsing
    from tests.browser.helpers import PlanContent
    from tests.support.live import LiveServer

pytestmark = pytest.mark.asyncio(loop_scope="module")
log = logging.getLogger("tests.browser")

LATE_TITLE = "Øve på å lese høgt for Åse Ødegård 📖 – æøå"
LATE_ID = "tiltak-nynorsk-æøå"


async def test_min_plan_and_the_plan_page_in_nynorsk(
    browse: Browsing, plan: PlanContent, server: LiveServer, world: World
) -> None:
    await meeting_and_visit(server, world)
    jonas = await browse.user("planeier", plan=False, locale="nn-NO", **PHONE)
    # Mine planer, in bokmål; the header offers the three languages, each in itself.
    assert await jonas.locator("html").get_attribute("lang") == "nb"
    switch = jonas.get_by_test_id("language-switch")
    assert await switch.get_by_test_id("language-current").inner_text() == "Bokmål"
    nynorsk = switch.get_by_role("link", name="Nynorsk")
    assert await nynorsk.get_attribute("lang") == "nn"
    await nynorsk.focus()
    await jonas.keyboard.press("Enter")
    await jonas.wait_for_url("**lang=nn")
    assert await jonas.locator("html").get_attribute("lang") == "nn"
    assert await jonas.get_by_role("heading", level=1).inner_text() == "Planane mine"
    assert await switch.get_by_test_id("language-current").inner_text() == "Nynorsk"
    assert await switch.get_by_role("link").all_inner_texts() == ["Bokmål", "English"]

    # Min plan, with no `?lang=`: nynorsk stays (the cookie, and now his account).
    await open_min_plan(jonas, browse.base, world, until_visitor=False)
    assert await jonas.locator("html").get_attribute("lang") == "nn"
    assert await jonas.get_by_role("heading", level=1).inner_text() == "Planen min"
    assert await jonas.get_by_test_id("min-full-plan").inner_text() == "Sjå heile planen"

    # Kari adds a measure that is already late: the bundle draws it, in nynorsk.
    late_end = today_oslo() - timedelta(days=2)
    shown_end = late_end.strftime("%d.%m.%Y")
    async with connected(server.ws_url(world.room("area/skole"), world.token("koordinator"))) as k:
        started = time.perf_counter()
        append_item(
            get_root(k.doc, "area", "measures"),
            {
                "id": LATE_ID,
                "goalId": plan.goal_id,
                "title": LATE_TITLE,
                "responsible": [str(world.users["koordinator"])],
                "end": late_end.isoformat(),
                "status": "pagar",
            },
        )
        item = jonas.get_by_test_id("min-measure").filter(has_text=LATE_TITLE)
        await item.wait_for()
        log_latency("Kari's new measure → Min plan in nynorsk", started)
    text = await item.inner_text()
    assert "Kven gjer det: Kari Nilsen" in text, text
    assert f"Skal vere gjort: {shown_end}" in text, text
    assert "For seint! Dette skulle vore gjort før no." in text, text
    await jonas.wait_for_function(
        "() => document.getElementById('min-live').textContent.length > 0"
    )
    tree = await jonas.locator("#main").aria_snapshot()
    assert "- status: Noko er nytt i planen no." in tree, tree
    assert '- heading "Måla mine" [level=2]' in tree, tree
    for bokmål in ("Hvem gjør det", "Skal være gjort", "For sent!", "Noe er nytt"):
        assert bokmål not in tree, bokmål

    # The full plan page: the live client's status line, labels and dates.
    await jonas.get_by_test_id("min-full-plan").click()
    await jonas.wait_for_url(f"**/plans/{world.plan_id}")
    await jonas.locator(PLAN_READY).wait_for(state="attached")
    assert await jonas.locator("html").get_attribute("lang") == "nn"
    status = jonas.get_by_test_id("connection-status")
    await jonas.wait_for_function(
        "() => document.querySelector('[data-testid=connection-status]').dataset.state === 'saved'"
    )
    assert await status.inner_text() == "Tilkopla – alle endringar er lagra"
    description = jonas.get_by_test_id(f"measure-description-{plan.measure_id}")
    assert await description.get_attribute("aria-label") == "Skildring av tiltaket"
    assert await jonas.get_by_test_id(f"measure-end-{LATE_ID}").input_value() == shown_end
    assert await jonas.get_by_test_id(f"add-subgoal-{plan.goal_id}").inner_text() == ("Nytt delmål")
    assert await jonas.get_by_test_id(f"measure-{LATE_ID}").get_by_text("Over fristen").count()


async def test_axe_finds_no_violations_in_nynorsk(
    browse: Browsing, plan: PlanContent, server: LiveServer, world: World
) -> None:
    """The nynorsk pages, `lang="nn"` and the language switch included, as axe-core sees them:
    Min plan clean (as in bokmål), the plan page with nothing serious."""
    if not HAVE_AXE:
        skip_or_fail(f"{AXE_JS} is missing: run `npm ci` in tests/interop")
    page = await browse.user("planeier", plan=False, locale="nn-NO", bypass_csp=True)
    await page.goto(f"{browse.base}/plans?lang=nn")
    await open_min_plan(page, browse.base, world, until_visitor=False)
    assert await page.locator("html").get_attribute("lang") == "nn"
    await page.add_script_tag(path=str(AXE_JS))
    result = await page.evaluate(AXE_ALL_JS)
    assert result["rules"] > 20, "axe did not really run"
    assert result["violations"] == [], result["violations"]
    await page.goto(f"{browse.base}/plans/{world.plan_id}")
    await page.locator(PLAN_READY).wait_for(state="attached")
    assert await axe_violations(page, "plan (nn)") == []
