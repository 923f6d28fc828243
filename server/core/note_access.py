"""Who may write and who may read a note before a meeting (issue 13, "Før møtet").

A note is the person's own words about a coming meeting. It lives in SQL, not in a zone,
because every zone is opened whole by each role the table in core/access.py allows, while a
note has readers of its own. These are the one answer every route asks
(server/meetings/notes.py, Min plan, the meeting page, the /events fan-out):

- Writers: the planeier always; the verge while the person is under 16 (pasient- og
  brukerrettighetsloven § 4-3: below 16 the parents speak for the child) or while no birth
  date is recorded (as for consent, core/access.py `ConsentRule.UNKNOWN_AGE`).
- Readers: the writer; with `audience` "koordinator" also the koordinator; with "group"
  every member who may open the plan. From 16 the person's notes are theirs: the verge reads
  one only when it is shared with the group. Under 16 the person and the verge read each
  other's notes shared with the koordinator (the verge has parental responsibility, and the
  child sees what is said for them). "Only me" is only the writer, at any age.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date
from typing import Protocol

from server.core.access import ConsentRule, Role, consent_rule

AUDIENCES = ("me", "koordinator", "group")
KINDS = ("topic", "good", "hard")
MAX_NOTE_CHARS = 2000  # a few paragraphs; more belongs in a conversation, not a note
PERSON_ROLES = frozenset({Role.PLANEIER, Role.VERGE})


class Note(Protocol):
    """What the rules need of a note (storage's NoteRecord has it)."""

    @property
    def author_user_id(self) -> int: ...

    @property
    def author_role(self) -> str: ...

    @property
    def audience(self) -> str: ...


def may_write_notes(role: str, birth_date: date | None, today: date) -> bool:
    if role == Role.PLANEIER:
        return True
    if role == Role.VERGE:
        return consent_rule(birth_date, today) != ConsentRule.FROM_16
    return False


def may_read_note(
    note: Note, user_id: int, role: str, birth_date: date | None, today: date
) -> bool:
    """For a member who may open the plan at all (the caller has checked that)."""
    if note.author_user_id == user_id:
        return True
    if note.audience == "group":
        return True
    if note.audience != "koordinator":
        return False
    if role == Role.KOORDINATOR:
        return True
    return (
        role in PERSON_ROLES
        and note.author_role in PERSON_ROLES
        and consent_rule(birth_date, today) == ConsentRule.UNDER_16
    )


def note_readers(
    note: Note, members: Iterable[tuple[int, str]], birth_date: date | None, today: date
) -> set[int]:
    """The user ids among `members` ((user id, role) of everyone who may open the plan) who
    may read `note`: the only ones told when it changes."""
    return {uid for uid, role in members if may_read_note(note, uid, role, birth_date, today)}
