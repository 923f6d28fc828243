"""What a node calls "the database is gone" (1013 for writers, `degraded` on /healthz), and
the probe behind /healthz: a real SQLite file answers, a PostgreSQL URL whose port nobody
listens on does not. The cluster's outage through a cut proxy: tests/test_cluster_faults.py."""

from __future__ import annotations

import asyncio
import logging
import time
from pathlib import Path

import pytest
from sqlalchemy.exc import DBAPIError, IntegrityError

from server.ops.db_health import DatabaseHealth
from storage.db import create_engine
from storage.errors import NotFound, database_unavailable
from tests.conftest import skip_or_fail
from tests.support.live import free_port
from tests.support.postgres import fresh_postgres_database, postgres_base_url

log = logging.getLogger("tests.db_health")


def test_unreachable_is_told_from_a_refused_statement() -> None:
    refused = ConnectionRefusedError(111, "Connect call failed ('127.0.0.1', 5432)")
    assert database_unavailable(refused)
    assert database_unavailable(TimeoutError())
    reset = DBAPIError("COMMIT", None, ConnectionResetError(), connection_invalidated=True)
    assert database_unavailable(reset)
    try:  # a driver error a repository re-raised as its own: the cause still counts
        try:
            raise ConnectionResetError("Åse Ødegård 😀")
        except ConnectionResetError as exc:
            raise RuntimeError("zone 7 could not be read") from exc
    except RuntimeError as chained:
        assert database_unavailable(chained)
    # The database answered and said no: a bug or bad input, never "try again later".
    assert not database_unavailable(IntegrityError("INSERT", None, ValueError("dup æøå")))
    assert not database_unavailable(NotFound("plan Åse Ødegård"))
    assert not database_unavailable(ValueError("🧭"))


@pytest.mark.parametrize("reachable", [True, False])
async def test_the_probe_says_whether_the_database_answers(tmp_path: Path, reachable: bool) -> None:
    if reachable:
        url = f"sqlite+aiosqlite:///{tmp_path / 'samplan æøå.sqlite3'}"
    else:  # nobody listens there: refused at once, as a database host that went away
        url = f"postgresql+asyncpg://postgres@127.0.0.1:{free_port()}/samplan"
    engine = create_engine(url)
    try:
        health = DatabaseHealth(engine, timeout=5, every=60)
        started = time.perf_counter()
        assert await health.check() is reachable
        assert health.available is reachable
        assert health.outages == (0 if reachable else 1)
        # Asked again within `every`: the answer of the last probe, no second probe.
        assert await health.check() is reachable
        assert health.outages == (0 if reachable else 1)
        log.info("probe answered in %.0f ms", (time.perf_counter() - started) * 1000)
    finally:
        await engine.dispose()


@pytest.mark.postgres
async def test_a_pooled_connection_is_pinged_only_after_it_sat_idle(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Every group commit checks a connection out; a ping on each checkout (asyncpg: three
    round trips) doubled the round trips of a durable write. A connection used a moment ago
    is handed out as it is; one idle for a while is pinged, and one that died while idle is
    replaced, so a node still recovers by itself (docs/deploy.md)."""
    base = postgres_base_url()
    if base is None:
        skip_or_fail("SAMPLAN_TEST_POSTGRES_URL is not set")
    from sqlalchemy import text
    from sqlalchemy.dialects.postgresql.asyncpg import AsyncAdapt_asyncpg_connection

    import storage.db as db

    pings: list[float] = []
    real_ping = AsyncAdapt_asyncpg_connection.ping

    def counting_ping(self: AsyncAdapt_asyncpg_connection) -> None:
        pings.append(time.monotonic())
        real_ping(self)

    monkeypatch.setattr(AsyncAdapt_asyncpg_connection, "ping", counting_ping)
    monkeypatch.setattr(db, "PING_IDLE_SECONDS", 0.3)
    async with fresh_postgres_database(base) as url:
        engine = create_engine(url)
        try:
            for _ in range(5):  # back to back, as the group commit uses it: no pings
                async with engine.connect() as conn:
                    assert (await conn.execute(text("SELECT 'Åse Ødegård 😀'"))).scalar()
            assert pings == []
            async with engine.connect() as conn:
                backend = (await conn.execute(text("SELECT pg_backend_pid()"))).scalar()
            await asyncio.sleep(0.5)  # idle: pinged before the next use
            async with engine.connect() as conn:
                await conn.execute(text("SELECT 1"))
            assert len(pings) == 1
            # The pooled connection dies while idle: the ping finds it, another is opened.
            admin = create_engine(url)
            try:
                async with admin.connect() as conn:
                    await conn.execute(text("SELECT pg_terminate_backend(:p)"), {"p": backend})
            finally:
                await admin.dispose()
            await asyncio.sleep(0.5)
            async with engine.connect() as conn:
                now = (await conn.execute(text("SELECT pg_backend_pid()"))).scalar()
            assert now != backend
            log.info("%d pings, backend %s replaced by %s", len(pings), backend, now)
        finally:
            await engine.dispose()
