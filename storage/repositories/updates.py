"""The durable CRDT log of each zone: append-only updates plus one snapshot (DESIGN.md §4, §5).

`ZoneLog` satisfies `crdt.store.ZoneStore` structurally; storage never imports crdt. It speaks
Core, not the ORM: `append_batch` runs for every edit anyone makes, so a batch is one
multi-row INSERT in one transaction, with no ORM unit of work around it. On SQLite,
`append_batch` and `load` go further and skip SQLAlchemy (storage.db.sqlite_log: one thread
hand-off per call instead of about nine); on PostgreSQL each is one statement on the driver,
outside any transaction (storage.db.postgres_driver: one round trip instead of three or
four). Everything else uses the engine.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import sqlite3
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import (
    ColumnElement,
    LargeBinary,
    Select,
    bindparam,
    delete,
    func,
    insert,
    or_,
    select,
    text,
    update,
)
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession, async_sessionmaker

from storage.db import (
    engine_of,
    insert_returning_ids,
    postgres_driver,
    snapshot_connection,
    sqlite_zone_log,
    write_connection,
)
from storage.errors import NotFound
from storage.models import (
    UTCDateTime,
    utcnow,
    zone_changes_table,
    zone_snapshots_table,
    zone_updates_table,
    zones_table,
)

log = logging.getLogger(__name__)

_U = zone_updates_table.c
_S = zone_snapshots_table.c
_C = zone_changes_table.c


@dataclass(frozen=True, slots=True)
class LoadedZone:
    """A zone as stored: `snapshot` (None when never compacted) and the (seq, update) pairs
    not folded into it, by seq. A snapshot names itself by `snapshot_seq` (0: none, or an
    import's); several writers fold only their own updates, so an update not folded may
    have a lower seq than the snapshot: every update still in the log applies on top."""

    snapshot: bytes | None
    snapshot_seq: int
    updates: tuple[tuple[int, bytes], ...]


@dataclass(frozen=True, slots=True)
class _Compacted:
    """What one compaction did: the snapshot's seq (or, folding nothing, the stored one if it
    is still `based_on`, else None), whether it merged another writer's snapshot, how many
    updates it folded away, and the new snapshot's size (for the log)."""

    seq: int | None
    merged: bool
    removed: int
    snapshot_bytes: int

    @classmethod
    def nothing(cls, current: int | None, based_on: int | None) -> _Compacted:
        """Nothing left to fold: the stored snapshot still names itself if it is `based_on`."""
        return cls(current if current == based_on else None, False, 0, 0)


@dataclass(frozen=True, slots=True)
class ChangeRow:
    """One author record: the update's seq (None for an imported record), who (None: the
    server itself), when, which items (JSON text, or None: not traced yet or not traced for
    the zone's kind) and, for a record still in the log tail, the update itself."""

    seq: int | None
    user_id: int | None
    at: datetime
    items: str | None
    update: bytes | None


@dataclass(frozen=True, slots=True)
class ZoneChanges:
    """A zone's author records: the kept ones (`records`), then the log tail (`tail`, each
    with its update: every update not folded yet) that applies on top of `snapshot`."""

    records: tuple[ChangeRow, ...]
    snapshot: bytes | None
    snapshot_seq: int
    tail: tuple[ChangeRow, ...]


