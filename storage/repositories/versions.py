"""Plan versions and published minutes: frozen copies of what people wrote (DESIGN.md §2, §5).

Both are immutable records. This repository inserts rows and reads them; the only update it
has is `approve_minutes`, which sets the approval fields of a published version once (and a
purge, `purge_versions`, which deletes versions outright). A
correction is a new row (version number n+1), never an edit of an old one, and history is
deleted only with the plan (ON DELETE CASCADE) or by a purge.

Storage never imports crdt: the zone copies arrive as bytes and JSON text, made by the server.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime

from sqlalchemy import Select, delete, func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from storage.db import write_session
from storage.errors import AlreadyExists, Conflict, InvalidValue, NotFound
from storage.models import (
    VERSION_KINDS,
    Plan,
    PlanVersion,
    PlanVersionZone,
    PublishedMinutes,
    User,
    Zone,
    ZoneSnapshot,
    ZoneUpdate,
    utcnow,
)

log = logging.getLogger(__name__)

NAME_MAX = 200


@dataclass(frozen=True, slots=True)
class ZoneCopy:
    """One zone's full state: the Yjs update of the whole document and its readable JSON."""

    kind: str
    key: str
    title: str
    state: bytes
    data: str


@dataclass(frozen=True, slots=True)
class VersionRecord:
    id: int
    plan_id: str
    kind: str
    name: str | None
    day: date | None
    created_by: int | None
    created_by_name: str | None
    created_at: datetime


@dataclass(frozen=True, slots=True)
class MinutesRecord:
    """A published version of one meeting's minutes; `content` is exactly what was hashed.

    `content_user_ids` says who the user ids inside `content` are here ({id inside content:
    users.id}); None when the minutes were published in this database, so their ids are ours
    (see models.PublishedMinutes)."""

    id: int
    plan_id: str
    meeting_id: str
    number: int
    title: str
    content: str
    sha256: str
    plan_version_id: int | None
    published_by: int | None
    published_by_name: str | None
    published_at: datetime
    approved_by: int | None
    approved_by_name: str | None
    approved_role: str | None
    approved_at: datetime | None
    content_user_ids: dict[str, int] | None = None
    # The seals and the origin (models.PublishedMinutes, server/core/seals.py).
    hash_version: int = 1
    publication: str | None = None
    publication_sha256: str | None = None
    approval: str | None = None
    approval_sha256: str | None = None
    published_here: bool = True


# Given the version number and the time of publishing, the publication record to seal (the
# server writes it: storage knows no record format).
PublicationSeal = Callable[[int, datetime], str]
# Given the version as stored and the time of approving, the approval record to seal.
ApprovalSeal = Callable[["MinutesRecord", datetime], str]


