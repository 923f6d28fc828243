"""The zone log's fast path on SQLite: plain `sqlite3` on dedicated threads.

Every edit waits for its log write (persist-before-relay, DESIGN.md §4), so the write's latency
is the server's latency floor. Through SQLAlchemy + aiosqlite one append costs about nine
thread hand-offs (BEGIN, INSERT, COMMIT, cursor and pool chatter), each waking the event
loop. Here an append is one hand-off to a thread that owns its own connection and runs
BEGIN IMMEDIATE; INSERT (executemany); COMMIT in one go; a load is one hand-off to a second
thread with a second connection, which WAL lets read beside the writer. A join's access check,
one indexed read, runs on a third connection right on the event loop: it takes tens of
microseconds, and a hand-off costs more than that (see `first`). `write` gives the
other writes that wait in the committer's queue between the edits' batches (a summary round, a
compaction's write) the same one hand-off.

The connections get the engine's PRAGMAs (storage.db applies them), so a commit here is
exactly as durable as one through the engine. Writes still queue on the engine's writer lock,
so they never race the engine's own writers (compaction, memberships) for SQLite's single
write lock; another process is covered by busy_timeout. Errors come back as SQLAlchemy's
DBAPIError subclasses (IntegrityError, OperationalError), as on the engine path.
"""

from __future__ import annotations

import asyncio
import logging
import queue
import sqlite3
import threading
import weakref
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal, TypeVar

from sqlalchemy import Dialect, Select
from sqlalchemy.exc import DBAPIError

from storage.models import zone_updates_table

log = logging.getLogger(__name__)

T = TypeVar("T")
AnySelect = Select[*tuple[Any, ...]]

# zone_updates has AUTOINCREMENT (storage.models): ids are never reused, even after compaction
# deleted the newest rows, and inside one BEGIN IMMEDIATE transaction (nobody else can insert)
# the rows of one executemany get consecutive ids ending at last_insert_rowid().
_INSERT = "INSERT INTO zone_updates (zone_id, data, created_at, user_id) VALUES (?, ?, ?, ?)"
_SNAPSHOT = "SELECT seq, data FROM zone_snapshots WHERE zone_id = ?"
# Every update still logged: compaction deletes exactly the rows it folds, and with several
# writers one it did not fold may have a lower id than the snapshot's seq.
_TAIL = "SELECT id, data FROM zone_updates WHERE zone_id = ? ORDER BY id"

LoadedRows = tuple[bytes | None, int, tuple[tuple[int, bytes], ...]]
"""(snapshot, snapshot_seq, ((seq, update), ...)) as `ZoneLog.load` returns them."""


@dataclass(frozen=True)
class SQLiteTarget:
    """How to open another connection to the database file an engine uses."""

    database: str
    uri: bool
    # Applies the engine's PRAGMAs to a fresh connection (storage.db owns the list).
    on_connect: Callable[[sqlite3.Connection], None]
    dialect: Dialect

    def connect(self, *, same_thread: bool = True) -> sqlite3.Connection:
        # Autocommit mode: we issue BEGIN / COMMIT ourselves. A worker's connection never
        # leaves the thread that opened it, so check_same_thread stays on; the event loop's is
        # used on one thread too, but may be closed from another (`SQLiteZoneLog.close`).
        conn = sqlite3.connect(
            self.database, uri=self.uri, isolation_level=None, check_same_thread=same_thread
        )
        try:
            self.on_connect(conn)
        except BaseException:
            conn.close()
            raise
        return conn


class _Busy:
    """`_read_here`'s answer when it could not read without waiting."""


_BUSY = _Busy()


def _wrap(exc: Exception, statement: str) -> Exception:
    if isinstance(exc, sqlite3.Error):
        # Same exception classes as the engine path; never the parameters (plan content).
        return DBAPIError.instance(statement, None, exc, sqlite3.Error, hide_parameters=True)
    return exc


def _settle(fut: asyncio.Future[Any], result: Any, exc: BaseException | None) -> None:
    if fut.cancelled():
        return
    if exc is not None:
        fut.set_exception(exc)
    else:
        fut.set_result(result)


_Job = tuple[Callable[[sqlite3.Connection], Any], asyncio.Future[Any], asyncio.AbstractEventLoop]


class _Inbox:
    """A worker's job queue; once closed, nothing more gets in behind the final sentinel."""

    def __init__(self) -> None:
        self.jobs: queue.SimpleQueue[_Job | None] = queue.SimpleQueue()
        self._lock = threading.Lock()
        self._closed = False

    def put(self, job: _Job) -> None:
        with self._lock:
            if self._closed:
                raise RuntimeError("the SQLite zone log is closed (its engine was disposed)")
            self.jobs.put(job)

    def close(self) -> None:
        with self._lock:
            if not self._closed:
                self._closed = True
                self.jobs.put(None)


