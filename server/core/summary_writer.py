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
from typing import Any

from crdt.room import Room
from crdt.summary import zone_summary
from storage.repositories.plans import PlanRepo

log = logging.getLogger("samplan.summaries")

SUMMARISED_KINDS = ("content", "area")
DEFAULT_DELAY_SECONDS = 1.0


# Runs a write on the database's one writer, between the edits' durable batches
# (GroupCommitter.run_exclusive).
OneWriter = Callable[[Callable[[], Awaitable[None]]], Awaitable[None]]


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
        """Write the summary of every marked zone that changed since this node wrote it."""
        async with self._lock:
            dirty, self._dirty = self._dirty, {}
            for zone_id, room in dirty.items():
                await self._write(zone_id, room)

    async def _write(self, zone_id: int, room: Room) -> None:
        if room.failed:
            return  # its document may hold what is not durable
        await room.settle()
        if room.failed:
            return
        summary = zone_summary(room.doc, room.kind)
        if self._written.get(zone_id) == summary:
            return
        try:
            if self.one_writer is None:
                await self.plans.save_zone_summary(zone_id, summary)
            else:
                await self.one_writer(lambda: self.plans.save_zone_summary(zone_id, summary))
        except Exception as exc:
            self._written.pop(zone_id, None)
            log.error(
                "zone %s: saving its summary failed: %s", zone_id, type(exc).__name__, exc_info=exc
            )
            return
        self._written[zone_id] = summary
        self.writes += 1

    async def flush(self) -> None:
        """Write everything marked, and wait for writes under way (tests, shutdown)."""
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        await self.write_pending()
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)