def _sha256(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def user_ids_json(user_ids: Mapping[str, int] | None) -> str | None:
    """The stored form of `content_user_ids`: one spelling, keys sorted."""
    if user_ids is None:
        return None
    return json.dumps({str(k): int(v) for k, v in user_ids.items()}, sort_keys=True)


def user_ids_from_json(raw: str | None) -> dict[str, int] | None:
    if raw is None:
        return None
    value = json.loads(raw)
    return {str(k): int(v) for k, v in value.items()}


def _version(row: PlanVersion, name: str | None) -> VersionRecord:
    return VersionRecord(
        row.id, row.plan_id, row.kind, row.name, row.day, row.created_by, name, row.created_at
    )


def _minutes(row: PublishedMinutes, names: dict[int, str]) -> MinutesRecord:
    return MinutesRecord(
        row.id,
        row.plan_id,
        row.meeting_id,
        row.number,
        row.title,
        row.content,
        row.sha256,
        row.plan_version_id,
        row.published_by,
        names.get(row.published_by) if row.published_by else None,
        row.published_at,
        row.approved_by,
        names.get(row.approved_by) if row.approved_by else None,
        row.approved_role,
        row.approved_at,
        user_ids_from_json(row.content_user_ids),
        row.hash_version,
        row.publication,
        row.publication_sha256,
        row.approval,
        row.approval_sha256,
        row.published_here,
    )


async def _names(session: AsyncSession, ids: Collection[int | None]) -> dict[int, str]:
    wanted = {i for i in ids if i is not None}
    if not wanted:
        return {}
    rows = await session.execute(select(User.id, User.name).where(User.id.in_(wanted)))
    return {int(r.id): str(r.name) for r in rows}


def _add_version(
    session: AsyncSession,
    plan_id: str,
    kind: str,
    name: str | None,
    day: date | None,
    created_by: int | None,
) -> PlanVersion:
    version = PlanVersion(
        plan_id=plan_id, kind=kind, name=name, day=day, created_by=created_by, created_at=utcnow()
    )
    session.add(version)
    return version


def _add_zones(session: AsyncSession, version_id: int, zones: Sequence[ZoneCopy]) -> None:
    for zone in zones:
        session.add(
            PlanVersionZone(
                version_id=version_id,
                zone_kind=zone.kind,
                zone_key=zone.key,
                zone_title=zone.title,
                state=zone.state,
                data=zone.data,
            )
        )


class VersionRepo:
    """Insert-only store of plan versions and published minutes (see the module docstring)."""

    def __init__(self, sessionmaker: async_sessionmaker[AsyncSession]) -> None:
        self._sessionmaker = sessionmaker

    # -- plan versions --------------------------------------------------------------------

    async def create_version(
        self,
        plan_id: str,
        kind: str,
        zones: Sequence[ZoneCopy],
        *,
        name: str | None = None,
        created_by: int | None = None,
        day: date | None = None,
    ) -> VersionRecord:
        """Store a version with its zone copies in one transaction.

        A 'daily' version needs `day`: the unique (plan_id, kind, day) constraint lets only
        one caller (one server node) claim a plan's day; the others get AlreadyExists.
        """
        if kind not in VERSION_KINDS or kind == "published":
            raise InvalidValue(f"unknown version kind {kind!r} (published: publish_minutes)")
        if (kind == "daily") != (day is not None):
            raise InvalidValue("a day is given for daily versions, and only for them")
        if name is not None:
            name = name.strip()
            if not name or len(name) > NAME_MAX:
                raise InvalidValue(f"a version name is 1-{NAME_MAX} characters")
        if kind == "named" and not name:
            raise InvalidValue("a named version needs a name")
        try:
            async with write_session(self._sessionmaker) as session:
                if await session.get(Plan, plan_id) is None:
                    raise NotFound(f"plan {plan_id} does not exist")
                version = _add_version(session, plan_id, kind, name, day, created_by)
                await session.flush()
                _add_zones(session, version.id, zones)
                record_name = (await _names(session, [created_by])).get(created_by or 0)
                record = _version(version, record_name)
        except IntegrityError as exc:
            raise AlreadyExists(f"plan {plan_id} already has a {kind} version for {day}") from exc
        log.info("plan version stored plan_id=%s version_id=%s kind=%s", plan_id, record.id, kind)
        return record

    async def list_versions(self, plan_id: str) -> list[VersionRecord]:
        """Newest first."""
        async with self._sessionmaker() as session:
            rows = list(
                await session.scalars(
                    select(PlanVersion)
                    .where(PlanVersion.plan_id == plan_id)
                    .order_by(PlanVersion.created_at.desc(), PlanVersion.id.desc())
                )
            )
            names = await _names(session, [r.created_by for r in rows])
        return [_version(r, names.get(r.created_by or 0)) for r in rows]

    async def get_version(self, plan_id: str, version_id: int) -> VersionRecord | None:
        """None for a version of another plan as for one that does not exist."""
        async with self._sessionmaker() as session:
            row = await session.scalar(
                select(PlanVersion).where(
                    PlanVersion.id == version_id, PlanVersion.plan_id == plan_id
                )
            )
            if row is None:
                return None
            names = await _names(session, [row.created_by])
        return _version(row, names.get(row.created_by or 0))

    async def version_zones(self, version_id: int) -> list[ZoneCopy]:
        async with self._sessionmaker() as session:
            rows = await session.scalars(
                select(PlanVersionZone)
                .where(PlanVersionZone.version_id == version_id)
                .order_by(PlanVersionZone.id)
            )
            return [
                ZoneCopy(r.zone_kind, r.zone_key, r.zone_title, bytes(r.state), r.data)
                for r in rows
            ]

    async def plans_changed_since_last_version(self, zone_kinds: Collection[str]) -> list[str]:
        """Plans (active ones) whose zones of `zone_kinds` were written after the plan's
        newest version, or that have content and no version at all: the daily task's list.

        A write is seen in the update log, or in a snapshot's time once compaction has folded
        the log (a snapshot is only replaced when there were new updates).
        """
        async with self._sessionmaker() as session:
            last_update = await _latest_by_plan(
                session,
                select(Zone.plan_id, func.max(ZoneUpdate.created_at))
                .join(ZoneUpdate, ZoneUpdate.zone_id == Zone.id)
                .where(Zone.kind.in_(zone_kinds))
                .group_by(Zone.plan_id),
            )
            last_snapshot = await _latest_by_plan(
                session,
                select(Zone.plan_id, func.max(ZoneSnapshot.updated_at))
                .join(ZoneSnapshot, ZoneSnapshot.zone_id == Zone.id)
                .where(Zone.kind.in_(zone_kinds))
                .group_by(Zone.plan_id),
            )
            last_version = await _latest_by_plan(
                session,
                select(PlanVersion.plan_id, func.max(PlanVersion.created_at)).group_by(
                    PlanVersion.plan_id
                ),
            )
            active = set(await session.scalars(select(Plan.id).where(Plan.status == "active")))
        changed = []
        for plan_id in sorted(set(last_update) | set(last_snapshot)):
            stamps = [s for s in (last_update.get(plan_id), last_snapshot.get(plan_id)) if s]
            versioned = last_version.get(plan_id)
            if plan_id in active and (versioned is None or max(stamps) > versioned):
                changed.append(plan_id)
        return changed

    async def purge_versions(self, plan_id: str, *, before: datetime | None = None) -> int:
        """Delete a plan's versions (all, or those created before `before`) with their zone
        copies: the purge of health data that versions would otherwise keep. Published
        minutes stay (their link to the version becomes NULL). Returns how many went."""
        where = [PlanVersion.plan_id == plan_id]
        if before is not None:
            where.append(PlanVersion.created_at < before)
        async with write_session(self._sessionmaker) as session:
            ids = list(await session.scalars(select(PlanVersion.id).where(*where)))
            if ids:
                await session.execute(
                    delete(PlanVersionZone).where(PlanVersionZone.version_id.in_(ids))
                )
                await session.execute(
                    update(PublishedMinutes)
                    .where(PublishedMinutes.plan_version_id.in_(ids))
                    .values(plan_version_id=None)
                )
                await session.execute(delete(PlanVersion).where(PlanVersion.id.in_(ids)))
        log.info("plan versions purged plan_id=%s count=%d", plan_id, len(ids))
        return len(ids)

    # -- published minutes ----------------------------------------------------------------

    async def publish_minutes(
        self,
        plan_id: str,
        meeting_id: str,
        title: str,
        content: str,
        sha256: str,
        published_by: int | None,
        zones: Sequence[ZoneCopy],
        seal: PublicationSeal,
    ) -> MinutesRecord:
        """Store minutes as version n+1 of the meeting, with a plan version of kind
        'published', in one transaction, sealed (hash scheme 2) by the record `seal` writes
        for its number and time. Refuses (Conflict) content whose hash equals the newest
        published version's: publishing twice changes nothing."""
        try:
            async with write_session(self._sessionmaker) as session:
                if await session.get(Plan, plan_id) is None:
                    raise NotFound(f"plan {plan_id} does not exist")
                latest = await session.scalar(
                    select(PublishedMinutes)
                    .where(
                        PublishedMinutes.plan_id == plan_id,
                        PublishedMinutes.meeting_id == meeting_id,
                    )
                    .order_by(PublishedMinutes.number.desc())
                    .limit(1)
                )
                if latest is not None and latest.sha256 == sha256:
                    raise Conflict(
                        f"minutes of meeting {meeting_id} are unchanged since version "
                        f"{latest.number}"
                    )
                number = 1 if latest is None else latest.number + 1
                version = _add_version(session, plan_id, "published", None, None, published_by)
                await session.flush()
                _add_zones(session, version.id, zones)
                publication = seal(number, version.created_at)
                row = PublishedMinutes(
                    plan_id=plan_id,
                    meeting_id=meeting_id,
                    number=number,
                    title=title,
                    content=content,
                    sha256=sha256,
                    plan_version_id=version.id,
                    published_by=published_by,
                    published_at=version.created_at,
                    hash_version=2,
                    publication=publication,
                    publication_sha256=_sha256(publication),
                    published_here=True,
                )
                session.add(row)
                await session.flush()
                record = _minutes(row, await _names(session, [published_by]))
        except IntegrityError as exc:
            # Two publications of one meeting at the same instant: the second loses.
            raise Conflict(f"minutes of meeting {meeting_id} were published meanwhile") from exc
        log.info(
            "minutes published plan_id=%s meeting_id=%s number=%s", plan_id, meeting_id, number
        )
        return record

    async def list_published(
        self, plan_id: str, meeting_id: str | None = None
    ) -> list[MinutesRecord]:
        """Newest first; of one meeting, or of the whole plan."""
        query = select(PublishedMinutes).where(PublishedMinutes.plan_id == plan_id)
        if meeting_id is not None:
            query = query.where(PublishedMinutes.meeting_id == meeting_id)
        async with self._sessionmaker() as session:
            rows = list(
                await session.scalars(
                    query.order_by(PublishedMinutes.published_at.desc(), PublishedMinutes.id.desc())
                )
            )
            names = await _names(
                session, [u for r in rows for u in (r.published_by, r.approved_by)]
            )
        return [_minutes(r, names) for r in rows]

    async def get_published(
        self, plan_id: str, meeting_id: str, number: int
    ) -> MinutesRecord | None:
        async with self._sessionmaker() as session:
            row = await session.scalar(
                select(PublishedMinutes).where(
                    PublishedMinutes.plan_id == plan_id,
                    PublishedMinutes.meeting_id == meeting_id,
                    PublishedMinutes.number == number,
                )
            )
            if row is None:
                return None
            names = await _names(session, [row.published_by, row.approved_by])
        return _minutes(row, names)

    async def approve_minutes(
        self,
        plan_id: str,
        meeting_id: str,
        number: int,
        approved_by: int,
        role: str,
        seal: ApprovalSeal,
    ) -> MinutesRecord:
        """The one update this repository has: record who approved a published version, and
        when, once, with the approval record `seal` writes and its hash. NotFound for no such
        version; Conflict when it is approved already."""
        async with write_session(self._sessionmaker) as session:
            row = await session.scalar(
                select(PublishedMinutes).where(
                    PublishedMinutes.plan_id == plan_id,
                    PublishedMinutes.meeting_id == meeting_id,
                    PublishedMinutes.number == number,
                )
            )
            if row is None:
                raise NotFound(f"no published version {number} of meeting {meeting_id}")
            now = utcnow()
            approval = seal(_minutes(row, {}), now)
            changed = await session.execute(
                update(PublishedMinutes)
                .where(PublishedMinutes.id == row.id, PublishedMinutes.approved_at.is_(None))
                .values(
                    approved_by=approved_by,
                    approved_role=role,
                    approved_at=now,
                    approval=approval,
                    approval_sha256=_sha256(approval),
                )
            )
            if getattr(changed, "rowcount", 0) != 1:
                raise Conflict(f"version {number} of meeting {meeting_id} is approved already")
            await session.refresh(row)
            record = _minutes(row, await _names(session, [row.published_by, row.approved_by]))
        log.info("minutes approved plan_id=%s meeting_id=%s number=%s", plan_id, meeting_id, number)
        return record


async def _latest_by_plan(
    session: AsyncSession, query: Select[str, datetime]
) -> dict[str, datetime]:
    rows = (await session.execute(query)).all()
    return {str(row[0]): _utc(row[1]) for row in rows if row[1] is not None}


def _utc(value: datetime | str) -> datetime:
    """max() over a UTCDateTime column may come back naive, or as text, on SQLite."""
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