class ZoneLog:
    """Append, load and compact zone logs. Sequence numbers are `zone_updates.id`: global,
    increasing, never reused, so one number orders a zone's updates. Compaction deletes the
    rows it folds, so the log holds exactly the updates a snapshot lacks (DESIGN §4)."""

    def __init__(self, sessionmaker: async_sessionmaker[AsyncSession]) -> None:
        self._engine = engine_of(sessionmaker)
        # PostgreSQL gets its own statements for the hot paths (one round trip each).
        self._postgres = self._engine.dialect.name == "postgresql"

    async def append_batch(
        self, items: Sequence[tuple[int, bytes]], authors: Sequence[int | None] | None = None
    ) -> list[int]:
        """Log (zone_id, update) pairs in one transaction; return their seqs in input order.
        `authors` (one per item) is who made each change: it is kept in the same row, so the
        record of who changed what is exactly as durable as the change itself.

        Returns once committed, which is durable under storage.db's settings (SQLite
        synchronous=FULL by default, PostgreSQL fsync). All or nothing: on error none is kept.
        """
        if not items:
            return []
        now = utcnow()
        fast = sqlite_zone_log(self._engine)
        if fast is not None:
            return await fast.append(items, now, authors)
        who = authors if authors is not None else [None] * len(items)
        if self._postgres and len(items) <= _PG_APPEND_ROWS:
            # One statement, committed on its own: one round trip (storage.db.postgres_driver).
            # The sequence hands out the ids in the order of the VALUES: sorted, input order.
            args: list[Any] = [now]
            for (zone_id, data), author in zip(items, who, strict=True):
                args += (zone_id, data, author)
            found = await postgres_driver.fetch(
                self._engine, _pg_append(len(items)), *args, keep_warm=True
            )
            seqs = sorted(int(row[0]) for row in found)
            if len(seqs) != len(items):
                raise RuntimeError(f"insert returned {len(seqs)} ids for {len(items)} updates")
            return seqs
        rows = [
            {"zone_id": zone_id, "data": data, "created_at": now, "user_id": author}
            for (zone_id, data), author in zip(items, who, strict=True)
        ]
        async with write_connection(self._engine) as conn:
            seqs = await insert_returning_ids(conn, zone_updates_table, rows)
        if len(seqs) != len(rows):
            raise RuntimeError(f"insert returned {len(seqs)} ids for {len(rows)} updates")
        return seqs

    async def load(self, zone_id: int) -> LoadedZone:
        """Read the snapshot and the log after it from one consistent database snapshot, so a
        concurrent compaction can neither hide nor duplicate updates. An unknown zone loads
        empty: whether it exists is SQL's business upstream (PlanRepo.get_zone)."""
        fast = sqlite_zone_log(self._engine)
        if fast is not None:
            snapshot, snapshot_seq, tail = await fast.load(zone_id)
            return LoadedZone(snapshot=snapshot, snapshot_seq=snapshot_seq, updates=tail)
        if self._postgres:
            # One statement reads from one snapshot by itself: no REPEATABLE READ transaction
            # around two reads, one round trip instead of four (a cold join waits for it).
            parts = await postgres_driver.fetch(self._engine, _PG_LOAD, zone_id)
            snapshots = [part for part in parts if part[0] == 0]
            return LoadedZone(
                snapshot=bytes(snapshots[0][2]) if snapshots else None,
                snapshot_seq=int(snapshots[0][1]) if snapshots else 0,
                updates=tuple((int(part[1]), bytes(part[2])) for part in parts if part[0] == 1),
            )
        async with snapshot_connection(self._engine) as conn:
            snap = (
                await conn.execute(select(_S.seq, _S.data).where(_S.zone_id == zone_id))
            ).first()
            seq = int(snap.seq) if snap is not None else 0
            rows = await conn.execute(
                select(_U.id, _U.data).where(_U.zone_id == zone_id).order_by(_U.id)
            )
            updates = tuple((int(row.id), bytes(row.data)) for row in rows)
        return LoadedZone(
            snapshot=bytes(snap.data) if snap is not None else None,
            snapshot_seq=seq,
            updates=updates,
        )

    async def compact(
        self,
        zone_id: int,
        folded: Iterable[int],
        snapshot: bytes,
        items: Mapping[int, str] | None = None,
        *,
        based_on: int | None = None,
        merge: Callable[[bytes], bytes] | None = None,
    ) -> int | None:
        """Fold exactly the updates `folded` (their seqs) into the zone's snapshot: drop those
        rows and keep each one's author record in `zone_changes` (who and when from its row;
        which items from `items`, by seq, as the room traced them). One transaction: no update
        is ever folded away without its record, and none another writer logged (or this one
        never saw) is touched, whatever its seq. A seq already folded (by another node) is
        skipped, so each record is kept exactly once; a call that folds nothing changes nothing.

        `snapshot` must hold every folded update. The stored snapshot may hold what another
        writer folded: unless it is the one the caller's snapshot was built on (`based_on`,
        the seq it loaded or this call last returned), the new one is `merge(stored)` (both
        merged) so nothing an earlier compaction folded is lost; without `merge` that raises
        ValueError. The zone's row lock serialises compactions of one zone on PostgreSQL
        (SQLite's single writer already does), and lets edits of the zone go on meanwhile.

        Returns the new snapshot's seq when the stored snapshot is now exactly `snapshot` (or,
        folding nothing, still `based_on`): the caller's next `based_on`. None otherwise.
        """
        ranges = _ranges(folded)
        fast = sqlite_zone_log(self._engine)
        if fast is not None:
            # One hand-off on the SQLite writer's thread: this write waits in the committer's
            # queue between the edits' batches, and through the engine its statements took
            # 20-40 ms of hand-offs on a busy event loop (docs/BENCHMARKS.md, "After the table").
            stamp = fast.stamp(utcnow())
            done = await fast.write(
                lambda conn: _compact_on_sqlite(
                    conn, zone_id, ranges, snapshot, items or {}, based_on, merge, stamp
                )
            )
        elif self._postgres:
            done = await self._compact_on_postgres(
                zone_id, ranges, snapshot, items, based_on, merge
            )
        else:
            done = await self._compact_on_engine(zone_id, ranges, snapshot, items, based_on, merge)
        if done.removed == 0:
            log.info("zone compaction skipped zone_id=%s (nothing left to fold)", zone_id)
            return done.seq
        log.info(
            "zone compacted zone_id=%s seq=%s removed=%s merged=%s snapshot_bytes=%s",
            zone_id,
            done.seq,
            done.removed,
            done.merged,
            done.snapshot_bytes,
        )
        return None if done.merged else done.seq

    async def _compact_on_postgres(
        self,
        zone_id: int,
        ranges: list[tuple[int, int]],
        snapshot: bytes,
        items: Mapping[int, str] | None,
        based_on: int | None,
        merge: Callable[[bytes], bytes] | None,
    ) -> _Compacted:
        """`_compact_on_engine`'s transaction in three statements: the zone's lock, what is
        there to fold, then the rows deleted, their records kept and the snapshot written in
        one. Through the engine, each of its eight round trips waited for the busy event loop
        and the records went in row by row: the burst's longest write job, 30-55 ms, held
        every edit queued behind it (docs/BENCHMARKS.md, "A compaction's write on PostgreSQL
        in three statements").
        """
        seqs = [str(seq) for first, last in ranges for seq in range(first, last + 1)]
        traced = sorted((items or {}).items())
        async with write_connection(self._engine) as conn:
            # Locked first, read after: a statement that waited for the lock would still
            # read what another compaction replaced while it waited (its snapshot is older).
            if (await conn.execute(_lock_zone(zone_id))).first() is None:
                raise NotFound(f"zone {zone_id} does not exist")
            found = (await conn.execute(_PG_FOLDABLE, {"zone_id": zone_id, "seqs": seqs})).one()
            current, count, last = found
            if count == 0:
                return _Compacted.nothing(current, based_on)
            merging = _merge_needed(zone_id, current, based_on, merge)
            if merging is not None:
                snapshot = await _merged(conn, zone_id, merging)
            seq = max(int(last), (current or 0) + 1)  # as in `_compact_on_engine`
            removed = (
                await conn.execute(
                    _PG_FOLD,
                    {
                        "zone_id": zone_id,
                        "seqs": seqs,
                        "item_seqs": [str(item_seq) for item_seq, _ in traced],
                        "item_texts": [words for _, words in traced],
                        "seq": seq,
                        "data": snapshot,
                        "now": utcnow(),
                    },
                )
            ).scalar_one()
        return _Compacted(seq, merging is not None, int(removed), len(snapshot))

    async def _compact_on_engine(
        self,
        zone_id: int,
        ranges: list[tuple[int, int]],
        snapshot: bytes,
        items: Mapping[int, str] | None,
        based_on: int | None,
        merge: Callable[[bytes], bytes] | None,
    ) -> _Compacted:
        now = utcnow()
        async with write_connection(self._engine) as conn:
            if (await conn.execute(_lock_zone(zone_id))).first() is None:
                raise NotFound(f"zone {zone_id} does not exist")
            current = (
                await conn.execute(select(_S.seq).where(_S.zone_id == zone_id))
            ).scalar_one_or_none()
            present: list[tuple[int, int | None, datetime]] = []
            for chunk in _chunks(ranges):
                rows = await conn.execute(
                    select(_U.id, _U.user_id, _U.created_at)
                    .where(_U.zone_id == zone_id, _in_runs(chunk))
                    .order_by(_U.id)
                )
                present.extend((int(r.id), r.user_id, r.created_at) for r in rows)
            if not present:
                return _Compacted.nothing(current, based_on)
            merging = _merge_needed(zone_id, current, based_on, merge)
            if merging is not None:
                snapshot = await _merged(conn, zone_id, merging)
            # Increases with every snapshot written (so `based_on` names one exactly) and is
            # at least the seq of every update ever folded into it.
            seq = max(present[-1][0], (current or 0) + 1)
            values = {"seq": seq, "data": snapshot, "updated_at": now}
            if current is None:
                await conn.execute(insert(zone_snapshots_table).values(zone_id=zone_id, **values))
            else:
                await conn.execute(
                    update(zone_snapshots_table).where(_S.zone_id == zone_id).values(**values)
                )
            await conn.execute(
                insert(zone_changes_table),
                [
                    {
                        "zone_id": zone_id,
                        "seq": row_seq,
                        "user_id": user_id,
                        "at": at,
                        "items": (items or {}).get(row_seq),
                    }
                    for row_seq, user_id, at in present
                ],
            )
            for chunk in _chunks(_ranges(row_seq for row_seq, _, _ in present)):
                await conn.execute(
                    delete(zone_updates_table).where(_U.zone_id == zone_id, _in_runs(chunk))
                )
        return _Compacted(seq, merging is not None, len(present), len(snapshot))

    async def changes(self, zone_id: int) -> ZoneChanges:
        """The zone's author records, oldest first: the kept ones, then the log tail's rows
        (with the snapshot the tail applies to, so a reader can trace what each touched).
        One consistent read, so a concurrent compaction neither hides nor repeats one."""
        async with snapshot_connection(self._engine) as conn:
            kept = await conn.execute(
                select(_C.seq, _C.user_id, _C.at, _C["items"])
                .where(_C.zone_id == zone_id)
                .order_by(_C.id)
            )
            records = tuple(ChangeRow(r.seq, r.user_id, r.at, r[3], None) for r in kept)
            snap = (
                await conn.execute(select(_S.seq, _S.data).where(_S.zone_id == zone_id))
            ).first()
            seq = int(snap.seq) if snap is not None else 0
            rows = await conn.execute(
                select(_U.id, _U.user_id, _U.created_at, _U.data)
                .where(_U.zone_id == zone_id)
                .order_by(_U.id)
            )
            tail = tuple(
                ChangeRow(int(r.id), r.user_id, r.created_at, None, bytes(r.data)) for r in rows
            )
        return ZoneChanges(
            records=records,
            snapshot=bytes(snap.data) if snap is not None else None,
            snapshot_seq=seq,
            tail=tail,
        )

    async def changes_version(self, zone_id: int) -> tuple[int, int, int, int, int]:
        """What `changes` would read, in five numbers (records kept and the last one's id, the
        snapshot's seq, updates in the log and the last one's seq): equal numbers, equal
        records, so a reader that kept them need not read them again. Seqs and ids only grow."""
        async with snapshot_connection(self._engine) as conn:
            kept = (
                await conn.execute(
                    select(func.count(), func.coalesce(func.max(_C.id), 0)).where(
                        _C.zone_id == zone_id
                    )
                )
            ).one()
            snap = (
                await conn.execute(select(_S.seq).where(_S.zone_id == zone_id))
            ).scalar_one_or_none()
            logged = (
                await conn.execute(
                    select(func.count(), func.coalesce(func.max(_U.id), 0)).where(
                        _U.zone_id == zone_id
                    )
                )
            ).one()
        return (int(kept[0]), int(kept[1]), int(snap or 0), int(logged[0]), int(logged[1]))

    async def add_changes(
        self, zone_id: int, records: Sequence[ChangeRow], snapshot: bytes | None = None
    ) -> None:
        """Keep author records that came with the zone (an import), before any of its own,
        and with `snapshot` the state they made as a new zone's first snapshot (nothing is
        folded: the records are the history), in one transaction."""
        if not records and snapshot is None:
            return
        async with write_connection(self._engine) as conn:
            if records:
                await conn.execute(
                    insert(zone_changes_table),
                    [
                        {"zone_id": zone_id, "seq": None, "user_id": r.user_id, "at": r.at}
                        | {"items": r.items}
                        for r in records
                    ],
                )
            if snapshot is not None:
                await conn.execute(
                    insert(zone_snapshots_table).values(
                        zone_id=zone_id, seq=0, data=snapshot, updated_at=utcnow()
                    )
                )

    async def tail_length(self, zone_id: int) -> int:
        """Updates a load would replay after the snapshot (every one not folded)."""
        return await self.count_updates(zone_id)

    async def count_updates(self, zone_id: int) -> int:
        async with snapshot_connection(self._engine) as conn:
            count = await conn.execute(
                select(func.count()).select_from(zone_updates_table).where(_U.zone_id == zone_id)
            )
            return int(count.scalar_one())

    async def delete_zone_history(self, zone_id: int) -> int:
        """Drop a zone's log and snapshot (purge); return how many updates were removed."""
        async with write_connection(self._engine) as conn:
            removed = await conn.execute(delete(zone_updates_table).where(_U.zone_id == zone_id))
            await conn.execute(delete(zone_snapshots_table).where(_S.zone_id == zone_id))
            # The records hold old and new values of fields: plan content, gone with the log.
            await conn.execute(delete(zone_changes_table).where(_C.zone_id == zone_id))
        log.info("zone history deleted zone_id=%s removed=%s", zone_id, removed.rowcount)
        return int(removed.rowcount)


