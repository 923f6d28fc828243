"""Counting the transactions that wrote to a table: a listener on every SQLAlchemy engine of
the process (SQLite's writer engine is one of its own), and the writes SQLite's fast path
makes beside the engines (storage.db.sqlite_log, `SQLiteZoneLog.write`), so a test sees
commits whichever way they were made."""

from __future__ import annotations

import contextlib
import sqlite3
from collections.abc import Callable, Iterator
from typing import Any, TypeVar

from sqlalchemy import event
from sqlalchemy.engine import Connection, Engine

from storage.db.sqlite_log import SQLiteZoneLog

T = TypeVar("T")

_MARK = "tests.commits.wrote"
_WRITES = ("INSERT", "UPDATE", "DELETE")


class TableCommits:
    """Committed transactions that wrote (INSERT, UPDATE, DELETE) to `table`."""

    def __init__(self, table: str) -> None:
        self.table = table
        self.count = 0

    def writes(self, statement: str) -> bool:
        words = statement.lstrip().split(None, 1)
        return bool(words) and words[0].upper() in _WRITES and self.table in statement

    def executed(self, conn: Connection, cursor: Any, statement: str, *args: Any) -> None:
        if self.writes(statement):
            conn.info[_MARK] = True

    def committed(self, conn: Connection) -> None:
        if conn.info.pop(_MARK, False):
            self.count += 1

    def rolled_back(self, conn: Connection) -> None:
        conn.info.pop(_MARK, None)


@contextlib.contextmanager
def counting_commits(table: str) -> Iterator[TableCommits]:
    commits = TableCommits(table)
    listeners = (
        ("after_cursor_execute", commits.executed),
        ("commit", commits.committed),
        ("rollback", commits.rolled_back),
    )
    for name, fn in listeners:
        event.listen(Engine, name, fn)
    fast_write = SQLiteZoneLog.write

    async def counted(log: SQLiteZoneLog, job: Callable[[sqlite3.Connection], T]) -> T:
        wrote: list[str] = []

        def traced(conn: sqlite3.Connection) -> T:
            conn.set_trace_callback(lambda sql: wrote.append(sql) if commits.writes(sql) else None)
            try:
                return job(conn)
            finally:
                conn.set_trace_callback(None)

        result = await fast_write(log, traced)
        commits.count += bool(wrote)  # it returned: committed
        return result

    SQLiteZoneLog.write = counted  # type: ignore[method-assign,assignment]
    try:
        yield commits
    finally:
        SQLiteZoneLog.write = fast_write  # type: ignore[method-assign]
        for name, fn in listeners:
            event.remove(Engine, name, fn)


def recording_one_writer(writer: Any) -> list[object] | None:
    """Record the jobs a SummaryWriter hands SQLite's one writer (still run through it); None
    on PostgreSQL, where it has none to go through."""
    run = writer.one_writer
    if run is None:
        return None
    jobs: list[object] = []

    async def recording(job: Any) -> Any:
        jobs.append(job)
        return await run(job)

    writer.one_writer = recording
    return jobs
