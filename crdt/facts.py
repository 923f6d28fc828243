"""Who-and-which facts a zone document holds, for noticing what changed (notifications).

Ids and user ids only, never text: the server compares two of these (before and after a
burst of edits) to learn that a message was posted, a comment was anchored to an item, or a
measure gained a responsible member, without keeping or logging plan content.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from pycrdt import Array, Doc, Map

from crdt.schema import AREA, COMMENT_LIST, COMMENTS, EVALUATIONS, MEASURES, MESSAGES


@dataclass(frozen=True)
class ZoneFacts:
    messages: dict[str, str | None] = field(default_factory=dict)  # id -> authorId
    comments: dict[str, tuple[str | None, str | None]] = field(default_factory=dict)
    # item id -> (anchorId, authorId)
    responsible: dict[str, frozenset[str]] = field(default_factory=dict)
    # measure or evaluation id -> responsible user ids
    # Never who changed an item: a client's stamp says nothing; the server's records do
    # (server/core/authors.py).


def zone_facts(doc: Doc[Any], kind: str, previous: ZoneFacts | None = None) -> ZoneFacts:
    """The facts of a comments or area zone; other kinds have none. Messages and comments
    already in `previous` are not read again beyond their id (ids and authors never change)."""
    # One read transaction for the whole walk: without it every `get` opens its own.
    with doc.transaction():
        return _zone_facts(doc, kind, previous or _EMPTY)


def _zone_facts(doc: Doc[Any], kind: str, previous: ZoneFacts) -> ZoneFacts:
    if kind == COMMENTS:
        messages: dict[str, str | None] = {}
        for item in doc.get(MESSAGES, type=Array):
            if isinstance(item, Map) and (item_id := _str(item.get("id"))):
                if item_id in previous.messages:
                    messages[item_id] = previous.messages[item_id]
                else:
                    messages[item_id] = _str(item.get("authorId"))
        comments: dict[str, tuple[str | None, str | None]] = {}
        for item in doc.get(COMMENT_LIST, type=Array):
            if isinstance(item, Map) and (item_id := _str(item.get("id"))):
                seen = previous.comments.get(item_id)
                comments[item_id] = seen or (
                    _str(item.get("anchorId")),
                    _str(item.get("authorId")),
                )
        return ZoneFacts(messages=messages, comments=comments)
    if kind == AREA:
        responsible: dict[str, frozenset[str]] = {}
        for root in (MEASURES, EVALUATIONS):
            for item in doc.get(root, type=Array):
                if not isinstance(item, Map) or not (item_id := _str(item.get("id"))):
                    continue
                people = item.get("responsible")
                responsible[item_id] = frozenset(
                    str(p) for p in (people if isinstance(people, Array) else ()) if p
                )
        return ZoneFacts(responsible=responsible)
    return ZoneFacts()


def created_since(doc: Doc[Any], since: str) -> set[str]:
    """Ids of messages and comments whose `createdAt` (ISO 8601 UTC, `Z`) is `since` or later."""
    found: set[str] = set()
    with doc.transaction():
        for root in (MESSAGES, COMMENT_LIST):
            for item in doc.get(root, type=Array):
                if not isinstance(item, Map):
                    continue
                created = item.get("createdAt")
                if isinstance(created, str) and created >= since and (i := _str(item.get("id"))):
                    found.add(i)
    return found


def without(facts: ZoneFacts, ids: set[str]) -> ZoneFacts:
    """`facts` as if the messages and comments in `ids` were not there yet."""
    return ZoneFacts(
        messages={k: v for k, v in facts.messages.items() if k not in ids},
        comments={k: v for k, v in facts.comments.items() if k not in ids},
        responsible=facts.responsible,
    )


_EMPTY = ZoneFacts()


def _str(value: object) -> str | None:
    if isinstance(value, float) and value.is_integer():
        return str(int(value))  # Yrs stores numbers as floats; user ids should be strings
    return value if isinstance(value, str) and value else None
