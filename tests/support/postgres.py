"""A fresh PostgreSQL database for a test, on the server SAMPLAN_TEST_POSTGRES_URL names."""

from __future__ import annotations

import asyncio
import atexit
import concurrent.futures
import contextlib
import os
import secrets
from collections.abc import AsyncIterator, Iterator
from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine
from sqlalchemy.pool import NullPool

from storage.db.postgres_driver import warm_driver_connection

POSTGRES_URL_VARIABLE = "SAMPLAN_TEST_POSTGRES_URL"


# base URL -> this process's migrated template database (see migrated_template)
_TEMPLATES: dict[str, str] = {}
_MADE: list[tuple[str, str]] = []  # (base URL, template) this process created, to drop


@contextlib.asynccontextmanager
async def fresh_postgres_database(base: str, *, migrated: bool = False) -> AsyncIterator[str]:
    """Create a database with a random name, yield its URL, drop it afterwards. `migrated`:
    a copy of a database already at the migrations' head, which saves each test that starts
    a server on PostgreSQL the ~1 s that running every migration takes there."""
    template = await migrated_template(base) if migrated else None
    name = f"samplan_test_{secrets.token_hex(6)}"
    admin = create_async_engine(base, isolation_level="AUTOCOMMIT", poolclass=NullPool)
    try:
        async with admin.connect() as conn:
            copy = f' TEMPLATE "{template}"' if template else ""
            await conn.exec_driver_sql(f'CREATE DATABASE "{name}"{copy}')
        try:
            yield make_url(base).set(database=name).render_as_string(hide_password=False)
        finally:
            async with admin.connect() as conn:
                await conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await admin.dispose()


async def migrated_template(base: str) -> str:
    """A database at the migrations' head, made once per test process (each xdist worker has
    its own, so no two processes ever copy or drop the same one) and dropped at the end of the
    session (drop_templates, from conftest; at exit as a fallback). PostgreSQL copies it with
    CREATE DATABASE … TEMPLATE, which needs nobody connected to it: the migration's own
    engine is gone by then."""
    from storage.migrate import upgrade

    name = _TEMPLATES.get(base)
    if name is not None:
        return name
    name = f"samplan_template_{os.getpid()}_{secrets.token_hex(4)}"
    if not _MADE:
        atexit.register(drop_templates)
    await _admin(base, f'CREATE DATABASE "{name}"')
    _MADE.append((base, name))
    await upgrade(make_url(base).set(database=name).render_as_string(hide_password=False))
    _TEMPLATES[base] = name
    return name


def drop_templates() -> None:
    """Drop the templates this process made (none of anyone else's)."""
    while _MADE:
        base, name = _MADE.pop()
        _TEMPLATES.pop(base, None)
        statement = f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'
        try:
            asyncio.get_running_loop()
        except RuntimeError:  # pytest's session end or interpreter exit: no loop running here
            asyncio.run(_admin(base, statement))
            continue
        with concurrent.futures.ThreadPoolExecutor(1) as pool:
            pool.submit(asyncio.run, _admin(base, statement)).result(timeout=60)


async def _admin(base: str, statement: str) -> None:
    admin = create_async_engine(base, isolation_level="AUTOCOMMIT", poolclass=NullPool)
    try:
        async with admin.connect() as conn:
            await conn.exec_driver_sql(statement)
    finally:
        await admin.dispose()


def postgres_base_url() -> str | None:
    return os.environ.get(POSTGRES_URL_VARIABLE) or None


@contextlib.asynccontextmanager
async def driver_queries(engine: AsyncEngine) -> AsyncIterator[list[str]]:
    """Every statement asyncpg sends on `engine`'s pooled connections meanwhile, in order:
    what a round-trip count is read from (a BEGIN or a COMMIT is a statement of its own).
    asyncpg calls a query logger on the loop's next turn: the exit waits for that turn."""
    queries: list[str] = []

    def logged(query: Any) -> None:
        queries.append(" ".join(query.query.split()))

    def on_checkout(dbapi_connection: Any, _record: object, _proxy: object) -> None:
        dbapi_connection.driver_connection.add_query_logger(logged)

    def on_checkin(dbapi_connection: Any, _record: object) -> None:
        dbapi_connection.driver_connection.remove_query_logger(logged)

    pool = engine.sync_engine.pool
    event.listen(pool, "checkout", on_checkout)
    event.listen(pool, "checkin", on_checkin)
    # The zone log's statements may run on the connection it keeps checked out.
    warm = warm_driver_connection(engine)
    if warm is not None:
        warm.add_query_logger(logged)
    try:
        yield queries
        await asyncio.sleep(0)
    finally:
        event.remove(pool, "checkout", on_checkout)
        event.remove(pool, "checkin", on_checkin)
        # A connection checked out meanwhile may have stayed warm, past any check-in.
        for driver in {warm, warm_driver_connection(engine)} - {None}:
            driver.remove_query_logger(logged)


@contextlib.contextmanager
def engine_statements(engine: AsyncEngine) -> Iterator[list[tuple[str, bool]]]:
    """Every statement SQLAlchemy runs on `engine` meanwhile, and whether the connection was in
    a transaction when it had run (asyncpg's own view): a BEGIN around a statement is a round
    trip of its own, and so is its COMMIT or ROLLBACK."""
    statements: list[tuple[str, bool]] = []

    def after(conn: Any, _cursor: object, statement: str, *_: object) -> None:
        driver = conn.connection.driver_connection
        statements.append((" ".join(statement.split()), driver.is_in_transaction()))

    event.listen(engine.sync_engine, "after_cursor_execute", after)
    try:
        yield statements
    finally:
        event.remove(engine.sync_engine, "after_cursor_execute", after)
