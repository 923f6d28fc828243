"""Notes before a meeting (issue 13, "Før møtet"): the one owner of the `meeting_notes` table.

A note is the person's (or, for a child under 16, the verge's) own words about a coming
meeting, with who may read it (`audience`). This repository stores and changes notes; it
decides nothing about readers: server/meetings/note_rules.py does, on every route. Callers
find the meeting through MeetingRepo first (which checks it belongs to the plan), then ask
here by meeting id, so a note id from another plan is never found.
"""

from __future__ import annotations

import logging
import secrets
from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from storage.db import write_session
from storage.errors import Conflict, InvalidValue, NotFound
from storage.models import NOTE_ANSWERS, NOTE_AUDIENCES, NOTE_KINDS, MeetingNote, utcnow

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class NoteRecord:
    id: str
    meeting_id: str
    author_user_id: int
    author_role: str
    kind: str
    audience: str
    text: str
    created_at: datetime
    updated_at: datetime
    proposed_by_user_id: int | None
    proposed_at: datetime | None
    answer: str | None
    answered_at: datetime | None
    agenda_item_id: str | None

    @property
    def proposed(self) -> bool:
        """Proposed for the agenda and not yet answered."""
        return self.proposed_at is not None and self.answer is None


def _record(row: MeetingNote) -> NoteRecord:
    return NoteRecord(
        id=row.id,
        meeting_id=row.meeting_id,
        author_user_id=row.author_user_id,
        author_role=row.author_role,
        kind=row.kind,
        audience=row.audience,
        text=row.text,
        created_at=row.created_at,
        updated_at=row.updated_at,
        proposed_by_user_id=row.proposed_by_user_id,
        proposed_at=row.proposed_at,
        answer=row.answer,
        answered_at=row.answered_at,
        agenda_item_id=row.agenda_item_id,
    )


def _checked(kind: str, audience: str) -> None:
    if kind not in NOTE_KINDS:
        raise InvalidValue(f"a note's kind is one of {NOTE_KINDS}")
    if audience not in NOTE_AUDIENCES:
        raise InvalidValue(f"a note's audience is one of {NOTE_AUDIENCES}")


class MeetingNotesRepo:
    def __init__(self, sessionmaker: async_sessionmaker[AsyncSession]) -> None:
        self._sessionmaker = sessionmaker

    async def add(
        self,
        meeting_id: str,
        *,
        author_user_id: int,
        author_role: str,
        kind: str,
        audience: str,
        text: str,
    ) -> NoteRecord:
        _checked(kind, audience)
        now = utcnow()
        async with write_session(self._sessionmaker) as session:
            row = MeetingNote(
                id=secrets.token_hex(8),
                meeting_id=meeting_id,
                author_user_id=author_user_id,
                author_role=author_role,
                kind=kind,
                audience=audience,
                text=text,
                created_at=now,
                updated_at=now,
            )
            session.add(row)
            await session.flush()
            record = _record(row)
        log.info("meeting note added meeting_id=%s note_id=%s", meeting_id, record.id)
        return record

    async def get(self, meeting_id: str, note_id: str) -> NoteRecord | None:
        async with self._sessionmaker() as session:
            row = await session.get(MeetingNote, note_id)
            return _record(row) if row is not None and row.meeting_id == meeting_id else None

    async def list_for_meetings(self, meeting_ids: Collection[str]) -> list[NoteRecord]:
        """Every note of these meetings, oldest first (the caller filters by reader)."""
        if not meeting_ids:
            return []
        async with self._sessionmaker() as session:
            rows = await session.scalars(
                select(MeetingNote)
                .where(MeetingNote.meeting_id.in_(list(meeting_ids)))
                .order_by(MeetingNote.created_at, MeetingNote.id)
            )
            return [_record(row) for row in rows]

    async def update(
        self, meeting_id: str, note_id: str, *, kind: str, audience: str, text: str
    ) -> tuple[NoteRecord, NoteRecord]:
        """Change a note's words, kind and readers; (before, after)."""
        _checked(kind, audience)
        async with write_session(self._sessionmaker) as session:
            row = await self._row(session, meeting_id, note_id)
            before = _record(row)
            row.kind, row.audience, row.text = kind, audience, text
            row.updated_at = utcnow()
            return before, _record(row)

    async def delete(self, meeting_id: str, note_id: str) -> NoteRecord:
        async with write_session(self._sessionmaker) as session:
            row = await self._row(session, meeting_id, note_id)
            record = _record(row)
            await session.delete(row)
        log.info("meeting note deleted meeting_id=%s note_id=%s", meeting_id, note_id)
        return record

    async def propose(self, meeting_id: str, note_id: str, user_id: int) -> NoteRecord:
        """The koordinator asks to put the note on the agenda. Conflict when it is on it
        already; a note the writer said no to may be asked about again."""
        async with write_session(self._sessionmaker) as session:
            row = await self._row(session, meeting_id, note_id)
            if row.answer == "yes":
                raise Conflict("the note is on the agenda already")
            row.proposed_by_user_id, row.proposed_at = user_id, utcnow()
            row.answer = row.answered_at = None
            return _record(row)

    async def answer(
        self, meeting_id: str, note_id: str, answer: str, agenda_item_id: str | None
    ) -> NoteRecord:
        """The writer's yes or no to a proposal (Conflict when there is none open)."""
        if answer not in NOTE_ANSWERS:
            raise InvalidValue(f"an answer is one of {NOTE_ANSWERS}")
        async with write_session(self._sessionmaker) as session:
            row = await self._row(session, meeting_id, note_id)
            if row.proposed_at is None or row.answer is not None:
                raise Conflict("nothing to answer")
            row.answer, row.answered_at = answer, utcnow()
            row.agenda_item_id = agenda_item_id if answer == "yes" else None
            return _record(row)

    @staticmethod
    async def _row(session: AsyncSession, meeting_id: str, note_id: str) -> MeetingNote:
        row = await session.get(MeetingNote, note_id)
        if row is None or row.meeting_id != meeting_id:
            raise NotFound(f"note {note_id} does not exist in meeting {meeting_id}")
        return row
