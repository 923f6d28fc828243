"""A whole plan's SQL side in and out: the storage half of `samplan export` / `samplan import`.

`read` gathers the plan, its people, members, full consent history, meetings (with agenda and
invitees), published minutes and zones from one consistent database snapshot. `create` writes an
imported plan in ONE transaction: the municipality (found or created), the people (an existing
user is found by e-mail and reused; a new one is created without a password, keeping the id it
had where that id is free, so the documents' user-id references stay right), then plan, zones
with their state as snapshot, members, consents, meetings with their invitees, and published
minutes. Any refusal raises before commit, so nothing is written.

Plan versions (`plan_versions`) are not transferred: they are full copies of the zones for
diff and restore, not part of the plan. Published minutes keep their content and hash
byte for byte; their `plan_version_id` is NULL after an import. The user ids inside that
content are never renumbered (the hash covers them): each row carries `content_user_ids`
instead, {id inside content: person}, which `create` composes with the people's new ids and
stores, so the minutes name the right people here however often the plan moves on.

Storage never reads CRDT bytes: the caller hands `create` a function that is given the people's
ids in this database and returns each zone's state and summary.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from sqlalchemy import func, select, text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from storage.db import is_sqlite, write_session
from storage.errors import AlreadyExists, Conflict, InvalidValue
from storage.models import (
    KEYLESS_ZONE_KINDS,
    ZONE_KEY_RULE,
    Consent,
    Meeting,
    MeetingInvitee,
    Membership,
    Municipality,
    Plan,
    PlanConsent,
    PublishedMinutes,
    User,
    Zone,
    ZoneChange,
    ZoneSnapshot,
    ZoneSummary,
    is_zone_key,
    utcnow,
)
from storage.repositories.consents import ALL
from storage.repositories.meetings import AgendaItem, agenda_from_json, agenda_json
from storage.repositories.users import normalize_email
from storage.repositories.versions import user_ids_from_json, user_ids_json

log = logging.getLogger(__name__)

_IN_CHUNK = 500


@dataclass(frozen=True, slots=True)
class Person:
    """A user the plan refers to; `id` is the users.id of the database the row came from."""

    id: int
    email: str
    name: str


@dataclass(frozen=True, slots=True)
class MemberRow:
    user_id: int
    role: str
    unit: str | None
    contribution: str | None
    added_at: datetime
    # who last wrote the contribution (a people id, None: unknown or the command line), when
    contribution_by: int | None = None
    contribution_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class ConsentRow:
    user_id: int
    status: str
    scope: tuple[str, ...] | None  # None: the whole plan ("all")
    valid_until: date | None
    given_by_user_id: int | None
    given_at: datetime
    revoked_at: datetime | None
    revoked_by_user_id: int | None


@dataclass(frozen=True, slots=True)
class PlanConsentRow:
    """One answer to the consent to the plan being made (`plan_consents`)."""

    status: str
    giver: str
    giver_name: str
    giver_user_id: int | None
    method: str
    given_on: date
    recorded_by_user_id: int | None
    recorded_at: datetime


@dataclass(frozen=True, slots=True)
class MeetingRow:
    id: str
    title: str
    starts_at: datetime
    ends_at: datetime | None
    place: str | None
    created_at: datetime
    video_link: str | None = None
    agenda: tuple[AgendaItem, ...] = ()
    created_by_user_id: int | None = None
    updated_at: datetime | None = None
    cancelled_at: datetime | None = None
    invitee_ids: tuple[int, ...] = ()  # ascending
    sequence: int = 0  # edits so far: the .ics SEQUENCE calendars use to update the event


@dataclass(frozen=True, slots=True)
class PublishedRow:
    """One published version of a meeting's minutes; `content` is exactly what `sha256`
    covers (its UTF-8 bytes). `meeting_id` need not name a meeting of the plan (the record
    outlives a deleted meeting, as in the table)."""

    meeting_id: str
    number: int
    title: str
    content: str
    sha256: str
    published_by: int | None
    published_at: datetime
    approved_by: int | None = None
    approved_role: str | None = None
    approved_at: datetime | None = None
    # {user id inside content: person id (Person.id; users.id of the row's database)}.
    # None: the content's ids are those person ids themselves (published in that database).
    # `read` gives None for minutes published here; `create` stores None as every person's
    # id mapped to itself, composed with the people's ids here.
    content_user_ids: Mapping[str, int] | None = None
    # The seals (models.PublishedMinutes; server/core/seals.py), as stored or as checked by
    # the import; `published_here` as the import decided it from the file's signature.
    hash_version: int = 1
    publication: str | None = None
    publication_sha256: str | None = None
    approval: str | None = None
    approval_sha256: str | None = None
    published_here: bool = False


@dataclass(frozen=True, slots=True)
class ZoneRow:
    kind: str
    key: str
    title: str
    position: int
    zone_id: int = 0  # set by `read`; ignored by `create`
    retired_at: datetime | None = None  # a life area the koordinator retired


@dataclass(frozen=True, slots=True)
class PlanTransfer:
    id: str
    title: str
    person_name: str
    status: str
    municipality: str
    created_at: datetime
    people: tuple[Person, ...] = ()
    members: tuple[MemberRow, ...] = ()
    consents: tuple[ConsentRow, ...] = ()  # oldest first
    meetings: tuple[MeetingRow, ...] = ()
    zones: tuple[ZoneRow, ...] = ()
    published_minutes: tuple[PublishedRow, ...] = ()  # oldest first
    draft: bool = False  # "utkast": the consent to the plan being made not yet given
    plan_consents: tuple[PlanConsentRow, ...] = ()  # oldest first


@dataclass(frozen=True, slots=True)
class ZoneContent:
    """What `create` stores for one zone: its whole state, and the overview's summary."""

    state: bytes
    summary: Mapping[str, Any] | None = None
    # Author records that came with the zone, oldest first: (user id here, when, items JSON).
    changes: Sequence[tuple[int | None, datetime, str | None]] = ()


