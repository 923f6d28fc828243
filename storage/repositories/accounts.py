"""A person's account over its lifetime: "Glemt passord" links, deactivation and reactivation.

Deactivating is one transaction: the account is marked, every session of it deleted, its
unused reset links spent, and `access_version` bumped on every plan it is in, so any process
with that person's sockets open (the web server, when the command line did it) re-checks
them at its next poll and closes them. The reset link's token is kept only as its sha256.
"""

from __future__ import annotations

import hashlib
import logging
import secrets
from collections.abc import Callable, Collection
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import delete, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from storage.db import write_session
from storage.errors import NotFound
from storage.models import Membership, PasswordReset, Plan, User, UserSession, utcnow

log = logging.getLogger(__name__)


def reset_token_hash(raw_token: str) -> str:
    return hashlib.sha256(raw_token.encode()).hexdigest()


@dataclass(frozen=True, slots=True)
class ResetCheck:
    """What a reset link is now: `state` is "ok", "used" or "expired" ("expired" also for a
    token never issued: the page says the same for both)."""

    state: str
    user_id: int | None = None


class AccountRepo:
    def __init__(
        self,
        sessionmaker: async_sessionmaker[AsyncSession],
        *,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self._sessionmaker = sessionmaker
        self._clock = clock

    # -- reset links -------------------------------------------------------------------

    async def issue_reset(self, user_id: int, ttl_seconds: float) -> str:
        """A new one-time link token for the user; only its hash is stored."""
        raw = secrets.token_urlsafe(32)
        now = self._clock()
        async with write_session(self._sessionmaker) as session:
            session.add(
                PasswordReset(
                    user_id=user_id,
                    token_hash=reset_token_hash(raw),
                    created_at=now,
                    expires_at=now + timedelta(seconds=ttl_seconds),
                )
            )
        log.info("password reset issued user_id=%s", user_id)
        return raw

    async def resets_since(self, user_id: int, since: datetime) -> int:
        """How many links the user was sent since `since` (the per-account limit, which holds
        across nodes because it is counted in the database)."""
        async with self._sessionmaker() as session:
            count = await session.scalar(
                select(func.count())
                .select_from(PasswordReset)
                .where(PasswordReset.user_id == user_id, PasswordReset.created_at >= since)
            )
        return int(count or 0)

    async def check_reset(self, raw_token: str) -> ResetCheck:
        """Whether the link may still be used (for showing its page; `use_reset` decides)."""
        now = self._clock()
        async with self._sessionmaker() as session:
            row = await session.scalar(
                select(PasswordReset).where(PasswordReset.token_hash == reset_token_hash(raw_token))
            )
            active = row is not None and await _active(session, row.user_id)
        if row is None or not active:
            return ResetCheck("expired")
        if row.used_at is not None:
            return ResetCheck("used", row.user_id)
        if row.expires_at <= now:
            return ResetCheck("expired", row.user_id)
        return ResetCheck("ok", row.user_id)

    async def use_reset(self, raw_token: str, password_hash: str) -> ResetCheck:
        """Spend the link and set the new password in one transaction: one conditional UPDATE,
        so of two uses at once only one wins. Every session of the user is deleted (their
        other browsers are logged out) and the user's other unused links are spent too."""
        now = self._clock()
        token_hash = reset_token_hash(raw_token)
        async with write_session(self._sessionmaker) as session:
            row = await session.scalar(
                select(PasswordReset).where(PasswordReset.token_hash == token_hash)
            )
            if row is None or not await _active(session, row.user_id):
                return ResetCheck("expired")
            if row.used_at is not None:
                return ResetCheck("used", row.user_id)
            spent = await session.execute(
                update(PasswordReset)
                .where(
                    PasswordReset.id == row.id,
                    PasswordReset.used_at.is_(None),
                    PasswordReset.expires_at > now,
                )
                .values(used_at=now)
                .execution_options(synchronize_session=False)
            )
            if getattr(spent, "rowcount", 0) != 1:
                return ResetCheck("expired" if row.expires_at <= now else "used", row.user_id)
            user_id = row.user_id
            await _spend_resets(session, user_id, now)
            await session.execute(
                update(User)
                .where(User.id == user_id)
                .values(password_hash=password_hash)
                .execution_options(synchronize_session=False)
            )
            await session.execute(
                delete(UserSession)
                .where(UserSession.user_id == user_id)
                .execution_options(synchronize_session=False)
            )
        log.info("password reset used user_id=%s", user_id)
        return ResetCheck("ok", user_id)

    async def change_password(
        self, user_id: int, password_hash: str, keep_session: str | None = None
    ) -> list[str]:
        """Set a new password hash; every other session of the user ends and unused reset
        links are spent. Returns the ids of the sessions ended (their sockets close too)."""
        now = self._clock()
        async with write_session(self._sessionmaker) as session:
            result = await session.execute(
                update(User)
                .where(User.id == user_id)
                .values(password_hash=password_hash)
                .execution_options(synchronize_session=False)
            )
            if getattr(result, "rowcount", 0) == 0:
                raise NotFound(f"user {user_id} does not exist")
            await _spend_resets(session, user_id, now)
            ended = await _end_sessions(session, user_id, keep_session)
        log.info("password changed user_id=%s sessions_ended=%d", user_id, len(ended))
        return ended

    # -- deactivation -----------------------------------------------------------------

    async def deactivate(self, user_id: int, by: int | None) -> list[str] | None:
        """Deactivate the account (`by`: who did it, None for the operator). Returns the ids of
        the sessions ended, or None when it was deactivated already (nothing changed)."""
        now = self._clock()
        async with write_session(self._sessionmaker) as session:
            user = await session.get(User, user_id)
            if user is None:
                raise NotFound(f"user {user_id} does not exist")
            if user.deactivated_at is not None:
                return None
            user.deactivated_at = now
            user.deactivated_by = by
            await _spend_resets(session, user_id, now)
            ended = await _end_sessions(session, user_id, None)
            plans = select(Membership.plan_id).where(Membership.user_id == user_id)
            await session.execute(
                update(Plan)
                .where(Plan.id.in_(plans))
                .values(access_version=Plan.access_version + 1)
                .execution_options(synchronize_session=False)
            )
        log.info("account deactivated user_id=%s", user_id)
        return ended

    async def reactivate(self, user_id: int) -> bool:
        """Let a deactivated account log in again; False when it was active already."""
        async with write_session(self._sessionmaker) as session:
            result = await session.execute(
                update(User)
                .where(User.id == user_id, User.deactivated_at.is_not(None))
                .values(deactivated_at=None, deactivated_by=None)
                .execution_options(synchronize_session=False)
            )
            changed = getattr(result, "rowcount", 0) == 1
            if changed:
                plans = select(Membership.plan_id).where(Membership.user_id == user_id)
                await session.execute(
                    update(Plan)
                    .where(Plan.id.in_(plans))
                    .values(access_version=Plan.access_version + 1)
                    .execution_options(synchronize_session=False)
                )
        if changed:
            log.info("account reactivated user_id=%s", user_id)
        return changed

    async def is_active(self, user_id: int) -> bool:
        async with self._sessionmaker() as session:
            return await _active(session, user_id)

    async def coordinated_entirely_by(
        self, koordinator_id: int, user_ids: Collection[int]
    ) -> set[int]:
        """Those of `user_ids` (other than the koordinator) who are members only of plans in
        which `koordinator_id` is koordinator: the ones this koordinator may deactivate."""
        ids = [u for u in dict.fromkeys(user_ids) if u != koordinator_id]
        if not ids:
            return set()
        coordinated = select(Membership.plan_id).where(
            Membership.user_id == koordinator_id, Membership.role == "koordinator"
        )
        async with self._sessionmaker() as session:
            elsewhere = set(
                await session.scalars(
                    select(Membership.user_id)
                    .where(Membership.user_id.in_(ids), Membership.plan_id.not_in(coordinated))
                    .distinct()
                )
            )
            members = set(
                await session.scalars(
                    select(Membership.user_id).where(Membership.user_id.in_(ids)).distinct()
                )
            )
        return members - elsewhere


async def _active(session: AsyncSession, user_id: int) -> bool:
    row = (
        await session.execute(select(User.id, User.deactivated_at).where(User.id == user_id))
    ).first()
    return row is not None and row[1] is None


async def _spend_resets(session: AsyncSession, user_id: int, now: datetime) -> None:
    await session.execute(
        update(PasswordReset)
        .where(PasswordReset.user_id == user_id, PasswordReset.used_at.is_(None))
        .values(used_at=now)
        .execution_options(synchronize_session=False)
    )


async def _end_sessions(session: AsyncSession, user_id: int, keep: str | None) -> list[str]:
    query = select(UserSession.id).where(UserSession.user_id == user_id)
    if keep is not None:
        query = query.where(UserSession.id != keep)
    ended = [str(sid) for sid in await session.scalars(query)]
    if ended:
        await session.execute(
            delete(UserSession)
            .where(UserSession.id.in_(ended))
            .execution_options(synchronize_session=False)
        )
    return ended
