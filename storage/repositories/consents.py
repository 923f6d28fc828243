"""Consent (samtykke) per plan member (DESIGN.md §3): given, refused or revoked.

At most one row per (plan, user) is current (`revoked_at` NULL); giving or refusing again
revokes it first, so the history stays. Every change bumps `plans.access_version` in the same
transaction, so every node's watcher re-checks open connections.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from sqlalchemy import ColumnElement, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from storage.db import write_session
from storage.errors import InvalidValue, NotFound
from storage.models import Consent, Membership, Plan, User, utcnow

log = logging.getLogger(__name__)

ALL = "all"


@dataclass(frozen=True, slots=True)
class ConsentRecord:
    id: int
    plan_id: str
    user_id: int
    status: str  # 'given' | 'refused'
    scope: tuple[str, ...] | None  # room suffixes; None means every zone ("all")
    valid_until: date | None
    given_by_user_id: int | None
    given_at: datetime
    revoked_at: datetime | None
    revoked_by_user_id: int | None

    def active_on(self, today: date) -> bool:
        """Given, not revoked, and not past its end date."""
        return (
            self.status == "given"
            and self.revoked_at is None
            and (self.valid_until is None or self.valid_until >= today)
        )

    def covers(self, zone: str) -> bool:
        return self.scope is None or zone in self.scope


@dataclass(frozen=True, slots=True)
class MemberAccess:
    """What access decisions need about one member: the role, the current consent row, and
    whether the plan is closed (read-only for everyone)."""

    role: str
    consent: ConsentRecord | None
    plan_closed: bool = False
    # The plan is an "utkast": the consent to the plan being made is not given yet, so no
    # sharing consent is in force (`consent` is None for every member whatever the table
    # holds) and only the koordinator, planeier and verge may open it.
    plan_draft: bool = False


def _in_force(role: str, consent: Consent | None, status: str, draft: bool) -> MemberAccess:
    return member_in_force(role, _record(consent) if consent is not None else None, status, draft)


def member_in_force(
    role: str, consent: ConsentRecord | None, status: str, draft: bool
) -> MemberAccess:
    """The member's access from their role, their newest current consent and the plan's
    status and draft flag: a draft has no consent in force whatever the table holds."""
    return MemberAccess(role, None if draft else consent, status == "closed", draft)


# A consent row as plain columns, in ConsentRecord's order: a statement that joins other
# tables selects these (not the entity) so its rows can be read without the ORM.
CONSENT_COLUMNS = (
    Consent.id,
    Consent.plan_id,
    Consent.user_id,
    Consent.status,
    Consent.scope,
    Consent.valid_until,
    Consent.given_by_user_id,
    Consent.given_at,
    Consent.revoked_at,
    Consent.revoked_by_user_id,
)


def consent_record(values: Sequence[Any]) -> ConsentRecord | None:
    """The record from CONSENT_COLUMNS' values; None when an outer join found no row."""
    if values[0] is None:
        return None
    raw = json.loads(values[4])
    scope = None if raw == ALL else tuple(str(s) for s in raw)
    return ConsentRecord(values[0], values[1], values[2], values[3], scope, *values[5:])


def _record(row: Consent) -> ConsentRecord:
    raw = json.loads(row.scope)
    scope = None if raw == ALL else tuple(str(s) for s in raw)
    return ConsentRecord(
        row.id,
        row.plan_id,
        row.user_id,
        row.status,
        scope,
        row.valid_until,
        row.given_by_user_id,
        row.given_at,
        row.revoked_at,
        row.revoked_by_user_id,
    )


def _scope_json(scope: Sequence[str] | str) -> str:
    if scope == ALL:
        return json.dumps(ALL)
    if isinstance(scope, str):
        raise InvalidValue(f"scope must be a list of zones or {ALL!r}")
    zones = list(dict.fromkeys(s.strip() for s in scope if s.strip()))
    if ALL in zones:
        return json.dumps(ALL)
    if not zones:
        raise InvalidValue("a consent must cover at least one zone")
    return json.dumps(zones, ensure_ascii=False)


async def _bump_access(session: AsyncSession, plan_id: str) -> None:
    await session.execute(
        update(Plan)
        .where(Plan.id == plan_id)
        .values(access_version=Plan.access_version + 1)
        .execution_options(synchronize_session=False)
    )


def _current(plan_id: str, user_id: int) -> tuple[ColumnElement[bool], ...]:
    return (
        Consent.plan_id == plan_id,
        Consent.user_id == user_id,
        Consent.revoked_at.is_(None),
    )


