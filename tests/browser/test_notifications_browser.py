"""Browser: a message posted by one member raises the bell's count on another member's open
page without a reload; opening the plan's Meldinger section shows it and clears the count."""

from __future__ import annotations

import logging
import time
from typing import TYPE_CHECKING

import pytest

from tests.browser.helpers import log_latency, wait_text, wait_until

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
