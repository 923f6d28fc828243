from __future__ import annotations

import hashlib

import pytest
from sqlalchemy import select

from storage.errors import InvalidValue, NotFound
from storage.models import UserSession
from tests.storage.conftest import Store

DAY = 24 * 3600
IDLE = 3600


async def _user(store: Store) -> int:
    return (await store.users.create("jonas@example.no", "Jonas Berg")).id


async def test_only_the_token_hash_is_stored(store: Store) -> None:
    user_id = await _user(store)
    token = await store.sessions.create(user_id, DAY)
    assert len(token) >= 40
    async with store.sessionmaker() as session:
        ids = list(await session.scalars(select(UserSession.id)))
    assert ids == [hashlib.sha256(token.encode()).hexdigest()]
    assert await store.sessions.user_for(token, IDLE) == user_id
    assert await store.sessions.user_for("not-a-token", IDLE) is None


async def test_expiry(store: Store) -> None:
    user_id = await _user(store)
    token = await store.sessions.create(user_id, 2 * IDLE)
    for _ in range(3):  # stays alive while used, up to its end
        store.clock.advance(IDLE / 2)
        assert await store.sessions.user_for(token, IDLE) == user_id
    store.clock.advance(IDLE / 2 + 1)
    assert await store.sessions.user_for(token, IDLE) is None
    store.clock.advance(-IDLE)  # deleted, not merely refused
    assert await store.sessions.user_for(token, IDLE) is None


async def test_idle_timeout_and_touch(store: Store) -> None:
    user_id = await _user(store)
    token = await store.sessions.create(user_id, DAY)
    store.clock.advance(IDLE - 10)
    assert await store.sessions.user_for(token, IDLE) == user_id  # touches last_seen_at
    store.clock.advance(IDLE - 10)
    assert await store.sessions.user_for(token, IDLE) == user_id
    store.clock.advance(IDLE + 1)
    assert await store.sessions.user_for(token, IDLE) is None


async def test_logout(store: Store) -> None:
    user_id = await _user(store)
    other = (await store.users.create("kari@example.no", "Kari")).id
    a = await store.sessions.create(user_id, DAY)
    b = await store.sessions.create(user_id, DAY)
    c = await store.sessions.create(other, DAY)
    await store.sessions.delete(a)
    await store.sessions.delete(a)  # twice is fine
    assert await store.sessions.user_for(a, IDLE) is None
    assert await store.sessions.user_for(b, IDLE) == user_id
    assert await store.sessions.delete_for_user(user_id) == 1
    assert await store.sessions.user_for(b, IDLE) is None
    assert await store.sessions.user_for(c, IDLE) == other


async def test_delete_expired_and_validation(store: Store) -> None:
    user_id = await _user(store)
    await store.sessions.create(user_id, 60)
    live = await store.sessions.create(user_id, DAY)
    store.clock.advance(120)
    assert await store.sessions.delete_expired(IDLE) == 1
    assert await store.sessions.user_for(live, IDLE) == user_id
    with pytest.raises(InvalidValue):
        await store.sessions.create(user_id, 0)
    with pytest.raises(NotFound):
        await store.sessions.create(999_999, DAY)
