"""The comments zone's words, written by the server for the signed-in person (DESIGN §2).

No socket writes the comments zone: the server builds every change here, as a function of a
`Doc` for `RoomRegistry.edit`, with the author, name and time it took from the session. An
edit never rewrites history: the earlier text goes to the item's `edits` list ({text, at}:
the words and when they were written) and the new text is a new `Y.Text` (a whole value,
never an edit by position: DESIGN §9). Hiding keeps the words and records who hid them, when.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from pycrdt import Array, Doc, Map, Text

from crdt.schema import (
    AREA,
    COMMENT_LIST,
    COMMENTS,
    CONTENT,
    MESSAGES,
    ZONE_ROOTS,
    append_item,
    find_item,
    get_root,
    remove_item,
)

# Longest comment or message the server keeps, in characters (a paragraph or two, not a book).
MAX_WORDS = 4000


class WordsRefused(Exception):
    """Why a change to a comment or message cannot be made; nothing has been written.
    `reason` names it for the caller: `not_found` or `hidden`."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True)
class Words:
    """Who wrote a comment or message, and what state it is in (for the permission check)."""

    id: str
    author_id: str | None
    hidden: bool


def words_of(doc: Doc[Any], root: str, item_id: str) -> Words | None:
    """The comment (`root` = "comments") or message ("messages") with this id, or None."""
    item = find_item(get_root(doc, COMMENTS, root), item_id)
    if item is None:
        return None
    author = item.get("authorId")
    return Words(item_id, author if isinstance(author, str) else None, bool(item.get("hiddenAt")))


def anchor_ids(doc: Doc[Any], kind: str) -> set[str]:
    """What a comment may be anchored to in a content or area zone: a content section (its
    root name, as the bundle anchors it) or any list item's id."""
    found: set[str] = set()
    if kind not in (CONTENT, AREA):
        return found
    with doc.transaction():
        for name, root_type in ZONE_ROOTS[kind].items():
            if kind == CONTENT:
                found.add(name)
            if root_type is Array:
                for item in get_root(doc, kind, name):
                    if isinstance(item, Map) and isinstance(i := item.get("id"), str) and i:
                        found.add(i)
    return found


def add_comment(
    anchor_id: str, author_id: str, author_name: str, text: str, at: str
) -> Callable[[Doc[Any]], str]:
    def change(doc: Doc[Any]) -> str:
        values = {
            "anchorId": anchor_id,
            "authorId": author_id,
            "authorName": author_name,
            "text": text,
            "createdAt": at,
            "resolved": False,
        }
        return append_item(get_root(doc, COMMENTS, COMMENT_LIST), values)

    return change


def add_message(author_id: str, author_name: str, text: str, at: str) -> Callable[[Doc[Any]], str]:
    def change(doc: Doc[Any]) -> str:
        values = {"authorId": author_id, "authorName": author_name, "text": text, "createdAt": at}
        return append_item(get_root(doc, COMMENTS, MESSAGES), values)

    return change


def edit_words(root: str, item_id: str, text: str, at: str) -> Callable[[Doc[Any]], None]:
    """Replace the text of a comment or message, keeping the earlier one in `edits`."""

    def change(doc: Doc[Any]) -> None:
        item = _live(doc, root, item_id)
        current = item.get("text")
        earlier = str(current) if current is not None else ""
        written = item.get("editedAt") or item.get("createdAt")
        history = item.get("edits")
        edits = list(history) if isinstance(history, list) else []
        edits.append({"text": earlier, "at": written if isinstance(written, str) else ""})
        item["edits"] = edits
        item["text"] = Text(text)  # a new Y.Text: a whole value, never an edit by position
        item["editedAt"] = at

    return change


def set_resolved(item_id: str, resolved: bool, by: str, at: str) -> Callable[[Doc[Any]], None]:
    def change(doc: Doc[Any]) -> None:
        item = _live(doc, COMMENT_LIST, item_id)
        item["resolved"] = resolved
        item["resolvedBy"] = by
        item["resolvedAt"] = at

    return change


def hide_comment(item_id: str, by: str, by_name: str, at: str) -> Callable[[Doc[Any]], None]:
    """The koordinator's way to take a comment out of sight: the words stay, with the trace."""

    def change(doc: Doc[Any]) -> None:
        item = _live(doc, COMMENT_LIST, item_id)
        item["hiddenBy"] = by
        item["hiddenByName"] = by_name
        item["hiddenAt"] = at

    return change


def delete_comment(item_id: str) -> Callable[[Doc[Any]], None]:
    """The author takes their own comment back."""

    def change(doc: Doc[Any]) -> None:
        if not remove_item(get_root(doc, COMMENTS, COMMENT_LIST), item_id):
            raise WordsRefused("not_found")

    return change


def _live(doc: Doc[Any], root: str, item_id: str) -> Map[Any]:
    item = find_item(get_root(doc, COMMENTS, root), item_id)
    if item is None:
        raise WordsRefused("not_found")
    if item.get("hiddenAt"):
        raise WordsRefused("hidden")
    return item
