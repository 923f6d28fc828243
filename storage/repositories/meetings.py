"""Meetings: scheduling, agenda and invitees (SQL is the authority on who is invited, DESIGN §2).

A scheduled meeting owns a `minutes/<meeting-id>` zone; `schedule` creates the meeting row,
its invitees and that zone row in one transaction, so a meeting never exists without the
place its minutes are written. What people write in the minutes lives in the CRDT zone.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Collection, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, delete, or_, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from storage.db import write_session
from storage.errors import AlreadyExists, InvalidValue, NotFound
from storage.models import (
    ZONE_KEY_RULE,
    Meeting,
    MeetingInvitee,
    Membership,
    Plan,
    Zone,
    is_zone_key,
    new_meeting_id,
    utcnow,
)

log = logging.getLogger(__name__)

REF_KINDS = ("measure", "goal")


@dataclass(frozen=True, slots=True)
class AgendaRef:
    kind: str  # "measure" | "goal"
    area_key: str
    item_id: str


@dataclass(frozen=True, slots=True)
class AgendaItem:
    id: str
    title: str
    ref: AgendaRef | None = None

    def to_json(self) -> dict[str, Any]:
        ref = self.ref
        return {
            "id": self.id,
            "title": self.title,
            "ref": None
            if ref is None
            else {"kind": ref.kind, "areaKey": ref.area_key, "itemId": ref.item_id},
        }


@dataclass(frozen=True, slots=True)
class MeetingRecord:
    id: str
    plan_id: str
    title: str
    starts_at: datetime
    ends_at: datetime | None
    place: str | None
    video_link: str | None
    agenda: tuple[AgendaItem, ...]
    invitee_ids: tuple[int, ...]
    created_by_user_id: int | None
    cancelled_at: datetime | None
    zone_id: int | None = field(default=None)
    updated_at: datetime | None = field(default=None)
    sequence: int = field(default=0)  # edits so far: the .ics SEQUENCE (RFC 5545)

    @property
    def cancelled(self) -> bool:
        return self.cancelled_at is not None


def agenda_from_json(text: str) -> tuple[AgendaItem, ...]:
    """Read the stored agenda; an unreadable entry is skipped, never guessed at."""
    try:
        raw = json.loads(text or "[]")
    except ValueError:
        return ()
    items = []
    for entry in raw if isinstance(raw, list) else []:
        if not isinstance(entry, dict) or not isinstance(entry.get("id"), str):
            continue
        ref = entry.get("ref")
        parsed = None
        if isinstance(ref, dict) and ref.get("kind") in REF_KINDS:
            parsed = AgendaRef(str(ref["kind"]), str(ref.get("areaKey")), str(ref.get("itemId")))
        items.append(AgendaItem(entry["id"], str(entry.get("title") or ""), parsed))
    return tuple(items)


def agenda_json(agenda: Sequence[AgendaItem]) -> str:
    """The stored form of an agenda (checked: unique ids, every item titled)."""
    ids = [item.id for item in agenda]
    if len(set(ids)) != len(ids):
        raise InvalidValue("agenda item ids must be unique")
    for item in agenda:
        if not item.id or not item.title.strip():
            raise InvalidValue("every agenda item has an id and a title")
        if item.ref is not None and item.ref.kind not in REF_KINDS:
            raise InvalidValue(f"an agenda reference is to a {' or '.join(REF_KINDS)}")
    return json.dumps([item.to_json() for item in agenda], ensure_ascii=False)


def _record(meeting: Meeting, invitees: Sequence[int], zone_id: int | None) -> MeetingRecord:
    return MeetingRecord(
        id=meeting.id,
        plan_id=meeting.plan_id,
        title=meeting.title,
        starts_at=meeting.starts_at,
        ends_at=meeting.ends_at,
        place=meeting.place,
        video_link=meeting.video_link,
        agenda=agenda_from_json(meeting.agenda),
        invitee_ids=tuple(sorted(invitees)),
        created_by_user_id=meeting.created_by_user_id,
        cancelled_at=meeting.cancelled_at,
        zone_id=zone_id,
        updated_at=meeting.updated_at,
        sequence=meeting.sequence or 0,
    )


def _checked(
    title: str,
    starts_at: datetime,
    ends_at: datetime,
    place: str | None,
    video_link: str | None,
    invitee_ids: Collection[int],
) -> list[int]:
    """The rules every scheduled or edited meeting keeps; the sorted invitee ids."""
    if starts_at.tzinfo is None or ends_at.tzinfo is None:
        raise InvalidValue("meeting times must carry a time zone")
    if ends_at <= starts_at:
        raise InvalidValue("a meeting must end after it starts")
    if not title.strip():
        raise InvalidValue("meeting title must not be empty")
    if not (place or video_link):
        raise InvalidValue("a meeting needs a place or a video link")
    invitees = sorted(set(invitee_ids))
    if not invitees:
        raise InvalidValue("a meeting needs at least one invitee")
    return invitees


class MeetingRepo:
    def __init__(self, sessionmaker: async_sessionmaker[AsyncSession]) -> None:
        self._sessionmaker = sessionmaker

    async def schedule(
        self,
        plan_id: str,
        *,
        title: str,
        starts_at: datetime,
        ends_at: datetime,
        place: str | None,
        video_link: str | None,
        agenda: Sequence[AgendaItem],
        invitee_ids: Collection[int],
        created_by_user_id: int | None,
        meeting_id: str | None = None,
    ) -> MeetingRecord:
        """Create the meeting, its invitees and its minutes zone row in one transaction.

        Invitees must be members of the plan; at least one is needed.
        """
        meeting_id = meeting_id or new_meeting_id()
        if not is_zone_key(meeting_id):
            raise InvalidValue(f"meeting id {meeting_id!r} is not valid: use {ZONE_KEY_RULE}")
        invitees = _checked(title, starts_at, ends_at, place, video_link, invitee_ids)
        agenda_text = agenda_json(agenda)
        async with write_session(self._sessionmaker) as session:
            if await session.get(Plan, plan_id) is None:
                raise NotFound(f"plan {plan_id} does not exist")
            if await session.get(Meeting, meeting_id) is not None:
                raise AlreadyExists(f"meeting {meeting_id} already exists")
            await self._check_members(session, plan_id, invitees)
            meeting = Meeting(
                id=meeting_id,
                plan_id=plan_id,
                title=title.strip(),
                starts_at=starts_at,
                ends_at=ends_at,
                place=place or None,
                video_link=video_link or None,
                agenda=agenda_text,
                created_by_user_id=created_by_user_id,
                updated_at=utcnow(),
            )
            session.add(meeting)
            await session.flush()
            session.add_all(MeetingInvitee(meeting_id=meeting_id, user_id=u) for u in invitees)
            zone = Zone(plan_id=plan_id, kind="minutes", key=meeting_id, title=meeting.title)
            session.add(zone)
            await session.flush()
            record = _record(meeting, invitees, zone.id)
        log.info("meeting scheduled plan_id=%s meeting_id=%s", plan_id, meeting_id)
        return record

    async def update(
        self,
        plan_id: str,
        meeting_id: str,
        *,
        title: str,
        starts_at: datetime,
        ends_at: datetime,
        place: str | None,
        video_link: str | None,
        invitee_ids: Collection[int],
    ) -> MeetingRecord:
        """Reschedule: replace title, times, place, link and invitees in one transaction,
        bump `updated_at` and the edit count `sequence`. The agenda stays as it is (once the
        minutes exist, it is edited there). A cancelled meeting is not edited (InvalidValue).
        """
        invitees = _checked(title, starts_at, ends_at, place, video_link, invitee_ids)
        async with write_session(self._sessionmaker) as session:
            meeting = await session.get(Meeting, meeting_id)
            if meeting is None or meeting.plan_id != plan_id:
                raise NotFound(f"meeting {meeting_id} does not exist in plan {plan_id}")
            if meeting.cancelled_at is not None:
                raise InvalidValue("a cancelled meeting cannot be edited")
            await self._check_members(session, plan_id, invitees)
            meeting.title = title.strip()
            meeting.starts_at, meeting.ends_at = starts_at, ends_at
            meeting.place, meeting.video_link = place or None, video_link or None
            meeting.updated_at = utcnow()
            meeting.sequence = (meeting.sequence or 0) + 1
            await session.execute(
                delete(MeetingInvitee).where(MeetingInvitee.meeting_id == meeting_id)
            )
            session.add_all(MeetingInvitee(meeting_id=meeting_id, user_id=u) for u in invitees)
            zone = await session.scalar(
                select(Zone).where(
                    Zone.plan_id == plan_id, Zone.kind == "minutes", Zone.key == meeting_id
                )
            )
            if zone is not None:
                zone.title = meeting.title
            await session.flush()
            record = _record(meeting, invitees, zone.id if zone is not None else None)
        log.info("meeting updated plan_id=%s meeting_id=%s", plan_id, meeting_id)
        return record

    @staticmethod
    async def _check_members(session: AsyncSession, plan_id: str, user_ids: Sequence[int]) -> None:
        found = set(
            await session.scalars(
                select(Membership.user_id).where(
                    Membership.plan_id == plan_id, Membership.user_id.in_(user_ids)
                )
            )
        )
        missing = sorted(set(user_ids) - found)
        if missing:
            raise InvalidValue(f"users {missing} are not members of plan {plan_id}")

    async def get(self, plan_id: str, meeting_id: str) -> MeetingRecord | None:
        records = await self._load(plan_id, meeting_id)
        return records[0] if records else None

    async def list_for_plan(self, plan_id: str) -> list[MeetingRecord]:
        """Every meeting of the plan, earliest first (cancelled ones too: the caller shows them)."""
        return await self._load(plan_id, None)

    async def starting_between(self, start: datetime, end: datetime) -> list[MeetingRecord]:
        """Meetings not cancelled that start in [start, end), in every plan (reminders)."""
        return await self._load(
            None,
            None,
            Meeting.starts_at >= start,
            Meeting.starts_at < end,
            Meeting.cancelled_at.is_(None),
        )

    async def _load(
        self, plan_id: str | None, meeting_id: str | None, *where: ColumnElement[bool]
    ) -> list[MeetingRecord]:
        async with self._sessionmaker() as session:
            query = select(Meeting, Zone.id).outerjoin(
                Zone,
                (Zone.plan_id == Meeting.plan_id)
                & (Zone.kind == "minutes")
                & (Zone.key == Meeting.id),
            )
            if plan_id is not None:
                query = query.where(Meeting.plan_id == plan_id)
            if meeting_id is not None:
                query = query.where(Meeting.id == meeting_id)
            query = query.where(*where)
            rows = list(await session.execute(query.order_by(Meeting.starts_at, Meeting.id)))
            ids = [meeting.id for meeting, _ in rows]
            invitees: dict[str, list[int]] = {}
            if ids:
                for mid, uid in await session.execute(
                    select(MeetingInvitee.meeting_id, MeetingInvitee.user_id).where(
                        MeetingInvitee.meeting_id.in_(ids)
                    )
                ):
                    invitees.setdefault(mid, []).append(uid)
            return [_record(m, invitees.get(m.id, []), zid) for m, zid in rows]

    async def next_by_plan(
        self, user_id: int, now: datetime, see_all_roles: Collection[str] = ()
    ) -> dict[str, MeetingRecord]:
        """Per plan the user is a member of: its next meeting that has not started and is not
        cancelled, among those the user is invited to (or all, for `see_all_roles`)."""
        invited = (
            select(MeetingInvitee.meeting_id)
            .where(MeetingInvitee.meeting_id == Meeting.id, MeetingInvitee.user_id == user_id)
            .exists()
        )
        async with self._sessionmaker() as session:
            rows = await session.scalars(
                select(Meeting)
                .join(Membership, Membership.plan_id == Meeting.plan_id)
                .where(
                    Membership.user_id == user_id,
                    Meeting.cancelled_at.is_(None),
                    Meeting.starts_at >= now,
                    or_(invited, Membership.role.in_(list(see_all_roles))),
                )
                .order_by(Meeting.starts_at, Meeting.id)
            )
            nearest: dict[str, MeetingRecord] = {}
            for meeting in rows:
                if meeting.plan_id not in nearest:
                    nearest[meeting.plan_id] = _record(meeting, [], None)
            return nearest

    async def set_invitees(self, meeting_id: str, user_ids: Collection[int]) -> None:
        """Replace the invitees (members of the meeting's plan only)."""
        wanted = sorted(set(user_ids))
        async with write_session(self._sessionmaker) as session:
            meeting = await session.get(Meeting, meeting_id)
            if meeting is None:
                raise NotFound(f"meeting {meeting_id} does not exist")
            await self._check_members(session, meeting.plan_id, wanted)
            await session.execute(
                delete(MeetingInvitee).where(MeetingInvitee.meeting_id == meeting_id)
            )
            session.add_all(MeetingInvitee(meeting_id=meeting_id, user_id=u) for u in wanted)
            meeting.updated_at = utcnow()

    async def set_details(
        self,
        meeting_id: str,
        *,
        agenda: Sequence[AgendaItem] | None = None,
        video_link: str | None = None,
    ) -> None:
        """Replace the agenda and/or the video link (None leaves a value as it is)."""
        async with write_session(self._sessionmaker) as session:
            meeting = await session.get(Meeting, meeting_id)
            if meeting is None:
                raise NotFound(f"meeting {meeting_id} does not exist")
            if agenda is not None:
                meeting.agenda = agenda_json(agenda)
            if video_link is not None:
                meeting.video_link = video_link or None
            meeting.updated_at = utcnow()

    async def cancel(self, meeting_id: str) -> bool:
        """Mark the meeting cancelled; False when it already was. Its minutes zone stays."""
        async with write_session(self._sessionmaker) as session:
            meeting = await session.get(Meeting, meeting_id)
            if meeting is None:
                raise NotFound(f"meeting {meeting_id} does not exist")
            if meeting.cancelled_at is not None:
                return False
            meeting.cancelled_at = meeting.updated_at = utcnow()
        log.info("meeting cancelled meeting_id=%s", meeting_id)
        return True
