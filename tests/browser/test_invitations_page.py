"""Inviting from the plan page in a real browser (issue 12): Kari fills the "Inviter" form by
keyboard, the e-mail arrives at a real SMTP server (aiosmtpd), and the invited person follows
its link in a fresh browser, chooses a password (a weak one first: an alert says why) and
lands in the plan."""

from __future__ import annotations

import re
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from server.settings import Settings
from tests.browser.helpers import READY
from tests.support.mail import Inbox, mail_settings
from tests.support.waiting import wait_for
from tests.support.world import World

if TYPE_CHECKING:
    from tests.browser.conftest import Browsing

pytestmark = pytest.mark.asyncio(loop_scope="module")

INVITEE = ("aase.verge@eksempelvik.test", "Åse Ødegård")
CHOSEN = "Lange tur i fjellet 🏔️ æøå"


@pytest.fixture
def settings(tmp_path: Path, inbox: Inbox) -> Settings:
    return mail_settings(tmp_path, inbox)


async def test_invite_by_keyboard_and_join_from_the_email(
    browse: Browsing, world: World, inbox: Inbox
) -> None:
    handler = inbox
    # Links are written on SAMPLAN_PUBLIC_URL: here, the port the server got.
    browse.server.services.settings.public_url = browse.base
    kari = await browse.user("koordinator")
    keyboard = kari.keyboard
    await kari.get_by_label("E-post", exact=True).focus()
    await keyboard.type(INVITEE[0])
    await keyboard.press("Tab")
    await keyboard.type(INVITEE[1])
    await keyboard.press("Tab")  # the role: one up from "Deltaker" is "Verge"
    await keyboard.press("ArrowUp")
    assert await kari.get_by_test_id("invite-role").input_value() == "verge"
    await keyboard.press("Tab")
    await keyboard.type("Familien 👪")
    await keyboard.press("Tab")
    await keyboard.type("Følger opp skole og fritid")
    await keyboard.press("Tab")
    await keyboard.press("Enter")
    await kari.wait_for_url(re.compile(r"invited=1"))
    await kari.locator(READY).wait_for(state="attached")
    status = kari.get_by_test_id("invite-status")
    await status.filter(has_text="Invitasjonen er sendt.").wait_for()
    pending = kari.get_by_test_id("pending-invitations")
    await pending.filter(has_text=INVITEE[1]).wait_for()
    assert "Verge" in (await pending.text_content() or "")

    await wait_for(lambda: bool(handler.to(INVITEE[0])), timeout=20, what="the invitation e-mail")
    body = handler.to(INVITEE[0])[0].get_content()
    assert "Åse" not in body and "Jonas" not in body
    match = re.search(re.escape(browse.base) + r"/invitation/[A-Za-z0-9_-]{43}", body)
    assert match, body

    aase = await browse.new_page("invitee")  # a fresh browser context: nobody signed in
    await aase.goto(match.group(0))
    assert await aase.get_by_test_id("invitation-name").input_value() == INVITEE[1]
    await aase.get_by_label("Velg passord").focus()
    await aase.keyboard.type("kort")
    await aase.keyboard.press("Tab")  # past the hint to the second field
    await aase.keyboard.type("kort")
    await aase.keyboard.press("Enter")
    alert = aase.get_by_role("alert")
    await alert.wait_for()
    assert "for kort" in (await alert.text_content() or "")

    await aase.get_by_label("Velg passord").fill(CHOSEN)
    await aase.get_by_label("Skriv passordet en gang til").fill(CHOSEN)
    await aase.get_by_label("Skriv passordet en gang til").press("Enter")
    await aase.wait_for_url(f"{browse.base}/plans/{world.plan_id}")
    await aase.locator(READY).wait_for(state="attached")
    members = aase.get_by_test_id("section-members")
    await members.filter(has_text=INVITEE[1]).wait_for()
    assert "Familien 👪" in (await members.text_content() or "")

    # The link is spent: opening it again says so.
    await aase.goto(match.group(0))
    assert "bare brukes én gang" in (await aase.get_by_role("alert").text_content() or "")


async def test_invitation_pages_have_no_serious_axe_violations(
    browse: Browsing, world: World, inbox: Inbox
) -> None:
    from tests.browser.helpers import log_in
    from tests.browser.test_plan_page import HAVE_AXE, axe_violations
    from tests.conftest import skip_or_fail
    from tests.support.world import ROLE_USERS

    if not HAVE_AXE:
        skip_or_fail("axe-core is missing: run `npm ci` in tests/interop")
    handler = inbox
    browse.server.services.settings.public_url = browse.base
    page = await browse.new_page("axe", bypass_csp=True)  # the CSP would block axe's script
    await log_in(page, browse.base, ROLE_USERS["koordinator"][0])
    await page.goto(f"{browse.base}/plans/{world.plan_id}")
    await page.locator(READY).wait_for(state="attached")
    await page.get_by_test_id("invite-email").fill(INVITEE[0])
    await page.get_by_test_id("invite-name").fill(INVITEE[1])
    await page.get_by_test_id("invite-submit").click()
    await page.wait_for_url(re.compile(r"invited=1"))
    await page.locator(READY).wait_for(state="attached")
    serious = {"plan with a pending invitation": await axe_violations(page, "plan")}
    await page.get_by_test_id("invite-email").fill("ikke en adresse 🙃")
    await page.get_by_test_id("invite-name").fill(INVITEE[1])
    await page.get_by_test_id("invite-email").evaluate("e => { e.type = 'text' }")
    await page.get_by_test_id("invite-submit").click()
    await page.get_by_test_id("invite-errors").wait_for()
    serious["invite refused"] = await axe_violations(page, "invite refused")

    await wait_for(lambda: bool(handler.to(INVITEE[0])), timeout=20, what="the invitation e-mail")
    match = re.search(
        r"http\S+/invitation/[A-Za-z0-9_-]{43}", handler.to(INVITEE[0])[0].get_content()
    )
    assert match
    invitee = await browse.new_page("axe-invitee", bypass_csp=True)
    await invitee.goto(match.group(0))
    serious["invitation"] = await axe_violations(invitee, "invitation")
    await invitee.get_by_label("Velg passord").fill("kort")
    await invitee.get_by_label("Skriv passordet en gang til").fill("kort")
    await invitee.get_by_test_id("invitation-create").click()
    await invitee.get_by_test_id("invitation-error").wait_for()
    serious["invitation refused"] = await axe_violations(invitee, "invitation refused")
    assert not any(serious.values()), serious
