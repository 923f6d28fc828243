"""My words (issue 13): a goal's own "Jeg vil ..." and the person's own status are credited
from the server's records only. A crafted client signed in as the koordinator that writes
Jonas's status is named as Kari on Min plan and in the records, never as Jonas, even with
forged stamps; Jonas's own write is credited to Jonas; words with no record are credited to
no one. Too long words and values outside the enums are refused by the shape check; an
emoji-only status is valid and has a text alternative.
"""

from __future__ import annotations

import json
import re
from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from pycrdt import Array, Doc, Map, XmlFragment

from crdt.client import YClient
from crdt.protocol import CloseCode
from crdt.richtext import set_rich_text
from crdt.schema import (
    GOALS,
    MAX_LENGTHS,
    OWN_STATUS_FIELDS,
    ShapeProblem,
    append_item,
    find_item,
    get_root,
    new_zone_doc,
    read_zone,
    set_fields,
)
from crdt.shape_guard import ShapeGuard
from crdt.zone_state import doc_from_stored
from server.core.authors import last_field_changes, zone_changes
from tests.support.clients import connected
from tests.support.live import LiveServer
from tests.support.passwords import hash_password
from tests.support.waiting import wait_for
from tests.support.web import PASSWORD, signed_in
from tests.support.world import OUTSIDER, ROLE_USERS, World

pytestmark = pytest.mark.both_databases

GOAL = "Lese en bok i måneden 📚 æøå"
KARI_SAYS = "Jonas synes det går bra, skriver Kari 🫐"
JONAS_SAYS = "Jeg leste to bøker om fotball ⚽ – blåbærsterkt!"
JONAS_WANTS = "Jeg vil lese om Ørnes og fjellene 🏔️"
SERVER_SAYS = "Skrevet av serveren, uten forfatter ✅"
FORGED_AT = "2020-02-29T23:59:00Z"
WAIT_SECONDS = 20


def _goal_item(page: str, goal_id: str) -> str:
    """The `<li>` of one goal on Min plan."""
    match = re.search(rf'<li[^>]*data-id="{re.escape(goal_id)}"[^>]*>(.*?)</li>', page, re.S)
    assert match, goal_id
    return match.group(1)


def _by(item: str, kind: str) -> tuple[str, str]:
    """(data-credit, text) of a goal's `min-own-<kind>-by` line."""
    match = re.search(
        rf'data-testid="min-own-{kind}-by" data-credit="([a-z]+)">([^<]*)</p>', item, re.S
    )
    assert match, (kind, item)
    return match.group(1), " ".join(match.group(2).split())


async def _min_plan(server: LiveServer, role: str, world: World) -> str:
    async with signed_in(server.http, ROLE_USERS[role][0]) as http:
        response = await http.get(f"/plans/{world.plan_id}/min")
        assert response.status_code == 200, role
        return response.text


def _goal_map(client: YClient, goal_id: str) -> Map[Any]:
    item = find_item(client.doc.get(GOALS, type=Array), goal_id)
    assert isinstance(item, Map)
    return item


