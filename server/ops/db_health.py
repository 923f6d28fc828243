"""Whether this node reaches its database, as /healthz and /metrics report it.

A node whose database is gone keeps running (it recovers by itself when the database is
back: the pool pings a connection that sat idle before it hands it out, and replaces one that
failed), but it can store nothing, so every
writer is sent away with 1013 "storage unavailable" and told to come back. The operator sees
it here: /healthz says "degraded" and names "database". A probe is one `SELECT 1` with a
short timeout, at most once a second however often /healthz is asked.

The node's own writes of edits (crdt/committer.py) count as probes too: a batch that failed
because the database could not be reached, or that waited past the commit timeout, marks it
gone; one that was stored marks it back. So `samplan_database_available` on /metrics follows
an outage while edits are being written even when nobody asks /healthz.
"""

from __future__ import annotations

import asyncio
import logging
import time

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from storage.errors import database_unavailable

log = logging.getLogger("samplan.db_health")


class DatabaseHealth:
    def __init__(self, engine: AsyncEngine, *, timeout: float = 2.0, every: float = 1.0) -> None:
        self.engine = engine
        self.timeout = timeout
        self.every = every
        self.available = True
        self.outages = 0  # times the probe found the database gone after it answered
        self._checked_at = float("-inf")
        self._probe: asyncio.Task[None] | None = None

    async def check(self) -> bool:
        """Whether the database answered its latest probe; a probe runs now unless one ran
        within `every` seconds (concurrent callers share one). Returns within `timeout`
        seconds even when the probe's cleanup takes longer (a connection that stopped
        answering is slow to give up): no answer in time counts as gone."""
        if self._probe is None and time.monotonic() - self._checked_at >= self.every:
            self._probe = asyncio.get_running_loop().create_task(self._run())
        probe = self._probe
        if probe is not None:
            done, _ = await asyncio.wait({probe}, timeout=self.timeout)
            if not done:
                self._note(False, "no answer in time")
        return self.available

    async def _run(self) -> None:
        try:
            async with asyncio.timeout(self.timeout):
                async with self.engine.connect() as conn:
                    await conn.execute(text("SELECT 1"))
        except Exception as exc:
            self._note(False, type(exc).__name__)
        else:
            self._note(True, "")
        finally:
            self._probe = None
            self._checked_at = time.monotonic()

    def writer_outcome(self, failure: BaseException | None) -> None:
        """The group committer's latest batch: stored (None) or failed. Only a failure that
        means "not reachable" (refused, reset, timed out) counts: a statement the database
        refused is a bug, not an outage."""
        if failure is None:
            self._note(True, "")
        elif database_unavailable(failure):
            self._note(False, f"a write of edits failed ({type(failure).__name__})")

    def _note(self, available: bool, why: str) -> None:
        if available and not self.available:
            log.info("database available again")
        elif not available and self.available:
            self.outages += 1
            log.error("database unavailable: %s", why)
        self.available = available
