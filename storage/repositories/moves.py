"""A plan moved to another municipality when the person moved (issue 14, `plan_moves`).

Within one installation the plan row stays, with its zones, history, versions and access log
(all keyed on the plan id), and only its municipality changes, in the same transaction as the
record: never a moved plan without its record, nor a record of a move that did not happen.
Its unit is cleared (units belong to a municipality); its members, koordinator included, are
untouched, so follow-up has no gap until the receiving KE appoints (`settle`).

To another installation the sending side records the move and closes the plan (`record_export`,
`samplan plan move-out`), and the receiving side records the arrival (`record_import`).

Every move carries the person's consent to it (who gave it, how, when, as `plan_consents` does):
without it nothing is written.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import date, datetime

from sqlalchemy import and_, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlalchemy.orm import aliased

from storage.db import write_session
from storage.errors import Conflict, InvalidValue, NotFound
from storage.models import (
    PLAN_CONSENT_GIVERS,
    PLAN_CONSENT_METHODS,
    Municipality,
    Plan,
    PlanMove,
    User,
    utcnow,
)

log = logging.getLogger(__name__)

MAX_NAME = 200


@dataclass(frozen=True, slots=True)
class MoveConsent:
    """The person's (or the guardian's) consent to the move: who, how and when."""

    giver: str  # planeier | verge
    giver_name: str
    method: str  # oral | written | browser
    given_on: date
    giver_user_id: int | None = None


@dataclass(frozen=True, slots=True)
class MoveRecord:
    """One move as a KE list shows it: ids, initials, names of municipalities and people,
    never the plan's title."""

    id: int
    plan_id: str
    kind: str
    initials: str
    from_name: str
    to_name: str
    moved_at: datetime
    recorded_by: str | None
    consent_giver: str
    consent_giver_name: str
    consent_method: str
    consent_given_on: date
    appointed_at: datetime | None


@dataclass(frozen=True, slots=True)
class Arrival:
    """Where a plan waiting for its koordinator came from, and when it arrived: the sending
    municipality's name (another one here, or as the imported file says)."""

    from_name: str
    moved_at: datetime


def _text(value: str, what: str) -> str:
    text = " ".join(value.split())
    if not text:
        raise InvalidValue(f"{what} must not be empty")
    if len(text) > MAX_NAME:
        raise InvalidValue(f"{what} is longer than {MAX_NAME} characters")
    return text


def _row(
    plan: Plan,
    kind: str,
    initials: str,
    consent: MoveConsent,
    recorded_by: int | None,
) -> PlanMove:
    if consent.giver not in PLAN_CONSENT_GIVERS:
        raise InvalidValue(f"unknown consent giver {consent.giver!r}")
    if consent.method not in PLAN_CONSENT_METHODS:
        raise InvalidValue(f"unknown consent method {consent.method!r}")
    return PlanMove(
        plan_id=plan.id,
        kind=kind,
        initials=initials[:40] or "?",
        consent_giver=consent.giver,
        consent_giver_name=_text(consent.giver_name, "the name of who gave consent"),
        consent_giver_user_id=consent.giver_user_id,
        consent_method=consent.method,
        consent_given_on=consent.given_on,
        recorded_by_user_id=recorded_by,
        moved_at=utcnow(),
    )


async def _plan_of(session: AsyncSession, plan_id: str, municipality_id: int) -> Plan:
    plan = await session.get(Plan, plan_id, with_for_update=True)
    if plan is None or plan.municipality_id != municipality_id:
        raise NotFound(f"plan {plan_id} is not one of municipality {municipality_id}'s")
    if plan.status != "active":
        raise Conflict("a closed plan is not moved")
    return plan