async def test_the_koordinator_writing_jonass_status_is_credited_to_kari_never_to_jonas(
    web: LiveServer, world: World
) -> None:
    zone_id = world.zones["area/skole"]
    room = world.room("area/skole")
    users = world.users
    planeier = str(users["planeier"])
    async with (
        connected(web.ws_url(room, world.token("koordinator"))) as kari,
        connected(web.ws_url(room, world.token("planeier"))) as jonas,
    ):
        goals = kari.doc.get(GOALS, type=Array)
        with kari.doc.transaction():
            by_kari = append_item(goals, {"label": "M1", "title": GOAL, "parentId": None})
            by_jonas = append_item(goals, {"label": "M2", "title": "Trene 🤾", "parentId": None})
        # A crafted client as Kari writes the first goal's own status, "Jeg vil" and all,
        # and stamps it as Jonas's.
        set_fields(
            _goal_map(kari, by_kari),
            {
                "ownStatus": "bra",
                "ownEmoji": "😊",
                "ownNote": KARI_SAYS,
                "ownWords": "Jeg vil det Kari vil 🙃",
                "updatedBy": planeier,
                "updatedAt": FORGED_AT,
            },
        )
        # Jonas writes his own on the second goal.
        await jonas.wait_for(
            lambda: find_item(jonas.doc.get(GOALS, type=Array), by_jonas) is not None
        )
        set_fields(
            _goal_map(jonas, by_jonas),
            {"ownStatus": "litt", "ownEmoji": "💪", "ownNote": JONAS_SAYS, "ownWords": JONAS_WANTS},
        )
        await kari.wait_for(lambda: _goal_map(kari, by_jonas).get("ownNote") == JONAS_SAYS)

    async def recorded() -> bool:
        changes = await zone_changes(web.services.repos.zone_log, zone_id, "area")
        return by_jonas in last_field_changes(changes, *OWN_STATUS_FIELDS)

    await wait_for(recorded, timeout=WAIT_SECONDS, what="Jonas's status recorded")
    changes = await zone_changes(web.services.repos.zone_log, zone_id, "area")
    status_writers = last_field_changes(changes, *OWN_STATUS_FIELDS)
    assert status_writers[by_kari].user_id == users["koordinator"]
    assert status_writers[by_jonas].user_id == users["planeier"]
    assert last_field_changes(changes, "ownWords")[by_kari].user_id == users["koordinator"]

    # Min plan, as Jonas: Kari's words are hers, his are his.
    page = await _min_plan(web, "planeier", world)
    kari_item, jonas_item = _goal_item(page, by_kari), _goal_item(page, by_jonas)
    assert KARI_SAYS in kari_item and 'aria-label="glad">😊</span>' in kari_item
    assert _by(kari_item, "status") == ("other", "Kari Nilsen skrev dette.")
    assert _by(kari_item, "words") == ("other", "Kari Nilsen skrev dette.")
    assert _by(jonas_item, "status") == ("me", "Du skrev dette.")
    assert _by(jonas_item, "words") == ("me", "Du skrev dette.")
    assert JONAS_WANTS in jonas_item and "Går litt." in jonas_item
    # As Line, the verge: Jonas is named, and Kari is never taken for him.
    page = await _min_plan(web, "verge", world)
    assert _by(_goal_item(page, by_kari), "status") == ("other", "Kari Nilsen skrev dette.")
    assert _by(_goal_item(page, by_jonas), "status") == ("owner", "Jonas Berg skrev dette.")
    # The records the full plan page reads say the same: the user who wrote it, not the stamp.
    async with signed_in(web.http, ROLE_USERS["koordinator"][0]) as http:
        body = (await http.get(f"/plans/{world.plan_id}/areas/skole/changes")).json()
    last_kari = body["items"][by_kari]["history"][-1]
    assert last_kari["userId"] == str(users["koordinator"]) and last_kari["name"] == "Kari Nilsen"
    assert {"field": "ownNote", "old": None, "new": KARI_SAYS} in last_kari["fields"]
    last_jonas = body["items"][by_jonas]["history"][-1]
    assert last_jonas["userId"] == planeier and last_jonas["name"] == "Jonas Berg"
    assert {"field": "ownStatus", "old": None, "new": "litt"} in last_jonas["fields"]

    # Kari changes only the sentence of Jonas's status: the status is hers now, not his.
    async with connected(web.ws_url(room, world.token("koordinator"))) as kari:
        set_fields(_goal_map(kari, by_jonas), {"ownNote": KARI_SAYS})

        async def kari_recorded() -> bool:
            changes = await zone_changes(web.services.repos.zone_log, zone_id, "area")
            last = last_field_changes(changes, *OWN_STATUS_FIELDS).get(by_jonas)
            return last is not None and last.user_id == users["koordinator"]

        await wait_for(kari_recorded, timeout=WAIT_SECONDS, what="Kari's sentence recorded")
    page = await _min_plan(web, "planeier", world)
    jonas_item = _goal_item(page, by_jonas)
    assert _by(jonas_item, "status") == ("other", "Kari Nilsen skrev dette.")
    assert _by(jonas_item, "words") == ("me", "Du skrev dette.")  # his "Jeg vil" is still his


async def test_words_with_no_record_are_credited_to_no_one(web: LiveServer, world: World) -> None:
    zone_id = world.zones["area/fritid"]

    def server_writes(doc: Doc[Any]) -> str:
        return append_item(
            get_root(doc, "area", GOALS),
            {"label": "M1", "title": GOAL, "ownStatus": "ikke", "ownNote": SERVER_SAYS},
        )

    goal_id = await web.services.registry.edit(zone_id, server_writes, "area", actor=None)
    page = await _min_plan(web, "planeier", world)
    item = _goal_item(page, goal_id)
    assert SERVER_SAYS in item and "Går ikke." in item
    assert _by(item, "status") == ("unknown", "Vi vet ikke hvem som skrev dette.")
    assert "Jonas" not in item and "Du skrev" not in item


