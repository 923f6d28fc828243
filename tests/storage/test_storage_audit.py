"""The access log's hash chain, on SQLite and PostgreSQL: appends, concurrency, tampering."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime

import pytest
from sqlalchemy import text

from storage.db import create_engine, is_sqlite, make_sessionmaker
from storage.repositories.audit import GENESIS_HASH, AuditEvent, AuditRepo, row_hash
from tests.storage.conftest import Store

PLAN = "6f1c2a8e-2d7b-4c55-9a51-3b2f0e9d1c11"


def _event(i: int, action: str = "plan_view") -> AuditEvent:
    return AuditEvent(
        action,
        actor_user_id=i,
        role="deltaker",
        plan_id=PLAN,
        zone="area/skole",
        client_address="10.0.0.7",
        details={"note": "Åse Ødegård 🎉", "n": i},
    )


async def _raw(store: Store, sql: str, **params: object) -> None:
    async with store.engine.begin() as conn:
        await conn.execute(text(sql), params)


async def test_chain_links_and_verifies(store: Store) -> None:
    repo = AuditRepo(store.sessionmaker)
    assert (await repo.verify()).ok and (await repo.verify()).rows_checked == 0
    first = await repo.append(_event(1, "login"))
    more = await repo.append_many([_event(i) for i in range(2, 6)])
    assert more == sorted(more) and more[0] > first
    result = await repo.verify()
    assert result.ok and result.rows_checked == 5 and result.first_broken_id is None

    rows = await repo.for_plan(PLAN, limit=10)
    assert [r.id for r in rows] == [*reversed(more), first]  # newest first
    oldest = rows[-1]
    assert oldest.prev_hash == GENESIS_HASH and oldest.at.tzinfo is not None
    assert json.loads(oldest.details) == {"note": "Åse Ødegård 🎉", "n": 1}
    assert rows[-2].prev_hash == oldest.hash
    expected = row_hash(
        oldest.id,
        oldest.at.astimezone(UTC).isoformat(timespec="microseconds"),
        "login",
        1,
        "deltaker",
        PLAN,
        "area/skole",
        "10.0.0.7",
        oldest.details,
        GENESIS_HASH,
    )
    assert oldest.hash == expected
    assert [r.action for r in await repo.for_plan(PLAN, 10, action="login")] == ["login"]
    assert len(await repo.for_plan(PLAN, limit=2, offset=1)) == 2
    assert await repo.for_plan("ukjent", 10) == []


async def test_concurrent_appends_keep_one_chain(store: Store) -> None:
    repo = AuditRepo(store.sessionmaker)

    async def writer(n: int) -> None:
        for j in range(5):
            if j % 2:
                await repo.append(_event(n))
            else:
                await repo.append_many([_event(n), _event(n)])

    await asyncio.gather(*(writer(n) for n in range(20)))
    result = await repo.verify()
    assert result.ok, result
    assert result.rows_checked == 20 * (3 * 2 + 2)


async def test_concurrent_appends_from_two_engines(store: Store) -> None:
    """Two engines stand in for two processes or nodes: the database lock must chain them."""
    other = create_engine(store.url)
    try:
        a, b = AuditRepo(store.sessionmaker), AuditRepo(make_sessionmaker(other))
        await asyncio.gather(
            *(repo.append_many([_event(i), _event(i)]) for i in range(10) for repo in (a, b))
        )
        result = await a.verify()
        assert result.ok and result.rows_checked == 40, result
    finally:
        await other.dispose()


async def test_an_edited_row_is_named(store: Store) -> None:
    repo = AuditRepo(store.sessionmaker)
    ids = await repo.append_many([_event(i) for i in range(6)])
    await _raw(store, "UPDATE audit_log SET role = 'koordinator' WHERE id = :id", id=ids[3])
    result = await repo.verify()
    assert not result.ok and result.first_broken_id == ids[3]
    assert result.rows_checked == 3 and "changed" in (result.problem or "")


async def test_an_edited_row_with_its_hash_recomputed_breaks_the_next(store: Store) -> None:
    repo = AuditRepo(store.sessionmaker)
    ids = await repo.append_many([_event(i) for i in range(4)])
    await _raw(store, "UPDATE audit_log SET hash = :h WHERE id = :id", h="f" * 64, id=ids[1])
    result = await repo.verify()
    # the row's own hash no longer matches its contents either way
    assert not result.ok and result.first_broken_id == ids[1]


async def test_a_deleted_row_breaks_the_next_link(store: Store) -> None:
    repo = AuditRepo(store.sessionmaker)
    ids = await repo.append_many([_event(i) for i in range(6)])
    await _raw(store, "DELETE FROM audit_log WHERE id = :id", id=ids[2])
    result = await repo.verify()
    assert not result.ok and result.first_broken_id == ids[3]
    assert f"row {ids[1]}" in (result.problem or "") and "deleted" in (result.problem or "")


async def test_deleting_the_first_row_is_detected(store: Store) -> None:
    repo = AuditRepo(store.sessionmaker)
    ids = await repo.append_many([_event(i) for i in range(3)])
    await _raw(store, "DELETE FROM audit_log WHERE id = :id", id=ids[0])
    result = await repo.verify()
    assert not result.ok and result.first_broken_id == ids[1]


async def test_garbage_in_a_row_is_a_break_not_a_crash(store: Store) -> None:
    repo = AuditRepo(store.sessionmaker)
    ids = await repo.append_many([_event(i) for i in range(3)])
    if is_sqlite(store.engine):
        # SQLite lets raw SQL put text anywhere: a time that is no time at all.
        await _raw(store, "UPDATE audit_log SET at = 'i går' WHERE id = :id", id=ids[1])
    else:
        await _raw(
            store,
            "UPDATE audit_log SET at = :at WHERE id = :id",
            at=datetime(2020, 1, 1, tzinfo=UTC),
            id=ids[1],
        )
    result = await repo.verify()
    assert not result.ok and result.first_broken_id == ids[1]


async def test_verify_streams_in_batches(store: Store, monkeypatch: pytest.MonkeyPatch) -> None:
    import storage.repositories.audit as audit

    monkeypatch.setattr(audit, "_VERIFY_BATCH", 7)
    repo = AuditRepo(store.sessionmaker)
    ids = await repo.append_many([_event(i) for i in range(30)])
    assert (await repo.verify()).rows_checked == 30
    await _raw(store, "DELETE FROM audit_log WHERE id = :id", id=ids[20])
    result = await repo.verify()
    assert result.first_broken_id == ids[21] and result.rows_checked == 20


async def test_naive_times_and_bad_actions_are_refused(store: Store) -> None:
    from storage.errors import InvalidValue

    repo = AuditRepo(store.sessionmaker)
    with pytest.raises(InvalidValue):
        await repo.append(AuditEvent("login", at=datetime(2026, 1, 1)))
    with pytest.raises(InvalidValue):
        await repo.append(AuditEvent(""))
    assert (await repo.verify()).rows_checked == 0
