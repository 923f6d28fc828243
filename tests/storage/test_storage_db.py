from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import Connection, inspect

from storage.db import create_engine, durability_mode, is_sqlite, write_connection
from storage.errors import InvalidValue


async def _pragma(url: str, name: str, **kwargs: str) -> object:
    engine = create_engine(url, **kwargs)
    try:
        async with engine.connect() as conn:
            return (await conn.exec_driver_sql(f"PRAGMA {name}")).scalar_one()
    finally:
        await engine.dispose()


async def test_sqlite_pragmas_are_in_effect(sqlite_url: str) -> None:
    assert await _pragma(sqlite_url, "journal_mode") == "wal"
    assert await _pragma(sqlite_url, "synchronous") == 2  # FULL
    assert await _pragma(sqlite_url, "synchronous", sqlite_synchronous="normal") == 1
    assert await _pragma(sqlite_url, "foreign_keys") == 1
    assert await _pragma(sqlite_url, "busy_timeout") == 10000


def test_sqlite_synchronous_is_validated(sqlite_url: str) -> None:
    with pytest.raises(InvalidValue, match="FULL, NORMAL"):
        create_engine(sqlite_url, sqlite_synchronous="OFF")


async def test_parent_directory_is_created(tmp_path: Path) -> None:
    path = tmp_path / "a" / "b" / "db.sqlite3"
    engine = create_engine(f"sqlite+aiosqlite:///{path}")
    try:
        async with engine.connect() as conn:
            await conn.exec_driver_sql("SELECT 1")
    finally:
        await engine.dispose()
    assert path.exists()


async def test_durability_mode(sqlite_url: str) -> None:
    full = create_engine(sqlite_url)
    normal = create_engine(sqlite_url, sqlite_synchronous="NORMAL")
    pg = create_engine("postgresql+asyncpg://nobody@127.0.0.1:1/none")
    try:
        assert is_sqlite(full) and not is_sqlite(pg)
        assert durability_mode(full) == "sqlite WAL synchronous=FULL"
        assert durability_mode(normal) == "sqlite WAL synchronous=NORMAL"
        assert durability_mode(pg) == "postgresql fsync"
    finally:
        for engine in (full, normal, pg):
            await engine.dispose()


async def test_sqlite_ddl_is_transactional(sqlite_url: str) -> None:
    """pysqlite's legacy mode would have auto-committed the CREATE TABLE; our BEGIN does not."""
    engine = create_engine(sqlite_url)
    try:
        with pytest.raises(RuntimeError, match="roll back"):
            async with write_connection(engine) as conn:
                await conn.exec_driver_sql("CREATE TABLE t (x INTEGER)")
                raise RuntimeError("roll back")

        def tables(conn: Connection) -> list[str]:
            return inspect(conn).get_table_names()

        async with engine.connect() as conn:
            assert "t" not in await conn.run_sync(tables)
    finally:
        await engine.dispose()


async def test_sqlite_reads_are_repeatable(sqlite_url: str) -> None:
    """A read transaction sees one snapshot even while another connection commits."""
    engine = create_engine(sqlite_url)
    try:
        async with write_connection(engine) as conn:
            await conn.exec_driver_sql("CREATE TABLE t (x INTEGER)")
        async with engine.begin() as reader:
            first = (await reader.exec_driver_sql("SELECT count(*) FROM t")).scalar_one()
            async with write_connection(engine) as writer:
                await writer.exec_driver_sql("INSERT INTO t VALUES (1)")
            again = (await reader.exec_driver_sql("SELECT count(*) FROM t")).scalar_one()
        assert first == again == 0
    finally:
        await engine.dispose()