@dataclass(frozen=True, slots=True)
class ImportResult:
    user_ids: dict[int, int] = field(default_factory=dict)  # id in the file -> id here
    users_created: int = 0
    users_reused: int = 0


ZoneContentFn = Callable[[Mapping[int, int]], Sequence[ZoneContent]]
"""Given {id in the file: id here} for every person, the content of each zone, in order."""


def _scope(raw: str) -> tuple[str, ...] | None:
    value = json.loads(raw)
    return None if value == ALL else tuple(str(s) for s in value)


def _scope_json(scope: tuple[str, ...] | None) -> str:
    return json.dumps(ALL if scope is None else list(scope), ensure_ascii=False)


class PlanTransferRepo:
    def __init__(self, sessionmaker: async_sessionmaker[AsyncSession]) -> None:
        self._sessionmaker = sessionmaker

    # -- export ---------------------------------------------------------------------------

    async def read(self, plan_id: str) -> PlanTransfer | None:
        """The plan's SQL side, or None when there is no such plan. `people` are the users
        that members, consent rows, meetings and published minutes refer to, by id."""
        async with self._sessionmaker() as session, session.begin():
            row = (
                await session.execute(
                    select(Plan, Municipality.name)
                    .join(Municipality, Municipality.id == Plan.municipality_id)
                    .where(Plan.id == plan_id)
                )
            ).first()
            if row is None:
                return None
            plan, municipality = row
            members = [
                MemberRow(
                    m.user_id,
                    m.role,
                    m.unit,
                    m.contribution,
                    m.created_at,
                    m.contribution_updated_by,
                    m.contribution_updated_at,
                )
                for m in await session.scalars(
                    select(Membership).where(Membership.plan_id == plan_id).order_by(Membership.id)
                )
            ]
            consents = [
                ConsentRow(
                    c.user_id,
                    c.status,
                    _scope(c.scope),
                    c.valid_until,
                    c.given_by_user_id,
                    c.given_at,
                    c.revoked_at,
                    c.revoked_by_user_id,
                )
                for c in await session.scalars(
                    select(Consent).where(Consent.plan_id == plan_id).order_by(Consent.id)
                )
            ]
            invitees: dict[str, list[int]] = {}
            for meeting_id, user_id in await session.execute(
                select(MeetingInvitee.meeting_id, MeetingInvitee.user_id)
                .join(Meeting, Meeting.id == MeetingInvitee.meeting_id)
                .where(Meeting.plan_id == plan_id)
                .order_by(MeetingInvitee.meeting_id, MeetingInvitee.user_id)
            ):
                invitees.setdefault(meeting_id, []).append(user_id)
            meetings = [
                MeetingRow(
                    m.id,
                    m.title,
                    m.starts_at,
                    m.ends_at,
                    m.place,
                    m.created_at,
                    m.video_link,
                    agenda_from_json(m.agenda),
                    m.created_by_user_id,
                    m.updated_at,
                    m.cancelled_at,
                    tuple(invitees.get(m.id, ())),
                    m.sequence,
                )
                for m in await session.scalars(
                    select(Meeting)
                    .where(Meeting.plan_id == plan_id)
                    .order_by(Meeting.starts_at, Meeting.id)
                )
            ]
            published = [
                PublishedRow(
                    p.meeting_id,
                    p.number,
                    p.title,
                    p.content,
                    p.sha256,
                    p.published_by,
                    p.published_at,
                    p.approved_by,
                    p.approved_role,
                    p.approved_at,
                    user_ids_from_json(p.content_user_ids),
                    p.hash_version,
                    p.publication,
                    p.publication_sha256,
                    p.approval,
                    p.approval_sha256,
                    p.published_here,
                )
                for p in await session.scalars(
                    select(PublishedMinutes)
                    .where(PublishedMinutes.plan_id == plan_id)
                    .order_by(PublishedMinutes.published_at, PublishedMinutes.id)
                )
            ]
            zones = [
                ZoneRow(z.kind, z.key, z.title, z.position, z.id, z.retired_at)
                for z in await session.scalars(
                    select(Zone).where(Zone.plan_id == plan_id).order_by(Zone.id)
                )
            ]
            plan_consents = [
                PlanConsentRow(
                    c.status,
                    c.giver,
                    c.giver_name,
                    c.giver_user_id,
                    c.method,
                    c.given_on,
                    c.recorded_by_user_id,
                    c.recorded_at,
                )
                for c in await session.scalars(
                    select(PlanConsent)
                    .where(PlanConsent.plan_id == plan_id)
                    .order_by(PlanConsent.id)
                )
            ]
            referenced = {m.user_id for m in members}
            for pc in plan_consents:
                referenced.update(
                    u for u in (pc.giver_user_id, pc.recorded_by_user_id) if u is not None
                )
            for c in consents:
                referenced.update(
                    uid
                    for uid in (c.user_id, c.given_by_user_id, c.revoked_by_user_id)
                    if uid is not None
                )
            for m in meetings:
                referenced.update(m.invitee_ids)
                if m.created_by_user_id is not None:
                    referenced.add(m.created_by_user_id)
            for p in published:
                referenced.update(u for u in (p.published_by, p.approved_by) if u is not None)
                referenced.update((p.content_user_ids or {}).values())
            writers = {m.contribution_by for m in members if m.contribution_by is not None}
            people = await self._people(session, referenced | writers)
            # A writer whose account is gone is no one the file can name.
            known = {p.id for p in people}
            members = [
                m
                if m.contribution_by is None or m.contribution_by in known
                else dataclasses.replace(m, contribution_by=None)
                for m in members
            ]
        return PlanTransfer(
            plan.id,
            plan.title,
            plan.person_name,
            plan.status,
            municipality,
            plan.created_at,
            tuple(people),
            tuple(members),
            tuple(consents),
            tuple(meetings),
            tuple(zones),
            tuple(published),
            draft=plan.draft,
            plan_consents=tuple(plan_consents),
        )

    async def people(self, user_ids: Iterable[int]) -> list[Person]:
        """The users with these ids (those that still exist), ordered by id."""
        async with self._sessionmaker() as session:
            return await self._people(session, set(user_ids))

    @staticmethod
    async def _people(session: AsyncSession, user_ids: set[int]) -> list[Person]:
        ids = sorted(user_ids)
        people: list[Person] = []
        for start in range(0, len(ids), _IN_CHUNK):
            rows = await session.execute(
                select(User.id, User.email, User.name).where(
                    User.id.in_(ids[start : start + _IN_CHUNK])
                )
            )
            people.extend(Person(uid, email, name) for uid, email, name in rows)
        return sorted(people, key=lambda p: p.id)

    async def plan_exists(self, plan_id: str) -> bool:
        async with self._sessionmaker() as session:
            return await session.scalar(select(Plan.id).where(Plan.id == plan_id)) is not None

    async def existing_meetings(self, meeting_ids: Iterable[str]) -> set[str]:
        """Of these meeting ids, those already taken (meeting ids are unique across plans)."""
        ids = list(dict.fromkeys(meeting_ids))
        found: set[str] = set()
        async with self._sessionmaker() as session:
            for start in range(0, len(ids), _IN_CHUNK):
                found.update(
                    await session.scalars(
                        select(Meeting.id).where(Meeting.id.in_(ids[start : start + _IN_CHUNK]))
                    )
                )
        return found

    # -- import ---------------------------------------------------------------------------

    async def create(self, plan: PlanTransfer, zone_content: ZoneContentFn) -> ImportResult:
        """Write the whole plan in one transaction (see the module docstring).

        Raises AlreadyExists (the plan id or a meeting id is taken), Conflict (an e-mail that
        two people share after normalising) or InvalidValue (among others: published minutes
        whose content does not hash to their sha256); nothing is written then.
        """
        _check(plan)
        try:
            async with write_session(self._sessionmaker) as session:
                if await session.get(Plan, plan.id) is not None:
                    raise AlreadyExists(f"a plan with id {plan.id} already exists")
                for meeting in plan.meetings:
                    if await session.get(Meeting, meeting.id) is not None:
                        raise AlreadyExists(f"a meeting with id {meeting.id} already exists")
                result = await self._people_in(session, plan.people)
                ids = result.user_ids
                contents = list(zone_content(ids))
                if len(contents) != len(plan.zones):
                    raise RuntimeError("zone_content must return one ZoneContent per zone")
                await self._plan_in(session, plan)
                await self._zones_in(session, plan, contents)
                session.add_all(
                    Membership(
                        plan_id=plan.id,
                        user_id=ids[m.user_id],
                        role=m.role,
                        unit=m.unit,
                        contribution=m.contribution,
                        contribution_updated_by=(
                            None if m.contribution_by is None else ids[m.contribution_by]
                        ),
                        contribution_updated_at=m.contribution_at,
                        created_at=m.added_at,
                        updated_at=m.added_at,
                    )
                    for m in plan.members
                )
                await session.flush()  # keep membership ids in file order
                for c in plan.consents:  # one by one: ids keep the history's order
                    session.add(_consent(plan.id, c, ids))
                    await session.flush()
                for pc in plan.plan_consents:
                    session.add(_plan_consent(plan.id, pc, ids))
                    await session.flush()
                await self._meetings_in(session, plan, ids)
                people = [person.id for person in plan.people]
                for p in plan.published_minutes:  # one by one: ids keep the file's order
                    session.add(_published(plan.id, p, ids, people))
                    await session.flush()
        except IntegrityError as exc:
            # Lost a race with another process (same plan id, meeting id or e-mail), or a
            # second koordinator slipped past the checks: nothing was committed.
            raise Conflict(
                f"plan {plan.id} could not be imported: it conflicts with data written "
                "at the same time"
            ) from exc
        log.info(
            "plan imported plan_id=%s users_created=%s users_reused=%s zones=%s",
            plan.id,
            result.users_created,
            result.users_reused,
            len(plan.zones),
        )
        return result

    async def _people_in(self, session: AsyncSession, people: Sequence[Person]) -> ImportResult:
        ids: dict[int, int] = {}
        new: list[tuple[Person, str]] = []
        for person in people:
            email = normalize_email(person.email)
            found = await session.scalar(select(User.id).where(User.email == email))
            if found is None:
                new.append((person, email))
            else:
                ids[person.id] = found
        reused = len(ids)
        # Keep the id the documents refer to wherever it is free here: then nothing inside them
        # needs renumbering (and a fresh database gets the plan back byte for byte). All kept
        # ids go in before any new one is drawn, so a drawn id never takes one still wanted.
        later: list[tuple[Person, str]] = []
        for person, email in new:
            if await session.get(User, person.id) is None:
                session.add(User(id=person.id, email=email, name=person.name, created_at=utcnow()))
                ids[person.id] = person.id
            else:
                later.append((person, email))
        await session.flush()
        if len(later) < len(new) and not is_sqlite(session.get_bind()):
            # Ids given explicitly do not move PostgreSQL's sequence: move it past them, never
            # back, or the next user drawn (here or by `samplan user add`) would collide.
            await session.execute(
                text(
                    "SELECT setval(pg_get_serial_sequence('users', 'id'), GREATEST("
                    "COALESCE(pg_sequence_last_value(pg_get_serial_sequence('users', 'id')"
                    "::regclass), 1), (SELECT COALESCE(max(id), 1) FROM users)))"
                )
            )
        for person, email in later:
            user = User(email=email, name=person.name, created_at=utcnow())
            session.add(user)
            await session.flush()
            ids[person.id] = user.id
        return ImportResult(ids, len(new), reused)

    @staticmethod
    async def _plan_in(session: AsyncSession, plan: PlanTransfer) -> None:
        municipality = await session.scalar(
            select(Municipality.id).where(Municipality.name == plan.municipality)
        )
        if municipality is None:
            row = Municipality(name=plan.municipality)
            session.add(row)
            await session.flush()
            municipality = row.id
        session.add(
            Plan(
                id=plan.id,
                municipality_id=municipality,
                title=plan.title,
                person_name=plan.person_name,
                status=plan.status,
                draft=plan.draft,
                access_version=0,
                created_at=plan.created_at,
            )
        )
        await session.flush()

    @staticmethod
    async def _zones_in(
        session: AsyncSession, plan: PlanTransfer, contents: Sequence[ZoneContent]
    ) -> None:
        now = utcnow()
        for zone, content in zip(plan.zones, contents, strict=True):
            row = Zone(
                plan_id=plan.id,
                kind=zone.kind,
                key=zone.key,
                title=zone.title,
                position=zone.position,
                created_at=now,
                retired_at=zone.retired_at,
            )
            session.add(row)
            await session.flush()
            # seq 0: the snapshot folds in no logged update; every later one is logged after it.
            session.add(ZoneSnapshot(zone_id=row.id, seq=0, data=content.state, updated_at=now))
            if content.summary is not None:
                data = json.dumps(dict(content.summary), ensure_ascii=False, sort_keys=True)
                session.add(ZoneSummary(zone_id=row.id, data=data, updated_at=now))
            session.add_all(
                ZoneChange(zone_id=row.id, seq=None, user_id=user_id, at=at, items=items)
                for user_id, at, items in content.changes
            )
        await session.flush()

    @staticmethod
    async def _meetings_in(
        session: AsyncSession, plan: PlanTransfer, ids: Mapping[int, int]
    ) -> None:
        def user(uid: int | None) -> int | None:
            return None if uid is None else ids[uid]

        session.add_all(
            Meeting(
                id=m.id,
                plan_id=plan.id,
                title=m.title,
                starts_at=m.starts_at,
                ends_at=m.ends_at,
                place=m.place,
                created_at=m.created_at,
                video_link=m.video_link,
                agenda=agenda_json(m.agenda),
                created_by_user_id=user(m.created_by_user_id),
                updated_at=m.updated_at,
                cancelled_at=m.cancelled_at,
                sequence=m.sequence,
            )
            for m in plan.meetings
        )
        await session.flush()
        session.add_all(
            MeetingInvitee(meeting_id=m.id, user_id=ids[uid])
            for m in plan.meetings
            for uid in m.invitee_ids
        )
        await session.flush()

    async def count_rows(self) -> dict[str, int]:
        """Rows per table an import writes to: lets a caller (a test) see that nothing was."""
        tables = {
            "municipalities": Municipality,
            "users": User,
            "plans": Plan,
            "zones": Zone,
            "memberships": Membership,
            "consents": Consent,
            "plan_consents": PlanConsent,
            "meetings": Meeting,
            "meeting_invitees": MeetingInvitee,
            "published_minutes": PublishedMinutes,
            "zone_snapshots": ZoneSnapshot,
            "zone_changes": ZoneChange,
        }
        async with self._sessionmaker() as session:
            return {
                name: int(await session.scalar(select(func.count()).select_from(model)) or 0)
                for name, model in tables.items()
            }


