"""One statement straight on asyncpg, for the zone log's hot paths on PostgreSQL.

Every edit waits for its log write (persist-before-relay, DESIGN.md §4). Through SQLAlchemy a
batch was three round trips (BEGIN, the INSERT, COMMIT) and about 580 µs of the node's CPU;
one statement outside a transaction commits by itself, as durably (PostgreSQL flushes its
WAL before it answers, `synchronous_commit` on), in one round trip and about 200 µs
(docs/BENCHMARKS.md, "PostgreSQL: an edit's write in one round trip"). A zone's load, two
reads in a REPEATABLE READ transaction, is one statement too: a statement reads one snapshot.
So `fetch` runs one statement on a pooled connection's asyncpg driver, with no transaction
around it.

The connection comes from and goes back to the engine's pool, so the pool's bounds, the
idle ping (storage.db) and the connections' timeouts (`postgres_timeouts`) hold here as on
the engine path. Errors come back as SQLAlchemy's (IntegrityError, DBAPIError), never with
the parameters (plan content); one that broke the connection also drops it from the pool.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy.exc import DBAPIError, IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine


async def fetch(engine: AsyncEngine, statement: str, *args: Any) -> list[Any]:
    """The rows of `statement` ($1, $2 ... for `args`), run and committed on its own."""
    # Here, not at the top: a PostgreSQL node has asyncpg, and SQLite never comes here.
    import asyncpg  # type: ignore[import-untyped]

    async with engine.connect() as conn:
        fairy = await conn.get_raw_connection()
        driver = fairy.driver_connection
        if driver is None:
            raise RuntimeError("a pooled connection without its driver connection")
        try:
            return list(await driver.fetch(statement, *args))
        except asyncpg.IntegrityConstraintViolationError as exc:
            raise IntegrityError(statement, None, exc, hide_parameters=True) from exc
        except (asyncpg.PostgresError, asyncpg.InterfaceError, OSError, TimeoutError) as exc:
            # Refused or cut off by the server (a statement timeout), the connection is still
            # good; lost, closed, or given up on by the client mid-statement, it is not: the
            # pool must never hand it out again.
            lost = driver.is_closed() or not isinstance(exc, asyncpg.PostgresError)
            lost |= isinstance(exc, asyncpg.PostgresConnectionError | asyncpg.AdminShutdownError)
            if lost:
                await conn.invalidate(exc)
            raise DBAPIError(
                statement, None, exc, hide_parameters=True, connection_invalidated=lost
            ) from exc