class ConsentRepo:
    def __init__(self, sessionmaker: async_sessionmaker[AsyncSession]) -> None:
        self._sessionmaker = sessionmaker

    async def give(
        self,
        plan_id: str,
        user_id: int,
        scope: Sequence[str] | str,
        valid_until: date | None,
        given_by_user_id: int | None,
        given_at: datetime | None = None,
    ) -> ConsentRecord:
        """Record consent for a member; a current row (given or refused) is revoked first."""
        return await self._write(
            plan_id, user_id, "given", _scope_json(scope), valid_until, given_by_user_id, given_at
        )

    async def refuse(
        self, plan_id: str, user_id: int, given_by_user_id: int | None
    ) -> ConsentRecord:
        """Record that consent was refused; a current consent is revoked first."""
        return await self._write(plan_id, user_id, "refused", "[]", None, given_by_user_id, None)

    async def _write(
        self,
        plan_id: str,
        user_id: int,
        status: str,
        scope: str,
        valid_until: date | None,
        by: int | None,
        given_at: datetime | None,
    ) -> ConsentRecord:
        async with write_session(self._sessionmaker) as session:
            member = await session.scalar(
                select(Membership.id).where(
                    Membership.plan_id == plan_id, Membership.user_id == user_id
                )
            )
            if member is None:
                raise NotFound(f"user {user_id} is not a member of plan {plan_id}")
            now = utcnow()
            await session.execute(
                update(Consent)
                .where(*_current(plan_id, user_id))
                .values(revoked_at=now, revoked_by_user_id=by)
                .execution_options(synchronize_session=False)
            )
            row = Consent(
                plan_id=plan_id,
                user_id=user_id,
                status=status,
                scope=scope,
                valid_until=valid_until,
                given_by_user_id=by,
                given_at=given_at or now,
            )
            session.add(row)
            await _bump_access(session, plan_id)
            await session.flush()
            record = _record(row)
        log.info("consent %s plan_id=%s user_id=%s", status, plan_id, user_id)
        return record

    async def revoke(self, plan_id: str, user_id: int, by: int | None) -> ConsentRecord | None:
        """Revoke the member's current given consent; None (nothing changed) when there is
        none."""
        async with write_session(self._sessionmaker) as session:
            row = await session.scalar(
                select(Consent).where(
                    *_current(plan_id, user_id),
                    Consent.status == "given",
                )
            )
            if row is None:
                return None
            row.revoked_at = utcnow()
            row.revoked_by_user_id = by
            await _bump_access(session, plan_id)
            await session.flush()
            record = _record(row)
        log.info("consent revoked plan_id=%s user_id=%s", plan_id, user_id)
        return record

    async def member_access(self, plan_id: str, user_id: int) -> MemberAccess | None:
        """The member's role and current consent row in one query; None for a non-member."""
        async with self._sessionmaker() as session:
            row = (
                await session.execute(
                    select(Membership.role, Consent, Plan.status, Plan.draft)
                    .join(Plan, Plan.id == Membership.plan_id)
                    .outerjoin(
                        Consent,
                        (Consent.plan_id == Membership.plan_id)
                        & (Consent.user_id == Membership.user_id)
                        & Consent.revoked_at.is_(None),
                    )
                    .where(Membership.plan_id == plan_id, Membership.user_id == user_id)
                    .order_by(Consent.id.desc())
                    .limit(1)
                )
            ).first()
        if row is None:
            return None
        role, consent, status, draft = row
        return _in_force(role, consent, status, draft)

    async def access_by_plan(self, user_id: int) -> dict[str, MemberAccess]:
        """`member_access` for every plan the user is in, in one query: what "Mine planer"
        needs to show each plan's figures only from the zones this member may open."""
        async with self._sessionmaker() as session:
            rows = await session.execute(
                select(Membership.plan_id, Membership.role, Consent, Plan.status, Plan.draft)
                .join(Plan, Plan.id == Membership.plan_id)
                .outerjoin(
                    Consent,
                    (Consent.plan_id == Membership.plan_id)
                    & (Consent.user_id == Membership.user_id)
                    & Consent.revoked_at.is_(None),
                )
                .where(Membership.user_id == user_id)
                .order_by(Consent.id)
            )
            return {
                plan_id: _in_force(role, consent, status, draft)
                for plan_id, role, consent, status, draft in rows
            }

    async def latest_by_user(self, plan_id: str) -> dict[int, tuple[ConsentRecord, str | None]]:
        """The newest row per member (current, or the last revoked one) with the giver's name."""
        async with self._sessionmaker() as session:
            rows = await session.execute(
                select(Consent, User.name)
                .outerjoin(User, User.id == Consent.given_by_user_id)
                .where(Consent.plan_id == plan_id)
                .order_by(Consent.id)
            )
            return {consent.user_id: (_record(consent), name) for consent, name in rows}

    async def plans_with_active_consent(self, plan_ids: Collection[str], today: date) -> set[str]:
        """Of these plans, those where at least one member has an active consent."""
        ids = list(dict.fromkeys(plan_ids))
        if not ids:
            return set()
        async with self._sessionmaker() as session:
            rows = await session.scalars(
                select(Consent.plan_id)
                .where(
                    Consent.plan_id.in_(ids),
                    Consent.status == "given",
                    Consent.revoked_at.is_(None),
                    (Consent.valid_until.is_(None)) | (Consent.valid_until >= today),
                )
                .distinct()
            )
            return set(rows)