async def test_an_emoji_only_status_is_valid_and_has_words_for_a_screen_reader(
    web: LiveServer, world: World
) -> None:
    room = world.room("area/skole")
    async with connected(web.ws_url(room, world.token("planeier"))) as jonas:
        goals = jonas.doc.get(GOALS, type=Array)
        goal_id = append_item(goals, {"label": "M1", "title": GOAL, "parentId": None})
        set_fields(_goal_map(jonas, goal_id), {"ownEmoji": "💪"})
        other = append_item(goals, {"label": "M2", "title": "Øve 🎺", "ownNote": "🎉🎉💪"})

        async def stored() -> bool:
            zone = world.zones["area/skole"]
            doc = doc_from_stored(await web.services.committer.store.load(zone))
            found = {g["id"]: g for g in read_zone(doc, "area")["goals"]}
            return found.get(goal_id, {}).get("ownEmoji") == "💪" and other in found

        await wait_for(stored, timeout=WAIT_SECONDS, what="the emoji-only status stored")
        assert jonas.close_code is None
    page = await _min_plan(web, "planeier", world)
    item = _goal_item(page, goal_id)
    assert '<span role="img" aria-label="sterk">💪</span>' in item
    assert _by(item, "status") == ("me", "Du skrev dette.")
    assert "🎉🎉💪" in _goal_item(page, other)


# --- the shape check -----------------------------------------------------------------------

LONG_NOTE = ("Æøå blåbær 🫐 " * 30)[: MAX_LENGTHS["ownNote"] + 1]
LONG_WORDS = ("Jeg vil på tur til Ørnes ⛰️ " * 30)[: MAX_LENGTHS["ownWords"] + 1]


def _through_guard(values: dict[str, Any]) -> list[ShapeProblem]:
    """Set `values` on a goal in a writer's document; what the server's guard finds."""
    writer = new_zone_doc("area")
    goals = get_root(writer, "area", GOALS)
    append_item(goals, {"id": "goal-1", "label": "M1", "title": GOAL})
    server: Doc[Any] = Doc()
    guard = ShapeGuard(server, "area")
    server.apply_update(writer.get_update())
    state = server.get_state()
    set_fields(goals[0], values)
    server.apply_update(writer.get_update(state))
    return guard.problems


@pytest.mark.parametrize(
    "values",
    [
        {"ownNote": LONG_NOTE},
        {"ownWords": LONG_WORDS},
        {"ownStatus": "kjempebra"},
        {"ownEmoji": "🦄"},
        {"ownNote": 42},
    ],
    ids=["note too long", "words too long", "unknown status", "emoji not offered", "number"],
)
def test_the_guard_refuses_what_breaks_the_own_fields(values: dict[str, Any]) -> None:
    problems = _through_guard(values)
    assert [(p.root, p.field) for p in problems] == [(GOALS, next(iter(values)))]
    assert "Æøå" not in repr(problems)  # named by field, never by value


def test_the_guard_lets_the_longest_allowed_and_emoji_only_through() -> None:
    longest = {
        "ownNote": LONG_NOTE[:-1],
        "ownWords": LONG_WORDS[:-1],
        "ownStatus": "litt",
        "ownEmoji": "😢",
    }
    assert len(longest["ownNote"]) == MAX_LENGTHS["ownNote"]
    assert _through_guard(longest) == []
    assert _through_guard({"ownNote": "💪🎉", "ownStatus": None, "ownWords": None}) == []


def test_a_reader_leaves_out_a_stored_value_too_long() -> None:
    """A document stored before the rule (or by a crafted writer) never shows it."""
    doc = new_zone_doc("area")
    goals = get_root(doc, "area", GOALS)
    append_item(goals, {"id": "goal-1", "title": GOAL, "ownNote": "Kort 🫐"})
    goals[0]["ownWords"] = LONG_WORDS
    problems: list[ShapeProblem] = []
    goal = read_zone(doc, "area", problems)["goals"][0]
    assert goal["ownNote"] == "Kort 🫐" and "ownWords" not in goal
    assert problems == [ShapeProblem(GOALS, "goal-1", 0, "ownWords")]


