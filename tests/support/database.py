"""Plain SQL on a test's database, whichever it is (SQLite file or PostgreSQL), as a separate
reader or writer beside the server: what tests used `sqlite3.connect(file)` for before the
server-level tests also ran on PostgreSQL (issue 15).

SQL uses SQLAlchemy's named parameters (`WHERE id = :id`, params a mapping), which both drivers
understand; sqlite3's `?` with a sequence of params also works (rewritten to named ones).
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

Params = Mapping[str, Any] | Sequence[Any] | None


def _named(sql: str, params: Params) -> tuple[str, dict[str, Any]]:
    """`?` placeholders with positional params become `:p0`, `:p1`, … for text()."""
    if params is None:
        return sql, {}
    if isinstance(params, Mapping):
        return sql, dict(params)
    parts = sql.split("?")
    if len(parts) != len(params) + 1:
        raise ValueError(f"{len(parts) - 1} placeholders for {len(params)} params: {sql}")
    named = parts[0] + "".join(f":p{i}{part}" for i, part in enumerate(parts[1:]))
    return named, {f"p{i}": value for i, value in enumerate(params)}


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
            statement, values = _named(sql, params)
            result = await conn.execute(text(statement), values)
            return [tuple(row) for row in result.fetchall()]
    finally:
        await engine.dispose()


async def aexecute(where: str | Path | Any, sql: str, params: Params = None) -> int:
    """Run a statement that changes rows, committed; returns how many rows it touched."""
    engine = create_async_engine(database_url(where), poolclass=NullPool)
    try:
        async with engine.begin() as conn:
            statement, values = _named(sql, params)
            result = await conn.execute(text(statement), values)
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


def sqlite_file(where: str | Path | Any) -> Path:
    """The file of a SQLite database URL (only for checks about the file itself)."""
    return Path(database_url(where).split("///", 1)[1])


async def holds(where: str | Path | Any, needle: str) -> bool:
    """Whether the database still holds `needle` (UTF-8) anywhere. SQLite: in the bytes of its
    file or write-ahead log, so deleted rows count until secure_delete has zeroed them.
    PostgreSQL: in any row of any of our tables, each row cast to text (bytea as hex, so CRDT
    updates and snapshots are searched too); what VACUUM has not yet reclaimed cannot be seen
    from SQL, so there this checks the rows, not the pages."""
    if not is_postgres(where):
        path = sqlite_file(where)
        wal = path.with_name(path.name + "-wal")

        def read() -> bytes:
            return path.read_bytes() + (wal.read_bytes() if wal.exists() else b"")

        return needle.encode("utf-8") in await asyncio.to_thread(read)
    tables = await arows(
        where, "SELECT tablename FROM pg_tables WHERE schemaname = current_schema()"
    )
    hexed = needle.encode("utf-8").hex()
    for (table,) in tables:
        found = await arows(
            where,
            f'SELECT 1 FROM "{table}" t WHERE strpos(CAST(t AS text), :plain) > 0'
            " OR strpos(CAST(t AS text), :hexed) > 0 LIMIT 1",
            {"plain": needle, "hexed": hexed},
        )
        if found:
            return True
    return False