def _plan_consent(plan_id: str, c: PlanConsentRow, ids: Mapping[int, int]) -> PlanConsent:
    return PlanConsent(
        plan_id=plan_id,
        status=c.status,
        giver=c.giver,
        giver_name=c.giver_name,
        giver_user_id=None if c.giver_user_id is None else ids[c.giver_user_id],
        method=c.method,
        given_on=c.given_on,
        recorded_by_user_id=None if c.recorded_by_user_id is None else ids[c.recorded_by_user_id],
        recorded_at=c.recorded_at,
    )


def _consent(plan_id: str, c: ConsentRow, ids: Mapping[int, int]) -> Consent:
    return Consent(
        plan_id=plan_id,
        user_id=ids[c.user_id],
        status=c.status,
        scope=_scope_json(c.scope),
        valid_until=c.valid_until,
        given_by_user_id=ids[c.given_by_user_id] if c.given_by_user_id is not None else None,
        given_at=c.given_at,
        revoked_at=c.revoked_at,
        revoked_by_user_id=(
            ids[c.revoked_by_user_id] if c.revoked_by_user_id is not None else None
        ),
    )


def _published(
    plan_id: str, p: PublishedRow, ids: Mapping[int, int], people: Sequence[int]
) -> PublishedMinutes:
    # Never NULL for an imported row: NULL says the content's ids are this database's own.
    given = p.content_user_ids
    if given is None:
        given = {str(pid): pid for pid in people}
    content_user_ids = {content_id: ids[pid] for content_id, pid in given.items()}
    return PublishedMinutes(
        plan_id=plan_id,
        meeting_id=p.meeting_id,
        number=p.number,
        title=p.title,
        content=p.content,
        sha256=p.sha256,
        plan_version_id=None,  # versions are not transferred
        published_by=ids[p.published_by] if p.published_by is not None else None,
        published_at=p.published_at,
        approved_by=ids[p.approved_by] if p.approved_by is not None else None,
        approved_role=p.approved_role,
        approved_at=p.approved_at,
        content_user_ids=user_ids_json(content_user_ids),
        hash_version=p.hash_version,
        publication=p.publication,
        publication_sha256=p.publication_sha256,
        approval=p.approval,
        approval_sha256=p.approval_sha256,
        published_here=p.published_here,
    )


