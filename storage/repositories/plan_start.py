"""Starting a plan and shaping its life areas (issue 12): the SQL side.

`create` writes a whole new plan in ONE transaction: the plan row, its zones, the
koordinator's membership and the first update of the content zone (period and revision
date, built by the caller as a Yjs update) into the zone's durable log with its author, plus
that zone's summary. A failure leaves nothing behind. The consent to the plan being made
(`plan_consents`) and the life areas (area zones: add, rename, reorder, retire) change here
too; each change bumps `plans.access_version` where it changes who may open what.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date

from sqlalchemy import exists, func, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from storage.db import write_session
from storage.errors import AlreadyExists, Conflict, InvalidValue, NotFound
from storage.models import (
    CONSENT_STATUSES,
    PLAN_CONSENT_GIVERS,
    PLAN_CONSENT_METHODS,
    ZONE_KEY_RULE,
    Membership,
    Municipality,
    MunicipalityCoordinator,
    Plan,
    PlanConsent,
    User,
    Zone,
    ZoneSummary,
    ZoneUpdate,
    is_zone_key,
    utcnow,
)
from storage.repositories.plans import COMMENTS_TITLE, CONTENT_TITLE

log = logging.getLogger(__name__)

AREA = "area"


@dataclass(frozen=True, slots=True)
class NewPlan:
    """Everything a new plan starts with; checked by the caller (server/plans/start.py)."""

    municipality_id: int
    title: str
    person_name: str
    person_birth_date: date | None
    areas: Sequence[tuple[str, str]]  # (key, title), in order
    koordinator_user_id: int | None
    draft: bool
    guardian_name: str | None = None
    guardian_email: str | None = None
    content_update: bytes | None = None  # the content zone's first update (Yjs)
    content_summary: Mapping[str, object] | None = None
    # From the municipality's plan template (issue 14), written with no author (the text is
    # the template's, not anyone's in the plan): default text of the content zone's sections
    # (an update applied after `content_update`), each area's hint (SQL, `zones.hint`) and
    # its first update (the default sub-headings) with the zone's summary, by area key.
    template_content_update: bytes | None = None
    area_hints: Mapping[str, str] = field(default_factory=dict)
    area_updates: Mapping[str, tuple[bytes, Mapping[str, object]]] = field(default_factory=dict)


def _title(value: str, what: str) -> str:
    value = value.strip()
    if not value:
        raise InvalidValue(f"{what} must not be empty")
    return value


async def _bump_access(session: AsyncSession, plan_id: str) -> None:
    await session.execute(
        update(Plan)
        .where(Plan.id == plan_id)
        .values(access_version=Plan.access_version + 1)
        .execution_options(synchronize_session=False)
    )


class PlanStartRepo:
    def __init__(self, sessionmaker: async_sessionmaker[AsyncSession]) -> None:
        self._sessionmaker = sessionmaker

    # -- who may start plans ----------------------------------------------------------------

    async def set_can_start_plans(self, email: str, allowed: bool) -> bool:
        """Mark (or unmark) an account as a coordinator who may start plans; False when no
        such user. Unmarking never takes away plans already coordinated."""
        async with write_session(self._sessionmaker) as session:
            user = await session.scalar(select(User).where(User.email == email.strip().lower()))
            if user is None:
                return False
            user.can_start_plans = allowed
        return True

    async def may_start_plans(self, user_id: int) -> bool:
        """Marked by an operator, on a municipality KE's list of coordinators (issue 14), or
        the koordinator of some plan already."""
        async with self._sessionmaker() as session:
            marked = await session.scalar(select(User.can_start_plans).where(User.id == user_id))
            if marked:
                return True
            listed = await session.scalar(
                select(exists().where(MunicipalityCoordinator.user_id == user_id))
            )
            if listed:
                return True
            coordinates = await session.scalar(
                select(
                    exists().where(Membership.user_id == user_id, Membership.role == "koordinator")
                )
            )
            return bool(coordinates)

    async def coordinators(self) -> list[tuple[int, str]]:
        """(id, name) of every active account that may start plans: who a plan may be started
        for as its koordinator, by name."""
        coordinates = exists().where(
            Membership.user_id == User.id, Membership.role == "koordinator"
        )
        async with self._sessionmaker() as session:
            rows = await session.execute(
                select(User.id, User.name)
                .where(
                    or_(User.can_start_plans.is_(True), coordinates),
                    User.deactivated_at.is_(None),
                )
                .order_by(User.name, User.id)
            )
            return [(int(uid), str(name)) for uid, name in rows]

    # -- the plan -------------------------------------------------------------------------

    async def create(self, new: NewPlan) -> Plan:
        keys = [key for key, _title in new.areas]
        for key in keys:
            if not is_zone_key(key):
                raise InvalidValue(f"area key {key!r} is not valid: use {ZONE_KEY_RULE}")
        if len(set(keys)) != len(keys):
            raise InvalidValue("two life areas have the same key")
        plan = Plan(
            municipality_id=new.municipality_id,
            title=_title(new.title, "plan title"),
            person_name=_title(new.person_name, "person name"),
            status="active",
            draft=new.draft,
            access_version=0,
            person_birth_date=new.person_birth_date,
            guardian_name=new.guardian_name or None,
            guardian_email=new.guardian_email or None,
        )
        async with write_session(self._sessionmaker) as session:
            if await session.get(Municipality, new.municipality_id) is None:
                raise NotFound(f"municipality {new.municipality_id} does not exist")
            if new.koordinator_user_id is not None:
                if await session.get(User, new.koordinator_user_id) is None:
                    raise NotFound(f"user {new.koordinator_user_id} does not exist")
            session.add(plan)
            await session.flush()
            content = Zone(plan_id=plan.id, kind="content", key="", title=CONTENT_TITLE)
            comments = Zone(plan_id=plan.id, kind="comments", key="", title=COMMENTS_TITLE)
            session.add_all([content, comments])
            areas: dict[str, Zone] = {}
            for position, (key, title) in enumerate(new.areas):
                area_title = _title(title, "life area title")
                areas[key] = Zone(
                    plan_id=plan.id,
                    kind=AREA,
                    key=key,
                    title=area_title,
                    position=position,
                    hint=new.area_hints.get(key) or None,
                )
                session.add(areas[key])
            if new.koordinator_user_id is not None:
                session.add(
                    Membership(plan_id=plan.id, user_id=new.koordinator_user_id, role="koordinator")
                )
            await session.flush()
            if new.content_update is not None:
                session.add(
                    ZoneUpdate(
                        zone_id=content.id,
                        data=new.content_update,
                        user_id=new.koordinator_user_id,
                    )
                )
            if new.template_content_update is not None:
                session.add(ZoneUpdate(zone_id=content.id, data=new.template_content_update))
            if new.content_summary is not None:
                session.add(
                    ZoneSummary(zone_id=content.id, data=json.dumps(dict(new.content_summary)))
                )
            for key, (data, summary) in new.area_updates.items():
                if key not in areas:
                    raise InvalidValue(f"area key {key!r} is not one of the plan's areas")
                session.add(ZoneUpdate(zone_id=areas[key].id, data=data))
                session.add(ZoneSummary(zone_id=areas[key].id, data=json.dumps(dict(summary))))
        log.info("plan started plan_id=%s areas=%d draft=%s", plan.id, len(keys), new.draft)
        return plan

    # -- the consent to the plan being made -------------------------------------------------

    async def record_consent(
        self,
        plan_id: str,
        *,
        status: str,
        giver: str,
        giver_name: str,
        giver_user_id: int | None,
        method: str,
        given_on: date,
        recorded_by: int | None,
    ) -> PlanConsent:
        """Append the answer; a given consent ends the draft (in the same transaction), a
        refusal leaves the plan where it is. Bumps access_version: who may open it changes."""
        if status not in CONSENT_STATUSES:
            raise InvalidValue(f"unknown consent status {status!r}")
        if giver not in PLAN_CONSENT_GIVERS:
            raise InvalidValue(f"unknown consent giver {giver!r}")
        if method not in PLAN_CONSENT_METHODS:
            raise InvalidValue(f"unknown consent method {method!r}")
        row = PlanConsent(
            plan_id=plan_id,
            status=status,
            giver=giver,
            giver_name=_title(giver_name, "the name of who answered"),
            giver_user_id=giver_user_id,
            method=method,
            given_on=given_on,
            recorded_by_user_id=recorded_by,
            recorded_at=utcnow(),
        )
        async with write_session(self._sessionmaker) as session:
            if await session.get(Plan, plan_id) is None:
                raise NotFound(f"plan {plan_id} does not exist")
            session.add(row)
            if status == "given":
                await session.execute(
                    update(Plan)
                    .where(Plan.id == plan_id)
                    .values(draft=False)
                    .execution_options(synchronize_session=False)
                )
            await _bump_access(session, plan_id)
            await session.flush()
        log.info("plan consent %s plan_id=%s method=%s", status, plan_id, method)
        return row

    async def consents(self, plan_id: str) -> list[PlanConsent]:
        """The plan's answers, oldest first (the last is the current one)."""
        async with self._sessionmaker() as session:
            rows = await session.scalars(
                select(PlanConsent).where(PlanConsent.plan_id == plan_id).order_by(PlanConsent.id)
            )
            return list(rows)

    # -- life areas -------------------------------------------------------------------------

    async def add_area(self, plan_id: str, key: str, title: str) -> Zone:
        """A new area after the others; `key` must be free (AlreadyExists)."""
        if not is_zone_key(key):
            raise InvalidValue(f"area key {key!r} is not valid: use {ZONE_KEY_RULE}")
        async with write_session(self._sessionmaker) as session:
            if await session.get(Plan, plan_id) is None:
                raise NotFound(f"plan {plan_id} does not exist")
            taken = await session.scalar(
                select(Zone.id).where(Zone.plan_id == plan_id, Zone.kind == AREA, Zone.key == key)
            )
            if taken is not None:
                raise AlreadyExists(f"plan {plan_id} already has an area {key!r}")
            last = await session.scalar(
                select(func.max(Zone.position)).where(Zone.plan_id == plan_id, Zone.kind == AREA)
            )
            zone = Zone(
                plan_id=plan_id,
                kind=AREA,
                key=key,
                title=_title(title, "life area title"),
                position=(last if last is not None else -1) + 1,
            )
            session.add(zone)
            await session.flush()
        return zone

    async def area_keys(self, plan_id: str) -> set[str]:
        async with self._sessionmaker() as session:
            rows = await session.scalars(
                select(Zone.key).where(Zone.plan_id == plan_id, Zone.kind == AREA)
            )
            return set(rows)

    async def rename_area(self, plan_id: str, key: str, title: str) -> str:
        """The old title; NotFound for no such area, Conflict for a retired one."""
        title = _title(title, "life area title")
        async with write_session(self._sessionmaker) as session:
            zone = await self._area(session, plan_id, key)
            old = zone.title
            zone.title = title
        return old

    async def move_area(self, plan_id: str, key: str, step: int) -> bool:
        """Swap the area with its neighbour among the areas in use (step -1: up, +1: down);
        False when it is already first or last."""
        async with write_session(self._sessionmaker) as session:
            zone = await self._area(session, plan_id, key)
            rows = await session.scalars(
                select(Zone)
                .where(Zone.plan_id == plan_id, Zone.kind == AREA, Zone.retired_at.is_(None))
                .order_by(Zone.position, Zone.id)
            )
            ordered = list(rows)
            index = next(i for i, z in enumerate(ordered) if z.id == zone.id)
            other = index + step
            if other < 0 or other >= len(ordered):
                return False
            ordered[index], ordered[other] = ordered[other], ordered[index]
            # Renumber all, so positions equal from older data never make the swap a no-op.
            for position, item in enumerate(ordered):
                item.position = position
        return True

    async def retire_area(self, plan_id: str, key: str) -> None:
        """Retire the area: its zone and history stay; NotFound / Conflict (already retired)."""
        async with write_session(self._sessionmaker) as session:
            zone = await self._area(session, plan_id, key)
            zone.retired_at = utcnow()
            await _bump_access(session, plan_id)

    @staticmethod
    async def _area(session: AsyncSession, plan_id: str, key: str) -> Zone:
        zone = await session.scalar(
            select(Zone).where(Zone.plan_id == plan_id, Zone.kind == AREA, Zone.key == key)
        )
        if zone is None:
            raise NotFound(f"plan {plan_id} has no area {key!r}")
        if zone.retired_at is not None:
            raise Conflict(f"area {key!r} is retired")
        return zone
