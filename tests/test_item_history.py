"""The plan page's "Sist endret av" and item history come from the server's record (issue 11).

Two people edit one measure through real y-websocket clients; a crafted client writes another
member's id and a made-up time into its `updatedBy` / `updatedAt`. The area's records name
the two real authors, in order, with the names the users table has, and never the forged
one. Who may read them is who may open the zone: a leser with consent may, a member whose
consent does not cover the area, an outsider and nobody signed in may not.
"""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import pytest
from pycrdt import Array, Map, Text

from crdt.schema import MEASURES, append_item, find_item, set_fields
from tests.support.clients import connected
from tests.support.live import LiveServer
from tests.support.passwords import hash_password
from tests.support.web import PASSWORD, signed_in
from tests.support.world import OUTSIDER, ROLE_USERS, World

FIRST = "Blåbærtur med skolen 🫐"
SECOND = "Blåbærtur med Åse Ødegård og klassen 🫐🎒"
FORGED_AT = "2020-01-01T00:00:00Z"
SCOPE = "2 timer/uke – æøå 🕑"
ASE, KARI, LINE, JONAS = (
    ROLE_USERS[r][1] for r in ("deltaker", "koordinator", "verge", "planeier")
)


def _measures(client: Any) -> Array[Any]:
    return client.doc.get(MEASURES, type=Array)


def _item(client: Any, measure_id: str) -> Map[Any] | None:
    return find_item(_measures(client), measure_id)


def _url(world: World, key: str = "skole") -> str:
    return f"/plans/{world.plan_id}/areas/{key}/changes"


async def _get(http: httpx.AsyncClient, path: str) -> httpx.Response:
    return await http.get(path, headers={"accept": "application/json"})


async def _edit_together(server: LiveServer, world: World) -> str:
    """Åse adds a measure claiming to be Line; Kari retitles it and makes Åse responsible;
    then a crafted client stamps it with Jonas's id. Returns the measure's id once every
    change is durable (each is relayed only after it is logged)."""
    room = world.room("area/skole")
    line, jonas = world.users["verge"], world.users["planeier"]
    url_a = server.ws_url(room, world.token("deltaker"))
    url_k = server.ws_url(room, world.token("koordinator"))
    async with connected(url_a) as ase, connected(url_k) as kari:
        measure_id = append_item(
            _measures(ase),
            {
                "title": FIRST,
                "status": "planlagt",
                "responsible": [],
                "updatedBy": str(line),  # forged: Line never wrote this
                "updatedAt": FORGED_AT,
            },
        )
        await kari.wait_for(lambda: _item(kari, measure_id) is not None)
        item = _item(kari, measure_id)
        assert item is not None
        title = item["title"]
        assert isinstance(title, Text)
        with kari.doc.transaction():
            title.clear()
            title += SECOND
            set_fields(item, {"responsible": [str(world.users["deltaker"])], "status": "pagar"})

        def ase_sees_kari() -> bool:
            mine = _item(ase, measure_id)
            return mine is not None and str(mine["title"]) == SECOND and mine["status"] == "pagar"

        await ase.wait_for(ase_sees_kari)
        mine = _item(ase, measure_id)
        assert mine is not None
        set_fields(mine, {"updatedBy": str(jonas), "updatedAt": FORGED_AT})  # forged again

        def kari_sees_forgery() -> bool:
            theirs = _item(kari, measure_id)
            return theirs is not None and theirs.get("updatedBy") == str(jonas)

        await kari.wait_for(kari_sees_forgery)
    return measure_id


async def _compacted(server: LiveServer, zone_id: int) -> None:
    """Until the zone's log is folded away. An update logged while an unload's compaction
    read the log stays in the tail (crdt/room.py), and the room may then be gone: load it
    again, as the next visitor would, and compact."""
    log = server.services.repos.zone_log
    for _ in range(300):
        if await log.tail_length(zone_id) == 0:
            return
        room = await server.services.registry.get(zone_id, "area")
        await room.compact()
        await asyncio.sleep(0.05)
    raise AssertionError("the zone was never compacted")


