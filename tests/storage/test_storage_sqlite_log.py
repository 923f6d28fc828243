"""The zone log's raw SQLite fast path (storage.db.sqlite_log): same guarantees as the engine."""

from __future__ import annotations

import asyncio
import gc
import re
import sqlite3
import threading
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest
from sqlalchemy import select, text
from sqlalchemy.exc import IntegrityError

import storage.repositories.updates as updates_module
from storage.db import (
    create_engine,
    insert_returning_ids,
    make_sessionmaker,
    sqlite_log,
    sqlite_zone_log,
    write_connection,
)
from storage.db.sqlite_log import SQLiteZoneLog
from storage.migrate import upgrade
from storage.models import ZoneUpdate, zone_updates_table
from storage.repositories import PlanRepo, UserRepo, ZoneLog
from tests.storage.conftest import Store


def _fast(store: Store) -> SQLiteZoneLog:
    fast = sqlite_zone_log(store.engine)
    assert fast is not None
    return fast


def _our_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name.startswith("samplan-sqlite-")]


async def _zones(store: Store, n: int = 2) -> tuple[str, list[int]]:
    municipality = await store.plans.get_or_create_municipality("Eksempelvik kommune")
    plan = await store.plans.create_plan(municipality, "Individuell plan", "Åse Ødegård")
    ids = []
    for kind in ("content", "comments"):
        zone = await store.plans.get_zone(plan.id, kind, "")
        assert zone is not None
        ids.append(zone.id)
    for i in range(n - 2):
        ids.append((await store.plans.add_zone(plan.id, "area", f"a{i}", f"Område {i}", i)).id)
    return plan.id, ids


async def _rows(store: Store, zone_id: int) -> list[tuple[int, bytes]]:
    """Read back through the ORM, not through the fast path under test."""
    async with store.sessionmaker() as session:
        result = await session.execute(
            select(ZoneUpdate.id, ZoneUpdate.data)
            .where(ZoneUpdate.zone_id == zone_id)
            .order_by(ZoneUpdate.id)
        )
        return [(int(i), bytes(d)) for i, d in result]


async def test_fast_path_only_for_sqlite_files(sqlite_store: Store, tmp_path: Path) -> None:
    assert isinstance(sqlite_zone_log(sqlite_store.engine), SQLiteZoneLog)
    memory = create_engine("sqlite+aiosqlite://")
    pg = create_engine("postgresql+asyncpg://nobody@127.0.0.1:1/none")
    try:
        # Another connection to :memory: would open another, empty database.
        assert sqlite_zone_log(memory) is None
        assert sqlite_zone_log(pg) is None
    finally:
        await memory.dispose()
        await pg.dispose()


async def test_ids_are_contiguous_and_match_rows(sqlite_store: Store) -> None:
    store = sqlite_store
    _, (a, b) = await _zones(store)
    batches = [
        [(a if (i + j) % 2 else b, f"{j}-{i} æøå".encode()) for i in range(n)]
        for j, n in enumerate((1, 7, 50, 1, 3))
    ]
    got = [await store.zone_log.append_batch(batch) for batch in batches]
    for batch, seqs in zip(batches, got, strict=True):
        assert seqs == list(range(seqs[0], seqs[0] + len(batch)))
    flat = [seq for seqs in got for seq in seqs]
    assert flat == list(range(flat[0], flat[0] + len(flat)))
    expected = {
        seq: item
        for seqs, batch in zip(got, batches, strict=True)
        for seq, item in zip(seqs, batch, strict=True)
    }
    for zone in (a, b):
        rows = await _rows(store, zone)
        assert rows == [(seq, data) for seq, (z, data) in sorted(expected.items()) if z == zone]


async def test_ids_never_go_back_after_compaction_deleted_the_newest(sqlite_store: Store) -> None:
    store = sqlite_store
    _, (a, b) = await _zones(store)
    seqs = await store.zone_log.append_batch([(a, b"x"), (a, b"y"), (a, b"z")])
    await store.zone_log.compact(a, seqs, b"all")  # deletes the newest rows of the table
    assert await _rows(store, a) == []
    after = await store.zone_log.append_batch([(a, b"1"), (b, b"2"), (a, b"3")])
    assert after == [seqs[-1] + 1, seqs[-1] + 2, seqs[-1] + 3]
    # The engine path, purge and the fast path share one AUTOINCREMENT counter.
    async with write_connection(store.engine) as conn:
        (mid,) = await insert_returning_ids(
            conn,
            zone_updates_table,
            [{"zone_id": b, "data": b"e", "created_at": datetime.now(UTC)}],
        )
    assert mid == after[-1] + 1
    await store.zone_log.delete_zone_history(b)
    last = await store.zone_log.append_batch([(a, b"4"), (a, b"5")])
    assert last == [mid + 1, mid + 2]
    loaded = await store.zone_log.load(a)
    assert loaded.snapshot == b"all" and loaded.snapshot_seq == seqs[-1]
    assert list(loaded.updates) == [
        (after[0], b"1"),
        (after[2], b"3"),
        (last[0], b"4"),
        (last[1], b"5"),
    ]


