"""The KE's plan templates and the public statements in a real browser (issue 14): a KE
administrator makes a template with two life areas by keyboard, starts a plan from it on the
KE's start page and hands it to Kari; the plan's areas are the template's (with the hint and
the sub-headings as goals in Kari's editor). Then the KE changes the template, and the plan
stays as it was. The footer's links reach both statements. axe on every page."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import TYPE_CHECKING, Any

import pytest

from server.core.clock import today_oslo
from tests.browser.helpers import PASSWORD, log_in, wait_until
from tests.browser.test_ke_admin_page import ADMIN, KARI, _add_coordinator, _rows, _type, samplan
from tests.browser.test_plan_page import HAVE_AXE, axe_violations
from tests.support.live import LiveServer
from tests.support.world import World

if TYPE_CHECKING:
    from playwright.async_api import Page

    from tests.browser.conftest import Browsing

pytestmark = pytest.mark.asyncio(loop_scope="module")

SCHOOL = ("Skole og læring 📚", "Hvordan har du det på skolen, Åse?", ["Trivsel 😊", "Læring"])
LEISURE = "Fritid og venner ⚽"


def _areas(server: LiveServer, plan_id: str) -> list[tuple[Any, ...]]:
    return _rows(
        server,
        "SELECT key, title, hint FROM zones WHERE plan_id = ? AND kind = 'area' ORDER BY position",
        plan_id,
    )


async def _press(page: Page, testid: str) -> None:
    await page.get_by_test_id(testid).focus()
    await page.keyboard.press("Enter")


async def test_a_ke_admin_starts_a_plan_from_a_template(browse: Browsing, world: World) -> None:
    server = browse.server
    municipality = int(
        (await samplan(server, "municipality", "add", "Eksempelvik kommune")).strip()
    )
    await samplan(server, "user", "add", "--email", ADMIN[0], "--name", ADMIN[1], stdin=PASSWORD)
    await samplan(
        server, "municipality", "add-admin", "--municipality", "Eksempelvik kommune",
        "--email", ADMIN[0],
    )  # fmt: skip
    base = f"{browse.base}/ke/{municipality}"
    ke = await browse.new_page("ke-templates", bypass_csp=True)  # bypass: axe below
    await log_in(ke, browse.base, ADMIN[0])
    await ke.goto(f"{base}/coordinators")
    await _add_coordinator(ke, KARI[0])

    # The template, by keyboard from the KE's navigation.
    await _press(ke, "ke-nav-templates")
    await (
        ke.get_by_test_id("ke-templates").or_(ke.get_by_test_id("ke-template-new")).first.wait_for()
    )
    if HAVE_AXE:
        assert await axe_violations(ke, "the KE's templates (none)") == []
    await _press(ke, "ke-template-new")
    await ke.get_by_test_id("ke-template-form").wait_for()
    await _type(ke, "Navn på malen", "Mal for skolebarn 🎒 Ærlig")
    await ke.get_by_test_id("ke-area-name-0").focus()
    await ke.keyboard.type(SCHOOL[0])
    await ke.keyboard.press("Tab")
    await ke.keyboard.type(SCHOOL[1])
    await ke.keyboard.press("Tab")
    await ke.keyboard.type(SCHOOL[2][0])
    await ke.keyboard.press("Enter")
    await ke.keyboard.type(SCHOOL[2][1])
    await ke.get_by_test_id("ke-area-name-1").focus()
    await ke.keyboard.type(LEISURE)
    await ke.get_by_test_id("ke-template-about_me").focus()
    await ke.keyboard.type("Fortell om deg selv med egne ord. 🌻")
    if HAVE_AXE:
        assert await axe_violations(ke, "a new template") == []
    await _press(ke, "ke-template-save")
    await ke.get_by_test_id("ke-done").wait_for()
    listed = await ke.get_by_test_id("ke-templates").text_content() or ""
    assert "Mal for skolebarn 🎒 Ærlig" in listed and LEISURE in listed
    if HAVE_AXE:
        assert await axe_violations(ke, "the KE's templates") == []

    # Start a plan from it and hand it to Kari.
    await _press(ke, "ke-nav-start")
    await ke.get_by_test_id("template-choice").wait_for()
    await ke.get_by_test_id("template-select").select_option(label="Mal for skolebarn 🎒 Ærlig")
    await _press(ke, "template-use")
    await wait_until(
        ke, "() => document.querySelector('#area-title-1')?.value === " + repr(LEISURE)
    )
    assert await ke.locator("#area-title-0").input_value() == SCHOOL[0]
    assert await ke.locator("#area-0").is_checked() and await ke.locator("#area-1").is_checked()
    assert SCHOOL[1] in (await ke.locator("#area-hint-0").text_content() or "")
    today = today_oslo()
    await _type(ke, "Navn", "Åse Ødegård 🌻")
    await _type(ke, "Fødselsdato", "14.03.2009")
    await _type(ke, "Planperioden starter", today.strftime("%d.%m.%Y"))
    await _type(ke, "Planperioden slutter", (today + timedelta(days=365)).strftime("%d.%m.%Y"))
    await _type(ke, "Første revisjon", (today + timedelta(days=90)).strftime("%d.%m.%Y"))
    await ke.get_by_test_id("ke-start-koordinator").select_option(label=KARI[1])
    if HAVE_AXE:
        assert await axe_violations(ke, "the KE's plan start from a template") == []
    await _press(ke, "start-submit")
    await ke.get_by_test_id("ke-done").wait_for()
    match = re.search(rf"/ke/{municipality}/plans/([0-9a-f-]{{36}})/koordinator", ke.url)
    assert match
    plan_id = match.group(1)
    areas = _areas(server, plan_id)
    assert [(title, hint) for _key, title, hint in areas] == [
        (SCHOOL[0], SCHOOL[1]),
        (LEISURE, None),
    ]

    # Kari's editor: the areas, the hint under the first, its sub-headings as goals.
    kari = await browse.user("koordinator", plan=False)
    await kari.goto(f"{browse.base}/plans/{plan_id}")
    school_key = areas[0][0]
    hint = kari.get_by_test_id(f"area-hint-{school_key}")
    await hint.wait_for()
    assert (await hint.text_content() or "").strip() == SCHOOL[1]
    section = kari.get_by_test_id(f"area-{school_key}")
    await wait_until(
        kari,
        "() => [...document.querySelectorAll('[data-testid=area-" + school_key + "] textarea,"
        " [data-testid=area-" + school_key + "] input')].map(e => e.value).join('|')"
        ".includes('Læring')",
    )
    assert SCHOOL[0] in (await section.locator("h2").text_content() or "")

    # The KE changes the template: the plan keeps what it was started with.
    await ke.goto(f"{base}/templates")
    edit = ke.locator("[data-testid^=ke-template-edit-]").first
    await edit.focus()
    await ke.keyboard.press("Enter")
    await ke.get_by_test_id("ke-template-form").wait_for()
    if HAVE_AXE:
        assert await axe_violations(ke, "a template's editor") == []
    await ke.get_by_test_id("ke-area-name-0").fill("Skole 🏫 (ny)")
    await ke.get_by_test_id("ke-area-hint-0").fill("Ny veiledning ✏️")
    await ke.get_by_test_id("ke-area-remove-1").check()
    await _press(ke, "ke-template-save")
    await ke.get_by_test_id("ke-done").wait_for()
    assert "Skole 🏫 (ny)" in (await ke.get_by_test_id("ke-templates").text_content() or "")
    assert _areas(server, plan_id) == areas
    await kari.reload()
    await kari.get_by_test_id(f"area-hint-{school_key}").wait_for()
    assert SCHOOL[0] in (
        await kari.get_by_test_id(f"area-{school_key}").locator("h2").text_content() or ""
    )

    # The footer reaches both statements (the default text: the KE has written none).
    for testid, title in (
        ("footer-tilgjengelighet", "Tilgjengelighetserklæring"),
        ("footer-personvern", "Personvernerklæring"),
    ):
        await ke.goto(f"{base}/templates")
        await _press(ke, testid)
        await wait_until(
            ke, f"() => document.querySelector('h1')?.textContent.trim() === {title!r}"
        )
        assert f"kommune={municipality}" in ke.url
        assert "Eksempelvik kommune" in (
            await ke.get_by_test_id("statement-municipality").text_content() or ""
        )
        if HAVE_AXE:
            assert await axe_violations(ke, title) == []
