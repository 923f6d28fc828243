from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError

from crdt.store import ZoneStore
from storage.db import sqlite_zone_log
from storage.errors import NotFound
from storage.models import Meeting, MeetingInvitee, Membership, Zone, ZoneSnapshot, ZoneUpdate
from storage.repositories import MeetingRepo, ZoneLog
from tests.storage.conftest import Store
from tests.support.postgres import driver_queries


async def _zones(store: Store, n: int = 2) -> list[int]:
    municipality = await store.plans.get_or_create_municipality("Eksempelvik kommune")
    plan = await store.plans.create_plan(municipality, "Individuell plan", "Åse Ødegård")
    zones = [
        await store.plans.get_zone(plan.id, "content", ""),
        await store.plans.get_zone(plan.id, "comments", ""),
    ]
    for i in range(n - 2):
        zones.append(await store.plans.add_zone(plan.id, "area", f"a{i}", f"Område {i}", i))
    return [z.id for z in zones if z is not None]


def test_zone_log_satisfies_the_crdt_protocol(store: Store) -> None:
    zone_store: ZoneStore = store.zone_log  # checked by mypy; crdt never imports storage
    assert isinstance(zone_store, ZoneLog)


async def test_append_batch_returns_increasing_seqs_across_zones(store: Store) -> None:
    a, b = await _zones(store)
    assert await store.zone_log.append_batch([]) == []
    first = await store.zone_log.append_batch([(a, b"a1"), (b, b"b1"), (a, b"a2")])
    single = await store.zone_log.append_batch([(b, b"b2")])
    many = await store.zone_log.append_batch([(a if i % 2 else b, bytes([i])) for i in range(50)])
    seqs = first + single + many
    assert len(seqs) == 54
    assert seqs == sorted(seqs) and len(set(seqs)) == len(seqs)

    loaded_a = await store.zone_log.load(a)
    assert loaded_a.snapshot is None and loaded_a.snapshot_seq == 0
    expected_a = [(first[0], b"a1"), (first[2], b"a2")] + [
        (seq, bytes([i])) for i, seq in enumerate(many) if i % 2
    ]
    assert list(loaded_a.updates) == expected_a
    loaded_b = await store.zone_log.load(b)
    assert [data for _, data in loaded_b.updates][:2] == [b"b1", b"b2"]
    assert await store.zone_log.count_updates(b) == 27


async def test_a_load_on_postgresql_is_one_statement(postgres_store: Store) -> None:
    """A load reads the snapshot and the log after it from one snapshot of the database: on
    PostgreSQL one statement (no transaction around two reads), one round trip. (SQLite's is
    one hand-off to its reader thread: test_storage_sqlite_log.)"""
    store = postgres_store
    (a, _) = await _zones(store)
    seqs = await store.zone_log.append_batch([(a, f"Ødegård {i} ✍️".encode()) for i in range(5)])
    await store.zone_log.compact(a, seqs[:3], b"snapshot \xf0\x9f\x8c\xb1", based_on=0)
    async with driver_queries(store.engine) as queries:
        loaded = await store.zone_log.load(a)
    assert len(queries) == 1 and queries[0].startswith("SELECT 0 AS part")
    assert loaded.snapshot == b"snapshot \xf0\x9f\x8c\xb1" and loaded.snapshot_seq == seqs[2]
    assert loaded.updates == tuple(
        (s, f"Ødegård {i} ✍️".encode()) for i, s in enumerate(seqs) if i > 2
    )


async def test_a_batch_larger_than_one_statement_keeps_its_order(store: Store) -> None:
    """PostgreSQL writes up to 256 rows as one statement, more as a transaction through the
    engine: either way every seq is its own update's, in input order, and all or nothing."""
    a, b = await _zones(store)
    items = [(a if i % 2 else b, f"Åse Ødegård {i} 🧪".encode()) for i in range(300)]
    seqs = await store.zone_log.append_batch(items, [i % 5 or None for i in range(300)])
    assert seqs == sorted(set(seqs)) and len(seqs) == 300
    stored = dict((await store.zone_log.load(a)).updates) | dict(
        (await store.zone_log.load(b)).updates
    )
    assert [stored[seq] for seq in seqs] == [data for _, data in items]
    with pytest.raises(IntegrityError):
        await store.zone_log.append_batch([*items, (999_999, b"no such zone")])
    assert await store.zone_log.count_updates(a) + await store.zone_log.count_updates(b) == 300


