"""Two servers on one PostgreSQL database, both holding the same zones, both compacting them
while their clients write: nothing either logged is lost (DESIGN §4, §6).

These nodes run without Redis, so they do not relay to each other (tests/test_cluster.py runs
them with the fan-out) and each node's clients see only that node's edits while they write;
the promise tested here is the store's alone: once
the rooms are gone, a fresh load on any node holds every edit from both, and every change
keeps its author record exactly once.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest
from pycrdt import Array, Map, Text

from crdt.client import YClient
from crdt.room import Room
from crdt.schema import MEASURES, append_item, find_item
from server.core.authors import zone_changes
from server.services import Repositories
from server.settings import Settings
from tests.conftest import make_settings, skip_or_fail
from tests.support.clients import connected, text_of
from tests.support.live import LiveServer, live_server
from tests.support.postgres import fresh_postgres_database, postgres_base_url
from tests.support.waiting import wait_for
from tests.support.world import World, build_world

pytestmark = pytest.mark.postgres

MEASURES_EACH = 12
TYPED_EACH = 40
COMPACTIONS = 3  # each node folds each zone this often while both write


def _title(who: str, i: int) -> str:
    return f"Tiltak {i} for Åse Ødegård fra {who} 🧭"


@pytest.fixture
async def database_url() -> AsyncIterator[str]:
    base = postgres_base_url()
    if base is None:
        skip_or_fail("SAMPLAN_TEST_POSTGRES_URL is not set")
        raise AssertionError("unreachable")
    async with fresh_postgres_database(base) as url:
        yield url


def _node_settings(tmp_path: Path, name: str, database_url: str) -> Settings:
    # A small threshold, so each node compacts the shared zones again and again while both
    # write; the same secret key, so a token works on every node.
    return make_settings(tmp_path / name, database_url=database_url, compact_after_updates=8)


@contextlib.asynccontextmanager
async def _nodes(tmp_path: Path, database_url: str) -> AsyncIterator[tuple[LiveServer, ...]]:
    async with (
        live_server(_node_settings(tmp_path, "node-a", database_url)) as a,
        live_server(_node_settings(tmp_path, "node-b", database_url)) as b,
    ):
        yield a, b


def _measures(client: YClient) -> Array[Any]:
    return client.doc.get(MEASURES, type=Array)


async def _write_measures(
    client: YClient, who: str, compacted_enough: Callable[[], bool]
) -> dict[str, str]:
    """Add measures one transaction at a time, then type marks onto their titles until this
    node has compacted the zone again and again (no clock: it waits for what it needs)."""
    written: dict[str, str] = {}
    for i in range(MEASURES_EACH):
        measure_id = append_item(_measures(client), {"title": _title(who, i), "status": "planlagt"})
        written[measure_id] = _title(who, i)
        await asyncio.sleep(0.01)  # pacing only: lets the other node's writes interleave
    for round_ in itertools.count():
        for measure_id in written:
            item = find_item(_measures(client), measure_id)
            assert isinstance(item, Map)
            title = item["title"]
            assert isinstance(title, Text)
            title += " ✔ æøå"
            written[measure_id] += " ✔ æøå"
            await asyncio.sleep(0.01)
        if compacted_enough():
            return written
        assert round_ < 100, "the node never compacted the zone"
    raise AssertionError("unreachable")


async def _type(client: YClient, who: str, compacted_enough: Callable[[], bool]) -> str:
    text = client.doc.get("t", type=Text)
    typed = ""
    for i in itertools.count():
        chunk = f"{who}{i}ø😀 "
        text += chunk
        typed += chunk
        await asyncio.sleep(0.005)
        if i >= TYPED_EACH and compacted_enough():
            return typed
        assert i < 5000, "the node never compacted the zone"
    raise AssertionError("unreachable")


def _titles(doc_owner: Any) -> dict[str, str]:
    measures = doc_owner.doc.get(MEASURES, type=Array)
    return {str(item["id"]): str(item["title"]) for item in measures if isinstance(item, Map)}


async def test_two_nodes_writing_and_compacting_one_zone_lose_nothing(
    tmp_path: Path, database_url: str
) -> None:
    setup = make_settings(tmp_path / "setup", database_url=database_url)
    repos = await Repositories.open(setup)
    try:
        world = await build_world(repos, setup.resolved_secret_key())
        await _run(tmp_path, database_url, world, repos)
    finally:
        await repos.close()


async def _run(tmp_path: Path, database_url: str, world: World, repos: Repositories) -> None:
    area, content = world.zones["area/skole"], world.zones["content"]
    writers = {  # (node, role) -> name in the edits
        (0, "deltaker"): "Åse",
        (0, "koordinator"): "Kari",
        (1, "planeier"): "Jonas",
        (1, "verge"): "Line",
    }
    async with _nodes(tmp_path, database_url) as nodes:
        compactions: dict[tuple[int, int], int] = {}
        for index, node in enumerate(nodes):

            def count(room: Room, index: int = index) -> None:
                key = (index, room.zone_id)
                compactions[key] = compactions.get(key, 0) + 1

            node.services.registry.compacted.subscribe(count)

        async with contextlib.AsyncExitStack() as stack:
            clients = {
                key: await stack.enter_async_context(
                    connected(nodes[key[0]].ws_url(world.room("area/skole"), world.token(key[1])))
                )
                for key in writers
            }
            typists = [
                await stack.enter_async_context(
                    connected(nodes[i].ws_url(world.room("content"), world.token("koordinator")))
                )
                for i in range(2)
            ]

            def enough(index: int, zone: int) -> Callable[[], bool]:
                return lambda: compactions.get((index, zone), 0) >= COMPACTIONS

            results = await asyncio.gather(
                *(_write_measures(clients[k], writers[k], enough(k[0], area)) for k in writers),
                *(_type(t, f"N{i}", enough(i, content)) for i, t in enumerate(typists)),
            )
            written: dict[str, str] = {}
            for result in results[: len(writers)]:
                assert isinstance(result, dict)
                written.update(result)
            typed = [str(r) for r in results[len(writers) :]]
            assert len(written) == MEASURES_EACH * len(writers)

            # Each node's room holds its own clients' edits (it relays only after the log
            # write is durable).
            for index, node in enumerate(nodes):
                mine = {
                    measure_id
                    for key, client in clients.items()
                    if key[0] == index
                    for measure_id in _titles(client)
                    if measure_id in written
                }
                room = node.services.registry.rooms[area]
                await wait_for(
                    lambda room=room, mine=mine: all(
                        _titles(room).get(m) == written[m] for m in mine
                    ),
                    timeout=60,
                    what=f"node {index} holds its clients' measures",
                )
                typist_room = node.services.registry.rooms[content]
                await wait_for(
                    lambda r=typist_room, t=typed[index]: str(r.doc.get("t", type=Text)) == t,
                    timeout=60,
                    what=f"node {index} holds its typist's text",
                )
                await room.settle()
                await typist_room.settle()

        # The clients are gone: each node compacts its rooms as it unloads them.
        for node in nodes:
            await wait_for(
                lambda node=node: not node.services.registry.rooms,
                timeout=60,
                what="both rooms unloaded",
            )

        # A fresh client on either node loads every edit from both.
        for node in nodes:
            async with connected(node.ws_url(world.room("area/skole"), world.token("leser"))) as r:
                assert _titles(r) == written
            async with connected(node.ws_url(world.room("content"), world.token("leser"))) as r:
                for own in typed:
                    assert own in text_of(r)

    # Nothing is left unfolded, and each change has its record exactly once, by its author.
    assert await repos.zone_log.count_updates(area) == 0
    assert await repos.zone_log.count_updates(content) == 0
    changes = await zone_changes(repos.zone_log, area, "area")
    creators = {}
    for change in changes:
        for measure_id, entry in change.items.items():
            if isinstance(entry, dict) and entry.get("created"):
                assert measure_id not in creators, measure_id
                creators[measure_id] = change.user_id
    expected = {}
    for key, name in writers.items():
        for measure_id, title in written.items():
            if f"fra {name} " in title:
                expected[measure_id] = world.users[key[1]]
    assert creators == expected
