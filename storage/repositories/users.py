"""People who can log in. Returns detached `User` rows (loaded in full, safe after commit)."""

from __future__ import annotations

import logging
from collections.abc import Collection, Iterable

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from storage.choices import LANGUAGES
from storage.db import write_session
from storage.errors import AlreadyExists, InvalidValue, NotFound
from storage.models import User

log = logging.getLogger(__name__)

_IN_CHUNK = 500


def normalize_email(email: str) -> str:
    """Lower-case once, on the way in, so uniqueness and look-up agree on every database."""
    normalized = email.strip().lower()
    local, _, domain = normalized.partition("@")
    if not local or not domain or any(c.isspace() for c in normalized) or len(normalized) > 320:
        raise InvalidValue("not a valid e-mail address")
    return normalized


def _required(value: str, what: str) -> str:
    value = value.strip()
    if not value:
        raise InvalidValue(f"{what} must not be empty")
    return value


def _language(value: str | None) -> str | None:
    if value is not None and value not in LANGUAGES:
        raise InvalidValue(f"language must be one of {', '.join(LANGUAGES)}")
    return value


class UserRepo:
    def __init__(self, sessionmaker: async_sessionmaker[AsyncSession]) -> None:
        self._sessionmaker = sessionmaker

    async def create(
        self,
        email: str,
        name: str,
        password_hash: str | None = None,
        language: str | None = None,
    ) -> User:
        email = normalize_email(email)
        user = User(
            email=email,
            name=_required(name, "name"),
            password_hash=password_hash,
            language=_language(language),
        )
        try:
            async with write_session(self._sessionmaker) as session:
                taken = await session.scalar(select(User.id).where(User.email == email))
                if taken is not None:
                    raise AlreadyExists("a user with that e-mail address already exists")
                session.add(user)
                await session.flush()
        except IntegrityError as exc:
            # Lost a race with another process creating the same address.
            raise AlreadyExists("a user with that e-mail address already exists") from exc
        log.info("user created user_id=%s", user.id)
        return user

    async def get(self, user_id: int) -> User | None:
        async with self._sessionmaker() as session:
            return await session.get(User, user_id)

    async def names(self, user_ids: Iterable[int]) -> dict[int, str]:
        """{id: name} of these users, members of a plan or not (someone who has left a plan
        is still named in what they wrote there); ids with no user are left out."""
        ids = sorted(set(user_ids))
        names: dict[int, str] = {}
        async with self._sessionmaker() as session:
            for start in range(0, len(ids), _IN_CHUNK):
                rows = await session.execute(
                    select(User.id, User.name).where(User.id.in_(ids[start : start + _IN_CHUNK]))
                )
                names.update((int(uid), str(name)) for uid, name in rows)
        return names

    async def get_by_email(self, email: str) -> User | None:
        try:
            email = normalize_email(email)
        except InvalidValue:
            return None
        async with self._sessionmaker() as session:
            return await session.scalar(select(User).where(User.email == email))

    async def set_password_hash(self, user_id: int, password_hash: str | None) -> None:
        """Replace (or with None, remove) the stored hash; the caller hashes, never storage."""
        async with write_session(self._sessionmaker) as session:
            result = await session.execute(
                update(User).where(User.id == user_id).values(password_hash=password_hash)
            )
            if result.rowcount == 0:  # type: ignore[attr-defined]
                raise NotFound(f"user {user_id} does not exist")
        log.info("password changed user_id=%s", user_id)

    async def set_name(self, user_id: int, name: str) -> str:
        """Change the name shown for the user (everywhere, also on what they wrote before)."""
        name = _required(name, "name")
        if len(name) > 200:
            raise InvalidValue("name must be at most 200 characters")
        async with write_session(self._sessionmaker) as session:
            result = await session.execute(update(User).where(User.id == user_id).values(name=name))
            if result.rowcount == 0:  # type: ignore[attr-defined]
                raise NotFound(f"user {user_id} does not exist")
        log.info("name changed user_id=%s", user_id)
        return name

    async def set_language(self, user_id: int, language: str | None) -> None:
        """Remember the user's language (None: not chosen, bokmål); InvalidValue otherwise."""
        language = _language(language)
        async with write_session(self._sessionmaker) as session:
            result = await session.execute(
                update(User).where(User.id == user_id).values(language=language)
            )
            if result.rowcount == 0:  # type: ignore[attr-defined]
                raise NotFound(f"user {user_id} does not exist")
        log.info("language set user_id=%s language=%s", user_id, language)

    async def languages(self, user_ids: Collection[int]) -> dict[int, str]:
        """The chosen language of those of these users who chose one (for their e-mail)."""
        ids = list(dict.fromkeys(user_ids))
        if not ids:
            return {}
        async with self._sessionmaker() as session:
            rows = await session.execute(
                select(User.id, User.language).where(User.id.in_(ids), User.language.is_not(None))
            )
            return {user_id: str(language) for user_id, language in rows}
