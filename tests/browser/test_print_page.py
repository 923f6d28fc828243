"""Print and download from the plan page in a real browser: the koordinator publishes the
minutes, follows "Skriv ut" to a page (with the published minutes) axe finds no serious
problem with and whose toolbar never prints, and "Last ned PDF" downloads a PDF/A; a deltaker
sees no such links."""

from __future__ import annotations

import functools
import logging
from typing import TYPE_CHECKING

import pytest
from pypdf import PdfReader

from crdt.schema import write_zone
from tests.browser.helpers import AXE_JS, PlanContent
from tests.browser.test_plan_page import axe_violations
from tests.conftest import skip_or_fail
from tests.support.world import MEETING, World
from tests.test_published import MINUTES

if TYPE_CHECKING:
    from tests.browser.conftest import Browsing

pytestmark = pytest.mark.asyncio(loop_scope="module")
log = logging.getLogger("tests.browser")


async def test_print_page_from_the_plan_page_and_pdf_download(
    browse: Browsing, plan: PlanContent, world: World
) -> None:
    if not AXE_JS.exists():
        skip_or_fail(f"{AXE_JS} is missing: run `npm ci` in tests/interop")
    zone = world.zones[f"minutes/{MEETING}"]
    edit = functools.partial(browse.server.services.registry.edit, actor=None)
    await edit(zone, lambda doc: write_zone(doc, "minutes", MINUTES), "minutes")
    page = await browse.user("koordinator", bypass_csp=True)  # the CSP would block axe's script
    await page.get_by_test_id(f"publish-{MEETING}").get_by_role("button").click()
    await page.get_by_test_id("published-minutes").wait_for()
    await page.go_back()
    await page.get_by_role("link", name="Skriv ut").click()
    await page.wait_for_url(f"{browse.base}/plans/{world.plan_id}/print")
    assert await page.locator("h1").inner_text() == "Individuell plan for Jonas Berg"
    assert await page.get_by_role("heading", name="Skole og læring", exact=True).is_visible()
    minutes = page.get_by_role("region", name="Publiserte referater")
    assert await minutes.get_by_text("Vedtak: Leksehjelp to dager i uka ✅").is_visible()
    assert not await axe_violations(page, "print")
    toolbar = page.get_by_role("navigation", name="Skriv ut og last ned")
    assert await toolbar.is_visible()
    await page.emulate_media(media="print")
    assert not await toolbar.is_visible()  # on paper: only the plan
    await page.emulate_media(media="screen")
    async with page.expect_download() as info:
        await toolbar.get_by_role("link", name="Last ned PDF").click()
    download = await info.value
    path = await download.path()
    assert download.suggested_filename.endswith(".pdf")
    assert path is not None and path.read_bytes().startswith(b"%PDF-")
    xmp = PdfReader(path).xmp_metadata
    assert xmp is not None and b'pdfaid:part="2"' in xmp.stream.get_data()

    deltaker = await browse.user("deltaker")
    assert await deltaker.get_by_role("link", name="Skriv ut").count() == 0
    assert not browse.page_errors