async def test_append_batch_is_all_or_nothing(store: Store) -> None:
    (a, _) = await _zones(store)
    with pytest.raises(IntegrityError):  # the same on both databases, and on both paths
        await store.zone_log.append_batch([(a, b"ok"), (999_999, b"no such zone")])
    assert await store.zone_log.count_updates(a) == 0


async def test_compaction_keeps_snapshot_and_tail(store: Store) -> None:
    (a, b) = await _zones(store)
    seqs = await store.zone_log.append_batch([(a, f"u{i}".encode()) for i in range(5)])
    other = await store.zone_log.append_batch([(b, b"other zone")])

    first = await store.zone_log.compact(a, seqs[:3], b"snapshot up to u2")
    loaded = await store.zone_log.load(a)
    assert loaded.snapshot == b"snapshot up to u2"
    assert first == loaded.snapshot_seq == seqs[2]
    assert list(loaded.updates) == [(seqs[3], b"u3"), (seqs[4], b"u4")]
    assert await store.zone_log.tail_length(a) == 2
    assert await store.zone_log.count_updates(a) == 2
    assert (await store.zone_log.load(b)).updates == ((other[0], b"other zone"),)

    # A repeat folds nothing and changes nothing, as does one whose updates are gone.
    assert await store.zone_log.compact(a, seqs[:3], b"again", based_on=first) == first
    assert await store.zone_log.compact(a, seqs[:2], b"stale", based_on=first) == first
    assert (await store.zone_log.load(a)).snapshot == b"snapshot up to u2"

    # An update appended after the snapshot was taken survives the next compaction.
    late = await store.zone_log.append_batch([(a, b"late")])
    second = await store.zone_log.compact(a, seqs, b"snapshot up to u4", based_on=first)
    loaded = await store.zone_log.load(a)
    assert loaded.snapshot == b"snapshot up to u4" and second == loaded.snapshot_seq == seqs[4]
    assert list(loaded.updates) == [(late[0], b"late")]

    # A snapshot not built on the stored one needs a merge: without one nothing changes.
    with pytest.raises(ValueError):
        await store.zone_log.compact(a, late, b"not built on u4", based_on=first)
    assert (await store.zone_log.load(a)).updates == ((late[0], b"late"),)


async def test_seqs_are_never_reused_after_compaction(store: Store) -> None:
    """Compaction deletes the newest rows; a reused id would hide behind the snapshot."""
    (a, _) = await _zones(store)
    seqs = await store.zone_log.append_batch([(a, b"x"), (a, b"y")])
    await store.zone_log.compact(a, seqs, b"all")
    assert await store.zone_log.count_updates(a) == 0
    after = await store.zone_log.append_batch([(a, b"z")])
    assert after[0] > seqs[-1]
    assert list((await store.zone_log.load(a)).updates) == [(after[0], b"z")]


async def test_compact_unknown_zone(store: Store) -> None:
    with pytest.raises(NotFound):
        await store.zone_log.compact(424242, [1], b"x")


async def test_delete_zone_history(store: Store) -> None:
    (a, b) = await _zones(store)
    seqs = await store.zone_log.append_batch([(a, b"1"), (a, b"2"), (b, b"3")])
    await store.zone_log.compact(a, seqs[:1], b"snap")
    assert await store.zone_log.delete_zone_history(a) == 1
    loaded = await store.zone_log.load(a)
    assert loaded.snapshot is None and loaded.updates == ()
    assert await store.zone_log.count_updates(b) == 1


async def test_concurrent_append_batches(store: Store) -> None:
    """20 writers at once (one event-loop turn each) must all commit: no "database is locked"."""
    zones = await _zones(store, 4)

    async def writer(i: int) -> list[int]:
        return await store.zone_log.append_batch(
            [(zones[(i + j) % 4], f"w{i}-{j} æøå 📚".encode()) for j in range(5)]
        )

    results = await asyncio.gather(*(writer(i) for i in range(20)))
    all_seqs = [seq for batch in results for seq in batch]
    assert len(set(all_seqs)) == 100
    for batch in results:
        assert batch == sorted(batch)
    total = 0
    for zone in zones:
        updates = (await store.zone_log.load(zone)).updates
        assert [seq for seq, _ in updates] == sorted(seq for seq, _ in updates)
        total += len(updates)
    assert total == 100


