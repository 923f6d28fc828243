"""Log-in sessions. The raw token lives only in the browser cookie or the caller's hands; the
database keeps its sha256, so a copy of the database (a backup, say) logs nobody in."""

from __future__ import annotations

import hashlib
import logging
import secrets
from collections.abc import Callable, Collection
from datetime import datetime, timedelta

from sqlalchemy import delete, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from storage.db import write_session
from storage.errors import InvalidValue, NotFound
from storage.models import User, UserSession, utcnow

log = logging.getLogger(__name__)

# Touching last_seen_at on every request would make each page view and socket open a write;
# a coarser touch is as good for an idle timeout measured in minutes.
MAX_TOUCH_INTERVAL = timedelta(seconds=60)


def token_id(raw_token: str) -> str:
    return hashlib.sha256(raw_token.encode()).hexdigest()


class SessionRepo:
    def __init__(
        self,
        sessionmaker: async_sessionmaker[AsyncSession],
        *,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self._sessionmaker = sessionmaker
        self._clock = clock  # injectable so expiry can be tested without sleeping

    async def create(self, user_id: int, ttl_seconds: float) -> str:
        """Start a session that ends `ttl_seconds` from now at the latest; return its raw token."""
        if ttl_seconds <= 0:
            raise InvalidValue("a session's lifetime must be positive")
        raw = secrets.token_urlsafe(32)
        now = self._clock()
        async with write_session(self._sessionmaker) as session:
            if await session.get(User, user_id) is None:
                raise NotFound(f"user {user_id} does not exist")
            session.add(
                UserSession(
                    id=token_id(raw),
                    user_id=user_id,
                    created_at=now,
                    last_seen_at=now,
                    expires_at=now + timedelta(seconds=ttl_seconds),
                )
            )
        log.info("session created user_id=%s", user_id)
        return raw

    async def user_for(self, raw_token: str, idle_timeout_seconds: float) -> int | None:
        """The user a token logs in, or None if unknown, expired, idle too long or the
        account is deactivated.

        A live session's last_seen_at is moved forward (at most every
        min(60 s, idle timeout / 4)); a dead one is deleted on the spot.
        """
        sid = token_id(raw_token)
        now = self._clock()
        async with self._sessionmaker() as session:
            found = (
                await session.execute(
                    select(UserSession, User.deactivated_at)
                    .join(User, User.id == UserSession.user_id)
                    .where(UserSession.id == sid)
                )
            ).first()
        if found is None:
            return None
        row, deactivated_at = found
        if deactivated_at is not None:  # a deactivated account's sessions were deleted with
            await self._delete_ids(sid)  # it; one made by a race ends here
            return None
        idle = timedelta(seconds=idle_timeout_seconds)
        if row.expires_at <= now or now - row.last_seen_at > idle:
            await self._delete_ids(sid)
            log.info(
                "session ended user_id=%s reason=%s",
                row.user_id,
                "expired" if row.expires_at <= now else "idle",
            )
            return None
        if now - row.last_seen_at >= min(MAX_TOUCH_INTERVAL, idle / 4):
            async with write_session(self._sessionmaker) as session:
                await session.execute(
                    update(UserSession)
                    .where(UserSession.id == sid, UserSession.last_seen_at < now)
                    .values(last_seen_at=now)
                    .execution_options(synchronize_session=False)
                )
        return row.user_id

    async def remaining(
        self, raw_token: str, idle_timeout_seconds: float
    ) -> tuple[int, float] | None:
        """(user, seconds until the session ends if nothing happens), or None once it has
        ended. Reads without touching: asking when a session ends is not activity."""
        now = self._clock()
        async with self._sessionmaker() as session:
            row = await session.get(UserSession, token_id(raw_token))
        if row is None:
            return None
        end = min(row.expires_at, row.last_seen_at + timedelta(seconds=idle_timeout_seconds))
        left = (end - now).total_seconds()
        return (row.user_id, left) if left > 0 else None

    async def touch(self, session_ids: Collection[str], idle_timeout_seconds: float) -> int:
        """Mark sessions active now (typing on a socket), in one statement; a session already
        past its end or idle timeout stays ended. Returns how many were touched."""
        if not session_ids:
            return 0
        now = self._clock()
        idle_since = now - timedelta(seconds=idle_timeout_seconds)
        async with write_session(self._sessionmaker) as session:
            result = await session.execute(
                update(UserSession)
                .where(
                    UserSession.id.in_(list(session_ids)),
                    UserSession.expires_at > now,
                    UserSession.last_seen_at >= idle_since,
                )
                .values(last_seen_at=now)
                .execution_options(synchronize_session=False)
            )
        return int(result.rowcount)  # type: ignore[attr-defined]

    async def live_ids(self, session_ids: Collection[str], idle_timeout_seconds: float) -> set[str]:
        """Which of `session_ids` are still live (neither ended, expired nor idle too long)."""
        if not session_ids:
            return set()
        now = self._clock()
        idle_since = now - timedelta(seconds=idle_timeout_seconds)
        async with self._sessionmaker() as session:
            rows = await session.execute(
                select(UserSession.id).where(
                    UserSession.id.in_(list(session_ids)),
                    UserSession.expires_at > now,
                    UserSession.last_seen_at >= idle_since,
                )
            )
        return {str(sid) for sid in rows.scalars()}

    async def delete(self, raw_token: str) -> None:
        """Log out; deleting an unknown or already ended session is not an error."""
        await self._delete_ids(token_id(raw_token))

    async def delete_for_user(self, user_id: int) -> int:
        """End every session of a user (password change, account removal)."""
        async with write_session(self._sessionmaker) as session:
            result = await session.execute(
                delete(UserSession)
                .where(UserSession.user_id == user_id)
                .execution_options(synchronize_session=False)
            )
        count = int(result.rowcount)  # type: ignore[attr-defined]
        log.info("sessions ended user_id=%s count=%s", user_id, count)
        return count

    async def delete_expired(self, idle_timeout_seconds: float) -> int:
        """Sweep sessions past their end or idle timeout (scheduled clean-up)."""
        now = self._clock()
        idle_since = now - timedelta(seconds=idle_timeout_seconds)
        async with write_session(self._sessionmaker) as session:
            result = await session.execute(
                delete(UserSession)
                .where(or_(UserSession.expires_at <= now, UserSession.last_seen_at < idle_since))
                .execution_options(synchronize_session=False)
            )
        return int(result.rowcount)  # type: ignore[attr-defined]

    async def _delete_ids(self, sid: str) -> None:
        async with write_session(self._sessionmaker) as session:
            await session.execute(
                delete(UserSession)
                .where(UserSession.id == sid)
                .execution_options(synchronize_session=False)
            )