RANGES_PER_STATEMENT = 500


def _compact_on_sqlite(
    conn: sqlite3.Connection,
    zone_id: int,
    ranges: list[tuple[int, int]],
    snapshot: bytes,
    items: Mapping[int, str],
    based_on: int | None,
    merge: Callable[[bytes], bytes] | None,
    stamp: Any,
) -> _Compacted:
    """`ZoneLog.compact` on SQLite's writer connection, inside its one transaction (BEGIN
    IMMEDIATE: SQLite's one writer is the zone lock). The same steps as the engine path;
    `at` is copied as stored, both columns being the same type."""
    if conn.execute("SELECT id FROM zones WHERE id = ?", (zone_id,)).fetchone() is None:
        raise NotFound(f"zone {zone_id} does not exist")
    row = conn.execute("SELECT seq FROM zone_snapshots WHERE zone_id = ?", (zone_id,)).fetchone()
    current: int | None = None if row is None else int(row[0])
    present: list[tuple[int, int | None, Any]] = []
    for chunk in _chunks(ranges):
        where, params = _sqlite_runs(chunk)
        present.extend(
            conn.execute(
                f"SELECT id, user_id, created_at FROM zone_updates WHERE zone_id = ? AND ({where})"
                " ORDER BY id",
                (zone_id, *params),
            )
        )
    if not present:
        return _Compacted.nothing(current, based_on)
    merging = _merge_needed(zone_id, current, based_on, merge)
    if merging is not None:
        (stored,) = conn.execute(
            "SELECT data FROM zone_snapshots WHERE zone_id = ?", (zone_id,)
        ).fetchone()
        snapshot = merging(bytes(stored))  # this thread, not the event loop's
    seq = max(int(present[-1][0]), (current or 0) + 1)
    if current is None:
        conn.execute(
            "INSERT INTO zone_snapshots (zone_id, seq, data, updated_at) VALUES (?, ?, ?, ?)",
            (zone_id, seq, snapshot, stamp),
        )
    else:
        conn.execute(
            "UPDATE zone_snapshots SET seq = ?, data = ?, updated_at = ? WHERE zone_id = ?",
            (seq, snapshot, stamp, zone_id),
        )
    conn.executemany(
        "INSERT INTO zone_changes (zone_id, seq, user_id, at, items) VALUES (?, ?, ?, ?, ?)",
        [(zone_id, row_seq, user_id, at, items.get(row_seq)) for row_seq, user_id, at in present],
    )
    for chunk in _chunks(_ranges(int(row_seq) for row_seq, _, _ in present)):
        where, params = _sqlite_runs(chunk)
        conn.execute(
            f"DELETE FROM zone_updates WHERE zone_id = ? AND ({where})", (zone_id, *params)
        )
    return _Compacted(seq, merging is not None, len(present), len(snapshot))


