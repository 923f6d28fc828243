"""A fresh PostgreSQL database for a test, on the server SAMPLAN_TEST_POSTGRES_URL names."""

from __future__ import annotations

import contextlib
import os
import secrets
from collections.abc import AsyncIterator

from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import create_async_engine
from sqlalchemy.pool import NullPool

POSTGRES_URL_VARIABLE = "SAMPLAN_TEST_POSTGRES_URL"


@contextlib.asynccontextmanager
async def fresh_postgres_database(base: str) -> AsyncIterator[str]:
    """Create a database with a random name, yield its URL, drop it afterwards."""
    name = f"samplan_test_{secrets.token_hex(6)}"
    admin = create_async_engine(base, isolation_level="AUTOCOMMIT", poolclass=NullPool)
    try:
        async with admin.connect() as conn:
            await conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
        try:
            yield make_url(base).set(database=name).render_as_string(hide_password=False)
        finally:
            async with admin.connect() as conn:
                await conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await admin.dispose()


def postgres_base_url() -> str | None:
    return os.environ.get(POSTGRES_URL_VARIABLE) or None
