"""The zone row locks on PostgreSQL (DESIGN §6) never meet an edit's write.

Every logged update references its zone, so PostgreSQL takes a KEY SHARE lock on the zone's
row for as long as the edit's transaction runs, and one batch of edits may hold several
zones. A summary round or a compaction that locked zones `FOR UPDATE` conflicted with that:
a round holding zone A and waiting for zone B, while a batch holding B waited for A, was a
deadlock, and PostgreSQL broke it by failing one of them (in a two-node run it failed the
batch, so its room closed its peers). Rounds and compactions take `FOR NO KEY UPDATE`: they
still take turns with each other, and never wait for an edit, nor an edit for them.
"""

from __future__ import annotations

import asyncio
import logging

import pytest
from sqlalchemy import insert, text
from sqlalchemy.ext.asyncio import AsyncConnection

from storage.models import utcnow, zone_updates_table
from tests.storage.conftest import Store
from tests.support.waiting import wait_for

pytestmark = pytest.mark.postgres

log = logging.getLogger("tests.storage.zone_locks")


async def _two_zones(store: Store) -> tuple[int, int]:
    municipality = await store.plans.get_or_create_municipality("Eksempelvik kommune")
    plan = await store.plans.create_plan(municipality, "Plan for Åse Ødegård", "Åse Ødegård")
    low = await store.plans.add_zone(plan.id, "area", "skole", "Skole og læring 📚", 1)
    high = await store.plans.add_zone(plan.id, "area", "fritid", "Fritid og venner ⚽", 2)
    assert low.id < high.id
    return low.id, high.id


async def _log_update(conn: AsyncConnection, zone_id: int) -> None:
    """One edit of `zone_id` inside an open transaction: what a batch does before it commits."""
    row = {"zone_id": zone_id, "data": "Åse skrev æøå 😀".encode(), "created_at": utcnow()}
    await conn.execute(insert(zone_updates_table).values(**row))


async def _done_or_waiting(store: Store, task: asyncio.Task[object]) -> str:
    """Whether `task` finished, or sits waiting for a row lock another transaction holds."""

    async def waiting() -> bool:
        async with store.engine.connect() as conn:
            query = text(
                "SELECT count(*) FROM pg_stat_activity"
                " WHERE datname = current_database() AND wait_event_type = 'Lock'"
            )
            return int((await conn.execute(query)).scalar_one()) > 0

    async def settled() -> bool:
        return task.done() or await waiting()

    await wait_for(settled, timeout=30, what="the task to finish or wait for a lock")
    return "done" if task.done() else "waiting"


async def test_a_summary_round_and_a_batch_of_edits_on_the_same_zones_never_deadlock(
    postgres_store: Store,
) -> None:
    low, high = await _two_zones(postgres_store)
    summaries = {
        z: {"openMeasureEnds": ["2027-01-01"], "title": "Skule æøå 😀"} for z in (low, high)
    }
    async with postgres_store.engine.connect() as edits, edits.begin():
        await _log_update(edits, high)  # the batch holds the higher zone
        round_ = asyncio.create_task(postgres_store.plans.save_zone_summaries(summaries))
        state = await _done_or_waiting(postgres_store, round_)
        log.info("the summary round beside an open batch: %s", state)
        # It never waited for the batch, so the batch's next row waits for nothing either.
        assert state == "done"
        await _log_update(edits, low)
    assert await round_ == [low, high]
    assert (
        await postgres_store.zone_log.tail_length(low)
        == await postgres_store.zone_log.tail_length(high)
        == 1
    )


async def test_a_compaction_never_waits_for_an_edit_of_its_zone(postgres_store: Store) -> None:
    zone, _ = await _two_zones(postgres_store)
    seqs = await postgres_store.zone_log.append_batch([(zone, "første æøå 🧭".encode())], [None])
    async with postgres_store.engine.connect() as edits, edits.begin():
        await _log_update(edits, zone)  # an edit of the same zone, not committed yet
        compaction = asyncio.create_task(
            postgres_store.zone_log.compact(zone, seqs, b"\x00\x00", based_on=0)
        )
        state = await _done_or_waiting(postgres_store, compaction)
        log.info("a compaction beside an open edit of its zone: %s", state)
        assert state == "done"
    assert await compaction is not None
    assert await postgres_store.zone_log.tail_length(zone) == 1  # the edit it did not fold is kept


async def test_two_summary_rounds_of_one_zone_still_take_turns(postgres_store: Store) -> None:
    zone, _ = await _two_zones(postgres_store)
    first = {zone: {"title": "Først, Åse 😀"}}
    async with postgres_store.sessionmaker() as session, session.begin():
        # Another node's round, holding the zone's lock as a round does.
        await session.execute(
            text("SELECT id FROM zones WHERE id = :z FOR NO KEY UPDATE"), {"z": zone}
        )
        second = asyncio.create_task(postgres_store.plans.save_zone_summaries(first))
        assert await _done_or_waiting(postgres_store, second) == "waiting"
    assert await second == [zone]
