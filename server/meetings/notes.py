"""Notes before a meeting (issue 13, "Før møtet"): the routes.

The person (or, for a child under 16, the verge) writes what they want to talk about, what
goes well and what does not, and chooses per note who reads it (server/core/note_access.py
says who may). Notes live in SQL (storage/repositories/meeting_notes.py), never in a zone, so
the only way to a note is through these routes, and each checks the reader on every call: a
note the member may not read, and every route a member has no business calling, answers the
same 404 as a zone they may not open, with no hint whether the note exists.

The koordinator proposes a note for the agenda; the writer answers on Min plan. A yes writes
one agenda section into the meeting's minutes zone through `registry.edit` (durable, then
live in every open minutes page) with the writer as the change's author; a no changes
nothing there.

Live: a change is told through /events as `{"type": "meeting_note", planId, meetingId}` to
the note's readers only (before and after the change), never with its words; a page then
refetches here. Every read by someone other than the writer is an access-log row
(`note_read`), which "Hvem har vært i planen min" and the access log show.

Answers are JSON, like the comment routes (server/plans/comments.py): errors as
`{"error": sentence}` (app.page_error).
"""

from __future__ import annotations

import asyncio
import json
import logging
from datetime import UTC, datetime
from typing import Any

from pycrdt import Doc
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from crdt.room import RoomWriteFailed
from crdt.schema import AGENDA, MINUTES, append_item, get_root, new_id, zone_name
from server.core.access import Role, sees_plan
from server.core.clock import OSLO
from server.core.note_access import (
    AUDIENCES,
    KINDS,
    MAX_NOTE_CHARS,
    may_read_note,
    may_write_notes,
    note_readers,
)
from server.services import Services
from server.web.errors import BadRequest, Conflict, Forbidden, NotFound, PageError, PlanClosed
from server.web.security import CSRF_FIELD, csrf_valid
from server.web.visit import PlanVisit, visit
from storage import errors as storage_errors
from storage.repositories.meeting_notes import NoteRecord
from storage.repositories.meetings import MeetingRecord

log = logging.getLogger("samplan.notes")

NOTE_READ = "note_read"  # the access-log action of a read by someone other than the writer
EVENT = "meeting_note"
MAX_BODY = 64 * 1024  # far above MAX_NOTE_CHARS in any encoding
MAX_ID = 64
AGENDA_TITLE_CHARS = 120
_answer_locks: dict[str, asyncio.Lock] = {}


class _Ask:
    """One checked request about one meeting's notes."""

    def __init__(self, v: PlanVisit, meeting: MeetingRecord) -> None:
        self.v = v
        self.meeting = meeting

    @property
    def services(self) -> Services:
        return self.v.services

    def may_read(self, note: NoteRecord) -> bool:
        v = self.v
        return may_read_note(note, v.user.id, v.role, v.plan.person_birth_date, v.today)

    def upcoming(self) -> bool:
        return not self.meeting.cancelled and self.meeting.starts_at > datetime.now(UTC)

    def open_for_change(self) -> None:
        if self.v.closed:
            raise PlanClosed()
        if not self.upcoming():
            raise Conflict("notes.error.past")

    async def note(self, request: Request) -> NoteRecord:
        note_id = str(request.path_params["note_id"])
        note = None
        if 0 < len(note_id) <= MAX_ID:
            note = await self.services.repos.meeting_notes.get(self.meeting.id, note_id)
        if note is None or not self.may_read(note):
            raise NotFound()
        return note

    async def own_note(self, request: Request) -> NoteRecord:
        note = await self.note(request)
        if note.author_user_id != self.v.user.id:
            raise NotFound()  # another's words are never theirs to change
        return note

    def audit(self, request: Request, action: str, note: NoteRecord) -> None:
        self.v.audit(
            request,
            action,
            zone=zone_name(MINUTES, self.meeting.id),
            details={"meeting_id": self.meeting.id, "note_id": note.id},
        )

    async def tell(self, *notes: NoteRecord) -> None:
        """Tell the readers of these notes (the same note before and after a change) that
        something changed: ids only, so a reader refetches through the checked route."""
        v = self.v
        members = []
        for m in await self.services.plans.list_members(v.plan.id):
            access = await self.services.consents.member_access(v.plan.id, m.user_id)
            if sees_plan(access, v.today):
                members.append((m.user_id, m.role))
        readers: set[int] = set()
        for note in notes:
            readers |= note_readers(note, members, v.plan.person_birth_date, v.today)
        event = {"type": EVENT, "planId": v.plan.id, "meetingId": self.meeting.id}
        self.services.events.publish(readers, event)


