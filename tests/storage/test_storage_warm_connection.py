"""The zone log's appends on PostgreSQL keep one pooled connection checked out while they
come often (storage/db/postgres_driver.py): a check-out and check-in through SQLAlchemy's async
layer cost about 100 µs of CPU per statement. Kept warm only while used: idle, it goes back
to the pool (whose idle ping then applies); broken, it is never used again; the engine's
disposal closes it."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
from sqlalchemy import event, text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncEngine

from storage.db import postgres_driver
from storage.db.postgres_driver import warm_driver_connection
from tests.storage.conftest import Store, content_zone

pytestmark = pytest.mark.postgres


@contextmanager
def _pool_traffic(engine: AsyncEngine) -> Iterator[dict[str, int]]:
    counts = {"checkout": 0, "checkin": 0}

    def checked_out(*_: object) -> None:
        counts["checkout"] += 1

    def checked_in(*_: object) -> None:
        counts["checkin"] += 1

    pool = engine.sync_engine.pool
    event.listen(pool, "checkout", checked_out)
    event.listen(pool, "checkin", checked_in)
    try:
        yield counts
    finally:
        event.remove(pool, "checkout", checked_out)
        event.remove(pool, "checkin", checked_in)


async def test_appends_in_a_row_share_one_checked_out_connection(postgres_store: Store) -> None:
    store = postgres_store
    zone = await content_zone(store)
    with _pool_traffic(store.engine) as traffic:
        for i in range(20):
            await store.zone_log.append_batch([(zone, f"Åse Ødegård {i} 🌱".encode())])
    # Without the warm connection: 20 check-outs and 20 check-ins.
    assert traffic["checkout"] <= 1 and traffic["checkin"] == 0
    warm = warm_driver_connection(store.engine)
    assert warm is not None
    # A load checks its own connection out: it never keeps the next append from the warm one.
    with _pool_traffic(store.engine) as traffic:
        loaded = await store.zone_log.load(zone)
    assert traffic == {"checkout": 1, "checkin": 1}
    assert warm_driver_connection(store.engine) is warm
    assert [data.decode() for _, data in loaded.updates] == [
        f"Åse Ødegård {i} 🌱" for i in range(20)
    ]


async def test_a_warm_connection_goes_back_to_the_pool_when_idle(postgres_store: Store) -> None:
    store = postgres_store
    zone = await content_zone(store)
    await store.zone_log.append_batch([(zone, "første ✍️".encode())])
    assert warm_driver_connection(store.engine) is not None
    with _pool_traffic(store.engine) as traffic:
        for _ in range(300):  # up to 30 s on a loaded machine; about 0.5 s here
            if traffic["checkin"]:
                break
            await asyncio.sleep(0.1)
    assert warm_driver_connection(store.engine) is None
    assert traffic["checkin"] == 1
    # The next statement checks one out again (pinged by the pool if it sat idle).
    await store.zone_log.append_batch([(zone, "andre ✍️".encode())])
    assert [d for _, d in (await store.zone_log.load(zone)).updates] == [
        "første ✍️".encode(),
        "andre ✍️".encode(),
    ]


async def test_a_broken_warm_connection_is_dropped_and_the_next_statement_gets_another(
    postgres_store: Store,
) -> None:
    store = postgres_store
    zone = await content_zone(store)
    await store.zone_log.append_batch([(zone, "før 💥".encode())])
    broken = warm_driver_connection(store.engine)
    assert broken is not None
    async with store.engine.connect() as admin:
        await admin.execute(
            text("SELECT pg_terminate_backend(:pid)"), {"pid": broken.get_server_pid()}
        )
    with pytest.raises(DBAPIError) as failed:
        await store.zone_log.append_batch([(zone, "under 💥".encode())])
    assert failed.value.connection_invalidated
    assert warm_driver_connection(store.engine) is None
    await store.zone_log.append_batch([(zone, "etter ✅".encode())])
    fresh = warm_driver_connection(store.engine)
    assert fresh is not None and fresh is not broken
    assert [d.decode() for _, d in (await store.zone_log.load(zone)).updates] == [
        "før 💥",
        "etter ✅",
    ]


async def test_the_engines_disposal_closes_the_warm_connection(postgres_store: Store) -> None:
    store = postgres_store
    zone = await content_zone(store)
    await store.zone_log.append_batch([(zone, "Åse 🗝️".encode())])
    warm = warm_driver_connection(store.engine)
    assert warm is not None and not warm.is_closed()
    await store.engine.dispose()
    assert warm.is_closed()
    assert warm_driver_connection(store.engine) is None
    # The engine is usable again after a dispose, as its pool is.
    await store.zone_log.append_batch([(zone, "igjen 🗝️".encode())])
    assert len((await store.zone_log.load(zone)).updates) == 2


async def test_a_connection_held_warm_too_long_goes_back_for_the_pools_recycling(
    postgres_store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = postgres_store
    zone = await content_zone(store)
    monkeypatch.setattr(postgres_driver, "WARM_AT_MOST_SECONDS", 0.0)
    with _pool_traffic(store.engine) as traffic:
        for i in range(3):
            await store.zone_log.append_batch([(zone, f"Ødegård {i} ♻️".encode())])
    # The first comes from the pool and stays warm, the second gives it back after use, the
    # third checks out again.
    assert traffic["checkout"] == 2 and traffic["checkin"] == 1
