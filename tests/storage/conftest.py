"""Fixtures for the storage tests: a migrated database (a real SQLite file, and PostgreSQL when
SAMPLAN_TEST_POSTGRES_URL is set) and the repositories over it."""

from __future__ import annotations

import os
import secrets
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)
from sqlalchemy.pool import NullPool

from storage.db import create_engine, make_sessionmaker
from storage.migrate import upgrade
from storage.models import utcnow
from storage.repositories import PlanRepo, SessionRepo, UserRepo, ZoneLog


def _skip_or_fail(reason: str) -> None:
    if os.environ.get("SAMPLAN_REQUIRE_SERVICES") == "1":
        pytest.fail(f"{reason} (SAMPLAN_REQUIRE_SERVICES=1)")
    pytest.skip(reason)


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    return f"sqlite+aiosqlite:///{tmp_path / 'var' / 'samplan.sqlite3'}"


@pytest.fixture
async def postgres_url() -> AsyncIterator[str]:
    """A fresh database per test, dropped afterwards, on the server the env var points at."""
    base = os.environ.get("SAMPLAN_TEST_POSTGRES_URL")
    if not base:
        _skip_or_fail("SAMPLAN_TEST_POSTGRES_URL is not set")
        raise AssertionError("unreachable")
    name = f"samplan_test_{secrets.token_hex(6)}"
    admin = create_async_engine(base, isolation_level="AUTOCOMMIT", poolclass=NullPool)
    try:
        async with admin.connect() as conn:
            await conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
        yield make_url(base).set(database=name).render_as_string(hide_password=False)
        async with admin.connect() as conn:
            await conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await admin.dispose()


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def db_url(request: pytest.FixtureRequest) -> str:
    fixture = "sqlite_url" if request.param == "sqlite" else "postgres_url"
    return str(request.getfixturevalue(fixture))


class Clock:
    """A settable clock for session expiry tests."""

    def __init__(self) -> None:
        self.now = utcnow()

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


@dataclass
class Store:
    url: str
    engine: AsyncEngine
    sessionmaker: async_sessionmaker[AsyncSession]
    users: UserRepo
    plans: PlanRepo
    sessions: SessionRepo
    zone_log: ZoneLog
    clock: Clock


async def _open(url: str) -> AsyncIterator[Store]:
    await upgrade(url)
    engine = create_engine(url)
    maker = make_sessionmaker(engine)
    clock = Clock()
    try:
        yield Store(
            url,
            engine,
            maker,
            UserRepo(maker),
            PlanRepo(maker),
            SessionRepo(maker, clock=clock),
            ZoneLog(maker),
            clock,
        )
    finally:
        await engine.dispose()


@pytest.fixture
async def store(db_url: str) -> AsyncIterator[Store]:
    """Repositories over a freshly migrated database, on SQLite and on PostgreSQL."""
    async for s in _open(db_url):
        yield s


@pytest.fixture
async def sqlite_store(sqlite_url: str) -> AsyncIterator[Store]:
    async for s in _open(sqlite_url):
        yield s


@pytest.fixture
async def postgres_store(postgres_url: str) -> AsyncIterator[Store]:
    """Repositories over PostgreSQL only: for what only PostgreSQL has (row locks)."""
    async for s in _open(postgres_url):
        yield s


async def content_zone(store: Store) -> int:
    """A new plan's content zone (the plan named for Åse Ødegård): a zone to log into."""
    municipality = await store.plans.get_or_create_municipality("Eksempelvik kommune")
    plan = await store.plans.create_plan(municipality, "Plan for Åse Ødegård", "Åse Ødegård")
    zone = await store.plans.get_zone(plan.id, "content", "")
    assert zone is not None
    return zone.id
