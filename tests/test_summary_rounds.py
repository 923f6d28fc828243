"""A summary round of many zones (issue 16, "a stable tail"): the summaries of every zone
changed since the last round are saved in one transaction, one durable commit, not one per
zone (server/core/summary_writer.py). On SQLite that one transaction runs once on the
committer's queue, between the edits' batches; a round larger than ROUND_CHUNK zones is saved
in chunks. Run on SQLite and on PostgreSQL."""

from __future__ import annotations

import logging
from datetime import date, timedelta
from typing import Any

import pytest
from pycrdt import Array, Doc

from crdt.schema import MEASURES, append_item
from server.core import summary_writer
from tests.support.commits import counting_commits, recording_one_writer
from tests.support.live import LiveServer
from tests.support.world import World

pytestmark = pytest.mark.both_databases

log = logging.getLogger("tests.summary_rounds")

ZONES = 40


def _end(i: int) -> str:
    return (date(2027, 1, 1) + timedelta(days=i)).isoformat()


async def _edit_many(server: LiveServer, world: World) -> list[int]:
    """ZONES new life areas, each live with one open measure ending on its own day."""
    services = server.services
    # One round, written at flush: never a timer's part of it.
    services.summaries.writer.delay = 3600
    zones = []
    for i in range(ZONES):
        title = f"Område {i} for Åse Ødegård 📚"
        zone = await services.repos.plans.add_zone(world.plan_id, "area", f"omrade-{i}", title, i)
        zones.append(zone.id)
    for i, zone in enumerate(zones):
        room = await services.registry.get(zone, "area")  # live: no unload, no compaction
        measure = {"title": f"Leksehjelp {i}, æøå 😀", "end": _end(i), "status": "pagar"}

        def change(doc: Doc[Any], measure: dict[str, str] = measure) -> None:
            append_item(doc.get(MEASURES, type=Array), measure)

        await room.edit(change, None)
    return zones


async def _stored_ends(server: LiveServer, world: World) -> dict[int, list[str]]:
    stored = await server.services.repos.plans.zone_summaries_for_user(world.users["koordinator"])
    return {z: s.get("openMeasureEnds", []) for z, _, _, s in stored[world.plan_id]}


@pytest.mark.parametrize(
    ("chunk", "transactions"),
    [(summary_writer.ROUND_CHUNK, 1), (16, 3)],  # 40 zones: one, or 16 + 16 + 8
    ids=["one-transaction", "in-chunks"],
)
async def test_a_round_of_many_zones_is_saved_in_one_transaction_per_chunk(
    server: LiveServer,
    world: World,
    monkeypatch: pytest.MonkeyPatch,
    chunk: int,
    transactions: int,
) -> None:
    monkeypatch.setattr(summary_writer, "ROUND_CHUNK", chunk)
    writer = server.services.summaries.writer
    zones = await _edit_many(server, world)
    jobs = recording_one_writer(writer)
    writes = writer.writes
    with counting_commits("zone_summaries") as commits:
        await server.services.summaries.flush()
    log.info("a round of %d zones: %d transaction(s)", ZONES, commits.count)
    assert commits.count == transactions
    assert jobs is None or len(jobs) == transactions
    assert writer.writes == writes + ZONES
    ends = await _stored_ends(server, world)
    assert [ends[z] for z in zones] == [[_end(i)] for i in range(ZONES)]

    # Nothing changed: the next round saves nothing at all.
    for zone in zones:
        writer.changed(server.services.registry.rooms[zone])
    with counting_commits("zone_summaries") as commits:
        await server.services.summaries.flush()
    assert commits.count == 0 and writer.writes == writes + ZONES