# A zone as `load` returns it: its snapshot (part 0: seq, data), then every update still
# logged (part 1: id, data) in seq order.
_PG_LOAD = """
    SELECT 0 AS part, seq AS id, data FROM zone_snapshots WHERE zone_id = $1
    UNION ALL
    SELECT 1, id, data FROM zone_updates WHERE zone_id = $1
    ORDER BY part, id
"""

# The most rows `append_batch` writes in one statement on PostgreSQL; a larger batch (an
# import, a backlog) is a transaction through the engine, as a statement cannot hold it.
_PG_APPEND_ROWS = 256


@functools.cache
def _pg_append(rows: int) -> str:
    """The INSERT of `rows` updates, in asyncpg's placeholders ($1 is the time, then three per
    row). Scalars only: an array parameter (unnest) makes asyncpg look its type up on every
    new connection, about 11 ms, inside an edit's commit. asyncpg keeps each size prepared."""
    values = ", ".join(f"(${3 * i + 2}, ${3 * i + 3}, ${3 * i + 4}, $1)" for i in range(rows))
    return (
        "INSERT INTO zone_updates (zone_id, data, user_id, created_at) "
        f"VALUES {values} RETURNING id"
    )


def _lock_zone(zone_id: int) -> Select[tuple[int]]:
    """The zone's row, locked for its compaction: one at a time per zone. NO KEY UPDATE never
    waits for (nor holds up) an edit of the zone, whose logged row holds a KEY SHARE lock on
    it until it commits."""
    return (
        select(zones_table.c.id).where(zones_table.c.id == zone_id).with_for_update(key_share=True)
    )