def _serve(inbox: _Inbox, target: SQLiteTarget) -> None:
    """A worker thread's loop: run jobs in order on one connection until the sentinel None."""
    jobs = inbox.jobs
    conn: sqlite3.Connection | None = None
    try:
        while (job := jobs.get()) is not None:
            fn, fut, loop = job
            result: Any = None
            error: BaseException | None = None
            try:
                if conn is None:  # opened on first use; retried on the next job if it failed
                    conn = target.connect()
                result = fn(conn)
            except BaseException as exc:  # the caller gets every failure
                error = exc
            try:
                loop.call_soon_threadsafe(_settle, fut, result, error)
            except RuntimeError:  # the caller's event loop is closed: nobody is waiting
                pass
            del job, fn, fut, loop, result, error
    finally:
        if conn is not None:
            conn.close()


class _Worker:
    """One thread owning one sqlite3 connection; jobs run one at a time, in submission order."""

    def __init__(self, target: SQLiteTarget, name: str) -> None:
        self._inbox = _Inbox()
        # Daemon, so a never-disposed engine cannot keep the interpreter alive; the thread
        # holds no reference to this object, and dropping the object stops the thread.
        self.thread = threading.Thread(
            target=_serve, args=(self._inbox, target), name=name, daemon=True
        )
        self.thread.start()
        weakref.finalize(self, self._inbox.close)

    def submit(self, fn: Callable[[sqlite3.Connection], T]) -> asyncio.Future[T]:
        loop = asyncio.get_running_loop()
        fut: asyncio.Future[T] = loop.create_future()
        self._inbox.put((fn, fut, loop))
        return fut

    def stop(self) -> None:
        """Let the thread finish the jobs already queued, close its connection and exit."""
        self._inbox.close()


