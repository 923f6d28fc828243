"""Who changed what, recorded by the server: every durable change carries the user whose
socket sent it, what it touched is traced from the log, and the record survives compaction
and export/import. A name a client writes into a document is never the record."""

from __future__ import annotations

import asyncio
import json
import os
from pathlib import Path
from typing import Any

import pytest
from pycrdt import Array, Doc, Map, Text

from crdt.authorship import trace_and_fold
from crdt.schema import MEASURES, append_item, find_item
from server.core.authors import last_changes, zone_changes
from server.services import Repositories
from server.transfer.export import build_export, dumps
from server.transfer.importer import import_plan, parse_export
from tests.conftest import make_settings
from tests.support.clients import connected
from tests.support.live import LiveServer
from tests.support.world import World

pytestmark = pytest.mark.both_databases

FIRST = "Blåbærtur med skolen 🫐"
SECOND = "Blåbærtur med Åse Ødegård 🫐"


def _measures(client: Any) -> Array[Any]:
    return client.doc.get(MEASURES, type=Array)


async def _wait_title(client: Any, measure_id: str, title: str) -> None:
    def shows() -> bool:
        item = find_item(_measures(client), measure_id)
        return item is not None and str(item.get("title")) == title

    await client.wait_for(shows)


async def test_each_change_names_the_socket_that_made_it(
    server: LiveServer, world: World, tmp_path: Path
) -> None:
    """A crafted client writes `updatedBy` = another user's id and a time into a measure: the
    record names the deltaker whose socket made the edit; a second person's edit follows it,
    with the old and new title. The record survives a forced compaction and export/import."""
    zone_id = world.zones["area/skole"]
    deltaker, koordinator = world.users["deltaker"], world.users["koordinator"]
    url_d = server.ws_url(world.room("area/skole"), world.token("deltaker"))
    url_k = server.ws_url(world.room("area/skole"), world.token("koordinator"))
    async with connected(url_d) as ase, connected(url_k) as kari:
        measures = _measures(ase)
        with ase.doc.transaction():
            measure_id = append_item(
                measures,
                {
                    "title": FIRST,
                    "status": "planlagt",
                    "updatedBy": str(koordinator),  # forged: Kari never wrote this
                    "updatedAt": "2020-01-01T00:00:00Z",
                },
            )
        await _wait_title(kari, measure_id, FIRST)
        item = find_item(_measures(kari), measure_id)
        assert isinstance(item, Map)
        title = item["title"]
        assert isinstance(title, Text)
        with kari.doc.transaction():
            title.clear()
            title += SECOND
        await _wait_title(ase, measure_id, SECOND)

    log = server.services.repos.zone_log

    async def history() -> list[tuple[int | None, Any]]:
        changes = await zone_changes(log, zone_id, "area")
        return [(c.user_id, c.items.get(measure_id)) for c in changes if measure_id in c.items]

    def check(entries: list[tuple[int | None, Any]]) -> None:
        assert [user for user, _ in entries] == [deltaker, koordinator]
        created, edited = entries[0][1], entries[1][1]
        assert created["created"] is True and created["root"] == MEASURES
        assert created["fields"]["title"] == [None, FIRST]
        assert edited["fields"] == {"title": [FIRST, SECOND]}

    # The registry unloads the idle room after its grace period, compacting it on the way;
    # force one now either way and wait until the log tail is folded away.
    async def compacted() -> None:
        for _ in range(300):
            if await log.tail_length(zone_id) == 0:
                return
            room = server.services.registry.rooms.get(zone_id)
            if room is not None:
                await room.compact()
            await asyncio.sleep(0.05)
        raise AssertionError("the zone was never compacted")

    check(await history())
    await compacted()
    assert await log.count_updates(zone_id) == 0
    # The replay ran in the registry's worker process, off the event loop's GIL.
    worker_pids = server.services.registry.fold_worker.pids()
    assert worker_pids and os.getpid() not in worker_pids
    check(await history())
    last = last_changes(await zone_changes(log, zone_id, "area"))
    assert last[measure_id].user_id == koordinator

    # Export, then import into another database: the record comes along, renumbered.
    document = await build_export(server.services.repos, world.plan_id)
    assert document is not None
    zone = next(z for z in document["zones"] if z["zone"] == "area/skole")
    assert [c["user_id"] for c in zone["changes"] if measure_id in (c["items"] or {})] == [
        deltaker,
        koordinator,
    ]
    raw = dumps(document)
    assert json.loads(raw)["zones"]
    repos = await Repositories.open(make_settings(tmp_path / "other"))
    try:
        result = await import_plan(repos, parse_export(raw), "another-secret")
        new_zone = await repos.plans.get_zone(world.plan_id, "area", "skole")
        assert new_zone is not None
        changes = await zone_changes(repos.zone_log, new_zone.id, "area")
        entries = [(c.user_id, c.items[measure_id]) for c in changes if measure_id in c.items]
        assert [user for user, _ in entries] == [
            result.user_ids[deltaker],
            result.user_ids[koordinator],
        ]
        assert entries[1][1]["fields"] == {"title": [FIRST, SECOND]}
    finally:
        await repos.close()


def test_a_partial_fold_keeps_what_waits_for_an_update_left_in_the_log() -> None:
    """Compaction folds only some of the logged updates (another node's stay): the snapshot it
    builds holds every folded one, even one that builds on an update left in the log, and a
    load of snapshot plus what is left holds everything."""
    writer: Doc[Any] = Doc()
    logged: list[bytes] = []
    writer.observe(lambda event: logged.append(event.update))
    measures = writer.get(MEASURES, type=Array)
    first = append_item(measures, {"title": FIRST, "status": "planlagt"})
    item = find_item(measures, first)
    assert isinstance(item, Map)
    title = item["title"]
    assert isinstance(title, Text)
    title += " æøå 🫐"  # builds on the first update
    updates = [(10, logged[0]), (11, logged[1])]
    traces, snapshot = trace_and_fold("area", None, updates, {11})
    assert set(traces) == {10, 11}
    assert json.loads(traces[10])[first]["created"] is True
    loaded: Doc[Any] = Doc()
    loaded.apply_update(snapshot)
    loaded.apply_update(logged[0])  # the update left in the log, applied after the snapshot
    item = find_item(loaded.get(MEASURES, type=Array), first)
    assert item is not None and str(item["title"]) == FIRST + " æøå 🫐"
