"""Compaction with several writers on one database (DESIGN §4, §6): each node folds exactly the
updates it holds, so nothing another node logged meanwhile, or an earlier snapshot folded, is
ever lost, and every update keeps its author record exactly once."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest
from pycrdt import Doc, Map, Text, TransactionEvent, merge_updates

from crdt.zone_state import apply_stored, doc_from_stored
from storage.db import create_engine, make_sessionmaker
from storage.repositories import ZoneLog
from tests.storage.conftest import Store, content_zone


class Node:
    """One server's view of a zone: its own document, the seqs it holds that are not folded
    yet and the snapshot it is built on; it compacts as crdt/room.py does."""

    def __init__(self, zone_log: ZoneLog, zone_id: int, name: str, user_id: int) -> None:
        self.log = zone_log
        self.zone_id = zone_id
        self.name = name
        self.user_id = user_id
        self.doc: Doc[Any] = Doc()
        self.unfolded: list[int] = []
        self.snapshot_seq: int | None = 0
        self.written: list[str] = []
        self.merges = 0

    async def open(self) -> Node:
        stored = await self.log.load(self.zone_id)
        apply_stored(self.doc, stored)
        self.unfolded = [seq for seq, _ in stored.updates]
        self.snapshot_seq = stored.snapshot_seq
        return self

    async def write(self, i: int) -> None:
        captured: list[bytes] = []

        def capture(event: TransactionEvent) -> None:
            captured.append(event.update)

        subscription = self.doc.observe(capture)
        key = f"{self.name}-{i}"
        value = f"Åse Ødegård skrev {key} på Tromsø 🧭"
        with self.doc.transaction():
            self.doc.get("entries", type=Map)[key] = value
            text = self.doc.get("notes", type=Text)
            text += f"[{key} æøå ✏️]"
        self.doc.unobserve(subscription)
        seqs = await self.log.append_batch(
            [(self.zone_id, update) for update in captured], [self.user_id] * len(captured)
        )
        self.unfolded.extend(seqs)
        self.written.append(key)

    async def compact(self) -> None:
        folded = list(self.unfolded)
        snapshot = self.doc.get_update()

        def merge(stored: bytes) -> bytes:
            self.merges += 1
            return merge_updates(stored, snapshot)

        self.snapshot_seq = await self.log.compact(
            self.zone_id, folded, snapshot, based_on=self.snapshot_seq, merge=merge
        )
        done = set(folded)
        self.unfolded = [seq for seq in self.unfolded if seq not in done]


@pytest.fixture
async def second_log(store: Store) -> AsyncIterator[ZoneLog]:
    """Another node: its own engine (its own pool, on SQLite its own fast-path threads)."""
    engine = create_engine(store.url)
    try:
        yield ZoneLog(make_sessionmaker(engine))
    finally:
        await engine.dispose()


async def _typed(
    store: Store, zone_id: int, pieces: list[str], author: Callable[[int], int] = lambda i: 0
) -> tuple[Doc[Any], list[int]]:
    """Each piece typed into text "t" and logged as an update of its own (author `author(i)`,
    0 for none); the document and the seqs, in order."""
    doc: Doc[Any] = Doc()
    text = doc.get("t", type=Text)
    updates: list[bytes] = []
    doc.observe(lambda event: updates.append(event.update))
    seqs: list[int] = []
    for i, piece in enumerate(pieces):
        text += piece
        seqs += await store.zone_log.append_batch([(zone_id, updates[-1])], [author(i) or None])
    return doc, seqs


async def _check_nothing_lost(store: Store, zone_id: int, nodes: list[Node]) -> None:
    doc = doc_from_stored(await store.zone_log.load(zone_id))
    entries = doc.get("entries", type=Map)
    notes = str(doc.get("notes", type=Text))
    for node in nodes:
        for key in node.written:
            assert entries.get(key) == f"Åse Ødegård skrev {key} på Tromsø 🧭", key
            assert f"[{key} æøå ✏️]" in notes, key


async def _check_records(store: Store, zone_id: int, authors: dict[int, int]) -> None:
    """Every update ever appended has its author record exactly once: kept, or in the tail."""
    changes = await store.zone_log.changes(zone_id)
    seqs = [r.seq for r in changes.records] + [r.seq for r in changes.tail]
    assert sorted(s for s in seqs if s is not None) == sorted(authors)
    assert len(seqs) == len(set(seqs)) == len(authors)
    for record in (*changes.records, *changes.tail):
        assert record.seq is not None and record.user_id == authors[record.seq]


async def test_interleaved_writers_and_compactions_lose_nothing(
    store: Store, second_log: ZoneLog
) -> None:
    zone = await content_zone(store)
    a = await Node(store.zone_log, zone, "A", 1).open()
    b = await Node(second_log, zone, "B", 2).open()

    for i in range(3):
        await a.write(i)
    for i in range(2):
        await b.write(i)
    for i in range(3, 5):
        await a.write(i)
    # A folds only its own updates: B's stay, some with seqs below A's snapshot.
    await a.compact()
    loaded = await store.zone_log.load(zone)
    assert sorted(seq for seq, _ in loaded.updates) == sorted(b.unfolded)
    assert min(b.unfolded) < loaded.snapshot_seq
    await _check_nothing_lost(store, zone, [a, b])

    # B's snapshot is not built on A's: it is merged with it, not written over it.
    for i in range(2, 4):
        await b.write(i)
    await b.compact()
    assert b.merges == 1 and b.snapshot_seq is None
    assert (await store.zone_log.load(zone)).updates == ()
    await _check_nothing_lost(store, zone, [a, b])

    # A third node loads the merged snapshot; A writes and merges again; B has nothing left.
    c = await Node(store.zone_log, zone, "C", 3).open()
    await a.write(5)
    await c.write(0)
    await a.compact()
    await b.compact()
    await c.compact()
    assert a.merges == 1 and c.merges == 1 and b.merges == 1
    await _check_nothing_lost(store, zone, [a, b, c])


async def test_concurrent_writers_compacting_the_same_zone_lose_nothing(
    store: Store, second_log: ZoneLog
) -> None:
    zone = await content_zone(store)
    nodes = [
        await Node(store.zone_log, zone, "A", 1).open(),
        await Node(second_log, zone, "B", 2).open(),
    ]
    authors: dict[int, int] = {}

    async def run(node: Node, offset: int) -> None:
        for i in range(40):
            before = set(node.unfolded)
            await node.write(i)
            authors.update({seq: node.user_id for seq in node.unfolded if seq not in before})
            if i % 4 == offset:
                await node.compact()
            await asyncio.sleep(0)

    await asyncio.gather(run(nodes[0], 1), run(nodes[1], 3))
    await _check_nothing_lost(store, zone, nodes)
    await _check_records(store, zone, authors)

    # A late node loads everything, folds the rest (its tail holds both nodes' updates); the
    # others then find theirs folded already: each record is still kept exactly once.
    late = await Node(store.zone_log, zone, "C", 3).open()
    await late.compact()
    for node in nodes:
        await node.write(99)
        authors.update({node.unfolded[-1]: node.user_id})
        await node.compact()
    await _check_nothing_lost(store, zone, nodes)
    await _check_records(store, zone, authors)
    assert await store.zone_log.tail_length(zone) == 0


def test_a_compaction_statement_has_few_shapes_whatever_the_runs() -> None:
    """Interleaved writers fold their updates as many runs of seqs. One BETWEEN per run made
    a new SQL text for every count, compiled afresh on the event loop each time (3-6 ms per
    zone, issue 16); the seqs of short runs go in one IN list and long runs are padded to a
    power of two, so SQLAlchemy's compiled cache holds them after the first."""
    from sqlalchemy import select

    from storage.repositories.updates import _U, _chunks, _in_runs, _ranges

    texts = set()
    for runs in range(1, 80):
        # `runs` single seqs apart (another zone's updates between), and a long run or none.
        seqs = [10 * i for i in range(runs)] + list(range(5000, 5000 + (runs % 3) * 9))
        for chunk in _chunks(_ranges(seqs)):
            statement = select(_U.id).where(_U.zone_id == 1, _in_runs(chunk))
            texts.add(str(statement.compile()))
    assert len(texts) <= 3, texts  # IN alone, IN + one BETWEEN, IN + two BETWEENs


