"""Issue 12, "Done when 1", start to finish in a real browser with a real SMTP server
(aiosmtpd): Kari starts a plan for Åse Ødegård (17) with two life areas, records Åse's oral
consent to the plan, and invites Åse as planeier, a new deltaker and an existing user. No
e-mail holds plan content. Åse follows her link, chooses a password and gives the deltaker
consent to one area while his invitation is still unanswered; the deltaker then follows his
link, lands directly in the plan and sees that area live, with Kari's cursor in it, and nothing
else (a socket to the other area is refused). Every link is spent. Kari hands the plan to
the existing user (invited as a deltaker) and loses the koordinator's actions; he gains them.
"""

from __future__ import annotations

import logging
import re
import time
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from server.core.clock import today_oslo
from server.settings import Settings
from tests.browser.helpers import PASSWORD, READY, log_latency, open_plan, wait_until
from tests.browser.test_plan_page import OPEN_SOCKET_JS
from tests.support.mail import Inbox, mail_settings
from tests.support.waiting import wait_for
from tests.support.world import OUTSIDER, ROLE_USERS

if TYPE_CHECKING:
    from playwright.async_api import Page

    from tests.browser.conftest import Browsing

pytestmark = pytest.mark.asyncio(loop_scope="module")
log = logging.getLogger("tests.browser")

PERSON = "Åse Ødegård"
AASE = ("aase.odegard17@eksempelvik.test", PERSON)
OYSTEIN = ("oystein.braten@eksempelvik.test", "Øystein Bråten")
OLA = OUTSIDER  # an existing account, koordinator of another plan
SHARED = "Skole og læring 🎒"  # the area Åse lets the deltaker see
SHARED_KEY = "skole-og-laering"
PRIVATE = "Psykisk helse og søvn 🌙"  # the area she does not
PRIVATE_KEY = "psykisk-helse-og-sovn"
GOAL = "Lese lengre tekster på egen hånd 📚 – æøå"
GOAL_TEXT = "Åse øver på lydbøker først 🎧"
UNIT = "Helsestasjon for ungdom 🏥"
CONTRIBUTION = "Samtaler om søvn og skole annenhver uke"
AASE_PASSWORD = "Sommerfugl på Ørnes 🦋 hver dag"
OYSTEIN_PASSWORD = "Tursti langs fjorden 🌊 æøå"
USED = "bare brukes én gang"


@pytest.fixture
def settings(tmp_path: Path, inbox: Inbox) -> Settings:
    return mail_settings(tmp_path, inbox)


async def _type_into(page: Page, label: str, text: str) -> None:
    await page.get_by_label(label, exact=True).focus()
    await page.keyboard.type(text)


async def _start_plan(kari: Page, base: str) -> str:
    """Ny plan by keyboard: Åse (17), two areas typed one per line; returns the plan id."""
    today = today_oslo()
    await kari.goto(f"{base}/plans")
    await kari.get_by_test_id("plan-new").focus()
    await kari.keyboard.press("Enter")
    await kari.get_by_test_id("start-form").wait_for()
    birth = today - timedelta(days=17 * 365 + 60)  # 17 years and some weeks
    await _type_into(kari, "Navn", PERSON)
    await _type_into(kari, "Fødselsdato", birth.strftime("%d.%m.%Y"))
    await _type_into(kari, "Planperioden starter", today.strftime("%d.%m.%Y"))
    await _type_into(
        kari, "Planperioden slutter", (today + timedelta(days=365)).strftime("%d.%m.%Y")
    )
    await _type_into(kari, "Første revisjon", (today + timedelta(days=90)).strftime("%d.%m.%Y"))
    await kari.get_by_label("Andre livsområder (ett per linje)", exact=True).focus()
    await kari.keyboard.type(SHARED)
    await kari.keyboard.press("Enter")
    await kari.keyboard.type(PRIVATE)
    await kari.get_by_test_id("start-submit").focus()
    await kari.keyboard.press("Enter")
    await kari.get_by_test_id("plan-draft").wait_for()
    await kari.locator(READY).wait_for(state="attached")
    match = re.search(r"/plans/([0-9a-f-]{36})$", kari.url)
    assert match, kari.url
    for key in (SHARED_KEY, PRIVATE_KEY):
        await kari.get_by_test_id(f"area-{key}").wait_for()
    return match.group(1)


