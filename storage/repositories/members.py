"""Changing the ansvarsgruppe of a plan: a member's role, unit and contribution, and handing
the koordinator role over (issue 12).

PlanRepo.add_member stays the operator's upsert (a new plan has no koordinator until one is
added). Here a plan that has a koordinator keeps exactly one at every moment: nobody is made a
second koordinator, the koordinator is not demoted on their own, and `hand_over` moves the role
in one transaction. Every change of role bumps `plans.access_version` in the same transaction,
so every process re-checks its open connections (server/sync/connections.py).

`memberships.contribution` is the one owner of what a member contributes (element d of the
regulation: shared/domain/individuell-plan.md §1.1); each write records who wrote it and when.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from sqlalchemy import Select, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from storage.choices import HANDOVER_ROLES
from storage.db import write_session
from storage.errors import Conflict, InvalidValue, NotFound
from storage.models import ROLES, Membership, MunicipalityCoordinator, Plan, User, utcnow

log = logging.getLogger(__name__)

KOORDINATOR = "koordinator"


class _Keep:
    """The value of a field the caller does not change (None means "clear it")."""


KEEP = _Keep()


@dataclass(frozen=True, slots=True)
class MemberChange:
    """What `change_member` changed (names, never values: they may be health data)."""

    membership: Membership
    previous_role: str
    role_changed: bool
    unit_changed: bool
    contribution_changed: bool

    @property
    def changed(self) -> bool:
        return self.role_changed or self.unit_changed or self.contribution_changed


@dataclass(frozen=True, slots=True)
class Appointment:
    """What `appoint` did: who was koordinator before (None: nobody), what became of them
    (`old_role`: deltaker, or None when they left or there was none), and the new
    koordinator's role before (None: they were not a member)."""

    plan_id: str
    to_user_id: int
    from_user_id: int | None
    old_role: str | None
    new_previous_role: str | None


class NotACoordinator(Conflict):
    """The one appointed is not on the municipality's list of coordinators."""


def _text(value: str | None) -> str | None:
    """Trimmed text, or None for nothing (an emptied field is no contribution at all)."""
    if value is None:
        return None
    value = value.strip()
    return value or None