def sha256_hex(content: str) -> str:
    """The hash a published version's `sha256` holds: over the content's UTF-8 bytes."""
    return hashlib.sha256(content.encode("utf-8")).hexdigest()


def _check(plan: PlanTransfer) -> None:
    """The rules the schema enforces, checked first for a readable error."""
    people = {p.id for p in plan.people}
    if len(people) != len(plan.people):
        raise InvalidValue("two people share an id")
    emails = [normalize_email(p.email) for p in plan.people]
    if len(set(emails)) != len(emails):
        raise InvalidValue("two people share an e-mail address")
    refs = [m.user_id for m in plan.members]
    refs += [m.contribution_by for m in plan.members if m.contribution_by is not None]
    for c in plan.consents:
        refs += [u for u in (c.user_id, c.given_by_user_id, c.revoked_by_user_id) if u is not None]
    for pc in plan.plan_consents:
        refs += [u for u in (pc.giver_user_id, pc.recorded_by_user_id) if u is not None]
    for m in plan.meetings:
        refs += [u for u in (*m.invitee_ids, m.created_by_user_id) if u is not None]
    for p in plan.published_minutes:
        refs += [u for u in (p.published_by, p.approved_by) if u is not None]
        refs += list((p.content_user_ids or {}).values())
    missing = sorted(set(refs) - people)
    if missing:
        raise InvalidValue(f"user id(s) {missing} are not among the people")
    if len({m.user_id for m in plan.members}) != len(plan.members):
        raise InvalidValue("a person is a member twice")
    if sum(1 for m in plan.members if m.role == "koordinator") > 1:
        raise InvalidValue("a plan has at most one koordinator")
    zones = [(z.kind, z.key) for z in plan.zones]
    if len(set(zones)) != len(zones):
        raise InvalidValue("two zones have the same kind and key")
    for zone in plan.zones:
        if zone.kind in KEYLESS_ZONE_KINDS:
            if zone.key:
                raise InvalidValue(f"a {zone.kind} zone takes no key")
        elif not is_zone_key(zone.key):
            raise InvalidValue(f"zone key {zone.key!r} is not valid: use {ZONE_KEY_RULE}")
    for meeting in plan.meetings:
        if not is_zone_key(meeting.id):
            raise InvalidValue(f"meeting id {meeting.id!r} is not valid: use {ZONE_KEY_RULE}")
    meetings = [m.id for m in plan.meetings]
    if len(set(meetings)) != len(meetings):
        raise InvalidValue("two meetings have the same id")
    if any(len(set(m.invitee_ids)) != len(m.invitee_ids) for m in plan.meetings):
        raise InvalidValue("a person is invited to a meeting twice")
    versions = [(p.meeting_id, p.number) for p in plan.published_minutes]
    if len(set(versions)) != len(versions):
        raise InvalidValue("two published minutes have the same meeting and number")
    for p in plan.published_minutes:
        if sha256_hex(p.content) != p.sha256:
            raise InvalidValue(
                f"published minutes {p.meeting_id} version {p.number}: the content does not "
                "match its sha256"
            )
        for record, digest in (
            (p.publication, p.publication_sha256),
            (p.approval, p.approval_sha256),
        ):
            if (record is None) != (digest is None) or (record and sha256_hex(record) != digest):
                raise InvalidValue(
                    f"published minutes {p.meeting_id} version {p.number}: a seal does not "
                    "match its record"
                )
