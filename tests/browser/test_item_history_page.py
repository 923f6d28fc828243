"""Issue 11, Done when 2, in a real browser: "Sist endret av" and an item's history name whoever
the server saw make each change. Åse Ødegård edits a measure from a pycrdt client and writes
Line Berg's id and a made-up time into its `updatedBy` / `updatedAt`; Kari Nilsen edits it in
her browser. Each one's page shows the other's name live, never the forged one, and the
measure's history lists both people's edits in order. An evaluation's comment is only called
the planeier's when the planeier wrote it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pytest
from pycrdt import Array, Map, Text

from crdt.schema import EVALUATIONS, MEASURES, append_item, find_item, set_fields
from tests.browser.helpers import PlanContent, log_in, open_plan, type_at_end, wait_until
from tests.conftest import skip_or_fail
from tests.support.clients import connected
from tests.support.world import ROLE_USERS, World

if TYPE_CHECKING:
    from playwright.async_api import Page

    from tests.browser.conftest import Browsing

pytestmark = pytest.mark.asyncio(loop_scope="module")

KARI, ASE, LINE, JONAS = (
    ROLE_USERS[r][1] for r in ("koordinator", "deltaker", "verge", "planeier")
)
FORGED_AT = "2020-02-02T02:02:00Z"
ASE_TITLE = "Leseøkter med spesialpedagog 📖 – flyttet til onsdager av Åse 🌼"
KARI_SCOPE = " + lesekvarter hjemme 🏡 (æøå)"


def _measure(client: Any, measure_id: str) -> Map[Any] | None:
    return find_item(client.doc.get(MEASURES, type=Array), measure_id)


async def _changed_line(page: Page, item_id: str, name: str) -> str:
    """Wait until the item's "Sist endret av" names `name`; return the line."""
    line = page.get_by_test_id(f"changed-{item_id}")
    await line.filter(has_text=name).wait_for()
    return await line.inner_text()


async def _today(page: Page) -> str:
    today: str = await page.evaluate(
        "new Intl.DateTimeFormat('nb-NO', {timeZone: 'Europe/Oslo', day: '2-digit',"
        " month: '2-digit', year: 'numeric'}).format(new Date())"
    )
    return today


async def test_last_changed_and_history_name_the_real_authors(
    browse: Browsing, plan: PlanContent, world: World
) -> None:
    server = browse.server
    kari = await browse.user("koordinator")
    ase_page = await browse.user("deltaker")
    measure = plan.measure_id
    assert KARI in await _changed_line(kari, measure, KARI)  # the starting content's author

    url = server.ws_url(world.room("area/skole"), world.token("deltaker"))
    async with connected(url) as ase:
        item = _measure(ase, measure)
        assert item is not None
        title = item["title"]
        assert isinstance(title, Text)
        with ase.doc.transaction():
            title.clear()
            title += ASE_TITLE
            set_fields(item, {"updatedBy": str(world.users["verge"]), "updatedAt": FORGED_AT})
        line = await _changed_line(kari, measure, ASE)
        assert LINE not in line and "02.02.2020" not in line
        assert await _today(kari) in line

        # Kari edits the same measure in her browser: Åse's page names her, live.
        await type_at_end(kari, f"measure-scope-{measure}", KARI_SCOPE)
        await type_at_end(kari, f"measure-description-{measure}", " Også i ferien 🏖️, æøå.")
        assert KARI in await _changed_line(ase_page, measure, KARI)

        # A crafted client stamps the measure with Line's name again, after Kari's edit; the
        # page's next look at the records (asked after the stamp arrived) still names Kari.
        set_fields(item, {"updatedBy": str(world.users["verge"]), "updatedAt": FORGED_AT})
        async with ase_page.expect_request(lambda r: r.url.endswith("/changes")) as asked:
            await wait_until(
                ase_page,
                "([room, id, line]) => window.samplan.docs[room].getArray('measures').toArray()"
                ".some((m) => m.get('id') === id && m.get('updatedBy') === line)",
                [world.room("area/skole"), measure, str(world.users["verge"])],
            )
        answer = await (await asked.value).response()
        assert answer is not None and answer.ok
        await answer.finished()
        for page in (kari, ase_page):
            line = await page.get_by_test_id(f"changed-{measure}").inner_text()
            assert KARI in line and LINE not in line

    # The measure's history: Kari's starting content, Åse's title, Kari's scope, in order.
    # Out of the editor first: its toolbar folds away on blur and would move the button
    # between mouse down and up.
    await kari.evaluate("() => document.activeElement.blur()")
    opener = kari.get_by_test_id(f"history-{measure}")
    await opener.click()
    dialog = kari.get_by_test_id("history-dialog")
    await dialog.wait_for()
    entries = dialog.get_by_test_id("history-entry")
    await wait_until(
        kari,
        "() => document.querySelectorAll('[data-testid=history-entry]').length === 3",
    )
    authors = [await e.locator(".history-author").inner_text() for e in await entries.all()]
    assert authors == [KARI, ASE, KARI]
    created, by_ase, by_kari = [await e.inner_text() for e in await entries.all()]
    assert "opprettet" in created
    assert f"Tittel: {plan.measure_title} → {ASE_TITLE}" in by_ase
    assert f"Omfang: 2 timer/uke → 2 timer/uke{KARI_SCOPE}" in by_kari
    assert "beskrivelsen ble endret" in by_kari and "beskrivelsen" not in by_ase
    text = await dialog.inner_text()
    assert LINE not in text and "02.02.2020" not in text
    assert await kari.evaluate("document.activeElement.dataset.testid") == "history-close"
    await kari.keyboard.press("Escape")
    await dialog.wait_for(state="hidden")
    assert await kari.evaluate("document.activeElement.dataset.testid") == f"history-{measure}"
    assert not browse.page_errors