async def test_deleting_a_plan_cascades(store: Store) -> None:
    municipality = await store.plans.get_or_create_municipality("Eksempelvik kommune")
    plan = await store.plans.create_plan(municipality, "Plan", "Jonas Berg")
    keep = await store.plans.create_plan(municipality, "Annen plan", "Åse Ødegård")
    user = await store.users.create("jonas@example.no", "Jonas Berg")
    await store.plans.add_member(plan.id, user.id, "planeier")
    meeting = await MeetingRepo(store.sessionmaker).schedule(
        plan.id,
        title="Ansvarsgruppemøte",
        starts_at=store.clock(),
        ends_at=store.clock() + timedelta(hours=1),
        place="Rom 204",
        video_link=None,
        agenda=[],
        invitee_ids=[user.id],
        created_by_user_id=user.id,
    )
    zone = await store.plans.get_zone(plan.id, "minutes", meeting.id)
    assert zone is not None
    kept_zone = await store.plans.get_zone(keep.id, "content", "")
    assert kept_zone is not None
    seqs = await store.zone_log.append_batch(
        [(zone.id, b"a"), (zone.id, b"b"), (kept_zone.id, b"k")]
    )
    await store.zone_log.compact(zone.id, seqs[:1], b"snap")

    assert await store.plans.delete_plan(plan.id)
    assert not await store.plans.delete_plan(plan.id)
    async with store.sessionmaker() as session:
        for model in (Zone, ZoneUpdate, ZoneSnapshot, Membership, Meeting, MeetingInvitee):
            rows = await session.scalar(select(func.count()).select_from(model))
            assert rows == {Zone: 2, ZoneUpdate: 1}.get(model, 0), model.__name__
    assert await store.users.get(user.id) is not None


async def test_a_batch_is_one_insert_statement(store: Store) -> None:
    """Group commit only pays off if a batch is one statement, not one INSERT per update."""
    (a, b) = await _zones(store)
    fast = sqlite_zone_log(store.engine)
    if fast is not None:
        # SQLite's fast path: one transaction on the raw writer connection, with one prepared
        # INSERT run for every row (executemany), as the trace shows.
        trace: list[str] = []
        await fast.run("writer", lambda conn: conn.set_trace_callback(trace.append))
        try:
            seqs = await store.zone_log.append_batch([(a if i % 3 else b, b"u") for i in range(50)])
        finally:
            await fast.run("writer", lambda conn: conn.set_trace_callback(None))
        assert trace[0] == "BEGIN IMMEDIATE" and trace[-1] == "COMMIT"
        insert_lines = [t for t in trace if t.startswith("INSERT INTO zone_updates")]
        assert len(insert_lines) == 50 and len(trace) == 53  # + SELECT last_insert_rowid()
        assert seqs == sorted(set(seqs)) and len(seqs) == 50
        return

    # PostgreSQL: one statement on the driver and nothing else, no BEGIN and no COMMIT
    # around it (it commits on its own): one round trip, as asyncpg's query log shows. Nor
    # a lookup of its parameters' types (asyncpg's introspection, about 11 ms): scalars only.
    async with driver_queries(store.engine) as queries:
        seqs = await store.zone_log.append_batch(
            [(a if i % 3 else b, f"Åse {i} 🧪".encode()) for i in range(50)]
        )
    assert [q.split()[:3] for q in queries] == [["INSERT", "INTO", "zone_updates"]]
    assert seqs == sorted(set(seqs)) and len(seqs) == 50
    # Each seq is its own row: the ids follow the input order.
    stored = dict((await store.zone_log.load(a)).updates) | dict(
        (await store.zone_log.load(b)).updates
    )
    assert [stored[seq] for seq in seqs] == [f"Åse {i} 🧪".encode() for i in range(50)]


async def test_changes_version_moves_with_everything_changes_reads(store: Store) -> None:
    """The records' reader keeps what it read while this version stays (server/core/authors.py):
    every write that changes `changes` must change it, and reading must not."""
    from storage.repositories.updates import ChangeRow

    (a, b) = await _zones(store)
    log = store.zone_log
    seen = [await log.changes_version(a)]

    async def moved() -> None:
        version = await log.changes_version(a)
        assert version not in seen
        seen.append(version)

    seqs = await log.append_batch([(a, "Åse 🙂".encode()), (a, b"to")], [7, None])
    await moved()
    await log.changes(a)
    assert await log.changes_version(a) == seen[-1]  # reading changes nothing
    await log.append_batch([(b, b"another zone")])
    assert await log.changes_version(a) == seen[-1]
    await log.compact(a, seqs[:1], b"snapshot")
    await moved()
    at = (await log.changes(a)).records[0].at
    await log.add_changes(a, [ChangeRow(None, 7, at, None, None)])
    await moved()
    await log.append_batch([(a, b"tre")])
    await moved()
