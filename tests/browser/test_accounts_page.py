"""'Glemt passord' in a real browser, by keyboard only: the link on the log-in page, the
e-mail (a real SMTP server, aiosmtpd), the link in it, a weak password refused with a clear
message, then a good one, and the person is logged in; the pages pass axe. Then "Min konto"
from the header changes the name."""

from __future__ import annotations

import re
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from server.settings import Settings
from tests.browser.helpers import PlanContent, wait_until
from tests.browser.test_plan_page import HAVE_AXE, axe_violations, tab_to
from tests.support.mail import Inbox, mail_settings
from tests.support.waiting import wait_for
from tests.support.world import ROLE_USERS

if TYPE_CHECKING:
    from tests.browser.conftest import Browsing

pytestmark = pytest.mark.asyncio(loop_scope="module")

PUBLIC_PATH = re.compile(r"https://samplan\.eksempelvik\.test(/login/reset\?token=[A-Za-z0-9_\-]+)")
NEW_PASSWORD = "Sommer på Sørlandet 🌊 æøå"


@pytest.fixture
def settings(tmp_path: Path, inbox: Inbox) -> Settings:
    return mail_settings(tmp_path, inbox)


async def test_forgot_password_by_keyboard_then_logged_in(
    browse: Browsing, plan: PlanContent, inbox: Inbox
) -> None:
    handler = inbox
    email, name = ROLE_USERS["deltaker"]
    page = await browse.new_page("glemt", bypass_csp=True)  # bypass: axe below
    await page.goto(f"{browse.base}/login")
    await tab_to(page, '[data-testid="login-forgot"]')
    await page.keyboard.press("Enter")
    await page.wait_for_url(f"{browse.base}/login/forgot")
    # autofocus lands when the browser next renders, which can be after "load"
    await wait_until(page, "() => document.activeElement.id === 'forgot-email'")
    if HAVE_AXE:
        assert await axe_violations(page, "glemt passord") == []
    await page.keyboard.type(email)
    await page.keyboard.press("Enter")
    await page.get_by_test_id("forgot-sent").wait_for()

    await wait_for(lambda: bool(handler.to(email)), timeout=30, what="the reset e-mail")
    link = PUBLIC_PATH.search(handler.to(email)[0].get_content())
    assert link, "the e-mail has the link"
    await page.goto(f"{browse.base}{link.group(1)}")
    # autofocus lands when the browser next renders, which can be after "load"
    await wait_until(page, "() => document.activeElement.id === 'reset-password'")
    await page.keyboard.type("for kort")
    await tab_to(page, "#reset-password2")
    await page.keyboard.type("for kort")
    await page.keyboard.press("Enter")
    error = page.get_by_test_id("reset-error")
    await error.wait_for()
    assert await error.get_attribute("role") == "alert"
    assert "minst 10 tegn" in (await error.inner_text())
    assert await page.get_by_test_id("reset-password").get_attribute("aria-invalid") == "true"
    if HAVE_AXE:
        assert await axe_violations(page, "nytt passord") == []

    # autofocus lands when the browser next renders, which can be after "load"
    await wait_until(page, "() => document.activeElement.id === 'reset-password'")
    await page.keyboard.type(NEW_PASSWORD)
    await tab_to(page, "#reset-password2")
    await page.keyboard.type(NEW_PASSWORD)
    await page.keyboard.press("Enter")
    await page.wait_for_url(f"{browse.base}/plans")
    assert name in await page.locator(".who").inner_text()

    # "Min konto" from the header, by keyboard: a new name with æøå and an emoji.
    await tab_to(page, '[data-testid="account-link"]')
    await page.keyboard.press("Enter")
    await page.wait_for_url(f"{browse.base}/account")
    if HAVE_AXE:
        assert await axe_violations(page, "min konto") == []
    await tab_to(page, '[data-testid="account-name"]')
    await page.keyboard.press("Control+A")
    await page.keyboard.type("Åse Ødegård 🌻")
    await page.keyboard.press("Enter")
    await page.get_by_test_id("account-saved").wait_for()
    assert "Åse Ødegård 🌻" in await page.locator(".who").inner_text()
