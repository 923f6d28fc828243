"""Counting the transactions that wrote to a table: a listener on every SQLAlchemy engine of
the process (SQLite's writer engine is one of its own), so a test sees commits whichever
engine made them."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import Connection, Engine

_MARK = "tests.commits.wrote"


class TableCommits:
    """Committed transactions that wrote (INSERT, UPDATE, DELETE) to `table`."""

    def __init__(self, table: str) -> None:
        self.table = table
        self.count = 0

    def executed(self, conn: Connection, cursor: Any, statement: str, *args: Any) -> None:
        words = statement.lstrip().split(None, 1)
        if words and words[0].upper() in ("INSERT", "UPDATE", "DELETE"):
            if self.table in statement:
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
    try:
        yield commits
    finally:
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
