"""Plain SQL on a test's database, whichever it is (SQLite file or PostgreSQL), as a separate
reader or writer beside the server: what tests used `sqlite3.connect(file)` for before the
server-level tests also ran on PostgreSQL (issue 15).

SQL uses SQLAlchemy's named parameters (`WHERE id = :id`), which both drivers understand.
`rows`/`execute` are synchronous, for sync code such as `wait_for` predicates and client
callbacks: they run the query in a worker thread with its own event loop, so they block the
calling thread (like sqlite3 did) but never the test's loop's own connections. Use `arows`/
`aexecute` in async tests whose server runs in the same loop and might hold a lock the query
waits for (writes); reads never wait on either database (WAL / MVCC).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine
from sqlalchemy.pool import NullPool

Params = Mapping[str, Any] | None


def database_url(where: str | Path | Any) -> str:
    """The SQLAlchemy URL for a URL, a SQLite file path, or anything with `settings`/a
    `resolved_database_url()` (Settings, LiveServer)."""
    if isinstance(where, Path):
        return f"sqlite+aiosqlite:///{where}"
    if isinstance(where, str):
        return where
    settings = getattr(where, "settings", where)
    return str(settings.resolved_database_url())


def is_postgres(where: str | Path | Any) -> bool:
    return database_url(where).startswith("postgresql")


async def arows(where: str | Path | Any, sql: str, params: Params = None) -> list[tuple[Any, ...]]:
    """Every row the query returns, as plain tuples."""
    engine = create_async_engine(database_url(where), poolclass=NullPool)
    try:
        async with engine.connect() as conn:
            result = await conn.execute(text(sql), dict(params or {}))
            return [tuple(row) for row in result.fetchall()]
    finally:
        await engine.dispose()


async def aexecute(where: str | Path | Any, sql: str, params: Params = None) -> int:
    """Run a statement that changes rows, committed; returns how many rows it touched."""
    engine = create_async_engine(database_url(where), poolclass=NullPool)
    try:
        async with engine.begin() as conn:
            result = await conn.execute(text(sql), dict(params or {}))
            return int(result.rowcount)
    finally:
        await engine.dispose()


async def ascalar(where: str | Path | Any, sql: str, params: Params = None) -> Any:
    """The first column of the only row (count(*) and the like)."""
    (row,) = await arows(where, sql, params)
    return row[0]


def _in_thread(coroutine: Any) -> Any:
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, coroutine).result(timeout=60)


def rows(where: str | Path | Any, sql: str, params: Params = None) -> list[tuple[Any, ...]]:
    return _in_thread(arows(where, sql, params))  # type: ignore[no-any-return]


def execute(where: str | Path | Any, sql: str, params: Params = None) -> int:
    return _in_thread(aexecute(where, sql, params))  # type: ignore[no-any-return]


def scalar(where: str | Path | Any, sql: str, params: Params = None) -> Any:
    return _in_thread(ascalar(where, sql, params))


def first_column(found: Sequence[tuple[Any, ...]]) -> list[Any]:
    return [row[0] for row in found]
