"""A municipality's accessibility statement and privacy notice (issue 14): plain text its KE
writes, shown to anyone at /om/tilgjengelighet and /om/personvern."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from storage.db import write_session
from storage.errors import InvalidValue, NotFound
from storage.models import Membership, Municipality, Plan, PublicStatement, utcnow

STATEMENT_KINDS = ("tilgjengelighet", "personvern")
STATEMENT_MAX = 50_000


class StatementRepo:
    def __init__(self, sessionmaker: async_sessionmaker[AsyncSession]) -> None:
        self._sessionmaker = sessionmaker

    async def get(self, municipality_id: int, kind: str) -> PublicStatement | None:
        async with self._sessionmaker() as session:
            return await session.get(PublicStatement, (municipality_id, kind))

    async def set(self, municipality_id: int, kind: str, body: str, *, user_id: int) -> None:
        """Write the text (empty: remove it, so the default text is shown again)."""
        if kind not in STATEMENT_KINDS:
            raise InvalidValue(f"unknown statement {kind!r}")
        if len(body) > STATEMENT_MAX:
            raise InvalidValue(f"a statement is longer than {STATEMENT_MAX} characters")
        async with write_session(self._sessionmaker) as session:
            if await session.get(Municipality, municipality_id) is None:
                raise NotFound(f"municipality {municipality_id} does not exist")
            row = await session.get(PublicStatement, (municipality_id, kind))
            if not body.strip():
                if row is not None:
                    await session.delete(row)
                return
            if row is None:
                row = PublicStatement(municipality_id=municipality_id, kind=kind, body=body)
                session.add(row)
            row.body = body
            row.updated_at = utcnow()
            row.updated_by_user_id = user_id

    async def municipality_of_member(self, user_id: int) -> int | None:
        """The municipality of the user's plans (the most recently joined), if any."""
        async with self._sessionmaker() as session:
            return await session.scalar(
                select(Plan.municipality_id)
                .join(Membership, Membership.plan_id == Plan.id)
                .where(Membership.user_id == user_id)
                .order_by(Membership.id.desc())
                .limit(1)
            )
