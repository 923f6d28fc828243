"""The serving process's start-up heap is frozen out of the garbage collector (issue 16): a
full collection over ~100,000 long-lived objects held the event loop for 15-74 ms, a stall
every relay waited for. Only what was made after start-up is scanned while serving."""

from __future__ import annotations

import gc
import logging
import time

from pycrdt import Doc, Text

from crdt.client import YClient
from tests.support.clients import text_of
from tests.support.live import LiveServer
from tests.support.world import World

log = logging.getLogger("tests.gc_freeze")


async def test_the_start_up_heap_is_frozen_while_the_server_serves(
    server: LiveServer, world: World
) -> None:
    frozen = gc.get_freeze_count()
    assert frozen > 10_000  # imports, settings, templates, services: all out of the scans
    # Serving still works and its garbage is still collected: a client edits, leaves, and a
    # full collection runs over what is not frozen (measured and logged, never asserted).
    url = server.ws_url(world.room("content"), world.token("koordinator"))
    client = YClient(url, Doc())
    await client.connect()
    await client.wait_for(client.synced.is_set)
    other = YClient(url, Doc())
    await other.connect()
    await other.wait_for(other.synced.is_set)
    client.doc.get("t", type=Text).insert(0, "Åse Ødegård skriver 😀")
    await other.wait_for(lambda: text_of(other, "t") == "Åse Ødegård skriver 😀")
    await client.close()
    await other.close()
    started = time.perf_counter()
    unreachable = gc.collect()
    log.info(
        "full collection with %d objects frozen: %.2f ms, %d unreachable found",
        frozen,
        (time.perf_counter() - started) * 1000,
        unreachable,
    )
    assert gc.get_freeze_count() > 10_000  # still frozen (refcounting may free a few)


async def test_start_up_does_what_the_first_clients_would_otherwise_wait_for(
    server: LiveServer,
) -> None:
    """Work that ran on the event loop when the first requests came is done at start-up
    (issue 16, docs/BENCHMARKS.md "Event-loop stalls: what ran"): the pool's connections are
    open (an aiosqlite connection opened later starts its thread on the loop and waits for
    it), the ORM mappers are configured (14 ms of CPU in the first query that needed them),
    and pycrdt's lazy import of anyio's asyncio back end is done."""
    import sys

    from storage.models import Base

    pool = server.services.repos.engine.pool
    size = getattr(pool, "size", None)
    if callable(size):  # a file database (SQLite in memory has no fixed pool)
        assert pool.checkedin() + pool.checkedout() >= size(), pool.status()  # type: ignore[attr-defined]
    assert all(mapper.configured for mapper in Base.registry.mappers)
    assert "anyio._backends._asyncio" in sys.modules
