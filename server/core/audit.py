"""The access log's writer in the server: events are queued and appended by one background task.

Recording never waits for the database, so a WebSocket join or leave (or a page view) costs
a queue put. The task appends whatever has queued up in one transaction (storage.repositories.
audit chains and serialises); `stop` (from Services.stop) drains the queue, so nothing
recorded before shut-down is lost. A failed append is logged and retried with the next batch.

The task lets rows gather for `SETTLE_SECONDS` after the first before it writes. Written at
once, a join's row was appended (a dozen hand-offs to the database thread and a durable
commit) while that join's newcomer still waited for its document, and every join of a storm
paid a commit of its own (issue 16, "late join"). `flush` (the access-log page, tests) and
`stop` do not wait for the window. What a window costs: a process killed outright loses the
rows of its last 50 ms instead of its last few.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Mapping
from typing import Any

from starlette.requests import HTTPConnection

from server.core.background import BackgroundTask
from storage.models import utcnow
from storage.repositories.audit import AuditEvent, AuditRepo

log = logging.getLogger("samplan.audit")

# Rows per transaction. Hashing and binding a row costs the event loop ~50 µs; 500 rows (500
# clients leaving at once) held it 27 ms (docs/BENCHMARKS.md, "Event-loop stalls: what ran").
_BATCH = 50
_RETRY_SECONDS = 1.0
SETTLE_SECONDS = 0.05


def client_address(conn: HTTPConnection) -> str | None:
    return conn.client.host if conn.client else None


class AuditWriter:
    def __init__(self, repo: AuditRepo, *, settle_seconds: float = SETTLE_SECONDS) -> None:
        self.repo = repo
        self._settle_seconds = settle_seconds
        self._pending: list[AuditEvent] = []
        self._wake = asyncio.Event()
        self._hurry = asyncio.Event()  # flush or stop: write now, not after the window
        self._idle = asyncio.Event()
        self._idle.set()
        self._task = BackgroundTask("audit-writer")
        self._stopping = False

    def start(self) -> None:
        self._task.start(self._run)

    def record(
        self,
        action: str,
        *,
        actor_user_id: int | None = None,
        role: str | None = None,
        plan_id: str | None = None,
        zone: str | None = None,
        client_address: str | None = None,
        details: Mapping[str, Any] | None = None,
    ) -> None:
        """Queue one row, stamped now. Never plan content, tokens or passwords in `details`."""
        event = AuditEvent(
            action,
            actor_user_id,
            role,
            plan_id,
            zone,
            client_address,
            dict(details or {}),
            at=utcnow(),
        )
        self._pending.append(event)
        self._idle.clear()
        self._wake.set()  # without a running task, the next flush or stop writes it

    async def flush(self) -> None:
        """Wait until everything recorded so far is in the database."""
        if not self._task.running:
            await self._write_pending()
            return
        if not self._idle.is_set():
            self._hurry.set()
        await self._idle.wait()

    async def stop(self) -> None:
        self._stopping = True
        self._hurry.set()
        self._wake.set()
        await self._task.stop(grace=None)  # it writes what is queued, then ends
        try:
            await self._write_pending()  # anything recorded while stopping
        except Exception as exc:
            log.error(
                "audit: %d rows not written at shut-down (%s)",
                len(self._pending),
                type(exc).__name__,
                exc_info=exc,
            )

    async def _run(self) -> None:
        while True:
            await self._wake.wait()
            if not self._hurry.is_set():
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(self._settle_seconds):
                        await self._hurry.wait()
            self._hurry.clear()
            self._wake.clear()
            try:
                await self._write_pending()
            except Exception as exc:  # the database is away: keep the rows, try again
                log.error("audit append failed (%s); retrying", type(exc).__name__, exc_info=exc)
                if self._stopping:
                    return
                await asyncio.sleep(_RETRY_SECONDS)
                self._wake.set()
                continue
            if self._stopping and not self._pending:
                return

    async def _write_pending(self) -> None:
        while self._pending:
            batch = self._pending[:_BATCH]
            await self.repo.append_many(batch)
            del self._pending[: len(batch)]
        self._idle.set()