class MemberRepo:
    def __init__(self, sessionmaker: async_sessionmaker[AsyncSession]) -> None:
        self._sessionmaker = sessionmaker

    async def change_member(
        self,
        plan_id: str,
        user_id: int,
        *,
        role: str | None = None,
        unit: str | None | _Keep = KEEP,
        contribution: str | None | _Keep = KEEP,
        by_user_id: int | None = None,
    ) -> MemberChange:
        """Change one member's role, unit and/or contribution; `by_user_id` is who wrote the
        contribution (None: the command line). Raises NotFound for a non-member, Conflict for
        a second koordinator or a koordinator demoted without a handover, InvalidValue for an
        unknown role."""
        if role is not None and role not in ROLES:
            raise InvalidValue(f"unknown role {role!r}; expected one of {', '.join(ROLES)}")
        try:
            async with write_session(self._sessionmaker) as session:
                member = await self._member(session, plan_id, user_id)
                previous = member.role
                if role is not None and role != previous:
                    await self._check_role_change(session, plan_id, member, role)
                    member.role = role
                unit_changed = not isinstance(unit, _Keep) and _text(unit) != member.unit
                if unit_changed:
                    member.unit = _text(unit)  # type: ignore[arg-type]
                text = None if isinstance(contribution, _Keep) else _text(contribution)
                contribution_changed = (
                    not isinstance(contribution, _Keep) and text != member.contribution
                )
                if contribution_changed:
                    member.contribution = text
                    member.contribution_updated_by = by_user_id
                    member.contribution_updated_at = utcnow()
                change = MemberChange(
                    member, previous, member.role != previous, unit_changed, contribution_changed
                )
                if change.changed:
                    member.updated_at = utcnow()
                    await session.flush()
                if change.role_changed:
                    await _bump_access(session, plan_id)
        except IntegrityError as exc:  # the partial unique index: a koordinator added elsewhere
            raise Conflict(f"plan {plan_id} already has a koordinator") from exc
        log.info(
            "member changed plan_id=%s user_id=%s role=%s role_changed=%s unit_changed=%s "
            "contribution_changed=%s",
            plan_id,
            user_id,
            change.membership.role,
            change.role_changed,
            change.unit_changed,
            change.contribution_changed,
        )
        return change

    async def hand_over(
        self, plan_id: str, from_user_id: int, to_user_id: int, keep_role: str | None
    ) -> Membership:
        """Make `to_user_id` the koordinator in place of `from_user_id`, in one transaction:
        the old koordinator becomes `keep_role` (a HANDOVER_ROLES role) or, with None, leaves
        the plan. The new one must be a member with a HANDOVER_ROLES role. Returns the new
        koordinator's membership."""
        if keep_role is not None and keep_role not in HANDOVER_ROLES:
            raise InvalidValue(
                f"the old koordinator may become {' or '.join(HANDOVER_ROLES)}, or leave"
            )
        if from_user_id == to_user_id:
            raise Conflict("hand the koordinator role to another member")
        try:
            async with write_session(self._sessionmaker) as session:
                old = await self._member(session, plan_id, from_user_id)
                if old.role != KOORDINATOR:
                    raise Conflict(f"user {from_user_id} is not the koordinator of plan {plan_id}")
                new = await session.scalar(_membership(plan_id, to_user_id))
                if new is None:
                    raise NotFound(f"user {to_user_id} is not a member of plan {plan_id}")
                if new.role not in HANDOVER_ROLES:
                    raise Conflict(
                        f"the koordinator role goes to a {' or '.join(HANDOVER_ROLES)}, "
                        f"not to the {new.role}"
                    )
                # The old one first: the partial unique index allows one koordinator per plan.
                if keep_role is None:
                    await session.delete(old)
                else:
                    old.role = keep_role
                    old.updated_at = utcnow()
                await session.flush()
                new.role = KOORDINATOR
                new.updated_at = utcnow()
                await session.flush()
                await _bump_access(session, plan_id)
        except IntegrityError as exc:
            raise Conflict(f"plan {plan_id} already has a koordinator") from exc
        log.info(
            "koordinator handed over plan_id=%s from=%s to=%s old_role=%s",
            plan_id,
            from_user_id,
            to_user_id,
            keep_role or "left",
        )
        return new

    async def appoint(
        self, plan_id: str, municipality_id: int, to_user_id: int, keep_role: str | None
    ) -> Appointment:
        """The KE makes `to_user_id` the plan's koordinator, in one transaction (issue 14).

        The one appointed must be on the municipality's list of coordinators with an active
        account (NotACoordinator otherwise) and the plan that municipality's (NotFound). Like
        `hand_over`, the plan has one koordinator at every moment: the old one (if any) becomes
        `keep_role` (a HANDOVER_ROLES role) or, with None, leaves, before the new one takes the
        role. The new one may be a deltaker or leser already (promoted) or no member yet
        (added); the planeier or verge never becomes koordinator (Conflict). Nothing changes on
        a refusal.
        """
        if keep_role is not None and keep_role not in HANDOVER_ROLES:
            raise InvalidValue(
                f"the old koordinator may become {' or '.join(HANDOVER_ROLES)}, or leave"
            )
        try:
            async with write_session(self._sessionmaker) as session:
                plan = await session.get(Plan, plan_id)
                if plan is None or plan.municipality_id != municipality_id:
                    raise NotFound(f"plan {plan_id} is not one of municipality {municipality_id}'s")
                listed = await session.get(MunicipalityCoordinator, (municipality_id, to_user_id))
                person = await session.get(User, to_user_id)
                if listed is None or person is None or person.deactivated_at is not None:
                    raise NotACoordinator(
                        f"user {to_user_id} is not a coordinator of municipality {municipality_id}"
                    )
                old = await session.scalar(
                    select(Membership).where(
                        Membership.plan_id == plan_id, Membership.role == KOORDINATOR
                    )
                )
                if old is not None and old.user_id == to_user_id:
                    raise Conflict(f"user {to_user_id} is the koordinator of plan {plan_id}")
                new = await session.scalar(_membership(plan_id, to_user_id))
                if new is not None and new.role not in HANDOVER_ROLES:
                    raise Conflict(
                        f"the koordinator role goes to a {' or '.join(HANDOVER_ROLES)}, "
                        f"not to the {new.role}"
                    )
                from_user_id = old.user_id if old is not None else None
                # The old one first: the partial unique index allows one koordinator per plan.
                if old is not None:
                    if keep_role is None:
                        await session.delete(old)
                    else:
                        old.role = keep_role
                        old.updated_at = utcnow()
                    await session.flush()
                previous = new.role if new is not None else None
                if new is None:
                    session.add(Membership(plan_id=plan_id, user_id=to_user_id, role=KOORDINATOR))
                else:
                    new.role = KOORDINATOR
                    new.updated_at = utcnow()
                await session.flush()
                await _bump_access(session, plan_id)
        except IntegrityError as exc:
            raise Conflict(f"plan {plan_id} already has a koordinator") from exc
        log.info(
            "koordinator appointed plan_id=%s from=%s to=%s old_role=%s",
            plan_id,
            from_user_id,
            to_user_id,
            (keep_role or "left") if from_user_id is not None else "-",
        )
        return Appointment(
            plan_id,
            to_user_id,
            from_user_id,
            keep_role if from_user_id is not None else None,
            previous,
        )

    @staticmethod
    async def _member(session: AsyncSession, plan_id: str, user_id: int) -> Membership:
        member = await session.scalar(_membership(plan_id, user_id))
        if member is None:
            raise NotFound(f"user {user_id} is not a member of plan {plan_id}")
        return member

    @staticmethod
    async def _check_role_change(
        session: AsyncSession, plan_id: str, member: Membership, role: str
    ) -> None:
        if member.role == KOORDINATOR:
            raise Conflict(
                "the koordinator keeps the role until it is handed over to another member"
            )
        if role == KOORDINATOR:
            current = await session.scalar(
                select(Membership.user_id).where(
                    Membership.plan_id == plan_id, Membership.role == KOORDINATOR
                )
            )
            if current is not None:
                raise Conflict(
                    f"plan {plan_id} already has a koordinator (user {current}); "
                    "hand the role over instead"
                )


def _membership(plan_id: str, user_id: int) -> Select[Membership]:
    return select(Membership).where(Membership.plan_id == plan_id, Membership.user_id == user_id)


async def _bump_access(session: AsyncSession, plan_id: str) -> None:
    await session.execute(
        update(Plan)
        .where(Plan.id == plan_id)
        .values(access_version=Plan.access_version + 1)
        .execution_options(synchronize_session=False)
    )
