"""My words in a real browser (issue 13): Jonas (planeier, 16) on his phone writes "Jeg vil"
and his own status on a goal from Min plan. Too long a sentence is said next to the field and
stays there, and nothing is sent; once it fits, it is saved. Kari's full plan page, open the
whole time, shows his status beside the goal at once, inside a polite live region, credited
to Jonas by the server's records: read from the browser's accessibility tree. An emoji-only
status has words for a screen reader. "Om meg" written on Min plan shows on Kari's page, and
both name Jonas as who last wrote it.
"""

from __future__ import annotations

import logging
import time
from typing import TYPE_CHECKING

import pytest

from crdt.schema import MAX_LENGTHS
from tests.browser.helpers import log_latency
from tests.browser.test_min_plan_page import PHONE, open_min_plan

if TYPE_CHECKING:
    from tests.browser.conftest import Browsing
    from tests.browser.helpers import PlanContent
    from tests.support.live import LiveServer
    from tests.support.world import World

pytestmark = pytest.mark.asyncio(loop_scope="module")
log = logging.getLogger("tests.browser")

WANTS = "Lese en hel bok om fotball ⚽ før sommeren – på egen hånd"
SAYS = "Jeg leste 40 sider i går, blåbærsterkt 🫐"
ABOUT = " Jeg liker også å sykle til Ørnes 🚲"
TOO_LONG = ("Æøå, dette går så bra at jeg skriver og skriver 📚 " * 10)[
    : MAX_LENGTHS["ownNote"] + 12
]


async def test_jonas_sets_his_status_and_karis_plan_page_shows_it_live(
    browse: Browsing, plan: PlanContent, server: LiveServer, world: World
) -> None:
    kari = await browse.user("koordinator")  # the full plan page, synced
    region = kari.get_by_test_id(f"own-{plan.goal_id}")
    assert await region.get_attribute("role") == "status"
    assert await region.get_attribute("aria-live") == "polite"
    assert (await region.inner_text()).strip() == ""

    jonas = await browse.user("planeier", plan=False, **PHONE)
    await open_min_plan(jonas, browse.base, world, until_visitor=False)
    goal = jonas.get_by_test_id("min-goal").filter(has_text=plan.goal_title)
    await goal.get_by_role("button", name="Skriv med egne ord").click()
    words = goal.get_by_label("Jeg vil", exact=True)
    assert await words.evaluate("(el) => el === document.activeElement")
    await words.fill(WANTS)
    await goal.get_by_label("Går bra").check()
    await goal.get_by_label("Velg en emoji").select_option("💪")
    note = goal.get_by_label("Si det med en setning")
    await note.fill(TOO_LONG)

    # Too long: said next to the field, the text stays, and nothing is sent.
    await goal.get_by_role("button", name="Lagre").click()
    error = goal.get_by_test_id("min-own-note-error")
    await error.wait_for()
    message = await error.inner_text()
    assert "Teksten er for lang" in message and str(MAX_LENGTHS["ownNote"]) in message
    assert str(len(TOO_LONG)) in message
    assert await note.input_value() == TOO_LONG
    assert await note.get_attribute("aria-invalid") == "true"
    assert await note.evaluate("(el) => el === document.activeElement")
    described = await note.get_attribute("aria-describedby") or ""
    assert await error.get_attribute("id") in described.split()
    unsent = await jonas.evaluate(
        "(id) => window.samplan.zones.some((z) => z.doc.getArray('goals').toArray()"
        ".some((g) => g.get('id') === id && g.get('ownNote')))",
        plan.goal_id,
    )
    assert unsent is False
    assert (await region.inner_text()).strip() == ""

    # Shortened, it is saved, and Kari sees it at once.
    await note.fill(SAYS)
    assert await note.get_attribute("aria-invalid") == "false"
    started = time.perf_counter()
    await goal.get_by_role("button", name="Lagre").click()
    await goal.get_by_test_id("min-own-saved").filter(has_text="Det er lagret.").wait_for()
    status = kari.get_by_test_id(f"own-status-{plan.goal_id}")
    await status.filter(has_text=SAYS).wait_for()
    log_latency("Jonas's status → Kari's plan page", started)
    assert "Går bra." in await status.inner_text()
    # Credited to Jonas by the records (the byline waits for them).
    by = kari.get_by_test_id(f"own-status-by-{plan.goal_id}")
    await kari.wait_for_function(
        "(id) => document.querySelector(`[data-testid='own-status-by-${id}']`)"
        ".dataset.credit === 'owner'",
        arg=plan.goal_id,
    )
    assert (await by.inner_text()).startswith("Jonas Berg skrev dette")
    assert (
        "Jonas Berg skrev dette"
        in await kari.get_by_test_id(f"own-words-by-{plan.goal_id}").inner_text()
    )

    # The accessibility tree: the goal's status region holds his words, the emoji its name.
    tree = await kari.get_by_test_id(f"goal-{plan.goal_id}").aria_snapshot()
    log.info("accessibility tree of the goal on Kari's page:\n%s", tree)
    lines = tree.splitlines()
    at = next(i for i, line in enumerate(lines) if line.strip().startswith("- status"))
    indent = len(lines[at]) - len(lines[at].lstrip())
    inside = [lines[at]]
    for line in lines[at + 1 :]:
        if len(line) - len(line.lstrip()) <= indent:
            break
        inside.append(line)
    region_tree = "\n".join(inside)
    assert WANTS in region_tree and SAYS in region_tree and "Går bra." in region_tree
    assert 'img "sterk"' in region_tree
    assert "Jonas Berg skrev dette" in region_tree

    # Jonas's own page says the words are his.
    await jonas.wait_for_function(
        "() => [...document.querySelectorAll('[data-testid=min-own-status-by]')]"
        ".some((el) => el.dataset.credit === 'me')"
    )
    assert "Du skrev dette." in await goal.get_by_test_id("min-own-status-by").inner_text()
    assert WANTS in await goal.get_by_test_id("min-own-words").inner_text()

    # An emoji-only status on the other goal: valid, and named for a screen reader.
    other = jonas.get_by_test_id("min-goal").filter(has_not_text=plan.goal_title)
    await other.get_by_role("button", name="Skriv med egne ord").click()
    await other.get_by_label("Velg en emoji").select_option("😐")
    await other.get_by_role("button", name="Lagre").click()
    await other.get_by_test_id("min-own-saved").filter(has_text="Det er lagret.").wait_for()
    shown = kari.get_by_test_id(f"own-status-{plan.fritid_goal_id}")
    await shown.wait_for()
    tree = await shown.aria_snapshot()
    assert 'img "sånn passe"' in tree, tree
    # Focus went back to the button that opened the form.
    opener = other.get_by_role("button", name="Skriv med egne ord")
    assert await opener.evaluate("(el) => el === document.activeElement")

    # "Om meg" from Min plan: Kari's page has it at once, and both say Jonas wrote it last.
    editor = jonas.get_by_test_id("min-about-editor")
    await editor.click()
    await jonas.keyboard.press("Control+End")
    await jonas.keyboard.type(ABOUT)
    await kari.get_by_test_id("editor-aboutMe").filter(has_text=ABOUT).wait_for()
    changed = kari.get_by_test_id("changed-aboutMe").filter(has_text="Jonas Berg")
    await changed.wait_for()
    await jonas.wait_for_function(
        "() => document.getElementById('min-about-by').dataset.credit === 'me'"
    )
    assert await jonas.get_by_test_id("min-about-by").inner_text() == "Du skrev dette."
