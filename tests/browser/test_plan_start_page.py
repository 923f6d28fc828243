"""Starting a plan in a real browser, by keyboard, from Mine planer; then life areas added
and renamed by the koordinator while a second page on the same plan follows live."""

from __future__ import annotations

import logging
import re
import time
from datetime import timedelta
from typing import TYPE_CHECKING

import pytest

from server.core.clock import today_oslo
from tests.browser.helpers import READY, log_in, log_latency, open_plan, wait_until
from tests.browser.test_plan_page import HAVE_AXE, axe_violations
from tests.support.world import World

if TYPE_CHECKING:
    from tests.browser.conftest import Browsing

pytestmark = pytest.mark.asyncio(loop_scope="module")
log = logging.getLogger("tests.browser")


async def test_start_a_plan_by_keyboard_then_areas_change_live_on_another_page(
    browse: Browsing, world: World
) -> None:
    kari = await browse.user("koordinator", plan=False, bypass_csp=True)  # bypass: axe below
    await kari.goto(f"{browse.base}/plans")
    await kari.get_by_test_id("plan-new").focus()
    await kari.keyboard.press("Enter")
    await kari.get_by_test_id("start-form").wait_for()

    today = today_oslo()

    async def type_into(label: str, text: str) -> None:
        await kari.get_by_label(label, exact=True).focus()
        await kari.keyboard.type(text)

    # First a mistake: the period ends before it starts. The form comes back with the
    # reason (focus on the summary) and keeps what was typed.
    await type_into("Navn", "Åse Ødegård")
    await type_into("Fødselsdato", "14.03.2009")
    await type_into("Planperioden starter", today.strftime("%d.%m.%Y"))
    await type_into("Planperioden slutter", (today - timedelta(days=1)).strftime("%d.%m.%Y"))
    await type_into("Første revisjon", (today + timedelta(days=90)).strftime("%d.%m.%Y"))
    await kari.locator("#area-1").focus()  # Helse
    await kari.keyboard.press("Space")
    await type_into("Andre livsområder (ett per linje)", "Skole og læring 🎒")
    await kari.get_by_test_id("start-submit").focus()
    await kari.keyboard.press("Enter")
    summary = kari.get_by_test_id("start-errors")
    await summary.wait_for()
    assert "slutte før den starter" in (await summary.text_content() or "")
    await wait_until(kari, "() => document.activeElement.id === 'start-errors'")  # main.js
    assert await kari.get_by_label("Navn", exact=True).input_value() == "Åse Ødegård"
    assert await kari.locator("#area-1").is_checked()
    if HAVE_AXE:
        assert await axe_violations(kari, "new plan form with errors") == []

    end = kari.get_by_label("Planperioden slutter", exact=True)
    await end.focus()
    await kari.keyboard.press("Control+A")
    await kari.keyboard.type((today + timedelta(days=365)).strftime("%d.%m.%Y"))
    await kari.get_by_test_id("start-submit").focus()
    await kari.keyboard.press("Enter")
    await kari.get_by_test_id("plan-draft").wait_for()
    await kari.locator(READY).wait_for(state="attached")
    match = re.search(r"/plans/([0-9a-f-]{36})$", kari.url)
    assert match
    plan_id = match.group(1)
    assert "Utkast" in (await kari.get_by_test_id("plan-status").text_content() or "")
    await kari.get_by_test_id("area-helse").wait_for()
    await kari.get_by_test_id("area-skole-og-laering").wait_for()
    if HAVE_AXE:
        assert await axe_violations(kari, "a draft plan's page") == []

    # A second page on the same plan (Kari on another machine), marked so a reload shows.
    other = await browse.new_page("koordinator-2")
    await log_in(other, browse.base, "kari.nilsen@eksempelvik.test")
    await open_plan(other, browse.base, plan_id)
    await wait_until(other, "() => document.body.dataset.events === 'open'")
    await other.evaluate("window.__notReloaded = true")

    started = time.perf_counter()
    await kari.get_by_label("Nytt livsområde", exact=True).focus()
    await kari.keyboard.type("Fritid ⚽ og venner")
    await kari.keyboard.press("Enter")
    await other.get_by_test_id("area-fritid-og-venner").wait_for()
    log_latency("a new area reaches another open page", started)
    heading = other.locator("#area-fritid-og-venner h2")
    assert await heading.text_content() == "Fritid ⚽ og venner"

    await kari.locator(READY).wait_for(state="attached")
    rename = kari.get_by_label("Navn på livsområdet").first
    await rename.focus()
    await kari.keyboard.press("Control+A")
    await kari.keyboard.type("Helse og trivsel ❤️")
    await kari.keyboard.press("Enter")  # the form's first button: Gi nytt navn
    await wait_until(
        other,
        "() => document.querySelector('#area-helse h2').textContent === 'Helse og trivsel ❤️'",
    )
    assert await other.evaluate("window.__notReloaded === true")
    # The new area's section is live: a goal added on the other page is a real zone.
    await other.get_by_test_id("add-goal-fritid-og-venner").click()
    await wait_until(
        kari,
        "() => document.querySelectorAll('#area-fritid-og-venner .goal').length === 1",
    )