async def _ask(request: Request) -> _Ask:
    v = await visit(request)
    meeting_id = str(request.path_params["meeting_id"])
    meeting = await v.services.meetings.get(v.plan.id, meeting_id) if meeting_id else None
    if meeting is None:
        raise NotFound("notes.error.no_meeting")
    return _Ask(v, meeting)


async def _posted(request: Request) -> tuple[_Ask, dict[str, Any]]:
    """A change: the form token first, then the meeting."""
    a = await _ask(request)
    body = await _json_body(request)
    if not csrf_valid(request, a.v.services.secret_key, body.get(CSRF_FIELD)):
        raise Forbidden("form.expired")
    return a, body


async def _json_body(request: Request) -> dict[str, Any]:
    if request.headers.get("content-type", "").split(";")[0].strip() != "application/json":
        raise BadRequest("notes.error.bad")
    raw = await request.body()
    if len(raw) > MAX_BODY:
        raise BadRequest("notes.error.too_long")
    try:
        body = json.loads(raw)
    except ValueError:
        raise BadRequest("notes.error.bad") from None
    if not isinstance(body, dict):
        raise BadRequest("notes.error.bad")
    return body


def _fields(body: dict[str, Any]) -> tuple[str, str, str]:
    """kind, audience and text as sent, checked: clear sentences for the person."""
    kind, audience, text = body.get("kind"), body.get("audience"), body.get("text")
    if kind not in KINDS or audience not in AUDIENCES or not isinstance(text, str):
        raise BadRequest("notes.error.bad")
    text = text.strip()
    if not text:
        raise BadRequest("notes.error.empty")
    if len(text) > MAX_NOTE_CHARS:
        raise BadRequest("notes.error.too_long")
    return kind, audience, text


def _writer(a: _Ask) -> None:
    v = a.v
    if not may_write_notes(v.role, v.plan.person_birth_date, v.today):
        raise NotFound()


async def _names(a: _Ask) -> dict[int, str]:
    members = await a.services.plans.list_members_with_names(a.v.plan.id)
    return {m.user_id: name for m, name, _ in members}


def note_view(note: NoteRecord, me: int, names: dict[int, str]) -> dict[str, Any]:
    """What a reader is sent: the words, whose they are, and where the agenda question
    stands. Names and times are the server's."""
    return {
        "id": note.id,
        "meetingId": note.meeting_id,
        "kind": note.kind,
        "audience": note.audience,
        "text": note.text,
        "mine": note.author_user_id == me,
        "author": names.get(note.author_user_id, ""),
        "authorRole": note.author_role,
        "updatedAt": note.updated_at.astimezone(OSLO).isoformat(timespec="seconds"),
        "proposed": note.proposed,
        "proposedBy": names.get(note.proposed_by_user_id or 0, ""),
        "answer": note.answer,
        "onAgenda": note.agenda_item_id is not None,
    }


async def _read(request: Request, a: _Ask, notes: list[NoteRecord]) -> list[dict[str, Any]]:
    """The notes as sent to this reader, each read by someone other than its writer
    written to the access log."""
    names = await _names(a)
    for note in notes:
        if note.author_user_id != a.v.user.id:
            a.audit(request, NOTE_READ, note)
    return [note_view(note, a.v.user.id, names) for note in notes]


# --- routes --------------------------------------------------------------------------------


async def notes_list(request: Request) -> Response:
    """GET: the meeting's notes this member may read (a deltaker or leser: those shared with
    the group, if any; nothing says whether there are others)."""
    a = await _ask(request)
    readable = [
        n
        for n in await a.services.repos.meeting_notes.list_for_meetings([a.meeting.id])
        if a.may_read(n)
    ]
    return JSONResponse(
        {
            "notes": await _read(request, a, readable),
            "mayWrite": may_write_notes(a.v.role, a.v.plan.person_birth_date, a.v.today),
            "upcoming": a.upcoming(),
        },
        headers={"cache-control": "no-store"},
    )


async def note_get(request: Request) -> Response:
    a = await _ask(request)
    note = await a.note(request)
    [view] = await _read(request, a, [note])
    return JSONResponse({"note": view}, headers={"cache-control": "no-store"})


