"""An idle session in a real browser (issue 11, "Sessions end everywhere"): the page warns
before the session ends and "Fortsett" keeps it; once it has ended the page says the person is
logged out, keeps what they type, and sends it when they log in again in another tab.

Short idle times (seconds) so the test waits for the page, never for minutes."""

from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from crdt.schema import read_zone
from server.settings import Settings
from tests.browser.helpers import (
    PlanContent,
    log_in,
    log_latency,
    type_at_end,
    wait_until,
)
from tests.conftest import make_settings
from tests.support.waiting import wait_for
from tests.support.world import World

if TYPE_CHECKING:
    from tests.browser.conftest import Browsing

pytestmark = pytest.mark.asyncio(loop_scope="module")
log = logging.getLogger("tests.browser")

IDLE = 10
WARN = 7  # the warning shows 3 s after the last activity


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return make_settings(
        tmp_path,
        session_idle_seconds=IDLE,
        session_warn_seconds=WARN,
        session_check_seconds=0.5,
    )


SESSION_JS = "(want) => document.body.dataset.session === want"
STATUS_JS = (
    "(want) => document.querySelector('[data-testid=connection-status]').dataset.state === want"
)


async def test_warned_continued_logged_out_and_nothing_typed_is_lost(
    browse: Browsing, plan: PlanContent, world: World
) -> None:
    ase = await browse.user("deltaker")
    cookie = next(c["value"] for c in await ase.context.cookies() if c["name"] == "samplan_session")
    sessions = browse.server.services.sessions
    notice = ase.get_by_test_id("session-notice")

    # Idle: the warning comes (an alert), and "Fortsett" starts the idle time again.
    await wait_until(ase, SESSION_JS, "warning")
    assert await notice.get_attribute("role") == "alert"
    assert "Du blir logget ut om 1 min" in (await notice.text_content() or "")
    await ase.get_by_test_id("session-continue").click()
    await wait_until(ase, SESSION_JS, "ok")
    assert await notice.is_hidden()
    state = await sessions.remaining(cookie, IDLE)
    assert state is not None and state[1] > WARN, "Fortsett refreshed the session"

    # Left alone, it ends: every socket closes with 4401, and the page says so.
    started = time.perf_counter()
    await wait_until(ase, SESSION_JS, "ended")
    await wait_until(ase, STATUS_JS, "loggedOut")
    log_latency("an idle session ends on the page", started)
    assert "Du er logget ut" in (await notice.text_content() or "")
    assert await ase.get_by_test_id("session-login").get_attribute("target") == "_blank"

    # What is typed now stays in the page ...
    field = f"measure-title-{plan.measure_id}"
    typed = " – skrevet etter utlogging, Åse Ødegård ✍️ æøå"
    await type_at_end(ase, field, typed)
    assert await ase.get_by_test_id("connection-status").text_content() == (
        "Du er logget ut – det du skriver, er tatt vare på her og lagres når du logger inn igjen."
    )

    # ... and reaches the server once she logs in again in another tab.
    tab = await ase.context.new_page()
    await log_in(tab, browse.base, "ase.odegard@eksempelvik.test")
    # Back: "ok", or already the new session's warning window on a slow machine.
    await wait_until(ase, "() => ['ok', 'warning'].includes(document.body.dataset.session)")
    await wait_until(ase, "() => document.querySelector('#plan-app').dataset.saved === 'true'")

    async def stored() -> bool:
        area = await browse.server.services.registry.read(world.zones["area/skole"])
        titles = [m["title"] for m in read_zone(area, "area")["measures"]]
        return plan.measure_title + typed in titles

    await wait_for(stored, timeout=30, what="the text typed while logged out, on the server")
