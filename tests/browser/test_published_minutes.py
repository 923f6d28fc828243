"""Published minutes reach an open plan page without a reload (issue 5, "Done when" 1): a
deltaker's plan page is open in Chromium, the koordinator publishes over HTTP, and the
"Publiserte referater" section shows the new version. The delay is logged, never asserted."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

import pytest

from crdt.schema import GOALS, get_root, set_fields
from tests.browser.helpers import ARTIFACTS, log_latency, wait_until
from tests.support.world import MEETING, World
from tests.test_published import MINUTES, _write, as_user, publish_url, write_minutes

if TYPE_CHECKING:
    from tests.browser.conftest import Browsing
    from tests.support.live import LiveServer

pytestmark = pytest.mark.asyncio(loop_scope="module")

LISTED = """(meeting) => {
  const row = document.querySelector(`[data-testid="published-${CSS.escape(meeting)}"]`)
  return row !== null && row.dataset.version === '1'
}"""


async def test_a_deltaker_sees_published_minutes_without_a_reload(
    browse: Browsing, server: LiveServer, world: World
) -> None:
    page = await browse.user("deltaker")
    await page.wait_for_function("document.body.dataset.events === 'open'")
    assert await page.locator('[data-testid="published-none"]').count() == 1
    # Mark the document: a reload would lose the mark.
    await page.evaluate("window.__samplanNoReload = 'æøå 🫐'")
    await write_minutes(server, world, _write(MINUTES))
    async with as_user(server, "koordinator") as (http, csrf):
        started = time.perf_counter()
        response = await http.post(publish_url(world), data={"csrf_token": csrf})
        assert response.status_code == 303, response.text
        await wait_until(page, LISTED, MEETING)
        log_latency("published minutes shown on a deltaker's page", started)
    assert await page.evaluate("window.__samplanNoReload") == "æøå 🫐"
    row = page.locator(f'[data-testid="published-{MEETING}"]')
    assert "Ansvarsgruppemøte 15.01.2026" in await row.inner_text()
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    await page.locator("#plan-published").screenshot(path=ARTIFACTS / "published-section.png")
    announced = await page.locator("#published-announce").text_content()
    assert announced == "Et nytt referat er publisert."
    # The link opens the frozen text.
    await row.locator("a").click()
    await page.wait_for_selector('[data-testid="published-minutes"]')
    assert "Leksehjelp to dager i uka ✅" in await page.content()
    await page.screenshot(path=ARTIFACTS / "published-minutes.png", full_page=True)


async def test_the_koordinator_views_an_old_version_and_restores_it(
    browse: Browsing, server: LiveServer, world: World
) -> None:
    """The version pages in the browser: history, an old version with what changed, restore."""
    kari = await browse.user("koordinator")
    await kari.goto(f"{browse.base}/plans/{world.plan_id}/versions")
    await kari.get_by_label("Navn på versjonen").fill("Før endringen æøå 🫐")
    await kari.get_by_role("button", name="Lagre versjon").click()
    await kari.wait_for_selector('[data-testid="version-page"]')
    version_url = kari.url

    def retitle(doc: Any) -> None:
        goals = get_root(doc, "area", GOALS)
        item = goals[0]
        set_fields(item, {"title": "Ny tittel på målet ✅"})

    await server.services.registry.edit(world.zones["area/skole"], retitle, "area", actor=None)
    await kari.goto(version_url)
    changed = kari.locator('[data-testid="changes"] li[data-change="changed"]')
    assert await changed.count() == 1
    assert "Ny tittel på målet ✅" in await changed.inner_text()
    await kari.screenshot(path=ARTIFACTS / "plan-version.png", full_page=True)
    await kari.get_by_test_id("restore").click()
    await kari.wait_for_selector('[data-testid="restored"]')
    await kari.screenshot(path=ARTIFACTS / "plan-versions.png", full_page=True)
    await kari.goto(version_url)
    assert await kari.locator('[data-testid="changes"] li').count() == 0