async def _record_oral_consent(kari: Page) -> None:
    """Åse (17) said yes to Kari: the planeier is the giver, oral is the method, today."""
    form = kari.get_by_test_id("plan-consent-record")
    assert await form.locator("#pc-planeier").is_checked()
    await form.locator("#pc-oral").focus()
    await kari.keyboard.press("Space")
    await kari.get_by_test_id("plan-consent-submit").focus()
    await kari.keyboard.press("Enter")
    await kari.locator(READY).wait_for(state="attached")
    history = kari.get_by_test_id("plan-consent-history")
    await history.wait_for()
    assert PERSON in (await history.text_content() or "")
    assert await kari.get_by_test_id("plan-draft").count() == 0
    assert "Utkast" not in (await kari.get_by_test_id("plan-status").text_content() or "")


async def _invite(kari: Page, who: tuple[str, str], ups: int, unit: str, does: str) -> None:
    """The Inviter form by keyboard; `ups` presses of ArrowUp from "Deltaker" pick the role."""
    await kari.get_by_label("E-post", exact=True).focus()
    await kari.keyboard.type(who[0])
    await kari.keyboard.press("Tab")
    await kari.keyboard.type(who[1])
    await kari.keyboard.press("Tab")
    for _ in range(ups):
        await kari.keyboard.press("ArrowUp")
    await kari.keyboard.press("Tab")
    await kari.keyboard.type(unit)
    await kari.keyboard.press("Tab")
    await kari.keyboard.type(does)
    await kari.keyboard.press("Tab")
    await kari.keyboard.press("Enter")
    await kari.wait_for_url(re.compile(r"invited=1"))
    await kari.locator(READY).wait_for(state="attached")
    await kari.get_by_test_id("pending-invitations").filter(has_text=who[1]).wait_for()


def _link(handler: Inbox, base: str, to: str) -> str:
    body = handler.to(to)[0].get_content()
    match = re.search(re.escape(base) + r"/invitation/[A-Za-z0-9_-]{43}", body)
    assert match, body
    return match.group(0)


async def _choose_password(page: Page, link: str, password: str) -> None:
    await page.goto(link)
    await page.get_by_label("Velg passord").focus()
    await page.keyboard.type(password)
    await page.keyboard.press("Tab")  # past the hint to the second field
    await page.keyboard.type(password)
    await page.keyboard.press("Enter")