async def test_records_name_the_real_authors_never_the_forged_one(
    web: LiveServer, world: World
) -> None:
    measure_id = await _edit_together(web, world)
    async with signed_in(web.http, ROLE_USERS["leser"][0]) as per:  # a leser with consent
        response = await _get(per, _url(world))
    assert response.status_code == 200, response.text
    assert response.headers["cache-control"] == "no-store"
    assert LINE not in response.text and JONAS not in response.text
    assert FORGED_AT not in response.text
    record = response.json()["items"][measure_id]
    assert record["root"] == MEASURES
    history = record["history"]
    assert [(e["name"], e["userId"]) for e in history] == [
        (ASE, str(world.users["deltaker"])),
        (KARI, str(world.users["koordinator"])),
    ]
    created, edited = history
    assert created.get("created") is True
    assert {"field": "title", "old": None, "new": FIRST} in created["fields"]
    assert not any(f["field"] in ("updatedBy", "updatedAt", "id") for f in created["fields"])
    assert edited.get("created") is None
    assert {f["field"]: (f["old"], f["new"]) for f in edited["fields"]} == {
        "title": (FIRST, SECOND),
        "responsible": ([], [ASE]),  # ids as the users table names them
        "status": ("planlagt", "pagar"),
    }
    assert record["last"] == edited
    assert edited["at"].endswith("Z") and edited["at"] >= created["at"] > FORGED_AT

    # Åse edits again: the next answer has it (what was kept for the zone is not served once
    # the log has moved on); and after compaction folds the log away, the record is the same.
    room = world.room("area/skole")
    url_a, url_k = (web.ws_url(room, world.token(r)) for r in ("deltaker", "koordinator"))
    async with connected(url_a) as ase, connected(url_k) as kari:
        item = _item(ase, measure_id)
        assert item is not None
        set_fields(item, {"scope": SCOPE})

        def kari_sees_it() -> bool:  # relayed only once it is logged
            theirs = _item(kari, measure_id)
            return theirs is not None and theirs.get("scope") == SCOPE

        await kari.wait_for(kari_sees_it)
    async with signed_in(web.http, ROLE_USERS["leser"][0]) as per:
        later = (await _get(per, _url(world))).json()["items"][measure_id]
        assert [e["name"] for e in later["history"]] == [ASE, KARI, ASE]
        assert later["last"]["fields"] == [{"field": "scope", "old": None, "new": SCOPE}]
        await _compacted(web, world.zones["area/skole"])
        assert (await _get(per, _url(world))).json()["items"][measure_id] == later


async def test_only_who_may_open_the_area_reads_its_records(web: LiveServer, world: World) -> None:
    await _edit_together(web, world)
    # Åse's consent now covers Fritid only: Skole og læring is as if it did not exist.
    await web.services.consents.give(
        world.plan_id, world.users["deltaker"], ["content", "area/fritid"], None, None
    )
    async with signed_in(web.http, ROLE_USERS["deltaker"][0]) as ase:
        refused = await _get(ase, _url(world))
        assert refused.status_code == 404
        assert ASE not in refused.text and FIRST not in refused.text
        assert (await _get(ase, _url(world, "fritid"))).status_code == 200
        assert (await _get(ase, _url(world, "finnes-ikke-æøå"))).status_code == 404
    async with signed_in(web.http, ROLE_USERS["koordinator"][0]) as kari:
        other = f"/plans/{world.other_plan_id}/areas/skole/changes"
        assert (await _get(kari, other)).status_code == 404  # not a member of that plan
    await web.services.repos.users.set_password_hash(
        world.users["outsider"], hash_password(PASSWORD)
    )
    async with signed_in(web.http, OUTSIDER[0]) as ola:
        assert (await _get(ola, _url(world))).status_code == 404
    async with httpx.AsyncClient(base_url=web.http) as nobody:
        assert (await _get(nobody, _url(world))).status_code == 401


# Every test here that starts a server runs on SQLite and on PostgreSQL (tests/conftest.py).
pytestmark = pytest.mark.both_databases
