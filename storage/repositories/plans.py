"""Plans, their zones and members: the SQL side of who may do what (DESIGN.md §2-3).

Methods return detached ORM rows (`Plan`, `Zone`, `Membership`), fully loaded and safe to read
after the transaction; changing them changes nothing in the database. Meetings are
MeetingRepo's alone (storage/repositories/meetings.py), so their rules live in one place.
Every membership change bumps `plans.access_version` in the same transaction, so any process
polling `access_versions` notices it and re-checks open connections.
"""

from __future__ import annotations

import asyncio
import json
import logging
import sqlite3
from collections.abc import Collection, Mapping
from dataclasses import asdict, dataclass
from datetime import date, datetime
from typing import Any

from sqlalchemy import bindparam, delete, func, insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from storage.db import (
    POSTGRES_POOL_SIZE,
    engine_of,
    scrub_deleted,
    sqlite_zone_log,
    statement_connection,
    vacuum,
    write_session,
)
from storage.errors import AlreadyExists, Conflict, InvalidValue, NotFound
from storage.models import (
    KEYLESS_ZONE_KINDS,
    PLAN_STATUSES,
    ROLES,
    ZONE_KEY_RULE,
    ZONE_KINDS,
    Consent,
    Meeting,
    Membership,
    Municipality,
    Notification,
    Plan,
    PlanVersion,
    PublishedMinutes,
    User,
    Zone,
    ZoneSnapshot,
    ZoneSummary,
    ZoneUpdate,
    is_zone_key,
    utcnow,
)
from storage.repositories.consents import (
    CONSENT_COLUMNS,
    MemberAccess,
    consent_record,
    member_in_force,
)


@dataclass(frozen=True, slots=True)
class ConnectionContext:
    plan_id: str
    access_version: int
    zone_id: int
    role: str
    user_name: str
    plan_closed: bool = False


@dataclass(frozen=True, slots=True)
class JoinCheck:
    """What a WebSocket join is decided on, read in one statement (one snapshot): whether the
    account may act at all, the zone and the member's role (`context`, None when the plan or
    zone does not exist or the user is not a member) and the member's current consent
    (`member`, as `ConsentRepo.member_access` gives it)."""

    active: bool  # the account exists and is not deactivated
    context: ConnectionContext | None
    member: MemberAccess | None


# PlanRepo.join_check's one statement. Rooted at the user, so a deactivated or unknown
# account is told apart from a non-member; the consent join is ConsentRepo.member_access's
# (the member's newest current row). A constant, so the SQLite fast path compiles it once.
_JOIN_CHECK = (
    select(
        User.deactivated_at,
        User.name,
        Membership.role,
        Plan.access_version,
        Plan.status,
        Plan.draft,
        Zone.id,
        Zone.retired_at,
        *CONSENT_COLUMNS,
    )
    .select_from(User)
    .outerjoin(
        Membership,
        (Membership.user_id == User.id) & (Membership.plan_id == bindparam("plan_id")),
    )
    .outerjoin(Plan, Plan.id == Membership.plan_id)
    .outerjoin(
        Zone,
        (Zone.plan_id == Plan.id)
        & (Zone.kind == bindparam("kind"))
        & (Zone.key == bindparam("key")),
    )
    .outerjoin(
        Consent,
        (Consent.plan_id == Membership.plan_id)
        & (Consent.user_id == Membership.user_id)
        & Consent.revoked_at.is_(None),
    )
    .where(User.id == bindparam("user_id"))
    .order_by(Consent.id.desc())
    .limit(1)
)


@dataclass(frozen=True, slots=True)
class PlanRows:
    """How many rows a plan owns (and a deletion removes): numbers for the access log and
    `samplan purge`, never content."""

    zones: int
    updates: int
    snapshots: int
    summaries: int
    members: int
    consents: int
    meetings: int
    versions: int
    published_minutes: int
    notifications: int

    def counts(self) -> dict[str, int]:
        return asdict(self)


log = logging.getLogger(__name__)

_IN_CHUNK = 500  # stay far below SQLite's bound-parameter limit

CONTENT_TITLE = "Felles del"
COMMENTS_TITLE = "Kommentarer"


def _required(value: str, what: str) -> str:
    value = value.strip()
    if not value:
        raise InvalidValue(f"{what} must not be empty")
    return value