# The zone's snapshot seq, and how many of the seqs to fold are still logged (another writer
# may have folded some) with the last of them. Seqs travel as TEXT[], cast by PostgreSQL:
# asyncpg looks a BIGINT[] parameter's type up in the catalogue on each new connection (a
# recursive query of 12-20 ms), and knows TEXT[] without asking.
_PG_FOLDABLE = text(
    """
    SELECT (SELECT seq FROM zone_snapshots WHERE zone_id = :zone_id),
           count(*),
           max(id)
      FROM zone_updates
     WHERE zone_id = :zone_id AND id = ANY(CAST(CAST(:seqs AS TEXT[]) AS BIGINT[]))
    """
)
# The rows go, each one's author record is kept (in seq order: `id` orders a zone's
# records), and the snapshot is written: one statement, one round trip, one transaction.
_PG_FOLD = text(
    """
    WITH gone AS (
        DELETE FROM zone_updates
         WHERE zone_id = :zone_id AND id = ANY(CAST(CAST(:seqs AS TEXT[]) AS BIGINT[]))
     RETURNING id, user_id, created_at
    ), kept AS (
        INSERT INTO zone_changes (zone_id, seq, user_id, at, items)
        SELECT :zone_id, gone.id, gone.user_id, gone.created_at, traced.items
          FROM gone
          LEFT JOIN unnest(CAST(CAST(:item_seqs AS TEXT[]) AS BIGINT[]),
                           CAST(:item_texts AS TEXT[])) AS traced(seq, items)
                 ON traced.seq = gone.id
         ORDER BY gone.id
    ), written AS (
        INSERT INTO zone_snapshots (zone_id, seq, data, updated_at)
        VALUES (:zone_id, :seq, :data, :now)
        ON CONFLICT (zone_id) DO UPDATE
           SET seq = excluded.seq, data = excluded.data, updated_at = excluded.updated_at
    )
    SELECT count(*) FROM gone
    """
).bindparams(bindparam("data", type_=LargeBinary), bindparam("now", type_=UTCDateTime))


