"""The durable CRDT log of each zone: append-only updates plus one snapshot (DESIGN.md §4, §5).

`ZoneLog` satisfies `crdt.store.ZoneStore` structurally; storage never imports crdt. It speaks
Core, not the ORM: `append_batch` runs for every edit anyone makes, so a batch is one
multi-row INSERT in one transaction, with no ORM unit of work around it. On SQLite,
`append_batch` and `load` go further and skip SQLAlchemy (storage.db.sqlite_log: one thread
hand-off per call instead of about nine); everything else, and PostgreSQL, uses the engine.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import delete, func, insert, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from storage.db import (
    engine_of,
    insert_returning_ids,
    snapshot_connection,
    sqlite_zone_log,
    write_connection,
)
from storage.errors import NotFound
from storage.models import (
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
    """A zone as stored: `snapshot` folds in every update up to `snapshot_seq` (0 and None
    when never compacted); `updates` are the (seq, update) pairs after it, oldest first."""

    snapshot: bytes | None
    snapshot_seq: int
    updates: tuple[tuple[int, bytes], ...]


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
    with its update) that applies on top of `snapshot` (seq `snapshot_seq`)."""

    records: tuple[ChangeRow, ...]
    snapshot: bytes | None
    snapshot_seq: int
    tail: tuple[ChangeRow, ...]


class ZoneLog:
    """Append, load and compact zone logs. Sequence numbers are `zone_updates.id`: global,
    increasing, never reused, so one number orders a zone's updates and marks a snapshot."""

    def __init__(self, sessionmaker: async_sessionmaker[AsyncSession]) -> None:
        self._engine = engine_of(sessionmaker)

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
        async with snapshot_connection(self._engine) as conn:
            snap = (
                await conn.execute(select(_S.seq, _S.data).where(_S.zone_id == zone_id))
            ).first()
            seq = int(snap.seq) if snap is not None else 0
            rows = await conn.execute(
                select(_U.id, _U.data).where(_U.zone_id == zone_id, _U.id > seq).order_by(_U.id)
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
        upto_seq: int,
        snapshot: bytes,
        items: Mapping[int, str] | None = None,
    ) -> None:
        """Make `snapshot` the zone's state up to `upto_seq` and drop the updates it folds in,
        keeping each one's author record in `zone_changes` (who and when from its row; which
        items from `items`, by seq, as the room traced them).

        One transaction: no update is ever folded away without its record. Updates logged
        after `upto_seq` are untouched. A call that would not move the snapshot forward (a
        repeat, or one overtaken by a newer compaction) changes nothing, so an older
        snapshot never replaces a newer one.
        """
        now = utcnow()
        async with write_connection(self._engine) as conn:
            # Row lock on the zone serialises compactions of one zone on PostgreSQL (SQLite's
            # single writer already does); it also tells a vanished zone from a fresh one.
            zone = (
                await conn.execute(
                    select(zones_table.c.id).where(zones_table.c.id == zone_id).with_for_update()
                )
            ).first()
            if zone is None:
                raise NotFound(f"zone {zone_id} does not exist")
            current = (
                await conn.execute(select(_S.seq).where(_S.zone_id == zone_id))
            ).scalar_one_or_none()
            if current is not None and current >= upto_seq:
                log.info(
                    "zone compaction skipped zone_id=%s upto_seq=%s snapshot_seq=%s",
                    zone_id,
                    upto_seq,
                    current,
                )
                return
            values = {"seq": upto_seq, "data": snapshot, "updated_at": now}
            if current is None:
                await conn.execute(insert(zone_snapshots_table).values(zone_id=zone_id, **values))
            else:
                await conn.execute(
                    update(zone_snapshots_table).where(_S.zone_id == zone_id).values(**values)
                )
            folded = await conn.execute(
                select(_U.id, _U.user_id, _U.created_at)
                .where(_U.zone_id == zone_id, _U.id <= upto_seq)
                .order_by(_U.id)
            )
            records = [
                {
                    "zone_id": zone_id,
                    "seq": int(row.id),
                    "user_id": row.user_id,
                    "at": row.created_at,
                    "items": (items or {}).get(int(row.id)),
                }
                for row in folded
            ]
            if records:
                await conn.execute(insert(zone_changes_table), records)
            removed = await conn.execute(
                delete(zone_updates_table).where(_U.zone_id == zone_id, _U.id <= upto_seq)
            )
        log.info(
            "zone compacted zone_id=%s upto_seq=%s removed=%s snapshot_bytes=%s",
            zone_id,
            upto_seq,
            removed.rowcount,
            len(snapshot),
        )

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
                .where(_U.zone_id == zone_id, _U.id > seq)
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

    async def add_changes(self, zone_id: int, records: Sequence[ChangeRow]) -> None:
        """Keep author records that came with the zone (an import), before any of its own."""
        if not records:
            return
        async with write_connection(self._engine) as conn:
            await conn.execute(
                insert(zone_changes_table),
                [
                    {"zone_id": zone_id, "seq": None, "user_id": r.user_id, "at": r.at}
                    | {"items": r.items}
                    for r in records
                ],
            )

    async def tail_length(self, zone_id: int) -> int:
        """Updates a load would replay after the snapshot: the measure compaction watches."""
        async with snapshot_connection(self._engine) as conn:
            seq = (
                await conn.execute(select(_S.seq).where(_S.zone_id == zone_id))
            ).scalar_one_or_none()
            count = await conn.execute(
                select(func.count())
                .select_from(zone_updates_table)
                .where(_U.zone_id == zone_id, _U.id > (seq or 0))
            )
            return int(count.scalar_one())

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
