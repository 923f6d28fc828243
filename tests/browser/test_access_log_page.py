"""'Hvem har vært i planen min' in a real browser (issue 4, "Done when"): the deltaker opens
the plan and leaves, the leser is still in it, and the planeier logs in and sees both visits:
the ended one with its start, end and duration, the other one as ongoing. Then the filter by
keyboard (and the language link keeps it), and axe on the page.

The audit log is written by a queue, so the planeier reloads until the rows are there (up to
20 s); the delay is logged (`-o log_cli=true`), never asserted.
"""

from __future__ import annotations

import logging
import re
import time
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING
from urllib.parse import parse_qsl, urlsplit

import pytest

from tests.browser.helpers import ARTIFACTS, TIMEOUT_MS, log_latency
from tests.browser.test_plan_page import HAVE_AXE, axe_violations, tab_to
from tests.support.world import ROLE_USERS, World

if TYPE_CHECKING:
    from playwright.async_api import Locator, Page

    from tests.browser.conftest import Browsing
    from tests.browser.helpers import PlanContent

pytestmark = pytest.mark.asyncio(loop_scope="module")
log = logging.getLogger("tests.browser")

ASE = ROLE_USERS["deltaker"][1]
PER = ROLE_USERS["leser"][1]
VISIT_ROW = 'tr[data-kind="visit"]'


def visit_of(page: Page, name: str, status: str) -> Locator:
    return page.locator(f'{VISIT_ROW}[data-status="{status}"]', has_text=name)


async def reload_until_listed(page: Page, rows: list[Locator], what: str) -> float:
    """The page is rendered by the server: reload it until every row is there."""
    started = time.perf_counter()
    deadline = started + TIMEOUT_MS / 1000
    while True:
        counts = [await row.count() for row in rows]
        if all(counts) or time.perf_counter() > deadline:
            break
        await page.wait_for_timeout(100)
        await page.reload()
    assert all(counts), f"{what}: not listed after {TIMEOUT_MS} ms"
    return log_latency(what, started)


async def time_of(row: Locator, testid: str) -> datetime:
    value = await row.get_by_test_id(testid).get_attribute("datetime")
    assert value is not None
    return datetime.fromisoformat(value)


def between(value: datetime, before: datetime, after: datetime) -> bool:
    """Shown to the second: allow the rounding either side."""
    return before - timedelta(seconds=1) <= value <= after + timedelta(seconds=1)


async def test_the_planeier_sees_who_has_been_in_the_plan(
    browse: Browsing, plan: PlanContent, world: World
) -> None:
    # Åse opens the plan and goes back to "Mine planer": her sockets close.
    before_open = datetime.now(UTC)
    ase = await browse.user("deltaker")
    after_open = datetime.now(UTC)
    await ase.wait_for_timeout(1500)  # a visit of a second or two, as a person's would be
    before_leave = datetime.now(UTC)
    await ase.goto(f"{browse.base}/plans")
    after_leave = datetime.now(UTC)
    # Per opens the plan and stays.
    await browse.user("leser")

    # Jonas (the planeier) logs in and goes from his plan's card to the log.
    jonas = await browse.user("planeier", plan=False, bypass_csp=True)  # bypass: axe below
    await jonas.get_by_test_id(f"access-log-link-{world.plan_id}").click()
    await jonas.wait_for_url(f"**/plans/{world.plan_id}/access-log")
    heading = jonas.get_by_role("heading", level=1)
    assert await heading.inner_text() == "Hvem har vært i planen min"

    ended = visit_of(jonas, ASE, "ended")
    ongoing = visit_of(jonas, PER, "open")
    await reload_until_listed(jonas, [ended, ongoing], "access log lists both visits")
    assert await ended.count() == 1 and await ongoing.count() == 1

    start = await time_of(ended, "access-start")
    end = await time_of(ended, "access-end")
    log.info("Åse's visit as shown: %s – %s", start.isoformat(), end.isoformat())
    assert start.utcoffset() in (timedelta(hours=1), timedelta(hours=2))  # Oslo time
    assert between(start, before_open, after_open), (start, before_open, after_open)
    assert between(end, before_leave, after_leave), (end, before_leave, after_leave)
    shown = (await ended.get_by_test_id("access-start").inner_text()).strip()
    assert re.fullmatch(r"\d\d\.\d\d\.20\d\d kl\. \d\d\.\d\d", shown), shown
    duration = (await ended.get_by_test_id("access-duration").inner_text()).strip()
    seconds = int(duration.removesuffix(" sek"))
    assert abs(seconds - (end - start).total_seconds()) <= 1, (duration, start, end)
    # Her page opened every part it shows: one visit, not one row per part.
    assert "Felles del, Skole og læring, Fritid ⚽, Kommentarer" in await ended.inner_text()
    assert "Deltaker" in await ended.inner_text()

    assert await ongoing.get_by_test_id("access-ongoing").inner_text() == "pågår"
    assert await ongoing.get_by_test_id("access-end").count() == 0
    assert "så langt" in await ongoing.get_by_test_id("access-duration").inner_text()

    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    await jonas.screenshot(path=str(ARTIFACTS / "access-log.png"), full_page=True)
    if HAVE_AXE:
        assert await axe_violations(jonas, "access log") == []


