"""What a node calls "the database is gone" (1013 for writers, `degraded` on /healthz), and
the probe behind /healthz: a real SQLite file answers, a PostgreSQL URL whose port nobody
listens on does not. The cluster's outage through a cut proxy: tests/test_cluster_faults.py."""

from __future__ import annotations

import logging
import time
from pathlib import Path

import pytest
from sqlalchemy.exc import DBAPIError, IntegrityError

from server.ops.db_health import DatabaseHealth
from storage.db import create_engine
from storage.errors import NotFound, database_unavailable
from tests.support.live import free_port

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
