"""Closing and deleting a plan in a real browser: the koordinator's confirmation steps, and a
page that was open all along learning at once that it can no longer change the plan."""

from __future__ import annotations

import logging
import time
from typing import TYPE_CHECKING

import pytest

from tests.browser.helpers import log_latency, wait_until
from tests.support.world import World

if TYPE_CHECKING:
    from tests.browser.conftest import Browsing

pytestmark = pytest.mark.asyncio(loop_scope="module")
log = logging.getLogger("tests.browser")

STATE_JS = "() => document.querySelector('[data-testid=connection-status]').dataset.state"


async def test_close_reaches_an_open_page_and_delete_needs_the_title(
    browse: Browsing, world: World
) -> None:
    deltaker = await browse.user("deltaker")
    koordinator = await browse.user("koordinator")
    assert await deltaker.get_by_test_id("section-lifecycle").count() == 0  # koordinator only

    await koordinator.get_by_test_id("close").click()
    await koordinator.get_by_test_id("confirm-close").wait_for()
    started = time.perf_counter()
    await koordinator.get_by_test_id("confirm").click()
    await koordinator.get_by_test_id("plan-closed").wait_for()
    # The deltaker's page, open all along, says it can no longer change the plan.
    await wait_until(deltaker, f"() => ({STATE_JS})() === 'readOnly'")
    log_latency("an open page learns the plan was closed", started)
    status = await deltaker.get_by_test_id("connection-status").text_content()
    assert status is not None and "avsluttet" in status

    # Deleting: a wrong title is refused with an alert, and nothing is deleted ...
    await koordinator.get_by_label("Skriv tittelen på planen for å bekrefte:").fill("Feil tittel ✏️")
    await koordinator.get_by_test_id("delete").click()
    alert = koordinator.get_by_role("alert")
    await alert.wait_for()
    assert "Ingenting er slettet" in (await alert.text_content() or "")
    assert await browse.server.services.plans.get_plan(world.plan_id) is not None
    # ... the right one (typed on the confirmation page) deletes the plan.
    await koordinator.get_by_label("Skriv tittelen på planen for å bekrefte:").fill(
        "individuell plan for jonas berg"
    )
    await koordinator.get_by_test_id("confirm").click()
    await koordinator.get_by_test_id("plan-deleted").wait_for()
    assert await browse.server.services.plans.get_plan(world.plan_id) is None
    # The open page's sockets were closed for good (4404): it says it has lost access.
    await wait_until(deltaker, f"() => ({STATE_JS})() === 'closed'")
