"""One statement straight on asyncpg, for the zone log's hot paths on PostgreSQL.

Every edit waits for its log write (persist-before-relay, DESIGN.md §4). Through SQLAlchemy a
batch was three round trips (BEGIN, the INSERT, COMMIT) and about 580 µs of the node's CPU;
one statement outside a transaction commits by itself, as durably (PostgreSQL flushes its
WAL before it answers, `synchronous_commit` on), in one round trip and about 200 µs
(docs/BENCHMARKS.md, "PostgreSQL: an edit's write in one round trip"). A zone's load, two
reads in a REPEATABLE READ transaction, is one statement too: a statement reads one snapshot.
So `fetch` runs one statement on a pooled connection's asyncpg driver, with no transaction
around it.

The connection comes from the engine's pool, so the pool's bounds and the connections'
timeouts (`postgres_timeouts`) hold here as on the engine path. For the edits' appends one
stays checked out between statements while they come often (`_Warm`): a check-out and a
check-in through SQLAlchemy's async layer cost about 100 µs of CPU and of wall time per
statement, each in a new greenlet (measured: 149 µs of CPU against 46 on a connection kept;
docs/BENCHMARKS.md, "PostgreSQL and two nodes under perf"), and a busy node runs hundreds of
these a second. A warm connection idle for `WARM_IDLE_SECONDS`, or held for
`WARM_AT_MOST_SECONDS`, goes back to the pool, whose idle ping and recycling then apply as
before; the engine's disposal closes it. Errors come back as SQLAlchemy's (IntegrityError,
DBAPIError), never with the parameters (plan content); one that broke the connection also
drops it from the pool.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import Engine
from sqlalchemy.exc import DBAPIError, IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

log = logging.getLogger(__name__)

# Below the pool's idle ping (storage.db PING_IDLE_SECONDS): a warm connection is never idle
# long enough to have needed one.
WARM_IDLE_SECONDS = 0.5
# The pool recycles its connections (pool_recycle); one kept warm goes back this often.
WARM_AT_MOST_SECONDS = 60.0

_WARM_ATTR = "_samplan_warm_connection"


class _Warm:
    """At most one pooled connection kept checked out for `fetch(..., keep_warm=True)`, used
    by one statement at a time; a statement that finds it busy checks another out."""

    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine
        self._conn: AsyncConnection | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._busy = False
        self._held_since = 0.0
        self._used = 0.0
        self._timer: asyncio.TimerHandle | None = None
        self._closing: set[asyncio.Task[None]] = set()
        event.listen(engine.sync_engine, "engine_disposed", self._disposed)

    @property
    def connection(self) -> AsyncConnection | None:
        return self._conn

    async def take(self) -> AsyncConnection:
        conn = self._conn
        if conn is not None and not self._busy and self._loop is asyncio.get_running_loop():
            self._busy = True
            return conn
        return await self._engine.connect()

    async def give_back(self, conn: AsyncConnection) -> None:
        """After a statement that left `conn` good: kept warm, or back to the pool."""
        now = time.monotonic()
        if conn is self._conn:
            self._busy = False
            if now - self._held_since < WARM_AT_MOST_SECONDS:
                self._used = now
                return
            self._conn = None
        elif self._conn is None and not conn.invalidated:
            self._conn, self._loop = conn, asyncio.get_running_loop()
            self._busy, self._held_since, self._used = False, now, now
            self._arm()
            return
        await conn.close()

    async def drop(self, conn: AsyncConnection) -> None:
        """After a statement that broke `conn` or was cancelled: never used again from here."""
        if conn is self._conn:
            self._conn, self._busy = None, False
        await conn.close()

    def _arm(self) -> None:
        if self._timer is None and self._loop is not None:
            self._timer = self._loop.call_later(WARM_IDLE_SECONDS, self._release_if_idle)

    def _release_if_idle(self) -> None:
        self._timer = None
        conn = self._conn
        if conn is None:
            return
        idle = time.monotonic() - self._used
        if self._busy or idle < WARM_IDLE_SECONDS:
            self._arm()
            return
        self._conn = None
        task = asyncio.get_running_loop().create_task(conn.close())
        self._closing.add(task)
        task.add_done_callback(self._closing.discard)

    def _disposed(self, _engine: Engine) -> None:
        # Runs inside AsyncEngine.dispose's greenlet, where the sync API can wait on asyncpg:
        # the warm connection is closed, not handed to a pool that is gone.
        conn, self._conn = self._conn, None
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        if conn is not None and conn.sync_connection is not None:
            try:
                conn.sync_connection.invalidate()
            except Exception as exc:  # disposed outside its loop: the driver goes with it
                log.debug("warm connection not closed at disposal: %s", type(exc).__name__)


def warm_driver_connection(engine: AsyncEngine) -> Any | None:
    """The asyncpg connection kept warm for `engine`, if any (tests that watch every statement
    see it besides the pool's check-outs)."""
    conn = _warm(engine).connection
    if conn is None or conn.sync_connection is None:
        return None
    return conn.sync_connection.connection.driver_connection


def _warm(engine: AsyncEngine) -> _Warm:
    # Kept on the sync Engine, like storage.db's info: a dict keyed by engine would keep it.
    found = vars(engine.sync_engine).get(_WARM_ATTR)
    if isinstance(found, _Warm):
        return found
    warm = _Warm(engine)
    setattr(engine.sync_engine, _WARM_ATTR, warm)
    return warm


class _Pooled:
    """`_Warm`'s part for a statement that checks a connection out and gives it back."""

    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine

    async def take(self) -> AsyncConnection:
        return await self._engine.connect()

    async def give_back(self, conn: AsyncConnection) -> None:
        await conn.close()

    async def drop(self, conn: AsyncConnection) -> None:
        await conn.close()


async def fetch(
    engine: AsyncEngine, statement: str, *args: Any, keep_warm: bool = False
) -> list[Any]:
    """The rows of `statement` ($1, $2 ... for `args`), run and committed on its own.

    `keep_warm`: on the connection kept checked out (`_Warm`). For the edits' appends only,
    which the committer runs one at a time, so they always find it free. A load that took it
    made the append beside it check out a cold connection (connect, ping, prepare): measured,
    the longest commit under burst went from 6-14 ms to 30-95 ms while a compaction loaded."""
    # Here, not at the top: a PostgreSQL node has asyncpg, and SQLite never comes here.
    import asyncpg  # type: ignore[import-untyped]

    warm: _Warm | _Pooled = _warm(engine) if keep_warm else _Pooled(engine)
    conn = await warm.take()
    sync = conn.sync_connection
    driver = sync.connection.driver_connection if sync is not None else None
    if driver is None:
        await warm.drop(conn)
        raise RuntimeError("a pooled connection without its driver connection")
    try:
        rows = list(await driver.fetch(statement, *args))
    except asyncpg.IntegrityConstraintViolationError as exc:
        await warm.give_back(conn)
        raise IntegrityError(statement, None, exc, hide_parameters=True) from exc
    except (
        asyncpg.PostgresError,
        asyncpg.InterfaceError,
        # The server ended the connection while it sat idle: its notice arrives as the next
        # statement starts ("cannot switch to state ...").
        asyncpg.exceptions.InternalClientError,
        OSError,
        TimeoutError,
    ) as exc:
        # Refused or cut off by the server (a statement timeout), the connection is still
        # good; lost, closed, or given up on by the client mid-statement, it is not: the
        # pool must never hand it out again.
        lost = driver.is_closed() or not isinstance(exc, asyncpg.PostgresError)
        lost |= isinstance(exc, asyncpg.PostgresConnectionError | asyncpg.AdminShutdownError)
        if lost:
            await conn.invalidate(exc)
            await warm.drop(conn)
        else:
            await warm.give_back(conn)
        raise DBAPIError(
            statement, None, exc, hide_parameters=True, connection_invalidated=lost
        ) from exc
    except BaseException:
        # Cancelled mid-statement, or a failure of our own: back to the pool, whose reset on
        # check-in deals with it, as leaving `async with engine.connect()` did.
        await warm.drop(conn)
        raise
    await warm.give_back(conn)
    return rows
