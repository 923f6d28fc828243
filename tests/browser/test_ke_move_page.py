"""Moving a plan to another municipality in a real browser (issue 14), by keyboard only.

Åse, the KE administrator of Eksempelvik, goes from the plan's KE page to the move form and
first sends it without the person's consent: the error summary (role="alert") gets focus, the
consent's fields are aria-invalid, and nothing changed. She records Jonas's oral consent and
moves the plan to Trondheim; her "Flyttede planer" lists it by initials and short id. Bjørn,
Trondheim's KE, sees it on his overview as moved in, from where and when, opens it and
appoints Siri its koordinator. axe (the WCAG 2.1 A and AA rules) finds nothing on the form,
the form with errors, or the list.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

import pytest

from server.core.clock import today_oslo
from tests.browser.helpers import AXE_JS, log_in, wait_until
from tests.browser.test_plan_page import HAVE_AXE, tab_to
from tests.conftest import skip_or_fail
from tests.support.passwords import hash_password
from tests.support.web import PASSWORD

if TYPE_CHECKING:
    from playwright.async_api import Page

    from tests.browser.conftest import Browsing
    from tests.support.world import World

pytestmark = pytest.mark.asyncio(loop_scope="module")
log = logging.getLogger("tests.browser")

AASE = ("aase.ke@eksempelvik.test", "Åse Ødegård 🌼")
BJORN = ("bjorn.ke@trondheim.test", "Bjørn Ærø")
SIRI = ("siri.aas@trondheim.test", "Siri Åsheim 🧭")
TRONDHEIM = "Trondheim kommune"
VAAGAA = "Vågå kommune ⛰"
TITLE = "Individuell plan for Jonas Berg"

# Every rule axe tags as WCAG 2.0/2.1 level A or AA; any violation, whatever its impact.
AXE_WCAG_JS = """async () => {
  const tags = ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa']
  const result = await axe.run(document, { runOnly: { type: 'tag', values: tags } })
  return {
    rules: result.passes.length + result.violations.length + result.incomplete.length,
    incomplete: result.incomplete.map((v) => v.id),
    violations: result.violations.map((v) => ({
      id: v.id, impact: v.impact, help: v.help,
      nodes: v.nodes.slice(0, 5).map((n) => n.target.join(' '))
    }))
  }
}"""


async def wcag_violations(page: Page, name: str) -> list[dict[str, Any]]:
    """axe's WCAG 2.1 A/AA violations on the page as it is (the script injected as the other
    browser tests do it, in a context that bypasses the CSP)."""
    await page.add_script_tag(path=str(AXE_JS))
    result = await page.evaluate(AXE_WCAG_JS)
    violations: list[dict[str, Any]] = result["violations"]
    log.info(
        "axe WCAG 2.1 AA %s: %d rules, %d violations, left for a person to check: %s",
        name,
        result["rules"],
        len(violations),
        result["incomplete"],
    )
    assert result["rules"] > 20, f"axe did not really run on {name}"
    for v in violations:
        log.warning("axe %s: %s %s – %s at %s", name, v["impact"], v["id"], v["help"], v["nodes"])
    return violations


async def _focused(page: Page, selector: str) -> None:
    await wait_until(page, "(s) => document.activeElement?.matches(s) ?? false", selector)


async def test_the_ke_moves_a_plan_by_keyboard_and_the_receiving_ke_appoints(
    browse: Browsing, world: World
) -> None:
    if not HAVE_AXE:
        skip_or_fail(f"{AXE_JS} is missing: run `npm ci` in tests/interop")
    repos = browse.server.services.repos
    plan = world.plan_id
    a = await repos.municipalities.of_plan(plan)
    assert a is not None
    b = (await repos.municipalities.ensure(TRONDHEIM)).id
    await repos.municipalities.ensure(VAAGAA)
    secret = hash_password(PASSWORD)
    ids = {}
    for email, name in (AASE, BJORN, SIRI):
        user = await repos.users.create(email, name)
        await repos.users.set_password_hash(user.id, secret)
        ids[email] = user.id
    await repos.municipalities.add_admin(a, ids[AASE[0]], granted_by=None)
    await repos.municipalities.add_admin(b, ids[BJORN[0]], granted_by=None)
    await repos.coordinators.put(b, ids[SIRI[0]], None, added_by=None)

    aase = await browse.new_page("ke-a", bypass_csp=True)  # bypass: axe's script
    await log_in(aase, browse.base, AASE[0])
    await aase.goto(f"{browse.base}/ke/{a}/plans/{plan}/koordinator")
    await tab_to(aase, '[data-testid="ke-plan-move-link"]')
    await aase.keyboard.press("Enter")
    await aase.wait_for_url(f"{browse.base}/ke/{a}/plans/{plan}/move")
    form = await aase.locator("main").inner_text()
    assert "J. B." in form and plan[:8] in form and TITLE not in form
    assert await wcag_violations(aase, "move form") == []

    # Without the person's consent: the receiving municipality and the tick only.
    await tab_to(aase, "#f-to")
    await aase.keyboard.type("Trond")
    assert await aase.locator("#f-to").input_value() == str(b)
    await tab_to(aase, "#f-confirm")
    await aase.keyboard.press("Space")
    await tab_to(aase, '[data-testid="ke-move-submit"]')
    await aase.keyboard.press("Enter")
    summary = aase.get_by_test_id("ke-move-errors")
    await summary.wait_for()
    await _focused(aase, "#ke-move-errors")
    assert await summary.get_attribute("role") == "alert"
    said = await summary.inner_text()
    assert "Planen er ikke flyttet, ingenting er endret." in said
    assert "Personens samtykke til flyttingen må registreres" in said
    for field in ("#f-giver", "#f-method", "#f-given_on"):
        assert await aase.locator(field).get_attribute("aria-invalid") == "true", field
    assert await aase.locator("#f-to").get_attribute("aria-invalid") is None
    assert await aase.locator("#f-to").input_value() == str(b)  # kept
    assert await repos.municipalities.of_plan(plan) == a
    assert await repos.moves.moved_out(a) == []
    assert await wcag_violations(aase, "move form with errors") == []

    # The summary's links lead to a control of each field, focused (not only scrolled to).
    await tab_to(aase, '#ke-move-errors a[href="#f-given_on"]')
    await aase.keyboard.press("Enter")
    await _focused(aase, "#f-given_on")
    await tab_to(aase, '#ke-move-errors a[href^="#f-giver"]')
    await aase.keyboard.press("Enter")
    await _focused(aase, "#f-giver-planeier")

    # The consent: Jonas himself, orally, today; then the move.
    await aase.keyboard.press("Space")
    await tab_to(aase, "#f-method-oral")
    await aase.keyboard.press("Space")
    await tab_to(aase, "#f-given_on")
    await aase.keyboard.type(today_oslo().strftime("%d.%m.%Y"))
    await tab_to(aase, "#f-confirm")
    await aase.keyboard.press("Space")
    await tab_to(aase, '[data-testid="ke-move-submit"]')
    await aase.keyboard.press("Enter")
    await aase.wait_for_url(f"{browse.base}/ke/{a}/moves?done=planMoved")
    row = aase.locator(f'[data-testid="ke-move-row"][data-plan="{plan}"]')
    await row.wait_for()
    text = await row.inner_text()
    assert "J. B." in text and plan[:8] in text and TRONDHEIM in text and AASE[1] in text
    assert "Personen selv (Jonas Berg), muntlig" in text
    assert TITLE not in await aase.locator("main").inner_text()
    assert await wcag_violations(aase, "Flyttede planer") == []
    assert await repos.municipalities.of_plan(plan) == b

    # Trondheim's KE: the plan is flagged, with where it came from; he appoints Siri.
    bjorn = await browse.new_page("ke-b")
    await log_in(bjorn, browse.base, BJORN[0])
    await bjorn.goto(f"{browse.base}/ke/{b}")
    flagged = bjorn.locator(f'[data-testid="ke-row"][data-plan="{plan}"]')
    await flagged.wait_for()
    text = await flagged.inner_text()
    day = today_oslo().strftime("%d.%m.%Y")
    assert "Flyttet inn: koordinator må oppnevnes" in text
    assert f"Flyttet inn fra Eksempelvik kommune {day}" in text
    await tab_to(bjorn, f'a[href="/ke/{b}/plans/{plan}/koordinator"]')
    await bjorn.keyboard.press("Enter")
    await bjorn.wait_for_url(f"{browse.base}/ke/{b}/plans/{plan}/koordinator")
    note = await bjorn.get_by_test_id("ke-plan-moved-in").inner_text()
    assert f"Flyttet inn fra Eksempelvik kommune {day}" in note
    await tab_to(bjorn, "#ke-appoint-to")
    await bjorn.keyboard.type("Siri")
    assert await bjorn.locator("#ke-appoint-to").input_value() == str(ids[SIRI[0]])
    await tab_to(bjorn, '[data-testid="ke-appoint-submit"]')
    await bjorn.keyboard.press("Enter")
    await bjorn.wait_for_url(lambda url: "/koordinator" in url and "done=" in url)
    await bjorn.goto(f"{browse.base}/ke/{b}")
    text = await flagged.inner_text()
    assert SIRI[1] in text and "Flyttet inn" not in text