async def test_issue12_done_when_1_start_to_finish(browse: Browsing, inbox: Inbox) -> None:
    handler = inbox
    base = browse.base
    services = browse.server.services
    # Links are written on SAMPLAN_PUBLIC_URL: here, the port the server got.
    services.settings.public_url = base
    began = time.perf_counter()

    # -- Kari starts the plan, records the consent to it and invites three people --------
    kari = await browse.user("koordinator", plan=False)
    plan_id = await _start_plan(kari, base)
    log_latency("plan started", began)
    await _record_oral_consent(kari)
    await _invite(kari, AASE, 2, "", "Planen er min 🙂")  # Deltaker -> Verge -> Planeier
    await _invite(kari, OYSTEIN, 0, UNIT, CONTRIBUTION)
    await _invite(kari, OLA, 0, "NAV Eksempelvik", "Arbeid og aktivitet 💼")
    log_latency("plan started, consent recorded, three invited", began)

    addresses = (AASE[0], OYSTEIN[0], OLA[0])
    await wait_for(
        lambda: all(handler.to(a) for a in addresses), timeout=20, what="three invitations"
    )
    assert len(handler.messages) == 3
    # No plan content in any e-mail: no one's full name (not even a part of it), no area,
    # no plan title, nothing typed into the invitations.
    secrets = [
        PERSON,
        "Åse",
        "Ødegård",
        *OYSTEIN[1].split(),
        *OLA[1].split(),
        ROLE_USERS["koordinator"][1],
        SHARED,
        PRIVATE,
        "Skole",
        "helse",
        f"Individuell plan – {PERSON}",
        UNIT,
        CONTRIBUTION,
        "Planen er min",
        "NAV",
    ]
    for message in handler.messages:
        text = f"{message['Subject']}\n{message.get_content()}".casefold()
        leaked = [s for s in secrets if s.casefold() in text]
        assert not leaked, (message["To"], leaked)
    links = {address: _link(handler, base, address) for address in addresses}

    # -- Åse follows hers, chooses a password, lands in her plan and consents to one area --
    # for Øystein, who is invited but has not answered yet.
    aase = await browse.new_page("planeier")
    await _choose_password(aase, links[AASE[0]], AASE_PASSWORD)
    await aase.wait_for_url(f"{base}/plans/{plan_id}")
    await aase.locator(READY).wait_for(state="attached")
    pending = await services.repos.invitations.pending(plan_id)
    [invitation] = [i for i in pending if i.email == OYSTEIN[0]]
    row = aase.get_by_test_id(f"consent-invitation-{invitation.id}")
    text = await row.text_content() or ""
    assert OYSTEIN[1] in text and "invitert, ikke svart ennå" in text, text
    await row.get_by_label(SHARED).focus()
    await aase.keyboard.press("Space")
    assert not await row.get_by_label(PRIVATE).is_checked()
    await row.get_by_role("button", name="Gi samtykke").focus()
    await aase.keyboard.press("Enter")
    await aase.locator(READY).wait_for(state="attached")
    await wait_until(
        aase,
        '(id) => document.querySelector(`[data-testid="consent-invitation-${id}"]`)'
        "?.dataset.state === 'given'",
        invitation.id,
    )
    row = aase.get_by_test_id(f"consent-invitation-{invitation.id}")
    assert SHARED in (await row.text_content() or "")
    assert PRIVATE not in (await row.locator("p").nth(1).text_content() or "")
    log_latency("Åse joined and consented to one area for the invited deltaker", began)

    # -- the new deltaker follows his link and lands directly in the plan -----------------
    oystein = await browse.new_page("deltaker")
    await _choose_password(oystein, links[OYSTEIN[0]], OYSTEIN_PASSWORD)
    await oystein.wait_for_url(f"{base}/plans/{plan_id}")
    await oystein.locator(READY).wait_for(state="attached")
    await oystein.get_by_test_id(f"area-{SHARED_KEY}").wait_for()
    oystein_user = await services.repos.users.get_by_email(OYSTEIN[0])
    assert oystein_user is not None and oystein_user.name == OYSTEIN[1]
    # His consent is Åse's, given before he joined.
    [(consent, given_by)] = [
        found
        for user_id, found in (await services.consents.latest_by_user(plan_id)).items()
        if user_id == oystein_user.id
    ]
    assert given_by == PERSON and consent.scope == (f"area/{SHARED_KEY}",)

    # -- the existing user signs in from the link and joins ------------------------------
    ola = await browse.new_page("existing")
    await ola.goto(links[OLA[0]])
    await ola.get_by_test_id("invitation-signin").focus()
    await ola.keyboard.press("Enter")
    await ola.get_by_label("E-post", exact=True).focus()
    await ola.keyboard.type(OLA[0])
    await ola.get_by_label("Passord", exact=True).focus()
    await ola.keyboard.type(PASSWORD)
    await ola.keyboard.press("Enter")
    await ola.wait_for_url(links[OLA[0]])
    await ola.get_by_test_id("invitation-join").focus()
    await ola.keyboard.press("Enter")
    await ola.wait_for_url(f"{base}/plans?joined=1")
    log_latency("deltaker and existing user joined", began)

    # -- the deltaker's plan: the shared area live, Kari's cursor in it -------------------
    await open_plan(kari, base, plan_id)
    await kari.get_by_test_id(f"add-goal-{SHARED_KEY}").click()
    await wait_until(
        kari, "() => (document.activeElement?.dataset?.testid || '').startsWith('goal-title-')"
    )
    focused = str(await kari.evaluate("document.activeElement.dataset.testid"))
    goal_id = focused.removeprefix("goal-title-")
    await kari.keyboard.type(GOAL)
    await kari.get_by_test_id(f"goal-description-{goal_id}").click()
    await kari.keyboard.type(GOAL_TEXT)
    started = time.perf_counter()
    await wait_until(
        oystein,
        """([id, title, text]) => {
          const t = document.querySelector(`[data-testid="goal-title-${id}"]`)
          const d = document.querySelector(`[data-testid="goal-description-${id}"]`)
          return t && t.value === title && d && d.textContent.includes(text)
        }""",
        [goal_id, GOAL, GOAL_TEXT],
        "Kari's goal reaches the deltaker",
    )
    await wait_until(
        oystein,
        """([id, name]) => {
          const d = document.querySelector(`[data-testid="goal-description-${id}"]`)
          const caret = d && d.querySelector('.collab-caret')
          return caret !== null && caret.textContent.includes(name)
        }""",
        [goal_id, ROLE_USERS["koordinator"][1]],
    )
    log_latency("Kari's cursor shows on the deltaker's page", started)
    presence = oystein.get_by_test_id("presence")
    await presence.filter(has_text=ROLE_USERS["koordinator"][1]).wait_for()

    # -- and nothing else: no other area, no common part, no other zone -------------------
    assert await oystein.locator(".area").count() == 1
    assert await oystein.get_by_test_id(f"area-{PRIVATE_KEY}").count() == 0
    assert await oystein.get_by_test_id("editor-aboutMe").count() == 0
    html = await oystein.content()
    assert PRIVATE not in html
    app = await oystein.locator("#plan-app").get_attribute("data-app") or ""
    assert f"area/{PRIVATE_KEY}" not in app and "/content" not in app, app
    assert "/comments" not in app and "/minutes" not in app, app
    # A socket to the other area, with the page's own cookie: refused, nothing received.
    refused = await oystein.evaluate(OPEN_SOCKET_JS, f"plan/{plan_id}/area/{PRIVATE_KEY}")
    assert refused == {"code": 4403, "messages": 0}, refused
    log_latency("deltaker sees the one area and nothing else", began)

    # -- every link is spent ----------------------------------------------------------------
    stranger = await browse.new_page("stranger")
    for address, link in links.items():
        await stranger.goto(link)
        alert = stranger.get_by_role("alert")
        assert USED in (await alert.text_content() or ""), address
    log_latency("every link spent", began)

    # -- Kari hands the plan to Ola (a deltaker now) and stays as a deltaker --------------
    ola_user = await services.repos.users.get_by_email(OLA[0])
    kari_id = browse.world.users["koordinator"]
    assert ola_user is not None
    assert await _koordinator_actions(kari, base, plan_id)  # Ola, no consent, cannot open it
    handover = kari.get_by_test_id("handover-form")
    await handover.scroll_into_view_if_needed()
    await kari.get_by_test_id("handover-to").focus()
    await kari.get_by_test_id("handover-to").select_option(str(ola_user.id))
    await kari.get_by_test_id("handover-then-deltaker").focus()
    assert await kari.get_by_test_id("handover-then-deltaker").is_checked()
    await kari.keyboard.press("Tab")
    await kari.keyboard.press("Enter")
    # A deltaker sees the plan only with the planeier's consent: Kari lands on Mine planer.
    await kari.wait_for_url(f"{base}/plans")
    card = kari.get_by_test_id(f"plan-{plan_id}")
    assert "Deltaker" in (await card.text_content() or "")
    assert await card.get_by_test_id("access-log-link-" + plan_id).count() == 0

    # Åse lets Kari see the shared area, as she did for Øystein.
    await aase.reload()
    await aase.locator(READY).wait_for(state="attached")
    row = aase.get_by_test_id(f"consent-{kari_id}")
    await row.get_by_label(SHARED).focus()
    await aase.keyboard.press("Space")
    await row.get_by_role("button", name="Gi samtykke").focus()
    await aase.keyboard.press("Enter")
    await wait_until(
        aase,
        '(id) => document.querySelector(`[data-testid="consent-${id}"]`)'
        "?.dataset.state === 'given'",
        kari_id,
    )

    # Kari's page no longer offers the koordinator's actions; Ola's does.
    assert not await _koordinator_actions(kari, base, plan_id)
    assert "Deltaker" in await kari.get_by_test_id(f"member-role-{kari_id}").inner_text()
    assert await _koordinator_actions(ola, base, plan_id)
    assert "Koordinator" in await ola.get_by_test_id(f"member-role-{ola_user.id}").inner_text()
    log_latency("issue 12 start to finish", began)


KOORDINATOR_ACTIONS = ("meeting-new", "invite-form", "area-add-form", "handover-form")


async def _koordinator_actions(page: Page, base: str, plan_id: str) -> bool:
    """Open the plan; True when it offers every koordinator action (Ny møte, Inviter, the
    Livsområder forms, the handover), False when it offers none; anything between fails."""
    await open_plan(page, base, plan_id)
    counts = {testid: await page.get_by_test_id(testid).count() for testid in KOORDINATOR_ACTIONS}
    counts["area-rename"] = await page.locator('[data-testid^="area-rename-"]').count()
    counts["member-edit"] = await page.locator('[data-testid^="member-edit-"]').count()
    offered = {name for name, count in counts.items() if count}
    assert offered in (set(), set(counts)), counts
    return bool(offered)