async def test_a_fold_of_interleaved_runs_removes_exactly_its_updates(store: Store) -> None:
    """The IN list plus padded BETWEENs select exactly the folded seqs: none of the other
    zone's updates between them, none of its own not folded."""
    mine, other = await content_zone(store), await content_zone(store)
    doc: Doc[Any] = Doc()
    text = doc.get("t", type=Text)
    updates: list[bytes] = []
    doc.observe(lambda event: updates.append(event.update))
    seqs_mine: list[int] = []
    for i in range(40):
        text += "æøå😀"[i % 4]
        batch = [(mine, updates[-1])] * (12 if i == 20 else 1) + [(other, updates[-1])]
        seqs = await store.zone_log.append_batch(batch)
        seqs_mine += seqs[:-1]
    folded, kept = seqs_mine[:-5], seqs_mine[-5:]
    await store.zone_log.compact(mine, folded, merge_updates(*updates), based_on=0)
    assert [seq for seq, _ in (await store.zone_log.load(mine)).updates] == kept
    assert len((await store.zone_log.load(other)).updates) == 40
    assert str(doc_from_stored(await store.zone_log.load(mine)).get("t", type=Text)) == str(text)


async def test_a_compaction_on_postgresql_is_three_statements(postgres_store: Store) -> None:
    """On PostgreSQL a compaction of a thousand updates (a burst's) locks, reads and writes
    in three statements; through the engine it took eight round trips and its records went
    in row by row, 30-55 ms that every edit queued behind it waited (docs/BENCHMARKS.md, "A
    compaction's write on PostgreSQL in three statements"). Its records keep seq order,
    author, time and items."""
    from sqlalchemy import event

    store = postgres_store
    zone_id = await content_zone(store)
    doc, seqs = await _typed(store, zone_id, [f"ø{i}😀" for i in range(1000)], lambda i: i % 7)
    text = doc.get("t", type=Text)
    items = {seq: f'[["goals", "mål {seq} æøå"]]' for seq in seqs[::3]}
    statements: list[str] = []

    def counted(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        statements.append(statement.split()[0])

    event.listen(store.engine.sync_engine, "before_cursor_execute", counted)
    try:
        written = await store.zone_log.compact(zone_id, seqs, doc.get_update(), items, based_on=0)
    finally:
        event.remove(store.engine.sync_engine, "before_cursor_execute", counted)
    assert statements == ["SELECT", "SELECT", "WITH"], statements
    assert written == seqs[-1]
    stored = await store.zone_log.load(zone_id)
    assert stored.updates == () and stored.snapshot_seq == seqs[-1]
    assert str(doc_from_stored(stored).get("t", type=Text)) == str(text)
    records = (await store.zone_log.changes(zone_id)).records
    assert [r.seq for r in records] == seqs
    assert [r.user_id for r in records] == [i % 7 or None for i in range(1000)]
    assert [r.items for r in records] == [items.get(seq) for seq in seqs]
    # Folding the same seqs again changes nothing: none of them is logged any more.
    assert (
        await store.zone_log.compact(zone_id, seqs, doc.get_update(), based_on=seqs[-1]) == seqs[-1]
    )
    assert len((await store.zone_log.changes(zone_id)).records) == 1000


async def test_a_compaction_on_postgresql_needs_no_type_lookup(postgres_store: Store) -> None:
    """asyncpg looks a BIGINT[] parameter's type up in the catalogue the first time each
    connection prepares it: a recursive query of 12-20 ms. The seqs travel as TEXT[] (a type
    asyncpg knows) and PostgreSQL casts them, so a pooled connection's first compaction
    sends its three statements and nothing else."""
    from tests.support.postgres import driver_queries

    store = postgres_store
    zone_id = await content_zone(store)
    doc, seqs = await _typed(store, zone_id, [f"Åse Ødegård {i} 🌱 " for i in range(20)])
    text = doc.get("t", type=Text)
    await store.engine.dispose()  # every connection from here on is new
    async with driver_queries(store.engine) as queries:
        written = await store.zone_log.compact(
            zone_id, seqs, doc.get_update(), {seqs[0]: '[["goals", "mål æøå"]]'}, based_on=0
        )
    assert written == seqs[-1]
    assert not [q for q in queries if "typeinfo" in q or "pg_type" in q], queries
    records = (await store.zone_log.changes(zone_id)).records
    assert [r.seq for r in records] == seqs
    assert records[0].items == '[["goals", "mål æøå"]]' and records[1].items is None
    assert str(doc_from_stored(await store.zone_log.load(zone_id)).get("t", type=Text)) == str(text)
