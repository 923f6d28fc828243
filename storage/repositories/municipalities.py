"""Municipalities as a boundary (issue 14): their koordinerende enhet's administrators, their
units, and which municipality and unit a plan belongs to.

A KE administrator is not a plan role: nothing here opens a plan's content. The server asks
`administers` before every KE route (server/ke/access.py), so a KE admin of one municipality
reaches nothing of another.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import delete, func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from storage.db import write_session
from storage.errors import AlreadyExists, Conflict, InvalidValue, NotFound
from storage.models import (
    Municipality,
    MunicipalityAdmin,
    MunicipalityCoordinator,
    Plan,
    Unit,
    User,
)

NAME_MAX = 200
RETENTION_MAX = 36500  # a hundred years: past that, a typo


@dataclass(frozen=True, slots=True)
class AdminRecord:
    municipality_id: int
    user_id: int
    name: str
    email: str


def _name(value: str, what: str) -> str:
    value = " ".join(value.split())
    if not value:
        raise InvalidValue(f"{what} must not be empty")
    if len(value) > NAME_MAX:
        raise InvalidValue(f"{what} is longer than {NAME_MAX} characters")
    return value


class MunicipalityRepo:
    def __init__(self, sessionmaker: async_sessionmaker[AsyncSession]) -> None:
        self._sessionmaker = sessionmaker

    # --- municipalities -------------------------------------------------------------------

    async def ensure(self, name: str) -> Municipality:
        """The municipality of this name, made if it does not exist yet."""
        name = _name(name, "the municipality's name")
        async with write_session(self._sessionmaker) as session:
            found = await session.scalar(select(Municipality).where(Municipality.name == name))
            if found is None:
                found = Municipality(name=name)
                session.add(found)
                await session.flush()
            return found

    async def get(self, municipality_id: int) -> Municipality | None:
        async with self._sessionmaker() as session:
            return await session.get(Municipality, municipality_id)

    async def by_name(self, name: str) -> Municipality | None:
        async with self._sessionmaker() as session:
            return await session.scalar(
                select(Municipality).where(Municipality.name == " ".join(name.split()))
            )

    async def all(self) -> list[Municipality]:
        async with self._sessionmaker() as session:
            return list(await session.scalars(select(Municipality).order_by(Municipality.name)))

    async def of_plan(self, plan_id: str) -> int | None:
        async with self._sessionmaker() as session:
            return await session.scalar(select(Plan.municipality_id).where(Plan.id == plan_id))

    # --- KE administrators ----------------------------------------------------------------

    async def add_admin(
        self, municipality_id: int, user_id: int, *, granted_by: int | None
    ) -> bool:
        """Make the user a KE administrator; False when they already were one."""
        try:
            async with write_session(self._sessionmaker) as session:
                if await session.get(Municipality, municipality_id) is None:
                    raise NotFound(f"municipality {municipality_id} does not exist")
                if await session.get(User, user_id) is None:
                    raise NotFound(f"user {user_id} does not exist")
                if await session.get(MunicipalityAdmin, (municipality_id, user_id)) is not None:
                    return False
                session.add(
                    MunicipalityAdmin(
                        municipality_id=municipality_id,
                        user_id=user_id,
                        granted_by_user_id=granted_by,
                    )
                )
        except IntegrityError:  # the same grant at the same moment from another process
            return False
        return True

    async def remove_admin(self, municipality_id: int, user_id: int) -> bool:
        async with write_session(self._sessionmaker) as session:
            result = await session.execute(
                delete(MunicipalityAdmin).where(
                    MunicipalityAdmin.municipality_id == municipality_id,
                    MunicipalityAdmin.user_id == user_id,
                )
            )
            return bool(result.rowcount)  # type: ignore[attr-defined]

    async def administers(self, user_id: int, municipality_id: int) -> bool:
        async with self._sessionmaker() as session:
            row = await session.get(MunicipalityAdmin, (municipality_id, user_id))
            return row is not None

    async def administered_by(self, user_id: int) -> list[Municipality]:
        """The municipalities whose KE this user administers, by name."""
        async with self._sessionmaker() as session:
            return list(
                await session.scalars(
                    select(Municipality)
                    .join(MunicipalityAdmin, MunicipalityAdmin.municipality_id == Municipality.id)
                    .where(MunicipalityAdmin.user_id == user_id)
                    .order_by(Municipality.name)
                )
            )

    async def admins(self, municipality_id: int) -> list[AdminRecord]:
        async with self._sessionmaker() as session:
            rows = await session.execute(
                select(User.id, User.name, User.email)
                .join(MunicipalityAdmin, MunicipalityAdmin.user_id == User.id)
                .where(MunicipalityAdmin.municipality_id == municipality_id)
                .order_by(User.name, User.id)
            )
            return [AdminRecord(municipality_id, uid, name, email) for uid, name, email in rows]

    # --- units ----------------------------------------------------------------------------

    async def add_unit(self, municipality_id: int, name: str) -> Unit:
        name = _name(name, "the unit's name")
        try:
            async with write_session(self._sessionmaker) as session:
                if await session.get(Municipality, municipality_id) is None:
                    raise NotFound(f"municipality {municipality_id} does not exist")
                unit = Unit(municipality_id=municipality_id, name=name)
                session.add(unit)
                await session.flush()
                return unit
        except IntegrityError as exc:
            raise AlreadyExists(f"the municipality already has a unit named {name!r}") from exc

    async def units(self, municipality_id: int) -> list[Unit]:
        async with self._sessionmaker() as session:
            return list(
                await session.scalars(
                    select(Unit).where(Unit.municipality_id == municipality_id).order_by(Unit.name)
                )
            )

    async def set_plan_unit(self, plan_id: str, unit_id: int | None) -> None:
        """Name the unit that answers for the plan; the unit must be the plan's municipality's."""
        async with write_session(self._sessionmaker) as session:
            plan = await session.get(Plan, plan_id)
            if plan is None:
                raise NotFound(f"plan {plan_id} does not exist")
            if unit_id is not None:
                unit = await session.get(Unit, unit_id)
                if unit is None or unit.municipality_id != plan.municipality_id:
                    raise InvalidValue("the unit is not one of the plan's municipality's units")
            await session.execute(
                update(Plan)
                .where(Plan.id == plan_id)
                .values(unit_id=unit_id)
                .execution_options(synchronize_session=False)
            )

    # --- what the KE changes in the browser (issue 14) -------------------------------------

    async def remove_admin_unless_last(self, municipality_id: int, user_id: int) -> bool:
        """Take the KE administration away, but never from the last administrator (Conflict):
        a municipality whose KE nobody administers could only be fixed on the command line.
        False when the user was no administrator. Checked and deleted in one transaction."""
        async with write_session(self._sessionmaker) as session:
            rows = list(
                await session.scalars(
                    select(MunicipalityAdmin.user_id)
                    .where(MunicipalityAdmin.municipality_id == municipality_id)
                    .with_for_update()
                )
            )
            if user_id not in rows:
                return False
            if len(rows) == 1:
                raise Conflict(f"user {user_id} is the last KE administrator")
            await session.execute(
                delete(MunicipalityAdmin).where(
                    MunicipalityAdmin.municipality_id == municipality_id,
                    MunicipalityAdmin.user_id == user_id,
                )
            )
        return True

    async def unit(self, municipality_id: int, unit_id: int) -> Unit | None:
        """The unit, if it is this municipality's (another's is None, as a missing one)."""
        async with self._sessionmaker() as session:
            unit = await session.get(Unit, unit_id)
            return unit if unit is not None and unit.municipality_id == municipality_id else None

    async def rename_unit(self, municipality_id: int, unit_id: int, name: str) -> str:
        """The unit's old name; NotFound for another municipality's, AlreadyExists for a name
        another of its units has."""
        name = _name(name, "the unit's name")
        try:
            async with write_session(self._sessionmaker) as session:
                unit = await session.get(Unit, unit_id)
                if unit is None or unit.municipality_id != municipality_id:
                    raise NotFound(f"unit {unit_id} is not one of municipality {municipality_id}'s")
                old = unit.name
                unit.name = name
                await session.flush()
        except IntegrityError as exc:
            raise AlreadyExists(f"the municipality already has a unit named {name!r}") from exc
        return old

    async def delete_unit(self, municipality_id: int, unit_id: int) -> None:
        """Delete a unit no plan names (Conflict otherwise: the plans would silently lose the
        unit that answers for them). Coordinators working in it keep their place on the list,
        without a unit."""
        async with write_session(self._sessionmaker) as session:
            unit = await session.get(Unit, unit_id)
            if unit is None or unit.municipality_id != municipality_id:
                raise NotFound(f"unit {unit_id} is not one of municipality {municipality_id}'s")
            used = await session.scalar(select(func.count(Plan.id)).where(Plan.unit_id == unit_id))
            if used:
                raise Conflict(f"unit {unit_id} is the unit of {used} plan(s)")
            await session.execute(
                update(MunicipalityCoordinator)
                .where(MunicipalityCoordinator.unit_id == unit_id)
                .values(unit_id=None)
                .execution_options(synchronize_session=False)
            )
            await session.delete(unit)

    async def plan_in(self, municipality_id: int, plan_id: str) -> Plan | None:
        """The plan's row if it is this municipality's (another's is None, as a missing one):
        the KE reads what SQL holds about it, never its zones."""
        async with self._sessionmaker() as session:
            plan = await session.get(Plan, plan_id)
            return plan if plan is not None and plan.municipality_id == municipality_id else None

    async def set_retention(self, municipality_id: int, days: int | None) -> None:
        """Days a closed plan is kept; None: the installation's default."""
        if days is not None and not 1 <= days <= RETENTION_MAX:
            raise InvalidValue(f"the retention period is 1-{RETENTION_MAX} days")
        async with write_session(self._sessionmaker) as session:
            municipality = await session.get(Municipality, municipality_id)
            if municipality is None:
                raise NotFound(f"municipality {municipality_id} does not exist")
            municipality.retention_days = days

    async def retention(self) -> dict[int, int]:
        """{municipality id: days} for every municipality that set its own period."""
        async with self._sessionmaker() as session:
            rows = await session.execute(
                select(Municipality.id, Municipality.retention_days).where(
                    Municipality.retention_days.is_not(None)
                )
            )
            return {int(mid): int(days) for mid, days in rows if days is not None}

    async def unit_use(self, municipality_id: int) -> dict[int, int]:
        """{unit id: how many plans name it} for the municipality's units in use."""
        async with self._sessionmaker() as session:
            rows = await session.execute(
                select(Plan.unit_id, func.count(Plan.id))
                .join(Unit, Unit.id == Plan.unit_id)
                .where(Unit.municipality_id == municipality_id)
                .group_by(Plan.unit_id)
            )
            return {int(unit_id): int(count) for unit_id, count in rows if unit_id is not None}

    # --- the KE overview's settings (issue 14) --------------------------------------------

    async def set_overview_rules(
        self, municipality_id: int, *, in_use_days: int, revision_days: int
    ) -> None:
        """How many days back an edit or meeting counts as "in use", and an evaluation as
        "within the revision period" (the caller checks the range)."""
        if in_use_days < 1 or revision_days < 1:
            raise InvalidValue("the overview's days must be at least 1")
        async with write_session(self._sessionmaker) as session:
            await session.execute(
                update(Municipality)
                .where(Municipality.id == municipality_id)
                .values(in_use_days=in_use_days, revision_days=revision_days)
                .execution_options(synchronize_session=False)
            )
