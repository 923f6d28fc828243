"""The KE's log control in a real browser (issue 14): the KE sets its flag thresholds by
keyboard; a mistake brings the page back with the error summary focused (role="alert"), each
wrong field marked and described, and everything as typed; after the fix the rules are saved
and said (role="status"), and the page's own CSV link downloads the rows it shows. axe finds
nothing serious with and without errors."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

import pytest

from storage.repositories.audit import AuditEvent
from storage.repositories.ke_log_thresholds import LogThresholds, thresholds
from tests.browser.helpers import log_in, wait_until
from tests.browser.test_ke_overview_page import ADMIN, samplan
from tests.browser.test_plan_page import HAVE_AXE, axe_violations
from tests.support.web import PASSWORD

if TYPE_CHECKING:
    from playwright.async_api import Page

    from server.settings import Settings
    from tests.browser.conftest import Browsing
    from tests.support.world import World

pytestmark = pytest.mark.asyncio(loop_scope="module")


async def _type(page: Page, label: str, text: str) -> None:
    field = page.get_by_label(label, exact=True)
    await field.focus()
    await page.keyboard.press("Control+A")
    await page.keyboard.type(text)


async def test_the_ke_sets_its_thresholds_by_keyboard_and_downloads_the_log(
    browse: Browsing, world: World, settings: Settings
) -> None:
    repos = browse.server.services.repos
    plan = await repos.plans.get_plan(world.plan_id)
    assert plan is not None
    municipality = plan.municipality_id
    at = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=1)
    await repos.audit.append_many(
        [
            AuditEvent("plan_view", world.users["leser"], "leser", world.plan_id, at=at),
            AuditEvent("print", world.users["koordinator"], "koordinator", world.plan_id, at=at),
        ]
    )
    samplan(
        settings, "user", "add", "--email", ADMIN[0], "--name", ADMIN[1], "--password", PASSWORD
    )
    found = await repos.municipalities.get(municipality)
    assert found is not None
    samplan(
        settings, "municipality", "add-admin", "--municipality", found.name, "--email", ADMIN[0]
    )

    page = await browse.new_page("ke-log", accept_downloads=True, bypass_csp=True)  # axe
    await log_in(page, browse.base, ADMIN[0])
    await page.goto(f"{browse.base}/ke/{municipality}/access")
    await page.get_by_test_id("ke-limits").wait_for()
    assert await page.get_by_label("Natt fra (time, 0–23)", exact=True).input_value() == "22"
    if HAVE_AXE:
        assert await axe_violations(page, "ke log control") == []

    # A mistake: the night starts and ends at the same hour, and "mange" is no number.
    await _type(page, "Natt fra (time, 0–23)", "5")
    await _type(page, "Natt til (time, 0–23)", "5")
    await _type(page, "Mange planer på rad: antall planer", "mange 🙃")
    await page.get_by_test_id("ke-limits-save").focus()
    await page.keyboard.press("Enter")
    summary = page.get_by_test_id("ke-limits-errors")
    await summary.wait_for()
    await wait_until(page, "() => document.activeElement?.id === 'ke-limits-errors'")
    assert await summary.get_attribute("role") == "alert"
    text = await summary.inner_text()
    assert "Natt fra og natt til kan ikke være samme time." in text
    assert "Antall planer må være et helt tall fra 2 til 1000" in text
    plans_field = page.get_by_label("Mange planer på rad: antall planer", exact=True)
    assert await plans_field.input_value() == "mange 🙃"  # nothing lost
    assert await plans_field.get_attribute("aria-invalid") == "true"
    assert await page.get_by_label("Natt fra (time, 0–23)", exact=True).input_value() == "5"
    assert (
        await page.get_by_label("Natt fra (time, 0–23)", exact=True).get_attribute("aria-invalid")
        is None
    )
    if HAVE_AXE:
        assert await axe_violations(page, "ke log control with errors") == []
    # The summary's link leads to the field.
    await summary.get_by_role("link", name="Antall planer må være", exact=False).click()
    await wait_until(page, "() => location.hash === '#ke-limit-burst_plans'")

    # The fix: night 05-07, three plans within 30 minutes.
    await _type(page, "Natt til (time, 0–23)", "7")
    await _type(page, "Mange planer på rad: antall planer", "3")
    await _type(page, "Mange planer på rad: innen antall minutter", "30")
    await page.get_by_test_id("ke-limits-save").focus()
    await page.keyboard.press("Enter")
    saved = page.get_by_test_id("ke-limits-saved")
    await saved.wait_for()
    assert await saved.get_attribute("role") == "status"
    rules = await page.locator("main").inner_text()
    assert "05–07" in rules and "3 eller flere ulike planer innen 30 minutter" in rules
    assert await thresholds(repos.engine, municipality) == LogThresholds(5, 7, 3, 30)

    # The page's CSV link: the rows the page shows.
    shown = await page.get_by_test_id("ke-log-row").count()
    async with page.expect_download() as info:
        await page.get_by_test_id("ke-log-csv").click()
    path = await (await info.value).path()
    assert path is not None
    raw = path.read_bytes().decode("utf-8")
    assert raw.startswith("\ufeff")
    rows = list(csv.reader(io.StringIO(raw[1:]), delimiter=";"))
    assert rows[0][:2] == ["Tidspunkt", "Hvem"] and len(rows) - 1 == shown >= 2
    assert {r[3] for r in rows[1:]} == {"Jonas Berg"}