class PlanMoveRepo:
    def __init__(self, sessionmaker: async_sessionmaker[AsyncSession]) -> None:
        self._sessionmaker = sessionmaker

    async def move(
        self,
        plan_id: str,
        from_id: int,
        to_id: int,
        consent: MoveConsent,
        *,
        initials: str,
        recorded_by: int | None,
    ) -> PlanMove:
        """Move the plan within this installation: its municipality changes, its unit is
        cleared, and the record is written, in one transaction. NotFound: not the sending
        municipality's plan; InvalidValue: no such receiving municipality, or the same one;
        Conflict: the plan is closed."""
        async with write_session(self._sessionmaker) as session:
            plan = await _plan_of(session, plan_id, from_id)
            if to_id == from_id or await session.get(Municipality, to_id) is None:
                raise InvalidValue("the receiving municipality must be another one here")
            row = _row(plan, "internal", initials, consent, recorded_by)
            row.from_municipality_id, row.to_municipality_id = from_id, to_id
            session.add(row)
            await session.execute(
                update(Plan)
                .where(Plan.id == plan_id)
                .values(municipality_id=to_id, unit_id=None)
                .execution_options(synchronize_session=False)
            )
            await session.flush()
        log.info("plan moved plan_id=%s from=%d to=%d", plan_id, from_id, to_id)
        return row

    async def record_export(
        self,
        plan_id: str,
        from_id: int,
        to_name: str,
        consent: MoveConsent,
        *,
        initials: str,
        recorded_by: int | None,
    ) -> PlanMove:
        """The plan leaves for another installation: the record, and the plan closed here
        (read-only; retention counts from now), in one transaction."""
        async with write_session(self._sessionmaker) as session:
            plan = await _plan_of(session, plan_id, from_id)
            row = _row(plan, "export", initials, consent, recorded_by)
            row.from_municipality_id = from_id
            row.to_name = _text(to_name, "the receiving municipality")
            session.add(row)
            await session.execute(
                update(Plan)
                .where(Plan.id == plan_id)
                .values(status="closed", closed_at=utcnow(), access_version=Plan.access_version + 1)
                .execution_options(synchronize_session=False)
            )
            await session.flush()
        log.info("plan moved out plan_id=%s from=%d", plan_id, from_id)
        return row

    async def record_import(
        self,
        plan_id: str,
        to_id: int,
        from_name: str,
        consent: MoveConsent,
        *,
        initials: str,
    ) -> PlanMove:
        """A plan that arrived from another installation (already imported into `to_id`):
        the receiving KE's overview flags it until it appoints a koordinator."""
        async with write_session(self._sessionmaker) as session:
            plan = await session.get(Plan, plan_id)
            if plan is None or plan.municipality_id != to_id:
                raise NotFound(f"plan {plan_id} is not one of municipality {to_id}'s")
            row = _row(plan, "import", initials, consent, None)
            row.to_municipality_id = to_id
            row.from_name = _text(from_name, "the sending municipality")
            session.add(row)
            await session.flush()
        return row

    async def settle(self, plan_id: str, municipality_id: int) -> int:
        """The receiving KE appointed a koordinator: the plan is no longer flagged. Returns
        how many moves it settled (0: none was waiting)."""
        async with write_session(self._sessionmaker) as session:
            result = await session.execute(
                update(PlanMove)
                .where(
                    PlanMove.plan_id == plan_id,
                    PlanMove.to_municipality_id == municipality_id,
                    PlanMove.appointed_at.is_(None),
                )
                .values(appointed_at=utcnow())
                .execution_options(synchronize_session=False)
            )
            return int(getattr(result, "rowcount", 0) or 0)

    async def waiting_in(self, municipality_id: int) -> set[str]:
        """Plans moved into the municipality whose koordinator it has not yet appointed."""
        stmt = (
            select(PlanMove.plan_id)
            .join(Plan, Plan.id == PlanMove.plan_id)
            .where(
                PlanMove.to_municipality_id == municipality_id,
                PlanMove.appointed_at.is_(None),
                Plan.municipality_id == municipality_id,
            )
        )
        async with self._sessionmaker() as session:
            return set(await session.scalars(stmt))

    async def arrivals(self, municipality_id: int) -> dict[str, Arrival]:
        """`waiting_in` with where each plan came from and when (the latest arrival), so the
        receiving KE sees the sending municipality beside the flag."""
        source = aliased(Municipality)
        stmt = (
            select(PlanMove.plan_id, source.name, PlanMove.from_name, PlanMove.moved_at)
            .join(Plan, Plan.id == PlanMove.plan_id)
            .outerjoin(source, source.id == PlanMove.from_municipality_id)
            .where(
                PlanMove.to_municipality_id == municipality_id,
                PlanMove.appointed_at.is_(None),
                Plan.municipality_id == municipality_id,
            )
            .order_by(PlanMove.id)
        )
        async with self._sessionmaker() as session:
            rows = (await session.execute(stmt)).all()
        return {plan: Arrival(here or there or "", at) for plan, here, there, at in rows}

    async def moved_out(self, municipality_id: int) -> list[MoveRecord]:
        """The municipality's record of the plans that left it, newest first."""
        source, target = aliased(Municipality), aliased(Municipality)
        stmt = (
            select(PlanMove, source.name, target.name, User.name)
            .outerjoin(source, source.id == PlanMove.from_municipality_id)
            .outerjoin(target, target.id == PlanMove.to_municipality_id)
            .outerjoin(User, and_(User.id == PlanMove.recorded_by_user_id))
            .where(PlanMove.from_municipality_id == municipality_id)
            .order_by(PlanMove.id.desc())
        )
        async with self._sessionmaker() as session:
            rows = (await session.execute(stmt)).all()
        return [_record(m, s, t, who) for m, s, t, who in rows]

    async def of_plan(self, plan_id: str) -> list[MoveRecord]:
        """Every move of one plan, oldest first."""
        source, target = aliased(Municipality), aliased(Municipality)
        stmt = (
            select(PlanMove, source.name, target.name, User.name)
            .outerjoin(source, source.id == PlanMove.from_municipality_id)
            .outerjoin(target, target.id == PlanMove.to_municipality_id)
            .outerjoin(User, User.id == PlanMove.recorded_by_user_id)
            .where(PlanMove.plan_id == plan_id)
            .order_by(PlanMove.id)
        )
        async with self._sessionmaker() as session:
            rows = (await session.execute(stmt)).all()
        return [_record(m, s, t, who) for m, s, t, who in rows]


def _record(m: PlanMove, source: str | None, target: str | None, who: str | None) -> MoveRecord:
    return MoveRecord(
        m.id,
        m.plan_id,
        m.kind,
        m.initials,
        source or m.from_name or "",
        target or m.to_name or "",
        m.moved_at,
        who,
        m.consent_giver,
        m.consent_giver_name,
        m.consent_method,
        m.consent_given_on,
        m.appointed_at,
    )
