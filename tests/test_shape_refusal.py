"""An update that would break the zone contract is refused at write time (issue 11, "Shapes the
server keeps"): never applied for anyone else, stored or relayed; the writer's socket closes
with 4422, everyone else resyncs from the durable state; valid edits pay nothing else."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

import pytest
from pycrdt import Array, Doc, Map, Text, XmlFragment

from crdt.client import YClient
from crdt.protocol import CloseCode
from crdt.schema import append_item, get_root, new_zone_doc, set_fields
from crdt.shape_guard import ShapeGuard
from crdt.zone_state import doc_from_stored
from tests.support.clients import connected
from tests.support.live import LiveServer
from tests.support.web import signed_in
from tests.support.world import ROLE_USERS, World

GOAL = "Åse Ødegård leser sammen med Jonas 📚"
AFTER = "Blåbærtur med skolen etterpå 🫐"
SECRET = "Hemmelig tekst fra Åse 🤫"


# --- the guard on its own ---------------------------------------------------------------------


def _goal(doc: Doc[Any]) -> Map[Any]:
    goals = get_root(doc, "area", "goals")
    append_item(goals, {"id": "goal-1", "label": "M1", "title": GOAL, "parentId": None})
    item: Map[Any] = goals[0]
    return item


def _apply_through_guard(
    kind: str, setup: Callable[[Doc[Any]], Any], change: Callable[..., Any]
) -> list[Any]:
    """Make `setup` in a writer's document and sync it; then `change`, and return what the
    guard on the receiving (server's) document found in the change alone."""
    writer = new_zone_doc(kind)
    made = setup(writer)
    server: Doc[Any] = Doc()
    guard = ShapeGuard(server, kind)
    server.apply_update(writer.get_update())
    assert guard.problems == []
    state = server.get_state()
    with writer.transaction():
        change(writer, made)
    server.apply_update(writer.get_update(state))
    return guard.problems


BAD_AREA_CHANGES: dict[str, Callable[[Doc[Any], Map[Any]], Any]] = {
    "a string in goals": lambda d, g: get_root(d, "area", "goals").append("x"),
    "a number in measures": lambda d, g: get_root(d, "area", "measures").append(42),
    "a map without id": lambda d, g: get_root(d, "area", "goals").append(Map({"label": "M2"})),
    "a map with a number id": lambda d, g: get_root(d, "area", "goals").append(Map({"id": 7})),
    "an item with a bad date": lambda d, g: get_root(d, "area", "measures").append(
        Map({"id": "m-1", "end": 42})
    ),
    "the id removed": lambda d, g: g.pop("id"),
    "a number where a date belongs": lambda d, g: g.__setitem__("updatedAt", 42),
    "an unknown status": lambda d, g: get_root(d, "area", "measures").append(
        Map({"id": "m-2", "status": SECRET})
    ),
    "a map where text belongs": lambda d, g: g.__setitem__("title", Map({"x": SECRET})),
    "text where rich text belongs": lambda d, g: g.__setitem__("description", Text(SECRET)),
    "a string where a list belongs": lambda d, g: g.__setitem__("responsible", "7"),
    "a map in responsible": lambda d, g: g.__setitem__("responsible", Array([Map()])),
    "text in a goal's label": lambda d, g: g.__setitem__("label", Text("M1")),
}


@pytest.mark.parametrize("name", list(BAD_AREA_CHANGES))
def test_the_guard_finds_what_breaks_the_contract(name: str) -> None:
    problems = _apply_through_guard("area", _goal, BAD_AREA_CHANGES[name])
    assert problems, name
    # Named by id and field, never by value.
    assert SECRET not in repr(problems)


def test_the_guard_finds_a_bad_user_id_pushed_into_responsible() -> None:
    def setup(doc: Doc[Any]) -> Map[Any]:
        measures = get_root(doc, "area", "measures")
        append_item(measures, {"id": "m-1", "title": GOAL, "responsible": ["7"]})
        item: Map[Any] = measures[0]
        return item

    problems = _apply_through_guard(
        "area", setup, lambda d, m: m["responsible"].append(Map({"x": 1}))
    )
    assert [(p.root, p.field) for p in problems] == [("measures", "responsible")]


def test_the_guard_watches_items_already_in_the_document() -> None:
    """A room's guard starts after the load: items stored before are watched too."""
    writer = new_zone_doc("area")
    measures = get_root(writer, "area", "measures")
    append_item(measures, {"id": "m-1", "title": GOAL, "responsible": ["7"]})
    server: Doc[Any] = Doc()
    server.apply_update(writer.get_update())
    guard = ShapeGuard(server, "area")
    state = server.get_state()
    measures[0]["end"] = 42
    measures[0]["responsible"].append(7.5)
    server.apply_update(writer.get_update(state))
    assert sorted(p.field for p in guard.problems) == ["end", "responsible"]


def test_the_guard_checks_map_roots() -> None:
    problems = _apply_through_guard(
        "content",
        lambda d: None,
        lambda d, _: get_root(d, "content", "meta").update({"nextRevision": 42, "status": "aktiv"}),
    )
    assert [(p.root, p.field) for p in problems] == [("meta", "nextRevision")]


def test_the_guard_lets_every_valid_edit_through() -> None:
    """What the bundle does (docs/schema.md): items with Text, rich text and id lists, plain
    fields and stamps, typing, deleting, unknown keys of any type, null."""

    def change(doc: Doc[Any], goal: Map[Any]) -> None:
        goal["title"].insert(0, "Nå: ")
        set_fields(goal, {"updatedBy": "3", "updatedAt": "2026-01-15T14:05:00Z", "parentId": None})
        goal["description"] = XmlFragment()
        goal["fromNewerBundle"] = Map({"anything": 42})
        measures = get_root(doc, "area", "measures")
        append_item(
            measures,
            {
                "goalId": "goal-1",
                "title": "Blåbær 🫐",
                "description": ["Øve på lesing med Åse 📖"],
                "responsible": ["3", "7"],
                "externalParty": "",
                "scope": "",
                "start": "2026-01-15",
                "end": None,
                "status": "pagar",
                "meetingId": None,
            },
        )
        measures[0]["responsible"].append("9")
        measures[0]["legacyNumber"] = 3
        get_root(doc, "area", "evaluations").append(
            Map({"id": "e-1", "goalId": "goal-1", "date": "2026-02-01", "attainment": "delvis"})
        )
        del goal["parentId"]

    assert _apply_through_guard("area", _goal, change) == []


# --- a live server and a crafted client -------------------------------------------------------


async def _stored(server: LiveServer, zone_id: int) -> Doc[Any]:
    """The zone as the durable store holds it (snapshot and log), not the live room."""
    return doc_from_stored(await server.services.committer.store.load(zone_id))


def _raw_goals(doc: Doc[Any]) -> list[Any]:
    return [
        str(item["title"]) if isinstance(item, Map) else item
        for item in get_root(doc, "area", "goals")
    ]


async def _refused(
    server: LiveServer,
    world: World,
    zone: str,
    writer_role: str,
    poison: Callable[[YClient], None],
) -> YClient:
    """A watcher and a writer share a zone with one good goal; the writer sends `poison`.
    Returns the watcher (closed), after checking the writer got 4422 and the watcher 1013
    without ever seeing the change."""
    url = server.ws_url(world.room(zone), world.token("koordinator"))
    watcher = YClient(url)
    await watcher.connect()
    await watcher.wait_for(watcher.synced.is_set)
    seen: list[bytes] = []
    watcher.doc.observe(lambda event: seen.append(event.update))
    async with connected(server.ws_url(world.room(zone), world.token(writer_role))) as writer:
        poison(writer)
        assert await writer.wait_closed() == CloseCode.UNPROCESSABLE
        assert writer.close_reason == "refused: breaks the plan's shape"
    assert await watcher.wait_closed() == CloseCode.TRY_AGAIN_LATER
    assert seen == []
    return watcher


async def test_a_string_in_goals_is_refused_never_stored_nor_relayed(
    server: LiveServer, world: World, caplog: pytest.LogCaptureFixture
) -> None:
    zone_id = world.zones["area/skole"]
    room = world.room("area/skole")
    async with connected(server.ws_url(room, world.token("koordinator"))) as seeder:
        append_item(
            seeder.doc.get("goals", type=Array),
            {"id": "goal-1", "label": "M1", "title": GOAL, "parentId": None},
        )
        await seeder.wait_for(lambda: bool(server.services.registry.rooms[zone_id].committed_seq))
    durable_before = (await _stored(server, zone_id)).get_update()

    def poison(writer: YClient) -> None:
        goals = writer.doc.get("goals", type=Array)
        with writer.doc.transaction():
            goals.append("x")
            goals[0]["title"].insert(0, SECRET)  # the same update: all of it is refused

    with caplog.at_level(logging.WARNING, logger="samplan.room"):
        watcher = await _refused(server, world, "area/skole", "deltaker", poison)
    await watcher.close()
    stored = await _stored(server, zone_id)
    assert _raw_goals(stored) == [GOAL]
    assert stored.get_update() == durable_before
    logged = [
        r.getMessage() for r in caplog.records if "breaks the zone's shapes" in r.getMessage()
    ]
    assert logged and f"room {zone_id}" in logged[0] and "root goals" in logged[0]
    assert not any(SECRET in m or "'x'" in m for m in logged)

    # Reconnecting, the watcher gets the durable state; a valid edit on a new connection works.
    async with (
        connected(server.ws_url(room, world.token("koordinator"))) as again,
        connected(server.ws_url(room, world.token("deltaker"))) as writer,
    ):
        assert _raw_goals(again.doc) == [GOAL]
        assert _raw_goals(writer.doc) == [GOAL]
        append_item(
            writer.doc.get("goals", type=Array),
            {"id": "goal-2", "label": "M2", "title": AFTER, "parentId": None},
        )
        await again.wait_for(lambda: _raw_goals(again.doc) == [GOAL, AFTER])
        assert writer.close_code is None
    await server.services.registry.rooms[zone_id].settle()
    assert _raw_goals(await _stored(server, zone_id)) == [GOAL, AFTER]


async def test_a_number_for_the_revision_date_is_refused_and_print_stays_up(
    web: LiveServer, world: World
) -> None:
    zone_id = world.zones["content"]
    room = world.room("content")
    async with connected(web.ws_url(room, world.token("koordinator"))) as seeder:
        seeder.doc.get("meta", type=Map).update(
            {"status": "aktiv", "nextRevision": "2026-12-31", "planPeriodStart": "2026-01-01"}
        )
        await seeder.wait_for(lambda: bool(web.services.registry.rooms[zone_id].committed_seq))

    def poison(writer: YClient) -> None:
        writer.doc.get("meta", type=Map)["nextRevision"] = 42

    watcher = await _refused(web, world, "content", "deltaker", poison)
    await watcher.close()
    meta = (await _stored(web, zone_id)).get("meta", type=Map)
    assert meta["nextRevision"] == "2026-12-31"
    async with signed_in(web.http, ROLE_USERS["koordinator"][0]) as http:
        printed = await http.get(f"/plans/{world.plan_id}/print")
        assert printed.status_code == 200 and "31.12.2026" in printed.text
        pdf = await http.get(f"/plans/{world.plan_id}/export.pdf")
        assert pdf.status_code == 200 and pdf.content.startswith(b"%PDF-")
    # A valid date from a new connection is stored.
    async with connected(web.ws_url(room, world.token("deltaker"))) as writer:
        writer.doc.get("meta", type=Map)["nextRevision"] = "2027-01-15"
        room_now = web.services.registry.rooms[zone_id]
        await writer.wait_for(
            lambda: room_now.doc.get("meta", type=Map).get("nextRevision") == "2027-01-15"
        )
        await room_now.settle()
        assert writer.close_code is None
    assert (await _stored(web, zone_id)).get("meta", type=Map)["nextRevision"] == "2027-01-15"


async def test_a_server_edit_that_breaks_the_shapes_is_refused(
    server: LiveServer, world: World
) -> None:
    """The server's own writes (registry.edit) keep the same contract: refused, not stored."""
    from crdt.room import RoomWriteRefused

    zone_id = world.zones["area/fritid"]

    def bad(doc: Doc[Any]) -> None:
        get_root(doc, "area", "goals").append("x")

    with pytest.raises(RoomWriteRefused):
        await server.services.registry.edit(zone_id, bad, "area", actor=None)
    assert _raw_goals(await _stored(server, zone_id)) == []
    # The next edit loads the room afresh from the durable state and works.
    await server.services.registry.edit(
        zone_id,
        lambda doc: append_item(get_root(doc, "area", "goals"), {"label": "M1", "title": GOAL}),
        "area",
        actor=None,
    )
    assert _raw_goals(await _stored(server, zone_id)) == [GOAL]
