"""Group commit: every log write of one event-loop turn, across rooms, in one transaction.

Persist-before-relay makes each edit wait for a durable write; fsync per edit would cap a
busy server at a few hundred edits per second. Batching whatever arrived while the
previous transaction was in flight keeps the promise at any load. One writer task also
means SQLite never sees two writers at once ("database is locked").

A database that stops answering without refusing (a partition: packets vanish) would make a
batch wait for ever, and its writers with it, with no sign. So a batch waits at most
`commit_timeout` seconds: then it counts as failed (`CommitTimeout`), its rooms send their
writers away with 1013 "storage unavailable" as on a lost database, and nothing in it is
relayed. The write itself is left to finish or fail in the background (cancelling a statement
on a dead connection can hang as long as the statement); if it does commit in the end, what
it stored was never relayed, and `late_commit` names its zones so other nodes read them again.
The bound is `StoreBound` (crdt/bounded.py), which the zones' loads and catch-ups share.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from crdt.bounded import StoreBound, StoreTimeout
from crdt.hooks import Hook
from crdt.stats import Timings
from crdt.store import ZoneStore

log = logging.getLogger("samplan.committer")

T = TypeVar("T")


class CommitTimeout(StoreTimeout):
    """A durable write did not return within the committer's `commit_timeout`: whether it
    will be stored is unknown, so it counts as failed (never relayed)."""


class GroupCommitter:
    def __init__(
        self, store: ZoneStore, *, commit_timeout: float | None = None, one_writer: bool = True
    ) -> None:
        """`one_writer`: the database takes one writer at a time (SQLite), so a write job
        (`run_job`) waits for a turn between the batches. PostgreSQL takes many: there a
        compaction's write runs beside the batches, and no edit waits for it."""
        self.store = store
        self.one_writer = one_writer
        self._pending: list[tuple[int, bytes, int | None, asyncio.Future[int]]] = []
        self._inflight: list[tuple[int, bytes, int | None, asyncio.Future[int]]] = []
        self._jobs: list[tuple[Callable[[], Awaitable[Any]], asyncio.Future[Any]]] = []
        self._wakeup = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self.batches = 0
        self.updates = 0
        self.failed_batches = 0
        self.failing = 0  # batches failed in a row (0 once one succeeds)
        # How long each batch's durable write took, from the writer task's start of it to
        # the store's return (fsync included): /metrics' commit latency.
        self.commit_seconds = Timings()
        # The longest batch write and the longest write job (on one writer, both hold every
        # edit queued behind them) since `take_longest` last asked: what tells a latency tail
        # that is the disk's (or a job's) from one that is not.
        self._longest_commit = 0.0
        self._longest_job = 0.0
        # Each batch's outcome, for whoever reports the database's health (the exception, or
        # None on success): the writer notices a lost database before any probe does.
        self.outcome: Hook[BaseException | None] = Hook("commit outcome")
        # Zones an abandoned (timed-out) write stored after all: stored, never relayed.
        self.late_commit: Hook[frozenset[int]] = Hook("late commit")
        # The one bound on waiting for the store (crdt/bounded.py): the registry's loads and
        # the cluster's catch-ups wait through it too, so one setting bounds them all.
        self.bound = StoreBound(commit_timeout)

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._run(), name="group-commit")

    def submit(self, zone_id: int, update: bytes, author: int | None = None) -> asyncio.Future[int]:
        """Queue one update and who made it; the future resolves with its sequence number once
        durable (the author is written in the same row, so it is exactly as durable).

        Futures resolve in submission order, so callbacks that relay updates run in order.
        """
        fut: asyncio.Future[int] = asyncio.get_running_loop().create_future()
        self._pending.append((zone_id, update, author, fut))
        self._wakeup.set()
        return fut

    async def run_exclusive(self, job: Callable[[], Awaitable[T]]) -> T:
        """Run a write (compaction, deletion) on the writer task, between batches; return
        what it returns."""
        fut: asyncio.Future[T] = asyncio.get_running_loop().create_future()
        self._jobs.append((job, fut))
        self._wakeup.set()
        return await fut

    async def run_job(self, job: Callable[[], Awaitable[T]]) -> T:
        """Run a write job (a compaction's): between the batches where the database takes one
        writer, beside them where it takes many. Bounded by `commit_timeout` either way.

        On PostgreSQL a compaction's write held every edit queued behind it for its 25-30 ms
        under burst, the fan-out's p99 (docs/BENCHMARKS.md). It needs no turn: it deletes
        exactly the rows it folds, under the zone's lock, as it must beside another node's
        commits anyway (storage.repositories.updates)."""
        if self.one_writer:
            return await self.run_exclusive(job)
        started = time.perf_counter()
        try:
            return await self._bounded_job(job)
        finally:
            self._longest_job = max(self._longest_job, time.perf_counter() - started)

    async def flush(self) -> None:
        """Wait until everything submitted so far is durable (or has failed)."""
        futures = [f for _, _, _, f in self._inflight + self._pending]
        if futures:
            await asyncio.wait(futures)

    async def _run(self) -> None:
        while True:
            await self._wakeup.wait()
            self._wakeup.clear()
            if self._pending:
                batch, self._pending = self._pending, []
                self._inflight = batch
                await self._write(batch)
                self._inflight = []
            while self._jobs:
                job, fut = self._jobs.pop(0)
                started = time.perf_counter()
                try:
                    result = await self._bounded_job(job)
                except Exception as exc:
                    fut.set_exception(exc)
                else:
                    fut.set_result(result)
                self._longest_job = max(self._longest_job, time.perf_counter() - started)

    async def _write(self, batch: list[tuple[int, bytes, int | None, asyncio.Future[int]]]) -> None:
        started = time.perf_counter()
        try:
            seqs = await self._append(batch)
        except Exception as exc:
            self.failed_batches += 1
            self.failing += 1
            # The traceback once per run of failures: while the database is gone every
            # batch fails the same way, and one traceback per edit would bury the log.
            log.error(
                "group commit of %d updates failed: %s",
                len(batch),
                type(exc).__name__,
                exc_info=exc if self.failing == 1 else None,
            )
            for _, _, _, fut in batch:
                if not fut.done():
                    fut.set_exception(exc)
            self.outcome(exc)
            return
        took = time.perf_counter() - started
        self.commit_seconds.observe(took)
        if took > self._longest_commit:
            self._longest_commit = took
        self.outcome(None)
        if self.failing:
            log.info("group commit works again after %d failed batches", self.failing)
            self.failing = 0
        self.batches += 1
        self.updates += len(batch)
        for (_, _, _, fut), seq in zip(batch, seqs, strict=True):
            if not fut.done():
                fut.set_result(seq)

    async def _append(
        self, batch: list[tuple[int, bytes, int | None, asyncio.Future[int]]]
    ) -> list[int]:
        """The store's write, waited for at most `commit_timeout` seconds."""
        zones = frozenset(zone for zone, _, _, _ in batch)

        def stored_late(seqs: list[int]) -> None:
            log.warning(
                "a timed-out commit of %d updates was stored in the end (never relayed); "
                "%d zone(s) to be read again",
                len(seqs),
                len(zones),
            )
            self.late_commit(zones)

        return await self.bound(
            self.store.append_batch(
                [(zone, update) for zone, update, _, _ in batch],
                [author for _, _, author, _ in batch],
            ),
            "commit",
            f"a commit of {len(batch)} updates",
            error=CommitTimeout,
            late=stored_late,
        )

    async def _bounded_job(self, job: Callable[[], Awaitable[T]]) -> T:
        """A job (a compaction's write) waited for at most `commit_timeout` seconds, like a
        batch: one stuck on a hanging database must not hold every later batch behind it,
        where no timeout would ever fire (a compaction is only tried again later)."""
        return await self.bound(job(), "write_job", "a write job", error=CommitTimeout)

    def take_longest(self) -> tuple[float, float]:
        """(longest batch write, longest write job) in seconds since the last call (or the
        start), and start a new period: a scrape reads the worst between two scrapes."""
        longest = (self._longest_commit, self._longest_job)
        self._longest_commit = self._longest_job = 0.0
        return longest

    @property
    def commit_timeout(self) -> float | None:
        return self.bound.seconds

    @property
    def timeouts(self) -> int:
        """Writes given up on (batches and jobs)."""
        return self.bound.timeouts["commit"] + self.bound.timeouts["write_job"]

    async def stop(self) -> None:
        await self.flush()
        if self._task is not None:
            self._task.cancel()
            try:
                await self._task
            except asyncio.CancelledError:
                pass
            self._task = None
        self.bound.stop()