async def test_created_at_is_stored_as_the_orm_stores_it(
    sqlite_store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = sqlite_store
    _, (a, _b) = await _zones(store)
    oslo = timezone(timedelta(hours=2))
    when = datetime(2024, 5, 17, 14, 3, 9, 120, tzinfo=oslo)  # not UTC, microseconds set
    monkeypatch.setattr(updates_module, "utcnow", lambda: when)
    (fast_seq,) = await store.zone_log.append_batch([(a, b"fast")])
    async with write_connection(store.engine) as conn:  # the engine's own way of writing it
        (orm_seq,) = await insert_returning_ids(
            conn, zone_updates_table, [{"zone_id": a, "data": b"orm", "created_at": when}]
        )
    async with store.engine.connect() as conn:
        result = await conn.execute(
            text("SELECT id, created_at || '|' || typeof(created_at) FROM zone_updates")
        )
        raw = {int(row[0]): str(row[1]) for row in result}
    assert raw[fast_seq] == raw[orm_seq] == "2024-05-17 12:03:09.000120|text"
    async with store.sessionmaker() as session:
        rows = (await session.scalars(select(ZoneUpdate).order_by(ZoneUpdate.id))).all()
    assert [r.created_at for r in rows] == [when, when]
    assert all(r.created_at.tzinfo is UTC for r in rows)
    assert re.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{6}\|text", raw[fast_seq])


@pytest.mark.parametrize(("mode", "value"), [("FULL", 2), ("NORMAL", 1)])
async def test_raw_connections_have_the_engine_pragmas(
    sqlite_url: str, mode: str, value: int
) -> None:
    await upgrade(sqlite_url)
    engine = create_engine(sqlite_url, sqlite_synchronous=mode)
    try:
        fast = sqlite_zone_log(engine)
        assert fast is not None

        def pragmas(conn: sqlite3.Connection) -> tuple[object, ...]:
            return tuple(
                conn.execute(f"PRAGMA {name}").fetchone()[0]
                for name in ("journal_mode", "synchronous", "foreign_keys", "busy_timeout")
            ) + (conn.in_transaction, conn.isolation_level)

        for role in ("writer", "reader"):
            assert await fast.run(role, pragmas) == ("wal", value, 1, 10000, False, None), role
    finally:
        await engine.dispose()


async def test_an_error_rolls_back_everything(sqlite_store: Store) -> None:
    store = sqlite_store
    _, (a, _b) = await _zones(store)
    before = await store.zone_log.append_batch([(a, b"before")])
    bad_zone = [(a, b"ok"), (a, b"ok too"), (999_999, b"no such zone"), (a, b"after")]
    with pytest.raises(IntegrityError) as info:
        await store.zone_log.append_batch(bad_zone)
    assert "FOREIGN KEY" in str(info.value) and "no such zone" not in str(info.value)
    bad_value: list[tuple[int, bytes]] = [(a, b"ok"), (a, None)]  # type: ignore[list-item]
    with pytest.raises(IntegrityError, match="NOT NULL"):
        await store.zone_log.append_batch(bad_value)
    assert await _rows(store, a) == [(before[0], b"before")]
    # The connection is left clean, and the counter did not move (the failed ids were undone).
    assert await _fast(store).run("writer", lambda conn: conn.in_transaction) is False
    after = await store.zone_log.append_batch([(a, b"a1"), (a, b"a2")])
    assert after == [before[0] + 1, before[0] + 2]
    assert [d for _, d in (await store.zone_log.load(a)).updates] == [b"before", b"a1", b"a2"]


async def test_load_is_one_snapshot_while_compaction_commits(sqlite_store: Store) -> None:
    """Hold the load between its two SELECTs while a compaction commits: it must still see the
    old snapshot with the whole tail, not the old snapshot with the tail already deleted."""
    store = sqlite_store
    _, (a, _b) = await _zones(store)
    seqs = await store.zone_log.append_batch([(a, f"u{i}".encode()) for i in range(10)])
    first = await store.zone_log.compact(a, seqs[:3], b"snap-2")
    fast = _fast(store)

    reached, release = threading.Event(), threading.Event()

    def hold(statement: str) -> None:
        if statement.startswith("SELECT id, data FROM zone_updates"):
            reached.set()
            release.wait(10)

    await fast.run("reader", lambda conn: conn.set_trace_callback(hold))
    try:
        load = asyncio.ensure_future(store.zone_log.load(a))
        assert await asyncio.to_thread(reached.wait, 10)
        await store.zone_log.compact(a, seqs[:8], b"snap-7", based_on=first)  # commits meanwhile
        late = await store.zone_log.append_batch([(a, b"late")])
        release.set()
        held = await load
    finally:
        release.set()
        await fast.run("reader", lambda conn: conn.set_trace_callback(None))
    assert held.snapshot == b"snap-2" and held.snapshot_seq == seqs[2]
    assert list(held.updates) == [(s, f"u{i}".encode()) for i, s in enumerate(seqs) if i > 2]
    fresh = await store.zone_log.load(a)
    assert fresh.snapshot == b"snap-7" and fresh.snapshot_seq == seqs[7]
    assert list(fresh.updates) == [(seqs[8], b"u8"), (seqs[9], b"u9"), (late[0], b"late")]


async def test_loads_stay_consistent_under_concurrent_compaction(sqlite_store: Store) -> None:
    """Every load, taken at any moment, folds in exactly the updates appended so far."""
    store = sqlite_store
    _, (a, _b) = await _zones(store)
    appended: list[int] = []
    done = asyncio.Event()
    snapshot_seq: int | None = None

    async def writer() -> None:
        nonlocal snapshot_seq
        for i in range(60):
            appended.extend(await store.zone_log.append_batch([(a, b"%d" % i)] * (1 + i % 3)))
            if i % 5 == 4:
                # The snapshot names the seqs it folds in, so a load can be checked exactly.
                upto = appended[-1 - i % 2]
                folded = ",".join(str(s) for s in appended if s <= upto).encode()
                snapshot_seq = await store.zone_log.compact(
                    a, [s for s in appended if s <= upto], folded, based_on=snapshot_seq
                )
        done.set()

    # (floor, seqs seen): a load may see a commit whose append_batch has not returned yet, so
    # the check waits for the writer. Each load must fold in everything appended before it
    # began, in order, and nothing that was not appended.
    seen_by_load: list[tuple[int, list[int]]] = []

    async def reader() -> None:
        while not done.is_set():
            floor = len(appended)
            loaded = await store.zone_log.load(a)
            seen = [int(s) for s in loaded.snapshot.split(b",")] if loaded.snapshot else []
            assert not seen or seen[-1] == loaded.snapshot_seq
            seen_by_load.append((floor, seen + [seq for seq, _ in loaded.updates]))

    await asyncio.gather(writer(), reader(), reader())
    assert len(seen_by_load) > 10
    for floor, seen in seen_by_load:
        assert seen == appended[: len(seen)] and len(seen) >= floor


async def test_dispose_stops_the_threads(sqlite_url: str) -> None:
    await upgrade(sqlite_url)
    baseline = _our_threads()
    engine = create_engine(sqlite_url)
    maker = make_sessionmaker(engine)
    plans = PlanRepo(maker)
    municipality = await plans.get_or_create_municipality("K")
    plan = await plans.create_plan(municipality, "P", "X")
    zone = await plans.get_zone(plan.id, "content", "")
    assert zone is not None
    log = ZoneLog(maker)
    try:
        for _ in range(2):  # an engine may be used again after dispose, like its pool
            await log.append_batch([(zone.id, b"x")])
            await log.load(zone.id)
            fast = sqlite_zone_log(engine)
            assert fast is not None
            threads = fast.threads()
            assert len(threads) == 2 and all(t.is_alive() for t in threads)
            await engine.dispose()
            assert not any(t.is_alive() for t in threads)
            assert _our_threads() == baseline
            with pytest.raises(RuntimeError, match="closed"):
                await fast.append([(zone.id, b"y")], datetime.now(UTC))
        assert len((await log.load(zone.id)).updates) == 2
    finally:
        await engine.dispose()
    assert _our_threads() == baseline


async def test_a_forgotten_engine_does_not_leak_threads(sqlite_url: str) -> None:
    await upgrade(sqlite_url)
    baseline = _our_threads()

    async def use_and_forget() -> list[threading.Thread]:
        engine = create_engine(sqlite_url)
        fast = sqlite_zone_log(engine)
        assert fast is not None
        await fast.run("writer", lambda conn: None)
        await fast.run("reader", lambda conn: None)
        return fast.threads()

    threads = await use_and_forget()
    assert len(threads) == 2
    gc.collect()
    for thread in threads:
        thread.join(5)
    assert not any(t.is_alive() for t in threads)
    assert _our_threads() == baseline


async def test_200_concurrent_writes_of_every_kind(sqlite_url: str) -> None:
    """Fast-path appends, compactions and membership writes at once on one file, plus an engine
    of its own (another process, say) that SQLite's busy_timeout has to queue: all succeed."""
    await upgrade(sqlite_url)
    engine = create_engine(sqlite_url)
    other = create_engine(sqlite_url)  # its own pool and writer lock
    maker, other_maker = make_sessionmaker(engine), make_sessionmaker(other)
    plans, other_plans = PlanRepo(maker), PlanRepo(other_maker)
    log = ZoneLog(maker)
    try:
        municipality = await plans.get_or_create_municipality("K")
        plan = await plans.create_plan(municipality, "P", "X")
        zones = []
        for kind in ("content", "comments"):
            row = await plans.get_zone(plan.id, kind, "")
            assert row is not None
            zones.append(row.id)
        users = [await UserRepo(maker).create(f"u{i}@example.no", f"Bruker {i}") for i in range(20)]
        appended: dict[int, list[int]] = {z: [] for z in zones}
        folded: dict[int, set[int]] = {z: set() for z in zones}

        async def append(i: int) -> None:
            zone = zones[i % 2]
            seqs = await log.append_batch([(zone, f"{i}-{j}".encode()) for j in range(1 + i % 4)])
            assert seqs == list(range(seqs[0], seqs[0] + len(seqs)))
            appended[zone].extend(seqs)

        async def compact(i: int) -> None:
            zone = zones[i % 2]
            if appended[zone]:
                seqs = list(appended[zone])
                # Raw bytes, not CRDT state: the "merge" keeps the newer one.
                await log.compact(zone, seqs, b"snapshot %d" % i, merge=lambda _: b"merged")
                folded[zone].update(seqs)

        async def member(i: int) -> None:
            repo = plans if i % 2 else other_plans
            user = users[(i // 10) % 20]  # each user twice, once through each engine
            await repo.add_member(plan.id, user.id, ("deltaker", "leser")[i % 2])

        kinds: list[Callable[[int], Awaitable[None]]] = [append, compact, member]
        calls = [kinds[0]] * 6 + [kinds[1], kinds[2], kinds[2], kinds[0]]
        results = await asyncio.gather(
            *(calls[i % len(calls)](i) for i in range(200)),
            return_exceptions=True,
        )
        assert [r for r in results if r is not None] == []
        for zone in zones:
            loaded = await log.load(zone)
            tail = [seq for seq, _ in loaded.updates]
            assert sorted(set(appended[zone]) - folded[zone]) == tail
        members = await plans.list_members(plan.id)
        assert len(members) == 20
    finally:
        await engine.dispose()
        await other.dispose()


async def _member_of_a_plan(store: Store) -> tuple[str, int]:
    municipality = await store.plans.get_or_create_municipality("Bø i Telemark kommune")
    plan = await store.plans.create_plan(municipality, "Plan for Åse Ødegård 🌱", "Åse Ødegård")
    owner = await store.users.create("aase@eksempel.test", "Åse Ødegård")
    await store.plans.add_member(plan.id, owner.id, "planeier")
    return plan.id, owner.id


async def test_a_join_check_reads_on_the_loop_without_a_hand_off(sqlite_store: Store) -> None:
    """The join's one statement runs on the event loop's own connection: no reader thread is
    started for it (a hand-off cost a newcomer 0.4-0.5 ms, more than the read)."""
    fast = _fast(sqlite_store)
    plan_id, user_id = await _member_of_a_plan(sqlite_store)
    for _ in range(3):
        check = await sqlite_store.plans.join_check(plan_id, "content", "", user_id)
        assert check.active and check.context is not None
        assert check.context.user_name == "Åse Ødegård" and check.context.role == "planeier"
    assert fast.on_loop()
    assert "samplan-sqlite-reader" not in [t.name for t in fast.threads()]


async def test_a_join_check_never_waits_for_a_lock_on_the_loop(
    sqlite_store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The loop's connection never sleeps in SQLite's busy handler, and a read SQLite refuses
    there (locked) is made on the reader's thread instead, which may wait without holding up
    the loop."""
    fast = _fast(sqlite_store)
    plan_id, user_id = await _member_of_a_plan(sqlite_store)
    await sqlite_store.plans.join_check(plan_id, "content", "", user_id)
    assert fast._read_here("PRAGMA busy_timeout", ()) == (0,)  # noqa: SLF001
    loop_thread = threading.get_ident()
    real_first = sqlite_log._first  # noqa: SLF001
    refused = 0

    def locked_on_the_loop(
        conn: sqlite3.Connection, sql: str, values: tuple[object, ...]
    ) -> object:
        nonlocal refused
        if threading.get_ident() == loop_thread:
            refused += 1
            raise sqlite_log._wrap(sqlite3.OperationalError("database is locked"), sql)  # noqa: SLF001
        return real_first(conn, sql, values)

    monkeypatch.setattr(sqlite_log, "_first", locked_on_the_loop)
    check = await sqlite_store.plans.join_check(plan_id, "content", "", user_id)
    assert refused == 1
    assert check.context is not None and check.context.user_name == "Åse Ødegård"
    assert "samplan-sqlite-reader" in [t.name for t in fast.threads()]
