"""Alembic environment, async: run from `storage.migrate` with no alembic.ini on disk.

The URL comes from `config.attributes["url"]` (set by `storage.migrate`) or, for a hand-run
`alembic` with an ini file, from `sqlalchemy.url`.
"""

from __future__ import annotations

import asyncio

from alembic import context
from sqlalchemy import Connection

from storage.db import create_engine, is_sqlite, lock_for_migration, write_connection
from storage.models import Base

config = context.config
target_metadata = Base.metadata


def _url() -> str:
    url = config.attributes.get("url") or config.get_main_option("sqlalchemy.url")
    if not url:
        raise RuntimeError("no database URL: set config.attributes['url'] or sqlalchemy.url")
    return str(url)


def run_migrations_offline() -> None:
    context.configure(
        url=_url(),
        target_metadata=target_metadata,
        literal_binds=True,
        dialect_opts={"paramstyle": "named"},
    )
    with context.begin_transaction():
        context.run_migrations()


def _run(connection: Connection) -> None:
    lock_for_migration(connection)
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        # SQLite cannot ALTER most things; batch mode rebuilds the table instead.
        render_as_batch=is_sqlite(connection.engine),
        compare_type=True,
        # True on SQLite as well: storage.db emits a real BEGIN, so DDL rolls back with the rest.
        transactional_ddl=True,
    )
    with context.begin_transaction():
        context.run_migrations()


async def run_migrations_online() -> None:
    # The whole upgrade is one transaction (storage.db makes SQLite emit a real BEGIN, so even
    # its DDL is transactional): a failed migration leaves the schema as it was.
    engine = create_engine(_url())
    try:
        async with write_connection(engine) as connection:
            await connection.run_sync(_run)
    finally:
        await engine.dispose()


if context.is_offline_mode():
    run_migrations_offline()
else:
    asyncio.run(run_migrations_online())
