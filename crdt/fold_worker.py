"""Compaction's replay in a worker process of its own, so it never holds the relay.

A traced zone's compaction replays the stored snapshot and up to `compact_after` updates
(crdt/authorship.py `trace_and_fold`). It used to run in a thread, but pycrdt holds the GIL
for the whole of each call: applying a large snapshot and encoding the new one are single
calls of tens of milliseconds (a 1 MB document: 33 ms to encode), during which the event loop,
and so every relay, waited (docs/BENCHMARKS.md, "Where the time goes under burst"). In another
process it costs the loop only the hand-off: the bytes in, the traces and snapshot out.

One process for every room of a registry, started on the first compaction (spawn, not fork:
the server has database threads a fork would copy mid-state) and kept; compactions queue for
it. Should it die, the compaction runs in a thread as before and the next one starts a new
process.
"""

from __future__ import annotations

import asyncio
import logging
import multiprocessing
from collections.abc import Sequence, Set
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool

from crdt.authorship import trace_and_fold

log = logging.getLogger("samplan.fold")


class FoldWorker:
    def __init__(self) -> None:
        self._pool: ProcessPoolExecutor | None = None

    async def trace_and_fold(
        self,
        kind: str,
        snapshot: bytes | None,
        updates: Sequence[tuple[int, bytes]],
        folded: Set[int],
    ) -> tuple[dict[int, str], bytes]:
        """`crdt.authorship.trace_and_fold`, in the worker process."""
        if self._pool is None:
            self._pool = ProcessPoolExecutor(
                max_workers=1, mp_context=multiprocessing.get_context("spawn")
            )
        pool = self._pool
        loop = asyncio.get_running_loop()
        try:
            return await loop.run_in_executor(
                pool, trace_and_fold, kind, snapshot, tuple(updates), frozenset(folded)
            )
        except BrokenProcessPool:
            if self._pool is pool:
                self._pool = None
            pool.shutdown(wait=False, cancel_futures=True)
            log.warning("compaction worker process died: this compaction runs in a thread")
            return await asyncio.to_thread(trace_and_fold, kind, snapshot, updates, folded)

    def pids(self) -> list[int]:
        """The worker process's id, once started (diagnostics, tests)."""
        pool = self._pool
        processes = getattr(pool, "_processes", None) or {}
        return [p.pid for p in processes.values() if p.pid is not None]

    async def close(self) -> None:
        pool, self._pool = self._pool, None
        if pool is not None:
            await asyncio.to_thread(pool.shutdown, True, cancel_futures=True)