class SQLiteZoneLog:
    """Append to and load zone logs on one SQLite file; see the module docstring."""

    def __init__(self, target: SQLiteTarget, write_lock: asyncio.Lock) -> None:
        self._target = target
        self._write_lock = write_lock
        created_at = zone_updates_table.c.created_at.type
        # The column's own bind processing (UTCDateTime, then SQLite's DATETIME text format),
        # so rows written here read back through the ORM like rows written through it.
        self._stamp: Callable[[datetime], Any] | None = created_at.dialect_impl(
            target.dialect
        ).bind_processor(target.dialect)
        self._writer: _Worker | None = None
        self._reader: _Worker | None = None
        self._closed = False
        self._threads_lock = threading.Lock()
        self._compiled: dict[int, _Compiled] = {}
        # `first`'s connection, on the thread that first asked (the event loop's).
        self._here: sqlite3.Connection | None = None
        self._here_thread: int | None = None

    def _started(self, worker: _Worker | None, role: str) -> _Worker:
        if worker is not None:
            return worker  # raises on submit if closed meanwhile
        with self._threads_lock:
            if self._closed:
                raise RuntimeError("the SQLite zone log is closed (its engine was disposed)")
            worker = self._writer if role == "writer" else self._reader
            if worker is None:
                worker = _Worker(self._target, f"samplan-sqlite-{role}")
                if role == "writer":
                    self._writer = worker
                else:
                    self._reader = worker
            return worker

    async def append(
        self,
        items: Sequence[tuple[int, bytes]],
        created_at: datetime,
        authors: Sequence[int | None] | None = None,
    ) -> list[int]:
        """Insert (zone_id, update) rows, each with its author, in one durable transaction;
        return their ids in order."""
        stamp = self._stamp(created_at) if self._stamp is not None else created_at
        rows: list[tuple[int, bytes, Any, int | None]]
        if authors is None:
            rows = [(zone_id, data, stamp, None) for zone_id, data in items]
        else:
            rows = [
                (zone_id, data, stamp, author)
                for (zone_id, data), author in zip(items, authors, strict=True)
            ]
        writer = self._started(self._writer, "writer")
        # The engine's writer lock: queue behind compactions and membership writes in the event
        # loop, not in SQLite's sleep-and-retry busy handler. (A caller cancelled mid-commit
        # lets go of it before the thread is done; the next writer then waits in SQLite's busy
        # handler instead: slower, still correct.)
        async with self._write_lock:
            return await writer.submit(lambda conn: _append(conn, rows))

    def stamp(self, moment: datetime) -> Any:
        """`moment` as a UTCDateTime column stores it (the column type's own bind processing),
        for rows a `write` inserts."""
        return self._stamp(moment) if self._stamp is not None else moment

    async def write(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        """Run `fn` (plain sqlite3 statements) as ONE durable write transaction on the
        writer's connection, in one hand-off, under the engine's writer lock; return what it
        returns. For a write that waits in the committer's queue between the edits' batches:
        there it costs its own transaction, not the engine path's hand-offs per statement,
        each waiting for a busy event loop (a summary round held the edits behind it 5-10 ms
        that way, a compaction's write 20-40 ms; issue 16)."""
        writer = self._started(self._writer, "writer")
        async with self._write_lock:
            return await writer.submit(lambda conn: _in_transaction(conn, fn))

    async def load(self, zone_id: int) -> LoadedRows:
        """Read the snapshot and the updates after it in one read transaction."""
        reader = self._started(self._reader, "reader")
        return await reader.submit(lambda conn: _load(conn, zone_id))

    async def run(
        self, role: Literal["writer", "reader"], fn: Callable[[sqlite3.Connection], T]
    ) -> T:
        """Run `fn` on the writer's or the reader's connection, in its thread (diagnostics,
        tests). Writes belong in `append`, which takes the engine's writer lock."""
        worker = self._started(self._writer if role == "writer" else self._reader, role)
        return await worker.submit(fn)

    async def first(
        self, statement: AnySelect, params: Mapping[str, Any]
    ) -> tuple[Any, ...] | None:
        """The first row of a read-only Core `statement` (with named `bindparam`s filled from
        `params`), each column converted by its type as the engine would convert it. Through
        the engine a read is about nine hand-offs (BEGIN, cursor, execute, fetch, close,
        rollbacks), and a WebSocket join waits for its access check before the newcomer gets
        anything (issue 16, "late join"). One statement in autocommit mode reads one
        snapshot, so no BEGIN is needed.

        It runs right here, on the caller's thread (the event loop's), never waiting for a
        lock: one indexed read takes tens of microseconds, while a hand-off to the reader's
        thread waits for that thread to get the GIL, which the busy loop holds, and then for
        the loop to wake (0.4-0.5 ms a join; docs/BENCHMARKS.md, "Late join, third pass").
        WAL readers do not wait for writers; when SQLite would make it wait all the same (a
        checkpoint restarting the log, another process's exclusive lock) the read goes to
        the reader's thread, which may wait there without holding up the loop.
        `statement` should be a module-level constant: its compiled form is kept per object.
        """
        compiled = self._compiled.get(id(statement))
        if compiled is None or compiled[0] is not statement:
            compiled = self._compiled[id(statement)] = _compile(statement, self._target.dialect)
        _, sql, names, fixed, processors = compiled
        values = tuple(params[name] if name in params else fixed[name] for name in names)
        raw = self._read_here(sql, values)
        if isinstance(raw, _Busy):
            reader = self._started(self._reader, "reader")
            raw = await reader.submit(lambda conn: _first(conn, sql, values))
        if raw is None:
            return None
        return tuple(
            value if process is None else process(value)
            for value, process in zip(raw, processors, strict=True)
        )

    def _read_here(self, sql: str, values: tuple[Any, ...]) -> tuple[Any, ...] | None | _Busy:
        conn = self._here
        if conn is None or self._here_thread != threading.get_ident():
            if conn is not None:
                return _BUSY  # another thread's loop: the reader's thread serves it
            with self._threads_lock:
                if self._closed:
                    raise RuntimeError("the SQLite zone log is closed (its engine was disposed)")
                conn = self._here = self._target.connect(same_thread=False)
                self._here_thread = threading.get_ident()
            conn.execute("PRAGMA busy_timeout=0")  # SQLITE_BUSY at once, never a sleep here
        try:
            return _first(conn, sql, values)
        except DBAPIError as exc:
            if isinstance(exc.orig, sqlite3.OperationalError):
                return _BUSY  # locked, or anything else: the reader's thread says what it is
            raise

    async def checkpoint(self) -> tuple[int, int, int]:
        """`PRAGMA wal_checkpoint(TRUNCATE)` on the writer's connection, under the engine's
        writer lock (so none of our own writers is mid-transaction); returns SQLite's
        (busy, WAL frames, frames copied). Runs outside any transaction, as it must."""
        writer = self._started(self._writer, "writer")
        async with self._write_lock:
            return await writer.submit(_checkpoint)

    def on_loop(self) -> bool:
        """Whether `first` has a connection on the calling thread (diagnostics, tests)."""
        return self._here is not None and self._here_thread == threading.get_ident()

    def threads(self) -> list[threading.Thread]:
        return [w.thread for w in (self._writer, self._reader) if w is not None]

    def close(self) -> None:
        """Stop both threads after the jobs already queued, and wait for them (milliseconds:
        at most the commit in flight). Later calls raise; storage.db makes a new instance."""
        with self._threads_lock:
            self._closed = True
            workers = [w for w in (self._writer, self._reader) if w is not None]
            self._writer = self._reader = None
            here, self._here, self._here_thread = self._here, None, None
        if here is not None:
            here.close()
        for worker in workers:
            worker.stop()
        for worker in workers:
            if worker.thread is not threading.current_thread():
                worker.thread.join()


def _append(conn: sqlite3.Connection, rows: list[tuple[int, bytes, Any, int | None]]) -> list[int]:
    n = len(rows)
    statement = "BEGIN IMMEDIATE"
    try:
        conn.execute(statement)
        statement = _INSERT
        if n == 1:
            cursor = conn.execute(_INSERT, rows[0])
            inserted, last = cursor.rowcount, cursor.lastrowid
        else:
            inserted = conn.executemany(_INSERT, rows).rowcount
            statement = "SELECT last_insert_rowid()"
            (last,) = conn.execute(statement).fetchone()
        if inserted != n or last is None:
            raise RuntimeError(f"inserted {inserted} rows for {n} updates")
        statement = "COMMIT"
        conn.execute(statement)
    except Exception as exc:
        _rollback(conn)
        raise _wrap(exc, statement) from exc
    except BaseException:
        _rollback(conn)
        raise
    first = last - n + 1
    return list(range(first, last + 1))


def _in_transaction(conn: sqlite3.Connection, fn: Callable[[sqlite3.Connection], T]) -> T:
    try:
        conn.execute("BEGIN IMMEDIATE")
        result = fn(conn)
        conn.execute("COMMIT")
    except sqlite3.Error as exc:
        _rollback(conn)
        raise _wrap(exc, "a write transaction") from exc
    except BaseException:  # the caller's own errors (NotFound, ValueError) as they are
        _rollback(conn)
        raise
    return result


def _load(conn: sqlite3.Connection, zone_id: int) -> LoadedRows:
    # One read transaction: WAL pins its snapshot at the first SELECT, so a compaction that
    # commits between the two SELECTs can neither hide updates nor show them twice.
    statement = "BEGIN"
    try:
        conn.execute(statement)
        statement = _SNAPSHOT
        snap = conn.execute(_SNAPSHOT, (zone_id,)).fetchone()
        seq = int(snap[0]) if snap is not None else 0
        statement = _TAIL
        updates = tuple(conn.execute(_TAIL, (zone_id,)).fetchall())
        statement = "COMMIT"
        conn.execute(statement)
    except Exception as exc:
        _rollback(conn)
        raise _wrap(exc, statement) from exc
    except BaseException:
        _rollback(conn)
        raise
    return (snap[1] if snap is not None else None), seq, updates


# (statement, SQL text, positional parameter names, the statement's own values, per-column
# result processors): what `SQLiteZoneLog.first` needs, made once per statement.
_Compiled = tuple[
    AnySelect,
    str,
    tuple[str, ...],
    dict[str, Any],
    tuple[Callable[[Any], Any] | None, ...],
]


def _compile(statement: AnySelect, dialect: Dialect) -> _Compiled:
    compiled = statement.compile(dialect=dialect)
    if compiled._bind_processors or compiled.positiontup is None:  # noqa: SLF001
        # Every parameter here is a plain str/int: a type that converts on the way in would
        # need the engine's path.
        raise ValueError("statement needs bind processing; run it through the engine")
    processors = tuple(
        column.type.dialect_impl(dialect).result_processor(dialect, None)
        for column in statement.selected_columns
    )
    names = tuple(compiled.positiontup)
    return statement, str(compiled), names, dict(compiled.params), processors


def _first(conn: sqlite3.Connection, sql: str, values: tuple[Any, ...]) -> tuple[Any, ...] | None:
    try:
        cursor = conn.execute(sql, values)
        try:
            rows = cursor.fetchmany(1)
        finally:
            cursor.close()  # an open statement would keep its read snapshot (and the WAL)
    except Exception as exc:
        raise _wrap(exc, sql) from exc
    return tuple(rows[0]) if rows else None


def _checkpoint(conn: sqlite3.Connection) -> tuple[int, int, int]:
    statement = "PRAGMA wal_checkpoint(TRUNCATE)"
    try:
        busy, frames, copied = conn.execute(statement).fetchone()
    except sqlite3.Error as exc:
        raise _wrap(exc, statement) from exc
    return int(busy), int(frames), int(copied)


def _rollback(conn: sqlite3.Connection) -> None:
    if conn.in_transaction:
        try:
            conn.execute("ROLLBACK")
        except sqlite3.Error:
            # The connection is unusable if even ROLLBACK fails; the next BEGIN says so.
            log.exception("sqlite rollback failed")
