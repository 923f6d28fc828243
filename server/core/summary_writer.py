"""Keeps each zone's stored summary (crdt/summary.py) as fresh as its live room (issue 15).

Figures read outside a zone come from the `zone_summaries` table: the KE overview folds it
in SQL for a whole municipality, and a node that does not hold a room reads only what is
stored. Stored at compaction alone, those figures were as old as the last compaction on
every node but the room's. So a room that changes, by its own durable commit or by another
node's update applied here, is marked; `delay` seconds later (debounced, off the relay path:
the hook only adds to a dict) its summary is computed once from the settled document and
written when it differs from what this node last wrote. Most edits are text and leave the
summary as it was: no write at all.

Every node holding the room writes after every change it sees, so the last write is of the
converged document whichever node's lands last. `write_pending` writes what is marked now:
a reader of the stored summaries (the KE overview) asks for it first, so on a single node
it reads what the room holds now.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Any, Protocol, TypeVar

from crdt.room import Room
from crdt.summary import zone_summary
from storage.repositories.plans import PlanRepo

log = logging.getLogger("samplan.summaries")

SUMMARISED_KINDS = ("content", "area")
DEFAULT_DELAY_SECONDS = 1.0


T = TypeVar("T")

# The most zones saved in one transaction: a round larger than this is saved in chunks, so one
# transaction never holds SQLite's one writer long (the edits' batches wait behind it).
ROUND_CHUNK = 200


class OneWriter(Protocol):
    """Runs a write on the database's one writer, between the edits' durable batches, and
    returns what it returns (GroupCommitter.run_exclusive)."""

    def __call__(self, job: Callable[[], Awaitable[T]], /) -> Awaitable[T]: ...


class SummaryWriter:
    def __init__(
        self,
        plans: PlanRepo,
        delay: float = DEFAULT_DELAY_SECONDS,
        one_writer: OneWriter | None = None,
    ) -> None:
        """`one_writer` (SQLite): SQLite has one writer, and a connection that finds the write
        lock taken sleeps in SQLite's busy handler (1, 2, 5 ms ...): a summary saved beside the
        edits' commits made the edits wait so, the municipality scenario's p99 tail
        (docs/BENCHMARKS.md). Saved between the edits' batches instead, nobody sleeps."""
        self.plans = plans
        self.delay = delay
        self.one_writer = one_writer
        self._dirty: dict[int, Room] = {}
        self._timer: asyncio.TimerHandle | None = None
        self._written: dict[int, dict[str, Any]] = {}  # zone id -> what this node last wrote
        self._lock = asyncio.Lock()  # one write round at a time: a zone's writes stay in order
        self._tasks: set[asyncio.Task[None]] = set()
        self.writes = 0  # summaries written (tests and logs)

    # -- hook subscribers ------------------------------------------------------------------

    def changed(self, room: Room) -> None:
        """A subscriber of the registry's `committed` hook and of the fan-out's `applied`:
        the hot path pays a dict store and, once per round, a timer."""
        if room.kind not in SUMMARISED_KINDS:
            return
        self._dirty[room.zone_id] = room
        if self._timer is None:
            self._timer = asyncio.get_running_loop().call_later(self.delay, self._fire)

    def compacted(self, room: Room) -> None:
        """A subscriber of the registry's `compacted` hook: written now (a compaction at
        unload is the room's last word on this node), whether or not it changed."""
        if room.kind not in SUMMARISED_KINDS:
            return
        self._written.pop(room.zone_id, None)  # write it even when it looks the same
        self._dirty[room.zone_id] = room
        self._fire()

    # -- writing ---------------------------------------------------------------------------

    def _fire(self) -> None:
        self._timer = None
        task = asyncio.get_running_loop().create_task(self.write_pending())
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def write_pending(self) -> None:
        """Write the summary of every marked zone that changed since this node wrote it: all
        of them in one transaction (a round of many zones was one durable commit per zone,
        each between the edits' batches on SQLite), in chunks of at most ROUND_CHUNK."""
        async with self._lock:
            dirty, self._dirty = self._dirty, {}
            changed: dict[int, dict[str, Any]] = {}
            for zone_id, room in dirty.items():
                summary = await self._summary(room)
                if summary is not None and self._written.get(zone_id) != summary:
                    changed[zone_id] = summary
            ids = sorted(changed)
            for start in range(0, len(ids), ROUND_CHUNK):
                await self._save({z: changed[z] for z in ids[start : start + ROUND_CHUNK]})

    async def _summary(self, room: Room) -> dict[str, Any] | None:
        """The room's summary once what it applied is durable; None for a failed room (its
        document may hold what is not durable)."""
        if room.failed:
            return None
        await room.settle()
        if room.failed:
            return None
        return zone_summary(room.doc, room.kind)

    async def _save(self, rows: dict[int, dict[str, Any]]) -> None:
        try:
            if self.one_writer is None:
                saved = await self.plans.save_zone_summaries(rows)
            else:
                saved = await self.one_writer(lambda: self.plans.save_zone_summaries(rows))
        except Exception as exc:
            for zone_id in rows:
                self._written.pop(zone_id, None)
            log.error(
                "saving %d zone summaries failed: %s",
                len(rows),
                type(exc).__name__,
                exc_info=exc,
            )
            return
        for zone_id in saved:
            self._written[zone_id] = rows[zone_id]
        self.writes += len(saved)
        if len(saved) < len(rows):
            log.info("%d zone(s) deleted before their summary was saved", len(rows) - len(saved))

    async def flush(self) -> None:
        """Write everything marked, and wait for writes under way (tests, shutdown)."""
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        await self.write_pending()
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)