def _check_zone(kind: str, key: str) -> None:
    if kind not in ZONE_KINDS:
        raise InvalidValue(f"unknown zone kind {kind!r}; expected one of {', '.join(ZONE_KINDS)}")
    if kind in KEYLESS_ZONE_KINDS:
        if key != "":
            raise InvalidValue(f"a {kind} zone has no key")
    elif not is_zone_key(key):
        raise InvalidValue(f"{kind} key {key!r} is not valid: use {ZONE_KEY_RULE}")


def _check_role(role: str) -> None:
    if role not in ROLES:
        raise InvalidValue(f"unknown role {role!r}; expected one of {', '.join(ROLES)}")


async def _bump_access(session: AsyncSession, plan_id: str) -> None:
    await session.execute(
        update(Plan)
        .where(Plan.id == plan_id)
        .values(access_version=Plan.access_version + 1)
        .execution_options(synchronize_session=False)
    )


async def _count_owned(session: AsyncSession, plan_id: str) -> PlanRows:
    zone_ids = select(Zone.id).where(Zone.plan_id == plan_id).scalar_subquery()

    async def count(column: Any, *where: Any) -> int:
        return int(await session.scalar(select(func.count(column)).where(*where)) or 0)

    return PlanRows(
        zones=await count(Zone.id, Zone.plan_id == plan_id),
        updates=await count(ZoneUpdate.id, ZoneUpdate.zone_id.in_(zone_ids)),
        snapshots=await count(ZoneSnapshot.zone_id, ZoneSnapshot.zone_id.in_(zone_ids)),
        summaries=await count(ZoneSummary.zone_id, ZoneSummary.zone_id.in_(zone_ids)),
        members=await count(Membership.id, Membership.plan_id == plan_id),
        consents=await count(Consent.id, Consent.plan_id == plan_id),
        meetings=await count(Meeting.id, Meeting.plan_id == plan_id),
        versions=await count(PlanVersion.id, PlanVersion.plan_id == plan_id),
        published_minutes=await count(PublishedMinutes.id, PublishedMinutes.plan_id == plan_id),
        notifications=await count(Notification.id, Notification.plan_id == plan_id),
    )


# Every table holding a plan's rows (all reached from `plans` by ON DELETE CASCADE).
_PLAN_TABLES = (
    "zone_updates",
    "zone_snapshots",
    "zone_summaries",
    "zones",
    "memberships",
    "consents",
    "meeting_invitees",
    "meeting_notes",
    "meetings",
    "plan_version_zones",
    "plan_versions",
    "published_minutes",
    "email_outbox",
    "invitations",
    "notifications",
    "plans",
)


# At most this many join checks hold a PostgreSQL connection at once. A room's first minute
# brings its whole meeting at once (50 joins in one turn of the loop): unbounded, the checks
# took every pooled connection and opened overflow ones, and the room's own load, which every
# joiner waits for, queued behind them. Two pooled connections stay free for loads and
# commits. Measured (docs/BENCHMARKS.md, "50 joining at once on PostgreSQL"): the last of 50
# synced at 135 ms instead of 266, with a quarter less CPU.
JOIN_CHECKS_AT_ONCE = POSTGRES_POOL_SIZE - 2


