"""Browser: comments and messages written through the server for the signed-in person.

Åse (deltaker) and Per (leser) comment on the same goal, reply, edit and delete their own
comments and see each other's at once; neither is offered to change the other's words; a
message shows its real author. Every text has æøå and an emoji.
"""

from __future__ import annotations

import logging
import time
from typing import TYPE_CHECKING, Any

import pytest

from crdt.schema import read_zone
from tests.browser.helpers import log_latency, wait_comment_count, wait_text, wait_until
from tests.support.world import ROLE_USERS

if TYPE_CHECKING:
    from playwright.async_api import Page

    from tests.browser.conftest import Browsing

pytestmark = pytest.mark.asyncio(loop_scope="module")
log = logging.getLogger("tests.browser.comments")

ASE = ROLE_USERS["deltaker"][1]
PER = ROLE_USERS["leser"][1]


async def _comments(browse: Browsing) -> list[dict[str, Any]]:
    registry = browse.server.services.registry
    doc = await registry.read(browse.world.zones["comments"])
    comments: list[dict[str, Any]] = read_zone(doc, "comments")["comments"]
    return comments


async def _id_of(browse: Browsing, text: str) -> str:
    ids = [c["id"] for c in await _comments(browse) if c["text"] == text]
    assert len(ids) == 1, ids
    return str(ids[0])


async def _send(page: Page, anchor: str, text: str) -> None:
    await page.get_by_test_id(f"comment-input-{anchor}").fill(text)
    await page.get_by_test_id(f"comment-submit-{anchor}").click()
    await wait_until(
        page,
        "(id) => document.querySelector(`[data-testid='comment-input-${id}']`).value === ''",
        anchor,
    )


async def test_two_people_comment_reply_edit_and_delete_their_own(browse: Browsing) -> None:
    ase = await browse.user("deltaker")
    per = await browse.user("leser")
    per.on("dialog", lambda dialog: dialog.accept())  # "Delete your comment?"
    anchor = await _anchor(browse)
    for page in (ase, per):
        await page.get_by_test_id(f"comment-toggle-{anchor}").click()

    # Åse comments; Per sees it at once, under her name, without edit or delete for him.
    first = "Kan vi prøve lydbøker? 🎧 æøå"
    started = time.perf_counter()
    await _send(ase, anchor, first)
    await wait_comment_count(per, anchor, 1)
    log_latency("comment posted -> other page shows it", started)
    first_id = await _id_of(browse, first)
    await wait_text(per, f"comment-{first_id}", first, contains=True)
    await wait_text(per, f"comment-{first_id}", ASE, contains=True)
    assert await per.get_by_test_id(f"comment-edit-{first_id}").count() == 0
    assert await per.get_by_test_id(f"comment-delete-{first_id}").count() == 0
    assert await ase.get_by_test_id(f"comment-edit-{first_id}").count() == 1

    # Per replies in the same thread.
    await per.get_by_test_id(f"comment-reply-{first_id}").click()
    assert await per.evaluate("() => document.activeElement.dataset.testid") == (
        f"comment-input-{anchor}"
    )
    reply = "Lydbøker på biblioteket er gratis 📚 – ærlig og ømt"
    await _send(per, anchor, reply)
    await wait_comment_count(ase, anchor, 2)
    reply_id = await _id_of(browse, reply)
    await wait_text(ase, f"comment-{reply_id}", PER, contains=True)

    # Åse edits her comment: Per sees the new words and that it was edited.
    edited = "Kan vi prøve lydbøker og podkast? 🎧🎙️ æøå"
    await ase.get_by_test_id(f"comment-edit-{first_id}").click()
    await ase.get_by_test_id(f"comment-edit-input-{first_id}").fill(edited)
    await ase.get_by_test_id(f"comment-save-{first_id}").click()
    await wait_text(per, f"comment-{first_id}", edited, contains=True)
    await wait_text(per, f"comment-edited-{first_id}", "redigert", contains=True)
    [stored] = [c for c in await _comments(browse) if c["id"] == first_id]
    assert stored["edits"][0]["text"] == first and stored["authorName"] == ASE

    # Per deletes his own reply; it is gone from Åse's page at once.
    await per.get_by_test_id(f"comment-delete-{reply_id}").click()
    await wait_comment_count(ase, anchor, 1)
    assert await ase.get_by_test_id(f"comment-{reply_id}").count() == 0
    assert [c["id"] for c in await _comments(browse)] == [first_id]

    # A message shows its real author.
    message = "Takk for møtet i dag 🙏 – vi sees på torsdag, æøå"
    await per.get_by_test_id("messages-toggle").click()
    await per.get_by_test_id("message-input").fill(message)
    await per.get_by_test_id("message-send").click()
    await ase.get_by_test_id("messages-toggle").click()
    await wait_text(ase, "message-list", message, contains=True)
    item = ase.locator(".message", has_text=message)
    assert await item.locator(".comment-author").inner_text() == PER


async def test_an_empty_comment_is_explained(browse: Browsing) -> None:
    ase = await browse.user("deltaker")
    anchor = await _anchor(browse)
    await ase.get_by_test_id(f"comment-toggle-{anchor}").click()
    await ase.get_by_test_id(f"comment-submit-{anchor}").click()
    alert = ase.get_by_test_id(f"comment-error-{anchor}")
    await alert.wait_for()
    assert await alert.get_attribute("role") == "alert"
    assert "Skriv noe" in await alert.inner_text()


async def _anchor(browse: Browsing) -> str:
    """The first goal of Skole og læring (written by the `plan` fixture)."""
    doc = await browse.server.services.registry.read(browse.world.zones["area/skole"])
    goals = read_zone(doc, "area")["goals"]
    return str(goals[0]["id"])