async def test_a_crafted_client_sending_a_too_long_sentence_is_refused(
    web: LiveServer, world: World
) -> None:
    zone_id = world.zones["area/skole"]
    room = world.room("area/skole")
    async with connected(web.ws_url(room, world.token("planeier"))) as jonas:
        goal_id = append_item(
            jonas.doc.get(GOALS, type=Array), {"label": "M1", "title": GOAL, "ownNote": "Kort"}
        )
        await jonas.wait_for(lambda: bool(web.services.registry.rooms[zone_id].committed_seq))
        set_fields(_goal_map(jonas, goal_id), {"ownNote": LONG_NOTE})
        assert await jonas.wait_closed() == CloseCode.UNPROCESSABLE
    stored = doc_from_stored(await web.services.committer.store.load(zone_id))
    goal = find_item(get_root(stored, "area", GOALS), goal_id)
    assert isinstance(goal, Map) and goal.get("ownNote") == "Kort"


# --- "Om meg" ------------------------------------------------------------------------------

ABOUT_KARI = "Jonas er en gutt som liker fotball, skriver Kari ⚽"
ABOUT_JONAS = "Jeg heter Jonas, jeg er 16 og liker å tegne blåbær 🫐"


async def _about_me_by(server: LiveServer, role: str, world: World) -> tuple[str, str]:
    page = await _min_plan(server, role, world)
    match = re.search(r'data-testid="min-about-by" data-credit="([a-z]+)">([^<]*)</p>', page)
    assert match, page
    return match.group(1), " ".join(match.group(2).split())


async def test_who_last_wrote_om_meg_comes_from_the_records(web: LiveServer, world: World) -> None:
    zone_id = world.zones["content"]
    room = world.room("content")
    users = world.users

    async def last_writer() -> int | None:
        changes = await zone_changes(web.services.repos.zone_log, zone_id, "content")
        last = last_field_changes(changes, "aboutMe").get("aboutMe")
        return None if last is None else last.user_id

    def written_by(user_id: int) -> Callable[[], Awaitable[bool]]:
        async def check() -> bool:
            return await last_writer() == user_id

        return check

    async with connected(web.ws_url(room, world.token("koordinator"))) as kari:
        set_rich_text(kari.doc.get("aboutMe", type=XmlFragment), [ABOUT_KARI])
        await wait_for(written_by(users["koordinator"]), timeout=WAIT_SECONDS, what="Kari")
    # Jonas changes the plan's status, not "Om meg": who wrote "Om meg" stays Kari.
    async with connected(web.ws_url(room, world.token("planeier"))) as jonas:
        jonas.doc.get("meta", type=Map)["status"] = "aktiv"

        async def recorded() -> bool:
            changes = await zone_changes(web.services.repos.zone_log, zone_id, "content")
            return changes[-1].user_id == users["planeier"]

        await wait_for(recorded, timeout=WAIT_SECONDS, what="Jonas's status change")
    assert await _about_me_by(web, "planeier", world) == ("other", "Kari Nilsen skrev dette.")
    async with signed_in(web.http, ROLE_USERS["deltaker"][0]) as http:
        body = (await http.get(f"/plans/{world.plan_id}/content/changes")).json()
    last = body["items"]["aboutMe"]["last"]
    assert last["userId"] == str(users["koordinator"]) and last["name"] == "Kari Nilsen"
    assert last["fields"] == [{"field": "aboutMe", "edited": True}]
    assert ABOUT_KARI not in json.dumps(body, ensure_ascii=False)  # never the words

    async with connected(web.ws_url(room, world.token("planeier"))) as jonas:
        set_rich_text(jonas.doc.get("aboutMe", type=XmlFragment), [ABOUT_JONAS])
        await wait_for(written_by(users["planeier"]), timeout=WAIT_SECONDS, what="Jonas")
    assert await _about_me_by(web, "planeier", world) == ("me", "Du skrev dette.")
    assert await _about_me_by(web, "verge", world) == ("owner", "Jonas Berg skrev dette.")
    page = await _min_plan(web, "planeier", world)
    assert ABOUT_JONAS in page and ABOUT_KARI not in page

    # Whoever may not open the content zone may not ask who wrote in it.
    await web.services.repos.users.set_password_hash(
        world.users["outsider"], hash_password(PASSWORD)
    )
    async with signed_in(web.http, OUTSIDER[0]) as http:
        response = await http.get(f"/plans/{world.plan_id}/content/changes")
        assert response.status_code == 404
