"""Engines, sessions and the write path: the one module that knows SQLite's quirks.

SQLite is the embedded default and PostgreSQL the production database (DESIGN.md §5). Every
repository opens its transactions through `write_session` / `write_connection` /
`snapshot_connection` so the differences between the two stay in this package. The zone log's
hot path on SQLite bypasses SQLAlchemy altogether (`sqlite_zone_log`, storage.db.sqlite_log).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import sqlite3
import time
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Engine, Table, event, insert, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DisconnectionError
from sqlalchemy.ext.asyncio import (
    AsyncConnection,
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)
from sqlalchemy.pool import ConnectionPoolEntry

from storage.db.sqlite_log import SQLiteTarget, SQLiteZoneLog
from storage.errors import InvalidValue

log = logging.getLogger(__name__)

SQLITE_SYNCHRONOUS_MODES = ("FULL", "NORMAL")
"""FULL survives power loss (the default, DESIGN.md §4); NORMAL only a process crash."""

SQLITE_BUSY_TIMEOUT_MS = 10_000

# PostgreSQL: connections kept open per process, and how many more a burst may open (each
# new one costs a TCP and auth exchange and asyncpg's type set-up, several ms of CPU).
POSTGRES_POOL_SIZE = 10
POSTGRES_MAX_OVERFLOW = 20

_WRITE_OPTION = "samplan_write"


@dataclass
class _EngineInfo:
    sqlite_synchronous: str | None
    # SQLite has one writer per file. Letting several coroutines race for it makes all but one
    # wait in SQLite's sleep-and-retry busy handler (latency in 1-100 ms steps), or fail with
    # "database is locked" when a deferred transaction tries to upgrade to a writer. Queueing
    # writers in the event loop instead is cheap and fair. PostgreSQL needs no such lock.
    write_lock: asyncio.Lock | None
    write_engine: AsyncEngine
    snapshot_engine: AsyncEngine
    # No transaction at all (PostgreSQL): one statement, one round trip (`statement_connection`).
    statement_engine: AsyncEngine
    # Where raw connections open the same file with the same PRAGMAs: SQLite files opened by
    # create_engine only (not :memory:, nor engines made elsewhere, whose PRAGMAs we don't know).
    sqlite_target: SQLiteTarget | None = None
    zone_log: SQLiteZoneLog | None = None


# Kept on the Engine itself: the info refers back to the engine (write_engine), so a
# WeakKeyDictionary keyed by the engine would keep every engine, its pool and threads alive.
_INFO_ATTR = "_samplan_storage_info"


def _lookup(engine: Engine) -> _EngineInfo | None:
    info = vars(engine).get(_INFO_ATTR)
    return info if isinstance(info, _EngineInfo) else None


def create_engine(
    url: str, *, sqlite_synchronous: str = "FULL", statement_timeout: float = 0.0
) -> AsyncEngine:
    """Create the async engine for `url` with the durability settings DESIGN.md §4 promises.

    SQL parameters are plan content, names and addresses: `hide_parameters` keeps them out of
    SQLAlchemy's errors (IntegrityError's text) and of its statement log.

    `statement_timeout` (seconds, 0: none) bounds every statement on PostgreSQL
    (`postgres_timeouts`); SQLite has its busy timeout and no network to hang on.
    """
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite":
        engine = create_async_engine(
            url,
            pool_size=POSTGRES_POOL_SIZE,
            max_overflow=POSTGRES_MAX_OVERFLOW,
            # The connection used last goes out first: the few a node keeps busy stay warm
            # (no idle ping, asyncpg's statements prepared), and the rest may idle.
            pool_use_lifo=True,
            pool_recycle=1800,
            hide_parameters=True,
            connect_args=postgres_timeouts(statement_timeout),
        )
        _ping_when_idle(engine)
        _register(engine, sqlite_synchronous=None)
        return engine

    synchronous = sqlite_synchronous.strip().upper()
    if synchronous not in SQLITE_SYNCHRONOUS_MODES:
        raise InvalidValue(
            f"SQLite synchronous must be one of {', '.join(SQLITE_SYNCHRONOUS_MODES)}, "
            f"not {sqlite_synchronous!r}"
        )
    database = parsed.database or ""
    if database and database != ":memory:" and not database.startswith("file:"):
        Path(database).expanduser().parent.mkdir(parents=True, exist_ok=True)

    engine = create_async_engine(url, hide_parameters=True)
    event.listen(engine.sync_engine, "connect", _sqlite_on_connect(synchronous))
    event.listen(engine.sync_engine, "begin", _sqlite_on_begin)
    event.listen(engine.sync_engine, "engine_disposed", _sqlite_on_dispose)
    info = _register(engine, sqlite_synchronous=synchronous)
    info.sqlite_target = _sqlite_target(engine, synchronous)
    return engine


# How much longer than PostgreSQL's own statement_timeout the client waits for an answer: a
# server that is there cancels the statement itself (and says so) before the client gives up.
CLIENT_TIMEOUT_MARGIN_SECONDS = 2.0


def postgres_timeouts(statement_timeout: float) -> dict[str, Any]:
    """asyncpg's connect arguments bounding every statement to about `statement_timeout`.

    Without a bound a page waits for ever on a row lock held by a stuck transaction, or on a
    database whose packets vanish, and each such request holds a pooled connection until the
    pool is empty and every page of the node waits. Two bounds, as the two cases differ:
    PostgreSQL's `statement_timeout` cancels a statement that runs or waits for a lock too
    long (QueryCanceledError, the connection stays usable); asyncpg's `command_timeout`, a
    little longer, gives up on a database that does not answer at all, and the connect
    timeout does the same for a new connection. Both surface as "database unavailable" (a
    503 for a page, storage.errors). Migrations open their own engine without these: a schema
    change on a large table may rightly take minutes."""
    if statement_timeout <= 0:
        return {}
    client = statement_timeout + CLIENT_TIMEOUT_MARGIN_SECONDS
    return {
        "server_settings": {"statement_timeout": str(round(statement_timeout * 1000))},
        "command_timeout": client,
        "timeout": client,
    }


# A pooled connection unused for longer than this is pinged before it is handed out.
PING_IDLE_SECONDS = 1.0


def _ping_when_idle(engine: AsyncEngine) -> None:
    """Ping a pooled connection before use only when it sat idle, not on every checkout.

    `pool_pre_ping` pings on every checkout, and asyncpg's ping is three round trips (BEGIN,
    `;`, ROLLBACK): the group commit, which checks a connection out per batch, paid six round
    trips per durable write instead of three, the most of its time on a busy node (and two
    nodes each commit their own writers' batches: docs/BENCHMARKS.md, "Two nodes"). A
    connection that was used a moment ago is as good as a ping; one that broke since fails
    its statement, SQLAlchemy invalidates the pool on that disconnect error, and that write
    fails like any write to a database that went away (its room's writers get 1013 and
    come back)."""
    pool = engine.sync_engine.pool

    def on_checkin(_dbapi_connection: Any, record: ConnectionPoolEntry) -> None:
        record.info["samplan_idle_since"] = time.monotonic()

    def on_checkout(dbapi_connection: Any, record: ConnectionPoolEntry, _proxy: Any) -> None:
        since = record.info.get("samplan_idle_since")
        if since is None or time.monotonic() - since < PING_IDLE_SECONDS:
            return  # fresh from connect, or in use a moment ago
        try:
            dbapi_connection.ping()
        except Exception as exc:
            # The pool throws this connection away and checks out (or opens) another.
            raise DisconnectionError(f"a pooled connection failed its ping: {exc!r}") from exc

    event.listen(pool, "checkin", on_checkin)
    event.listen(pool, "checkout", on_checkout)


def _sqlite_pragmas(dbapi_connection: Any, synchronous: str) -> None:
    # pysqlite's legacy transaction control never BEGINs before SELECT or DDL, so reads are not
    # repeatable and migrations are not atomic. Take BEGIN over ourselves (the recipe in
    # SQLAlchemy's SQLite docs, "Enabling Non-Legacy SQLite Transactional Modes"); the
    # PRAGMAs below also need autocommit, as journal_mode cannot change inside a transaction.
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    try:
        cursor.execute("PRAGMA journal_mode=WAL")
        mode = cursor.fetchone()[0]
        if str(mode).lower() != "wal":
            log.warning("sqlite journal_mode is %s, not wal", mode)
        cursor.execute(f"PRAGMA synchronous={synchronous}")
        cursor.execute("PRAGMA foreign_keys=ON")
        # Deleted rows are overwritten with zeros, in their pages and on the freelist, so a
        # deleted plan's health data cannot be read back from the file (ON, not FAST: FAST
        # leaves freelist pages as they were). Costs write I/O only when rows are deleted.
        cursor.execute("PRAGMA secure_delete=ON")
        cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
    finally:
        cursor.close()


def _sqlite_on_connect(synchronous: str) -> Any:
    def on_connect(dbapi_connection: Any, _record: ConnectionPoolEntry) -> None:
        _sqlite_pragmas(dbapi_connection, synchronous)

    return on_connect


def _sqlite_target(engine: AsyncEngine, synchronous: str) -> SQLiteTarget | None:
    # The dialect's own reading of the URL (absolute path, file: URIs), so the raw connections
    # open exactly the file the engine's connections open.
    args, kwargs = engine.dialect.create_connect_args(engine.url)
    database = str(args[0]) if args else str(kwargs.get("database", ":memory:"))
    uri = bool(kwargs.get("uri", False))
    if database in ("", ":memory:") or (
        uri and ("mode=memory" in database or database.startswith("file::memory:"))
    ):
        return None  # another connection would open another, empty database

    def on_connect(conn: sqlite3.Connection) -> None:
        _sqlite_pragmas(conn, synchronous)

    return SQLiteTarget(database, uri, on_connect, engine.dialect)


def _sqlite_on_dispose(engine: Engine) -> None:
    # Stop the zone log's threads with the engine's pool (tests make and drop many engines).
    # The next use after a dispose starts new ones, as the pool reconnects.
    info = _lookup(engine)
    if info is not None and info.zone_log is not None:
        zone_log, info.zone_log = info.zone_log, None
        zone_log.close()


def _sqlite_on_begin(conn: Connection) -> None:
    # A write transaction takes the write lock up front (IMMEDIATE): a deferred one that reads
    # first and then writes gets SQLITE_BUSY at once, without the busy timeout, if another
    # connection (a CLI command, say) committed in between.
    if conn.get_execution_options().get(_WRITE_OPTION):
        conn.exec_driver_sql("BEGIN IMMEDIATE")
    else:
        conn.exec_driver_sql("BEGIN")


def _register(engine: AsyncEngine, *, sqlite_synchronous: str | None) -> _EngineInfo:
    sqlite = engine.dialect.name == "sqlite"
    write_engine = engine.execution_options(**{_WRITE_OPTION: True})
    # A load reads the snapshot and then the log after it; under PostgreSQL's default READ
    # COMMITTED a compaction committing between the two reads would hide updates. SQLite in
    # WAL mode already reads from one snapshot per transaction.
    snapshot_engine = (
        engine if sqlite else engine.execution_options(isolation_level="REPEATABLE READ")
    )
    info = _EngineInfo(
        sqlite_synchronous=sqlite_synchronous,
        write_lock=asyncio.Lock() if sqlite else None,
        write_engine=write_engine,
        snapshot_engine=snapshot_engine,
        statement_engine=engine
        if sqlite
        else engine.execution_options(isolation_level="AUTOCOMMIT"),
    )
    setattr(engine.sync_engine, _INFO_ATTR, info)
    return info


def _info(engine: AsyncEngine) -> _EngineInfo:
    info = _lookup(engine.sync_engine)
    if info is None:
        # An engine made elsewhere (a test, a tool): still serialise its SQLite writers.
        info = _register(engine, sqlite_synchronous=None)
    return info


def sqlite_zone_log(engine: AsyncEngine) -> SQLiteZoneLog | None:
    """The zone log's raw SQLite fast path for `engine`, or None where there is none
    (PostgreSQL, in-memory SQLite, engines not made by `create_engine`).

    Its threads start on first use and stop when the engine is disposed.
    """
    info = _info(engine)
    zone_log = info.zone_log
    if zone_log is None:
        if info.sqlite_target is None or info.write_lock is None:
            return None
        zone_log = info.zone_log = SQLiteZoneLog(info.sqlite_target, info.write_lock)
    return zone_log


def is_sqlite(bind: AsyncEngine | Engine | AsyncConnection | Connection) -> bool:
    return bind.dialect.name == "sqlite"


def durability_mode(engine: AsyncEngine) -> str:
    """Describe what a commit survives, for the benchmark to print beside its numbers."""
    if is_sqlite(engine):
        synchronous = _info(engine).sqlite_synchronous or "unknown"
        return f"sqlite WAL synchronous={synchronous}"
    if engine.dialect.name == "postgresql":
        return "postgresql fsync"
    return engine.dialect.name


def make_sessionmaker(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    # Repositories hand rows out after commit; expiring them would make every later
    # attribute access try to lazy-load on a closed session.
    return async_sessionmaker(engine, expire_on_commit=False)


async def warm_pool(engine: AsyncEngine) -> int:
    """Open the connections the pool keeps (its `pool_size`) now, at start-up, and return how
    many. Opened later, each is opened on the event loop when a request first needs it: an
    aiosqlite connection starts its thread there and waits until the thread runs, which held
    the loop 10-55 ms apiece when 500 clients joined at once (docs/BENCHMARKS.md, "Event-loop
    stalls: what ran"). A pool without a fixed size (SQLite in memory) is left as it is."""
    size = getattr(engine.pool, "size", None)
    wanted = size() if callable(size) else 0
    opened = [await engine.connect() for _ in range(wanted)]
    for connection in opened:
        await connection.close()  # back into the pool, open
    return len(opened)


def engine_of(sessionmaker: async_sessionmaker[AsyncSession]) -> AsyncEngine:
    """Recover the engine a sessionmaker was made for; repositories are given only the latter."""
    bind = sessionmaker.kw.get("bind")
    if not isinstance(bind, AsyncEngine):
        raise RuntimeError(
            "storage repositories need an async_sessionmaker bound to an AsyncEngine"
        )
    return bind


@contextlib.asynccontextmanager
async def _writer_turn(engine: AsyncEngine) -> AsyncIterator[_EngineInfo]:
    info = _info(engine)
    if info.write_lock is None:
        yield info
    else:
        async with info.write_lock:
            yield info


@contextlib.asynccontextmanager
async def write_connection(engine: AsyncEngine) -> AsyncIterator[AsyncConnection]:
    """A Core write transaction, committed (durably) when the block exits without error.

    Never nest write transactions in one task: on SQLite the writer lock is not re-entrant.
    """
    async with _writer_turn(engine) as info, info.write_engine.begin() as conn:
        yield conn


@contextlib.asynccontextmanager
async def write_session(
    sessionmaker: async_sessionmaker[AsyncSession],
) -> AsyncIterator[AsyncSession]:
    """An ORM write transaction, committed (durably) when the block exits without error."""
    async with (
        _writer_turn(engine_of(sessionmaker)) as info,
        sessionmaker(bind=info.write_engine) as session,
        session.begin(),
    ):
        yield session


@contextlib.asynccontextmanager
async def snapshot_connection(engine: AsyncEngine) -> AsyncIterator[AsyncConnection]:
    """A read transaction in which every statement sees the same committed state."""
    async with _info(engine).snapshot_engine.begin() as conn:
        yield conn


@contextlib.asynccontextmanager
async def statement_connection(engine: AsyncEngine) -> AsyncIterator[AsyncConnection]:
    """A connection for one read statement, outside any transaction on PostgreSQL: a statement
    sees one snapshot by itself, and without BEGIN and ROLLBACK around it it is one round trip
    instead of three (a join's access check waits for it). Never for writes or several
    statements that must agree."""
    async with _info(engine).statement_engine.connect() as conn:
        yield conn


async def insert_returning_ids(
    conn: AsyncConnection, table: Table, rows: list[dict[str, Any]]
) -> list[int]:
    """Insert `rows` in one statement and return their autoincrement ids in input order.

    Call inside `write_connection`. PostgreSQL gets SQLAlchemy's ordered "insertmanyvalues"
    (INSERT ... SELECT ... ORDER BY ... RETURNING). On SQLite SQLAlchemy cannot tie RETURNING
    rows to parameter sets, so with sort_by_parameter_order it silently falls back to one
    INSERT per row (about 0.2 ms each); instead we hand out the ids ourselves: the write
    transaction began IMMEDIATE, so nobody (no other process either) can insert between
    reading the table's AUTOINCREMENT counter and our executemany.
    """
    (pk,) = table.primary_key.columns
    if len(rows) == 1 or not is_sqlite(conn):  # one row needs no ordering: one round trip
        stmt = insert(table).returning(pk, sort_by_parameter_order=True)
        return [int(i) for i in (await conn.execute(stmt, rows)).scalars()]
    if not table.kwargs.get("sqlite_autoincrement"):
        raise RuntimeError(f"{table.name} needs sqlite_autoincrement for insert_returning_ids")
    sync = conn.sync_connection
    if sync is None or not sync.get_execution_options().get(_WRITE_OPTION):
        raise RuntimeError("insert_returning_ids must run inside write_connection")
    last = (
        await conn.execute(
            text("SELECT seq FROM sqlite_sequence WHERE name = :name"), {"name": table.name}
        )
    ).scalar_one_or_none()
    first = int(last or 0) + 1
    ids = list(range(first, first + len(rows)))
    await conn.execute(
        insert(table), [{**row, pk.name: i} for row, i in zip(rows, ids, strict=True)]
    )
    return ids


async def scrub_deleted(engine: AsyncEngine) -> None:
    """After deleting rows whose bytes must not linger (a deleted plan), on SQLite: copy the
    write-ahead log into the database file and truncate the log to zero bytes.

    secure_delete (set on every connection) has already zeroed the deleted rows in the pages;
    older images of those pages stay in the -wal file until it is rewritten, and this removes
    them. It waits (busy_timeout) for readers of other connections to finish; if one still
    holds an old snapshot, the log is not truncated and a warning says so. A no-op on
    PostgreSQL (see `vacuum`) and on an in-memory database.
    """
    zone_log = sqlite_zone_log(engine)
    if zone_log is None:
        return
    busy, frames, copied = await zone_log.checkpoint()
    if busy:
        log.warning(
            "sqlite checkpoint after delete incomplete: %s of %s WAL frames copied", copied, frames
        )
    else:
        log.info("sqlite WAL checkpointed and truncated after delete")


async def vacuum(engine: AsyncEngine, tables: Sequence[str]) -> bool:
    """PostgreSQL: plain VACUUM of `tables` (after a purge), so dead rows of deleted plans are
    pruned now rather than whenever autovacuum comes round. Plain VACUUM never blocks reads or
    writes (it takes SHARE UPDATE EXCLUSIVE), unlike VACUUM FULL. Returns False on SQLite,
    where `scrub_deleted` is what matters.
    """
    if is_sqlite(engine):
        return False
    async with engine.connect() as conn:
        # VACUUM cannot run inside a transaction block.
        auto = await conn.execution_options(isolation_level="AUTOCOMMIT")
        for table in tables:
            if not table.isidentifier():
                raise InvalidValue(f"not a table name: {table!r}")
            await auto.exec_driver_sql(f'VACUUM (ANALYZE) "{table}"')
    log.info("vacuumed %s", ", ".join(tables))
    return True


def lock_for_migration(connection: Connection) -> None:
    """Make concurrent migrators (several nodes starting at once) take turns.

    On SQLite the write transaction's BEGIN IMMEDIATE already does; PostgreSQL gets a
    transaction-scoped advisory lock.
    """
    if connection.dialect.name == "postgresql":
        connection.exec_driver_sql("SELECT pg_advisory_xact_lock(7405611)")
