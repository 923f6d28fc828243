"""The people a municipality's KE lets coordinate plans (issue 14).

The KE keeps this list; it appoints a plan's koordinator only from it (MemberRepo.appoint
checks it in the appointment's own transaction) and everyone on it may start plans ("Ny
plan"), as may those an operator marked with `samplan user mark-coordinator` on an
installation without a KE. Being on the list opens no plan: only a plan membership does.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import delete, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from storage.db import write_session
from storage.errors import InvalidValue, NotFound
from storage.models import Municipality, MunicipalityCoordinator, Unit, User


@dataclass(frozen=True, slots=True)
class CoordinatorRecord:
    user_id: int
    name: str
    email: str
    unit_id: int | None
    unit_name: str | None


class CoordinatorRepo:
    def __init__(self, sessionmaker: async_sessionmaker[AsyncSession]) -> None:
        self._sessionmaker = sessionmaker

    async def put(
        self, municipality_id: int, user_id: int, unit_id: int | None, *, added_by: int | None
    ) -> bool:
        """Put the user on the list (or change their unit); True when they were not on it.
        The unit must be the municipality's own (InvalidValue)."""
        try:
            async with write_session(self._sessionmaker) as session:
                if await session.get(Municipality, municipality_id) is None:
                    raise NotFound(f"municipality {municipality_id} does not exist")
                if await session.get(User, user_id) is None:
                    raise NotFound(f"user {user_id} does not exist")
                if unit_id is not None:
                    unit = await session.get(Unit, unit_id)
                    if unit is None or unit.municipality_id != municipality_id:
                        raise InvalidValue("the unit is not one of the municipality's units")
                row = await session.get(MunicipalityCoordinator, (municipality_id, user_id))
                if row is not None:
                    row.unit_id = unit_id
                    return False
                session.add(
                    MunicipalityCoordinator(
                        municipality_id=municipality_id,
                        user_id=user_id,
                        unit_id=unit_id,
                        added_by_user_id=added_by,
                    )
                )
        except IntegrityError:  # the same person added at the same moment elsewhere
            return False
        return True

    async def remove(self, municipality_id: int, user_id: int) -> bool:
        """Off the list; the plans they coordinate keep them (the KE appoints another)."""
        async with write_session(self._sessionmaker) as session:
            result = await session.execute(
                delete(MunicipalityCoordinator).where(
                    MunicipalityCoordinator.municipality_id == municipality_id,
                    MunicipalityCoordinator.user_id == user_id,
                )
            )
            return bool(result.rowcount)  # type: ignore[attr-defined]

    async def of(self, municipality_id: int) -> list[CoordinatorRecord]:
        """The list, by name; deactivated accounts are left out (they cannot take a plan)."""
        async with self._sessionmaker() as session:
            rows = await session.execute(
                select(User.id, User.name, User.email, Unit.id, Unit.name)
                .join(MunicipalityCoordinator, MunicipalityCoordinator.user_id == User.id)
                .outerjoin(Unit, Unit.id == MunicipalityCoordinator.unit_id)
                .where(
                    MunicipalityCoordinator.municipality_id == municipality_id,
                    User.deactivated_at.is_(None),
                )
                .order_by(User.name, User.id)
            )
            return [CoordinatorRecord(*row) for row in rows]

    async def listed(self, municipality_id: int, user_id: int) -> bool:
        """On the list with an active account (a deactivated one takes no plan)."""
        async with self._sessionmaker() as session:
            row = await session.scalar(
                select(User.id)
                .join(MunicipalityCoordinator, MunicipalityCoordinator.user_id == User.id)
                .where(
                    MunicipalityCoordinator.municipality_id == municipality_id,
                    User.id == user_id,
                    User.deactivated_at.is_(None),
                )
            )
            return row is not None

    async def municipalities_of(self, user_id: int) -> list[Municipality]:
        """The municipalities whose list holds the user, by name: where their plans go."""
        async with self._sessionmaker() as session:
            return list(
                await session.scalars(
                    select(Municipality)
                    .join(
                        MunicipalityCoordinator,
                        MunicipalityCoordinator.municipality_id == Municipality.id,
                    )
                    .where(MunicipalityCoordinator.user_id == user_id)
                    .order_by(Municipality.name)
                )
            )