async def _merged(conn: AsyncConnection, zone_id: int, merge: Callable[[bytes], bytes]) -> bytes:
    """The stored snapshot merged with the caller's (`merge`), read under the zone's lock."""
    stored = (await conn.execute(select(_S.data).where(_S.zone_id == zone_id))).scalar_one()
    # Off the event loop: merging two whole states of a big zone takes a while.
    return await asyncio.to_thread(merge, bytes(stored))


def _merge_needed(
    zone_id: int,
    current: int | None,
    based_on: int | None,
    merge: Callable[[bytes], bytes] | None,
) -> Callable[[bytes], bytes] | None:
    """The merge to apply when the stored snapshot is not the one the caller built on (another
    writer's compaction replaced it), else None; with no `merge` to apply, a ValueError."""
    if current is None or current == based_on:
        return None
    if merge is None:
        raise ValueError(f"zone {zone_id}: the stored snapshot moved; merge needed")
    return merge


def _sqlite_runs(chunk: list[tuple[int, int]]) -> tuple[str, list[int]]:
    """`id` in one of the runs, as SQL text and its parameters (as `_in_runs`, unpadded: the
    sqlite3 module caches a statement per text, and its compiling costs no event loop)."""
    return " OR ".join(["id BETWEEN ? AND ?"] * len(chunk)), [v for run in chunk for v in run]


