"""The durable CRDT log of each zone: append-only updates plus one snapshot (DESIGN.md §4, §5).

`ZoneLog` satisfies `crdt.store.ZoneStore` structurally; storage never imports crdt. It speaks
Core, not the ORM: `append_batch` runs for every edit anyone makes, so a batch is one
multi-row INSERT in one transaction, with no ORM unit of work around it. On SQLite,
`append_batch` and `load` go further and skip SQLAlchemy (storage.db.sqlite_log: one thread
hand-off per call instead of about nine); everything else, and PostgreSQL, uses the engine.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass

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
from storage.models import utcnow, zone_snapshots_table, zone_updates_table, zones_table

log = logging.getLogger(__name__)

_U = zone_updates_table.c
_S = zone_snapshots_table.c


@dataclass(frozen=True, slots=True)
class LoadedZone:
    """A zone as stored: `snapshot` folds in every update up to `snapshot_seq` (0 and None
    when never compacted); `updates` are the (seq, update) pairs after it, oldest first."""

    snapshot: bytes | None
    snapshot_seq: int
    updates: tuple[tuple[int, bytes], ...]


class ZoneLog:
    """Append, load and compact zone logs. Sequence numbers are `zone_updates.id`: global,
    increasing, never reused, so one number orders a zone's updates and marks a snapshot."""

    def __init__(self, sessionmaker: async_sessionmaker[AsyncSession]) -> None:
        self._engine = engine_of(sessionmaker)

    async def append_batch(self, items: Sequence[tuple[int, bytes]]) -> list[int]:
        """Log (zone_id, update) pairs in one transaction; return their seqs in input order.

        Returns once committed, which is durable under storage.db's settings (SQLite
        synchronous=FULL by default, PostgreSQL fsync). All or nothing: on error none is kept.
        """
        if not items:
            return []
        now = utcnow()
        fast = sqlite_zone_log(self._engine)
        if fast is not None:
            return await fast.append(items, now)
        rows = [{"zone_id": zone_id, "data": data, "created_at": now} for zone_id, data in items]
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

    async def compact(self, zone_id: int, upto_seq: int, snapshot: bytes) -> None:
        """Make `snapshot` the zone's state up to `upto_seq` and drop the updates it folds in.

        One transaction. Updates logged after `upto_seq` are untouched. A call that would not
        move the snapshot forward (a repeat, or one overtaken by a newer compaction) changes
        nothing, so an older snapshot never replaces a newer one.
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
        log.info("zone history deleted zone_id=%s removed=%s", zone_id, removed.rowcount)
        return int(removed.rowcount)