async def note_add(request: Request) -> Response:
    a, body = await _posted(request)
    _writer(a)
    a.open_for_change()
    kind, audience, text = _fields(body)
    note = await a.services.repos.meeting_notes.add(
        a.meeting.id,
        author_user_id=a.v.user.id,
        author_role=a.v.role,
        kind=kind,
        audience=audience,
        text=text,
    )
    a.audit(request, "note_add", note)
    await a.tell(note)
    return JSONResponse({"note": note_view(note, a.v.user.id, await _names(a))}, status_code=201)


async def note_edit(request: Request) -> Response:
    a, body = await _posted(request)
    _writer(a)
    note = await a.own_note(request)
    a.open_for_change()
    kind, audience, text = _fields(body)
    try:
        before, after = await a.services.repos.meeting_notes.update(
            a.meeting.id, note.id, kind=kind, audience=audience, text=text
        )
    except storage_errors.NotFound:
        raise NotFound() from None
    a.audit(request, "note_edit", after)
    await a.tell(before, after)
    return JSONResponse({"note": note_view(after, a.v.user.id, await _names(a))})


async def note_delete(request: Request) -> Response:
    a, _ = await _posted(request)
    note = await a.own_note(request)
    if a.v.closed:
        raise PlanClosed()
    try:
        gone = await a.services.repos.meeting_notes.delete(a.meeting.id, note.id)
    except storage_errors.NotFound:
        raise NotFound() from None
    a.audit(request, "note_delete", gone)
    await a.tell(gone)
    return JSONResponse({"id": gone.id})


async def note_propose(request: Request) -> Response:
    """The koordinator asks the writer to put the note on the agenda."""
    a, _ = await _posted(request)
    if a.v.role != Role.KOORDINATOR:
        raise NotFound()
    note = await a.note(request)
    a.open_for_change()
    try:
        proposed = await a.services.repos.meeting_notes.propose(a.meeting.id, note.id, a.v.user.id)
    except storage_errors.Conflict:
        raise Conflict("notes.error.on_agenda") from None
    a.audit(request, "note_propose", proposed)
    await a.tell(proposed)
    return JSONResponse({"note": note_view(proposed, a.v.user.id, await _names(a))})


async def note_answer(request: Request) -> Response:
    """The writer says yes or no to the koordinator's proposal. Yes: one agenda section in
    the minutes zone, written as the writer's change; no: the agenda stays as it is."""
    a, body = await _posted(request)
    answer = body.get("answer")
    note = await a.own_note(request)
    if answer not in ("yes", "no"):
        raise BadRequest("notes.error.bad")
    a.open_for_change()
    async with _answer_locks.setdefault(note.id, asyncio.Lock()):
        note = await a.own_note(request)  # as it is now, after any answer just made
        if not note.proposed:
            raise Conflict("notes.error.no_proposal")
        item_id = None
        if answer == "yes":
            item_id = await _put_on_agenda(a, note)
        try:
            answered = await a.services.repos.meeting_notes.answer(
                a.meeting.id, note.id, answer, item_id
            )
        except storage_errors.Conflict:
            raise Conflict("notes.error.no_proposal") from None
    a.audit(request, "note_answer", answered)
    await a.tell(answered)
    return JSONResponse({"note": note_view(answered, a.v.user.id, await _names(a))})


def agenda_section(text: str) -> dict[str, Any]:
    """The agenda section a note becomes: its first line as the title (cut at a word,
    AGENDA_TITLE_CHARS at most) and the whole note, a paragraph per line, as the body."""
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    title = lines[0] if lines else text.strip()
    if len(title) > AGENDA_TITLE_CHARS:
        cut = title[:AGENDA_TITLE_CHARS].rsplit(" ", 1)[0] or title[:AGENDA_TITLE_CHARS]
        title = cut.rstrip() + " …"
    body = lines if (len(lines) > 1 or title != text.strip()) else []
    return {"id": new_id(), "title": title, "body": body, "decision": ""}


async def _put_on_agenda(a: _Ask, note: NoteRecord) -> str:
    if a.meeting.zone_id is None:
        raise NotFound("notes.error.no_meeting")
    section = agenda_section(note.text)

    def change(doc: Doc[Any]) -> str:
        return append_item(get_root(doc, MINUTES, AGENDA), section)

    try:
        item_id: str = await a.services.registry.edit(
            a.meeting.zone_id, change, MINUTES, actor=a.v.user.id
        )
    except RoomWriteFailed:
        log.error("note to agenda failed meeting_id=%s note_id=%s", a.meeting.id, note.id)
        raise PageError(503, "error.generic") from None
    return item_id