async def test_only_the_planeiers_words_are_called_the_planeiers_comment(
    browse: Browsing, plan: PlanContent, world: World
) -> None:
    server = browse.server
    kari = await browse.user("koordinator")
    room = world.room("area/skole")
    words_ase = "Jonas sier han vil lese mer 📚 – skrevet av Åse, ikke Jonas"
    words_jonas = "Jeg vil lese om fotball ⚽ på norsk og engelsk – Jonas Berg, æøå"
    async with connected(server.ws_url(room, world.token("deltaker"))) as ase:
        evaluation = append_item(
            ase.doc.get(EVALUATIONS, type=Array),
            {
                "goalId": plan.goal_id,
                "date": "2026-03-01",
                "ownerComment": words_ase,
                "updatedBy": str(world.users["planeier"]),  # forged: Jonas never wrote it
            },
        )
        byline = kari.get_by_test_id(f"owner-comment-by-{evaluation}")
        await byline.filter(has_text=f"Kommentar skrevet av {ASE}").wait_for(state="attached")
        assert await byline.get_attribute("data-credit") == "other"
        field = kari.locator(".field", has=byline)
        assert await field.locator(".field-label").text_content() == "Kommentar"

    async with connected(server.ws_url(room, world.token("planeier"))) as jonas:
        await jonas.wait_for(
            lambda: find_item(jonas.doc.get(EVALUATIONS, type=Array), evaluation) is not None
        )
        item = find_item(jonas.doc.get(EVALUATIONS, type=Array), evaluation)
        assert item is not None
        comment = item["ownerComment"]
        assert isinstance(comment, Text)
        with jonas.doc.transaction():
            comment.clear()
            comment += words_jonas
        await byline.filter(has_text=f"Skrevet av {JONAS}").wait_for(state="attached")
        assert await byline.get_attribute("data-credit") == "owner"
        assert await field.locator(".field-label").text_content() == "Planeiers kommentar"
    assert not browse.page_errors


async def test_history_by_keyboard_with_no_serious_axe_violations(
    browse: Browsing, plan: PlanContent, world: World
) -> None:
    from tests.browser.test_plan_page import HAVE_AXE, axe_violations

    if not HAVE_AXE:
        skip_or_fail("axe-core is missing: run `npm ci` in tests/interop")
    page = await browse.new_page("axe", bypass_csp=True)  # the CSP would block axe's script
    await log_in(page, browse.base, ROLE_USERS["leser"][0])  # a leser reads the history too
    await open_plan(page, browse.base, world.plan_id)
    await _changed_line(page, plan.goal_id, KARI)
    opener = page.get_by_test_id(f"history-{plan.goal_id}")
    await opener.focus()
    await page.keyboard.press("Enter")
    dialog = page.get_by_role("dialog", name=f"Historikk: Mål M1: {plan.goal_title}")
    await dialog.wait_for()
    await dialog.get_by_test_id("history-entry").first.wait_for()
    assert "opprettet" in await dialog.inner_text()
    for _ in range(3):  # the modal keeps the focus inside it
        await page.keyboard.press("Tab")
        inside = await page.evaluate(
            "() => document.querySelector('[data-testid=history-dialog]')"
            ".contains(document.activeElement) || document.activeElement === document.body"
        )
        assert inside
    serious = await axe_violations(page, "history dialog")
    assert not serious, serious
    await page.keyboard.press("Escape")
    await dialog.wait_for(state="hidden")
    assert await page.evaluate("document.activeElement.dataset.testid") == (
        f"history-{plan.goal_id}"
    )