async def test_the_filter_works_from_the_keyboard(
    browse: Browsing, plan: PlanContent, world: World
) -> None:
    await browse.user("leser")  # Per's visit, so there is something to filter to
    kari = await browse.user("koordinator", plan=False)
    started = time.perf_counter()
    await kari.goto(f"{browse.base}/plans/{world.plan_id}")
    await kari.get_by_test_id("access-log-link").focus()
    await kari.keyboard.press("Enter")
    await kari.wait_for_url(f"**/plans/{world.plan_id}/access-log")
    log_latency("plan page → access log by keyboard", started)
    assert await kari.get_by_role("heading", level=1).inner_text() == "Hvem har vært i planen"
    await reload_until_listed(kari, [kari.locator(VISIT_ROW, has_text=PER)], "Per listed")

    await tab_to(kari, "#access-log-person")
    await kari.keyboard.type("Per")  # a closed select picks by typing, as people do
    assert await kari.locator("#access-log-person").input_value() == str(world.users["leser"])
    await tab_to(kari, "#access-log-from")
    await kari.keyboard.type("31.02.2026")
    await kari.keyboard.press("Enter")  # submits the form
    alert = kari.get_by_role("alert")
    assert "«31.02.2026» er ikke en dato" in await alert.inner_text()
    assert await kari.locator("#access-log-from").get_attribute("aria-invalid") == "true"

    await kari.locator("#access-log-from").fill("")
    await tab_to(kari, '[data-testid="access-log-apply"]')
    await kari.keyboard.press("Enter")
    await kari.locator('[data-testid="access-log-table"]').wait_for()
    names = await kari.locator("tbody th[scope=row]").all_inner_texts()
    assert names and set(names) == {PER}, names
    assert f"person={world.users['leser']}" in kari.url

    # The language link keeps the filter: Kari switches to English from the keyboard and
    # still sees only Per, with the filter form as she left it.
    filtered = parse_qsl(urlsplit(kari.url).query, keep_blank_values=True)
    await kari.get_by_role("link", name="English").focus()
    await kari.keyboard.press("Enter")
    await kari.wait_for_url("**lang=en")
    assert await kari.get_by_role("heading", level=1).inner_text() == "Who has been in the plan"
    switched = parse_qsl(urlsplit(kari.url).query, keep_blank_values=True)
    assert switched == [*filtered, ("lang", "en")], switched
    assert await kari.locator("#access-log-person").input_value() == str(world.users["leser"])
    names = await kari.locator("tbody th[scope=row]").all_inner_texts()
    assert names and set(names) == {PER}, names
