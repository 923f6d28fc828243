"""How long anything waits for the store: one bound (SAMPLAN_COMMIT_TIMEOUT_SECONDS) for the
committer's writes, a zone's load, a page's read, a cluster catch-up and a join's access
check.

A database that stops answering without refusing (a partition: packets vanish) makes a call
wait for ever, and whoever waits on it with it: writers saw no confirmation, a joining client
held its socket with no answer, and every later join of that zone queued behind the same
load (issue 15). Past the bound the call counts as failed (`StoreTimeout`, an OSError, so
`storage.errors.database_unavailable` maps it to 1013 / 503 like a refused connection). The
call itself is left to finish or fail in the background (cancelling a statement on a dead
connection can hang as long as the statement); `late` hears if it succeeds in the end, and
`stop` cancels whatever is still waiting when the process stops, so nothing is left behind.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

log = logging.getLogger("samplan.bounded")

T = TypeVar("T")


class StoreTimeout(TimeoutError):
    """A store call did not return within the bound: its outcome is unknown, so it counts as
    failed (a write is never relayed, a read is never served)."""


class StoreBound:
    def __init__(self, seconds: float | None) -> None:
        self.seconds = seconds  # None: wait as long as the store takes
        # Calls given up on, by what waited ("commit", "write_job", "load", "read",
        # "catch_up", "join"): /metrics' samplan_store_timeouts.
        self.timeouts: Counter[str] = Counter()
        self._left_running: set[asyncio.Future[Any]] = set()

    @property
    def left_running(self) -> int:
        """Calls given up on that have not ended yet."""
        return len(self._left_running)

    async def __call__(
        self,
        call: Awaitable[T],
        kind: str,
        what: str,
        *,
        error: type[StoreTimeout] = StoreTimeout,
        late: Callable[[T], None] | None = None,
    ) -> T:
        """`call`, waited for at most `seconds`; past that `error`, and the call is left
        running: `late` hears its result if it succeeds in the end (else it is logged and
        dropped). `kind` is what is counted; `what` names it in the log (ids only)."""
        if self.seconds is None:
            return await call
        task: asyncio.Future[T] = asyncio.ensure_future(call)
        started = time.perf_counter()
        done, _ = await asyncio.wait({task}, timeout=self.seconds)
        if done:
            return task.result()
        self.timeouts[kind] += 1
        self._left_running.add(task)

        def ended(task: asyncio.Future[T]) -> None:
            self._left_running.discard(task)
            if task.cancelled():
                return
            took = time.perf_counter() - started
            exc = task.exception()
            if exc is not None:
                log.info("%s timed out and failed in the end: %s", what, type(exc).__name__)
            elif late is not None:
                late(task.result())
            else:
                log.info("%s timed out and returned in the end (%.1f s): dropped", what, took)

        task.add_done_callback(ended)
        raise error(f"{what} took longer than {self.seconds:g} s")

    def stop(self) -> None:
        """The process is stopping: calls still waiting for a database that does not answer
        are cancelled, nobody waits for their outcome."""
        for task in tuple(self._left_running):
            task.cancel()