def _ranges(seqs: Iterable[int]) -> list[tuple[int, int]]:
    """Seqs as inclusive runs of consecutive numbers: one node's folded updates on SQLite are
    one run (a single `BETWEEN`), several writers' interleave into a few runs each. A run
    covers no seq outside the set, since every number in it is in the set."""
    runs: list[tuple[int, int]] = []
    for seq in sorted(set(seqs)):
        if runs and runs[-1][1] == seq - 1:
            runs[-1] = (runs[-1][0], seq)
        else:
            runs.append((seq, seq))
    return runs


def _chunks(ranges: list[tuple[int, int]]) -> Iterator[list[tuple[int, int]]]:
    for start in range(0, len(ranges), RANGES_PER_STATEMENT):
        yield ranges[start : start + RANGES_PER_STATEMENT]


LONG_RUN = 8  # a run of at least this many seqs is one BETWEEN; shorter ones go in the IN list


def _in_runs(chunk: list[tuple[int, int]]) -> ColumnElement[bool]:
    """`zone_updates.id` in one of the runs, as a statement of few shapes: the seqs of short
    runs in one expanding IN list, the long runs as BETWEENs, their number padded up to a
    power of two by repeating the last (the same condition twice selects nothing more).

    One BETWEEN per run made every compaction's statements a new SQL text (n runs, n
    BETWEENs), compiled afresh: 3-6 ms of the event loop per zone when 100 rooms of
    interleaved writers unloaded (docs/BENCHMARKS.md, "Event-loop stalls: what ran"). These
    shapes are compiled once and then come from SQLAlchemy's cache."""
    singles = [seq for a, b in chunk if b - a + 1 < LONG_RUN for seq in range(a, b + 1)]
    long = [(a, b) for a, b in chunk if b - a + 1 >= LONG_RUN]
    if long:
        long += [long[-1]] * ((1 << (len(long) - 1).bit_length()) - len(long))
    return or_(_U.id.in_(singles), *(_U.id.between(a, b) for a, b in long))
