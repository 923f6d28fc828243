"""Browser: a message posted by one member raises the bell's count on another member's open
page without a reload; opening the plan's Meldinger section shows it and clears the count."""

from __future__ import annotations

import logging
import time
from typing import TYPE_CHECKING

import pytest

from tests.browser.helpers import log_in, log_latency, wait_text, wait_until
from tests.conftest import skip_or_fail
from tests.support.world import ROLE_USERS

if TYPE_CHECKING:
    from tests.browser.conftest import Browsing

pytestmark = pytest.mark.asyncio(loop_scope="module")
log = logging.getLogger("tests.browser.notifications")

BELL = """(n) => {
  const badge = document.querySelector('[data-testid="notification-count"]')
  return badge !== null && badge.dataset.unread === String(n) && badge.hidden === (n === 0)
}"""


async def test_bell_counts_a_new_message_live_and_reading_clears_it(browse: Browsing) -> None:
    world = browse.world
    aase = await browse.user("deltaker", plan=False)  # on Mine planer
    await wait_until(aase, "() => document.body.dataset.events === 'open'", what="events open")
    await wait_until(aase, BELL, 0)

    kari = await browse.user("koordinator")
    await kari.get_by_test_id("messages-toggle").click()
    text = "Møtet flyttes til torsdag kl. 10 🗓️ – æøå"
    await kari.get_by_test_id("message-input").fill(text)
    started = time.perf_counter()
    await kari.get_by_test_id("message-send").click()
    await wait_until(aase, BELL, 1)
    log_latency("message sent -> bell on another page shows 1", started)
    assert aase.url.endswith("/plans")  # no reload, no navigation

    await aase.reload()
    assert "Nytt siden sist" in await aase.content()
    await aase.goto(f"{browse.base}/plans/{world.plan_id}")
    await aase.locator("#plan-app[data-ready='true']").wait_for(state="attached")
    await wait_text(aase, "messages-unread", "1 nye")
    await aase.get_by_test_id("messages-toggle").click()
    await wait_text(aase, "message-list", text, contains=True)
    await wait_until(aase, BELL, 0, what="opening Meldinger clears the bell")
    await aase.goto(f"{browse.base}/notifications")
    assert await aase.locator('[data-kind="message"][data-unread="false"]').count() == 1


async def test_notification_pages_and_messages_have_no_serious_axe_violations(
    browse: Browsing,
) -> None:
    from tests.browser.test_plan_page import HAVE_AXE, axe_violations

    if not HAVE_AXE:
        skip_or_fail("axe-core is missing: run `npm ci` in tests/interop")
    world = browse.world
    await browse.server.services.notifier.message_posted(world.plan_id, "m-æøå", None)
    page = await browse.new_page("axe", bypass_csp=True)
    await log_in(page, browse.base, ROLE_USERS["koordinator"][0])
    serious = {}
    await page.goto(f"{browse.base}/notifications")
    await wait_until(page, BELL, 1)
    serious["notifications"] = await axe_violations(page, "notifications")
    await page.goto(f"{browse.base}/settings/notifications")
    serious["settings"] = await axe_violations(page, "settings")
    await page.goto(f"{browse.base}/plans/{world.plan_id}#messages")
    await page.locator("#plan-app[data-ready='true']").wait_for(state="attached")
    await wait_until(page, "() => !document.getElementById('messages-panel').hidden")
    serious["plan with Meldinger open"] = await axe_violations(page, "messages")
    assert not any(serious.values()), serious
