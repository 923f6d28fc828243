"""The ansvarsgruppe section in a real browser, by keyboard alone: a member writes their own
contribution, the koordinator edits someone's and hands the koordinator role over."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

import pytest

from tests.browser.helpers import open_plan
from tests.support.world import World

if TYPE_CHECKING:
    from playwright.async_api import Page

    from tests.browser.conftest import Browsing

pytestmark = pytest.mark.asyncio(loop_scope="module")
log = logging.getLogger("tests.browser")

OWN = "Jeg følger opp leksene på onsdager 📚 – «også i ferien»"
BY_KARI = "Kontaktlærer: tilrettelegging på skolen og rapport hjem ✏️"


async def _focused_testid(page: Page) -> str | None:
    value = await page.evaluate("() => document.activeElement?.dataset?.testid ?? null")
    return str(value) if value is not None else None


async def test_contribution_and_handover_by_keyboard(browse: Browsing, world: World) -> None:
    aase_id, kari_id = world.users["deltaker"], world.users["koordinator"]
    services = browse.server.services
    # As a leser after the handover Kari needs consent like any leser.
    await services.consents.give(world.plan_id, kari_id, "all", None, world.users["planeier"])

    # Åse writes her own contribution: field, Tab to "Lagre", Enter.
    aase = await browse.user("deltaker")
    own = aase.get_by_label("Hva jeg bidrar med")
    await own.focus()
    await aase.keyboard.type(OWN)
    await aase.keyboard.press("Tab")
    assert await _focused_testid(aase) == f"member-save-{aase_id}"
    await aase.keyboard.press("Enter")
    await aase.get_by_test_id(f"member-contribution-{aase_id}").wait_for()
    assert OWN in (await aase.get_by_test_id(f"member-contribution-{aase_id}").inner_text())
    by = await aase.get_by_test_id(f"member-contribution-by-{aase_id}").inner_text()
    assert "Sist endret av Åse Ødegård" in by

    # Kari opens "Endre" for Åse with the keyboard and rewrites the contribution.
    kari = await browse.user("koordinator")
    await kari.get_by_test_id(f"member-edit-{aase_id}").focus()
    await kari.keyboard.press("Enter")  # opens the <details>
    field = kari.get_by_test_id(f"member-contribution-input-{aase_id}")
    await field.wait_for(state="visible")
    await kari.get_by_test_id(f"member-unit-input-{aase_id}").focus()
    await kari.keyboard.press("Tab")
    assert await _focused_testid(kari) == f"member-contribution-input-{aase_id}"
    await kari.keyboard.press("Control+A")
    await kari.keyboard.type(BY_KARI)
    await kari.keyboard.press("Tab")
    assert await _focused_testid(kari) == f"member-save-{aase_id}"
    await kari.keyboard.press("Enter")
    await kari.wait_for_url(f"**/plans/{world.plan_id}#member-{aase_id}")
    contribution = kari.get_by_test_id(f"member-contribution-{aase_id}")
    await contribution.wait_for()
    assert BY_KARI in await contribution.inner_text()
    by = await kari.get_by_test_id(f"member-contribution-by-{aase_id}").inner_text()
    assert "Sist endret av Kari Nilsen" in by

    # Kari hands the koordinator role to Åse and stays as a leser: keyboard only.
    form = kari.get_by_test_id("handover-form")
    await form.scroll_into_view_if_needed()
    await kari.get_by_test_id("handover-to").focus()
    await kari.get_by_test_id("handover-to").select_option(str(aase_id))
    await kari.get_by_test_id("handover-then-deltaker").focus()
    await kari.keyboard.press("ArrowDown")  # the next radio: "Jeg blir leser"
    assert await kari.get_by_test_id("handover-then-leser").is_checked()
    await kari.keyboard.press("Tab")
    assert await _focused_testid(kari) == "handover-submit"
    await kari.keyboard.press("Enter")
    await kari.wait_for_url(f"**/plans/{world.plan_id}#plan-members")
    await kari.get_by_test_id(f"member-{kari_id}").wait_for()
    assert await kari.get_by_test_id("handover-form").count() == 0
    assert "Leser" in await kari.get_by_test_id(f"member-role-{kari_id}").inner_text()

    # Åse's page, reloaded, offers her the koordinator's forms.
    await open_plan(aase, browse.base, world.plan_id)
    assert "Koordinator" in await aase.get_by_test_id(f"member-role-{aase_id}").inner_text()
    await aase.get_by_test_id("handover-form").wait_for()
    new = await services.plans.get_membership(world.plan_id, aase_id)
    assert new is not None and new.role == "koordinator"