class PlanRepo:
    def __init__(self, sessionmaker: async_sessionmaker[AsyncSession]) -> None:
        self._sessionmaker = sessionmaker
        self._join_checks = asyncio.Semaphore(JOIN_CHECKS_AT_ONCE)

    # -- municipalities -------------------------------------------------------------------

    async def get_or_create_municipality(self, name: str) -> int:
        name = _required(name, "municipality name")
        try:
            async with write_session(self._sessionmaker) as session:
                found = await session.scalar(
                    select(Municipality.id).where(Municipality.name == name)
                )
                if found is not None:
                    return found
                municipality = Municipality(name=name)
                session.add(municipality)
                await session.flush()
                return municipality.id
        except IntegrityError:
            # Another process created it between our look-up and insert.
            async with self._sessionmaker() as session:
                found = await session.scalar(
                    select(Municipality.id).where(Municipality.name == name)
                )
            if found is None:
                raise
            return found

    # -- plans ----------------------------------------------------------------------------

    async def create_plan(
        self,
        municipality_id: int,
        title: str,
        person_name: str,
        demo_key: str | None = None,
        person_birth_date: date | None = None,
    ) -> Plan:
        """Create a plan with its `content` and `comments` zones, in one transaction."""
        plan = Plan(
            municipality_id=municipality_id,
            title=_required(title, "plan title"),
            person_name=_required(person_name, "person name"),
            demo_key=demo_key,
            status="active",
            access_version=0,
            person_birth_date=person_birth_date,
        )
        try:
            async with write_session(self._sessionmaker) as session:
                if await session.get(Municipality, municipality_id) is None:
                    raise NotFound(f"municipality {municipality_id} does not exist")
                if demo_key is not None and await session.scalar(
                    select(Plan.id).where(Plan.demo_key == demo_key)
                ):
                    raise AlreadyExists(f"a plan with demo key {demo_key!r} already exists")
                session.add(plan)
                await session.flush()
                session.add_all(
                    [
                        Zone(
                            plan_id=plan.id, kind="content", key="", title=CONTENT_TITLE, position=0
                        ),
                        Zone(
                            plan_id=plan.id,
                            kind="comments",
                            key="",
                            title=COMMENTS_TITLE,
                            position=0,
                        ),
                    ]
                )
        except IntegrityError as exc:
            raise AlreadyExists(f"a plan with demo key {demo_key!r} already exists") from exc
        log.info("plan created plan_id=%s", plan.id)
        return plan

    async def get_plan(self, plan_id: str) -> Plan | None:
        async with self._sessionmaker() as session:
            return await session.get(Plan, plan_id)

    async def get_plan_by_demo_key(self, demo_key: str) -> Plan | None:
        async with self._sessionmaker() as session:
            return await session.scalar(select(Plan).where(Plan.demo_key == demo_key))

    async def set_plan_status(self, plan_id: str, status: str, at: datetime | None = None) -> bool:
        """Close or reopen a plan; False (and nothing written) when it already has `status`.

        Closing stamps `closed_at` (`at`, default now: retention counts from it) and reopening
        clears it. Either changes who may write, so access_version moves too.
        """
        if status not in PLAN_STATUSES:
            raise InvalidValue(
                f"unknown plan status {status!r}; expected one of {', '.join(PLAN_STATUSES)}"
            )
        if at is not None and at.tzinfo is None:
            raise InvalidValue("a closing time must carry a time zone")
        async with write_session(self._sessionmaker) as session:
            plan = await session.get(Plan, plan_id, with_for_update=True)
            if plan is None:
                raise NotFound(f"plan {plan_id} does not exist")
            if plan.status == status:
                return False
            plan.status = status
            plan.closed_at = (at or utcnow()) if status == "closed" else None
            await _bump_access(session, plan_id)
        log.info("plan status set plan_id=%s status=%s", plan_id, status)
        return True

    async def set_person_birth_date(self, plan_id: str, birth_date: date | None) -> bool:
        """Record (or, with None, forget) the person's birth date; False when unchanged."""
        async with write_session(self._sessionmaker) as session:
            plan = await session.get(Plan, plan_id)
            if plan is None:
                raise NotFound(f"plan {plan_id} does not exist")
            if plan.person_birth_date == birth_date:
                return False
            plan.person_birth_date = birth_date
        log.info("plan birth date set plan_id=%s", plan_id)  # never the date itself
        return True

    async def closed_before(self, cutoff: datetime) -> list[Plan]:
        """Closed plans whose `closed_at` is before `cutoff`, oldest first: what purge takes."""
        async with self._sessionmaker() as session:
            rows = await session.scalars(
                select(Plan)
                .where(Plan.status == "closed", Plan.closed_at < cutoff)
                .order_by(Plan.closed_at, Plan.id)
            )
            return list(rows)

    async def owned_rows(self, plan_id: str) -> PlanRows | None:
        """What deleting the plan would remove (`samplan purge --dry-run`); None: no plan."""
        async with self._sessionmaker() as session:
            if await session.get(Plan, plan_id) is None:
                return None
            return await _count_owned(session, plan_id)

    async def delete_plan(
        self, plan_id: str, *, closed_before: datetime | None = None
    ) -> PlanRows | None:
        """Delete a plan and everything it owns; None when there is no such plan (or, with
        `closed_before`, when it is not closed since before then: a purge never deletes a
        plan reopened after it was listed).

        ON DELETE CASCADE takes its zones (with their update logs, snapshots and summaries),
        memberships, consents and meetings in the same transaction; the access log has no
        foreign keys and keeps every row. Afterwards, on SQLite, the write-ahead log is
        checkpointed and truncated (storage.db.scrub_deleted), so the deleted bytes are in
        neither file: secure_delete has zeroed them in the database pages.
        """
        async with write_session(self._sessionmaker) as session:
            # The row lock makes a concurrent status or membership change wait for us.
            plan = await session.get(Plan, plan_id, with_for_update=True)
            if plan is None:
                return None
            if closed_before is not None and not (
                plan.status == "closed"
                and plan.closed_at is not None
                and plan.closed_at < closed_before
            ):
                return None
            rows = await _count_owned(session, plan_id)
            await session.execute(
                delete(Plan).where(Plan.id == plan_id).execution_options(synchronize_session=False)
            )
        log.info("plan deleted plan_id=%s %s", plan_id, rows.counts())
        await scrub_deleted(engine_of(self._sessionmaker))
        return rows

    async def vacuum_plan_tables(self) -> bool:
        """PostgreSQL: VACUUM the tables a plan's rows live in (after a purge or a deletion
        from the command line); False on SQLite, where delete_plan already scrubbed."""
        return await vacuum(engine_of(self._sessionmaker), _PLAN_TABLES)

    # -- zones ----------------------------------------------------------------------------

    async def add_zone(self, plan_id: str, kind: str, key: str, title: str, position: int) -> Zone:
        _check_zone(kind, key)
        zone = Zone(
            plan_id=plan_id,
            kind=kind,
            key=key,
            title=_required(title, "zone title"),
            position=position,
        )
        try:
            async with write_session(self._sessionmaker) as session:
                await self._add_zone(session, zone)
        except IntegrityError as exc:
            raise AlreadyExists(f"plan {plan_id} already has a {kind} zone {key!r}") from exc
        log.info("zone added plan_id=%s zone_id=%s kind=%s", plan_id, zone.id, kind)
        return zone

    async def _add_zone(self, session: AsyncSession, zone: Zone) -> None:
        if await session.get(Plan, zone.plan_id) is None:
            raise NotFound(f"plan {zone.plan_id} does not exist")
        exists = await session.scalar(
            select(Zone.id).where(
                Zone.plan_id == zone.plan_id, Zone.kind == zone.kind, Zone.key == zone.key
            )
        )
        if exists is not None:
            raise AlreadyExists(f"plan {zone.plan_id} already has a {zone.kind} zone {zone.key!r}")
        session.add(zone)
        await session.flush()

    async def get_zone(self, plan_id: str, kind: str, key: str) -> Zone | None:
        async with self._sessionmaker() as session:
            return await session.scalar(
                select(Zone).where(Zone.plan_id == plan_id, Zone.kind == kind, Zone.key == key)
            )

    async def all_zone_keys(self) -> list[tuple[str, str, str]]:
        """(plan id, kind, key) of every zone, so `samplan migrate` can find zones stored
        under an older, looser key rule. Ids only, never content."""
        async with self._sessionmaker() as session:
            rows = await session.execute(
                select(Zone.plan_id, Zone.kind, Zone.key).order_by(
                    Zone.plan_id, Zone.kind, Zone.key
                )
            )
            return [(plan_id, kind, key) for plan_id, kind, key in rows]

    async def list_zones(self, plan_id: str) -> list[Zone]:
        async with self._sessionmaker() as session:
            rows = await session.scalars(
                select(Zone).where(Zone.plan_id == plan_id).order_by(Zone.position, Zone.id)
            )
            return list(rows)

    # -- members --------------------------------------------------------------------------

    async def add_member(
        self,
        plan_id: str,
        user_id: int,
        role: str,
        unit: str | None = None,
        contribution: str | None = None,
    ) -> Membership:
        """Add a member, or change an existing member's role (upsert).

        `unit` and `contribution` replace the stored values only when given (not None).
        A plan has at most one koordinator: naming a second raises Conflict; change or remove
        the current one first.
        """
        _check_role(role)
        try:
            async with write_session(self._sessionmaker) as session:
                if await session.get(Plan, plan_id) is None:
                    raise NotFound(f"plan {plan_id} does not exist")
                if await session.get(User, user_id) is None:
                    raise NotFound(f"user {user_id} does not exist")
                if role == "koordinator":
                    current = await session.scalar(
                        select(Membership.user_id).where(
                            Membership.plan_id == plan_id,
                            Membership.role == "koordinator",
                            Membership.user_id != user_id,
                        )
                    )
                    if current is not None:
                        raise Conflict(
                            f"plan {plan_id} already has a koordinator (user {current}); "
                            "change or remove that membership first"
                        )
                membership, changed = await self._upsert_member(
                    session, plan_id, user_id, role, unit, contribution
                )
                if changed:
                    await _bump_access(session, plan_id)
        except IntegrityError as exc:
            # The partial unique index caught a koordinator added concurrently elsewhere.
            raise Conflict(f"plan {plan_id} already has a koordinator") from exc
        log.info(
            "member set plan_id=%s user_id=%s role=%s changed=%s", plan_id, user_id, role, changed
        )
        return membership

    @staticmethod
    async def _upsert_member(
        session: AsyncSession,
        plan_id: str,
        user_id: int,
        role: str,
        unit: str | None,
        contribution: str | None,
    ) -> tuple[Membership, bool]:
        membership = await session.scalar(
            select(Membership).where(Membership.plan_id == plan_id, Membership.user_id == user_id)
        )
        if membership is None:
            membership = Membership(
                plan_id=plan_id, user_id=user_id, role=role, unit=unit, contribution=contribution
            )
            session.add(membership)
            await session.flush()
            return membership, True
        wanted = {"role": role}
        if unit is not None:
            wanted["unit"] = unit
        if contribution is not None:
            wanted["contribution"] = contribution
        changed = False
        for name, value in wanted.items():
            if getattr(membership, name) != value:
                setattr(membership, name, value)
                changed = True
        if changed:
            membership.updated_at = utcnow()
            await session.flush()
        return membership, changed

    async def remove_member(
        self, plan_id: str, user_id: int, by_user_id: int | None = None
    ) -> bool:
        """Remove the member and, in the same transaction, end the consent they held: a
        consent is to a member, so someone invited back later sees nothing until the planeier
        consents again (`by_user_id`: who removed them; None for the command line)."""
        async with write_session(self._sessionmaker) as session:
            result = await session.execute(
                delete(Membership)
                .where(Membership.plan_id == plan_id, Membership.user_id == user_id)
                .execution_options(synchronize_session=False)
            )
            removed = bool(result.rowcount)  # type: ignore[attr-defined]
            if removed:
                await session.execute(
                    update(Consent)
                    .where(
                        Consent.plan_id == plan_id,
                        Consent.user_id == user_id,
                        Consent.revoked_at.is_(None),
                    )
                    .values(revoked_at=utcnow(), revoked_by_user_id=by_user_id)
                    .execution_options(synchronize_session=False)
                )
                await _bump_access(session, plan_id)
        log.info("member removed plan_id=%s user_id=%s removed=%s", plan_id, user_id, removed)
        return removed

    async def get_membership(self, plan_id: str, user_id: int) -> Membership | None:
        async with self._sessionmaker() as session:
            return await session.scalar(
                select(Membership).where(
                    Membership.plan_id == plan_id, Membership.user_id == user_id
                )
            )

    async def list_members(self, plan_id: str) -> list[Membership]:
        async with self._sessionmaker() as session:
            rows = await session.scalars(
                select(Membership).where(Membership.plan_id == plan_id).order_by(Membership.id)
            )
            return list(rows)

    async def list_plans_for_user(self, user_id: int) -> list[Plan]:
        async with self._sessionmaker() as session:
            rows = await session.scalars(
                select(Plan)
                .join(Membership, Membership.plan_id == Plan.id)
                .where(Membership.user_id == user_id)
                .order_by(Plan.created_at, Plan.id)
            )
            return list(rows)

    async def list_members_with_names(self, plan_id: str) -> list[tuple[Membership, str, str]]:
        """Members with their names and e-mail addresses (the ansvarsgruppe's contact
        information), in one query."""
        async with self._sessionmaker() as session:
            rows = await session.execute(
                select(Membership, User.name, User.email)
                .join(User, User.id == Membership.user_id)
                .where(Membership.plan_id == plan_id)
                .order_by(Membership.id)
            )
            return [(membership, name, email) for membership, name, email in rows]

    async def overview_for_user(self, user_id: int) -> list[tuple[Plan, str, str | None]]:
        """(plan, my role, the koordinator's name) for every plan the user is in: one query,
        so "Mine planer" stays fast with hundreds of plans."""
        coordinator = (
            select(User.name)
            .join(Membership, Membership.user_id == User.id)
            .where(Membership.plan_id == Plan.id, Membership.role == "koordinator")
            .correlate(Plan)
            .scalar_subquery()
        )
        async with self._sessionmaker() as session:
            rows = await session.execute(
                select(Plan, Membership.role, coordinator)
                .join(Membership, Membership.plan_id == Plan.id)
                .where(Membership.user_id == user_id)
                .order_by(Plan.created_at, Plan.id)
            )
            return [(plan, role, name) for plan, role, name in rows]

    async def connection_context(
        self, plan_id: str, kind: str, key: str, user_id: int
    ) -> ConnectionContext | None:
        """The zone and the member's role: None when the plan or zone does not exist or the
        user is not a member (the caller must not say which)."""
        return (await self.join_check(plan_id, kind, key, user_id)).context

    async def join_check(self, plan_id: str, kind: str, key: str, user_id: int) -> JoinCheck:
        """Everything a WebSocket join is authorised on, in ONE statement (issue 16, "late
        join"): on aiosqlite every query is several hops to the connection's thread, and the
        join used to pay three queries (account active, plan/zone/role, consent) before its
        sync step 2. One statement also reads them from one snapshot, with the access version
        the open connection is then watched from.

        Rooted at the user, so a deactivated or unknown account is told apart from a
        non-member without a second query. The consent join is `member_access`'s."""
        params = {"plan_id": plan_id, "kind": kind, "key": key, "user_id": user_id}
        engine = engine_of(self._sessionmaker)
        fast = sqlite_zone_log(engine)
        if fast is not None:  # SQLite: one hand-off to the reader thread, not nine
            row = await fast.first(_JOIN_CHECK, params)
        else:
            async with self._join_checks, statement_connection(engine) as conn:
                found = (await conn.execute(_JOIN_CHECK, params)).first()
            row = tuple(found) if found is not None else None
        if row is None:
            return JoinCheck(False, None, None)
        deactivated_at, name, role, version, status, draft, zone_id, retired_at = row[:8]
        consent = consent_record(row[8:])
        active = deactivated_at is None
        if role is None:
            return JoinCheck(active, None, None)
        member = member_in_force(role, consent, status, draft)
        if zone_id is None:
            return JoinCheck(active, None, member)
        # A retired life area is read-only like a closed plan: kept, no longer edited.
        read_only = status == "closed" or retired_at is not None
        context = ConnectionContext(plan_id, version, zone_id, role, name, read_only)
        return JoinCheck(active, context, member)

    async def save_zone_summary(self, zone_id: int, summary: Mapping[str, Any]) -> None:
        """Replace one zone's summary (`save_zone_summaries` of one row)."""
        if not await self.save_zone_summaries({zone_id: summary}):
            raise NotFound(f"zone {zone_id} does not exist")

    async def save_zone_summaries(self, summaries: Mapping[int, Mapping[str, Any]]) -> list[int]:
        """Replace many zones' summaries in one transaction (one durable commit: a summary
        round of 100 plans was 100 commits between the edits' batches); return the zone ids
        saved, in order. A zone deleted meanwhile is left out, not an error for the rest.

        Delete + insert: portable. The zones' row locks make two nodes saving the same zones
        take turns (PostgreSQL; SQLite has one writer): otherwise both delete nothing and the
        second insert breaks the key. They are taken in zone-id order, so two nodes saving
        overlapping rounds cannot deadlock, and `FOR NO KEY UPDATE`, which never waits for
        the KEY SHARE lock an edit's logged update holds on its zone until it commits: with
        `FOR UPDATE` a round and a batch of edits each holding a zone the other wanted
        deadlocked, and PostgreSQL failed one of them (tests/storage/test_storage_zone_locks)."""
        if not summaries:
            return []
        ids = sorted(summaries)
        fast = sqlite_zone_log(engine_of(self._sessionmaker))
        if fast is not None:
            # One hand-off: on SQLite this runs in the committer's queue, and every edit
            # queued meanwhile waits for it.
            texts = {z: json.dumps(summaries[z], ensure_ascii=False, sort_keys=True) for z in ids}
            stamp = fast.stamp(utcnow())
            return await fast.write(lambda conn: _save_summaries(conn, texts, stamp))
        async with write_session(self._sessionmaker) as session:
            found = await session.scalars(
                select(Zone.id)
                .where(Zone.id.in_(ids))
                .order_by(Zone.id)
                .with_for_update(key_share=True)
            )
            saved = list(found)
            if not saved:
                return []
            await session.execute(delete(ZoneSummary).where(ZoneSummary.zone_id.in_(saved)))
            # A Core executemany, not session.add: the ORM flush of one object cost the event
            # loop 3-8 ms per zone on a busy 2-CPU machine.
            rows = [
                {"zone_id": z, "data": json.dumps(summaries[z], ensure_ascii=False, sort_keys=True)}
                for z in saved
            ]
            await session.execute(insert(ZoneSummary), rows)
        return saved

    async def zone_summaries_for_user(
        self, user_id: int
    ) -> dict[str, list[tuple[int, str, str, dict[str, Any]]]]:
        """Per plan the user is in: (zone id, kind, key, summary) of every zone, in one query;
        a zone not summarised yet has an empty summary. The caller decides which of them this
        member may see (server/core/summaries.py)."""
        async with self._sessionmaker() as session:
            rows = await session.execute(
                select(Zone.plan_id, Zone.id, Zone.kind, Zone.key, ZoneSummary.data)
                .outerjoin(ZoneSummary, ZoneSummary.zone_id == Zone.id)
                .join(Membership, Membership.plan_id == Zone.plan_id)
                # A retired life area no longer counts (overdue measures, evaluations).
                .where(Membership.user_id == user_id, Zone.retired_at.is_(None))
            )
            result: dict[str, list[tuple[int, str, str, dict[str, Any]]]] = {}
            for plan_id, zone_id, kind, key, data in rows:
                summary = json.loads(data) if data else {}
                result.setdefault(plan_id, []).append((zone_id, kind, key, summary))
            return result

    async def zone_summaries_of_kinds(
        self, kinds: Collection[str]
    ) -> list[tuple[str, int, str, str, dict[str, Any]]]:
        """(plan id, zone id, kind, key, summary) of every zone of these kinds in active plans
        that has a summary: what the reminder job reads instead of loading documents."""
        async with self._sessionmaker() as session:
            rows = await session.execute(
                select(Zone.plan_id, Zone.id, Zone.kind, Zone.key, ZoneSummary.data)
                .join(ZoneSummary, ZoneSummary.zone_id == Zone.id)
                .join(Plan, Plan.id == Zone.plan_id)
                .where(
                    Zone.kind.in_(list(kinds)),
                    Plan.status == "active",
                    Zone.retired_at.is_(None),  # a retired area sends no reminders
                )
                .order_by(Zone.id)
            )
            return [(p, z, k, key, json.loads(d)) for p, z, k, key, d in rows]

    async def get_zone_by_id(self, zone_id: int) -> Zone | None:
        async with self._sessionmaker() as session:
            return await session.get(Zone, zone_id)

    async def access_versions(self, plan_ids: Collection[str]) -> dict[str, int]:
        """Current access_version per plan; a plan that no longer exists is left out."""
        ids = list(dict.fromkeys(plan_ids))
        versions: dict[str, int] = {}
        async with self._sessionmaker() as session:
            for start in range(0, len(ids), _IN_CHUNK):
                chunk = ids[start : start + _IN_CHUNK]
                rows = await session.execute(
                    select(Plan.id, Plan.access_version).where(Plan.id.in_(chunk))
                )
                versions.update({plan_id: version for plan_id, version in rows})
        return versions


def _save_summaries(conn: sqlite3.Connection, rows: Mapping[int, str], stamp: Any) -> list[int]:
    """`save_zone_summaries` on SQLite's writer connection, inside its one transaction."""
    saved: list[int] = []
    ids = list(rows)
    for start in range(0, len(ids), _IN_CHUNK):
        chunk = ids[start : start + _IN_CHUNK]
        marks = ",".join("?" * len(chunk))
        found = [z for (z,) in conn.execute(f"SELECT id FROM zones WHERE id IN ({marks})", chunk)]
        if found:
            marks = ",".join("?" * len(found))
            conn.execute(f"DELETE FROM zone_summaries WHERE zone_id IN ({marks})", found)
            saved.extend(found)
    conn.executemany(
        "INSERT INTO zone_summaries (zone_id, data, updated_at) VALUES (?, ?, ?)",
        [(z, rows[z], stamp) for z in saved],
    )
    return sorted(saved)
