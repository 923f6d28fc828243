"""Comments and messages are written by the server for the signed-in person (issue 11).

The attack first: the leser Per Lund, with a crafted pycrdt client on the comments socket,
rewrites the verge Line Berg's comment and posts a message in the koordinator's name. Both
are refused (permission denied) and neither reaches a fresh client nor the durable log. Then
the only way to write: hand-made JSON POSTs, checked for role, consent, anchor, authorship,
text, form token and a closed plan.
"""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from pycrdt import Array, Doc, Map, Text

from crdt.schema import append_item, find_item, get_root, read_zone
from crdt.zone_state import doc_from_stored
from tests.support.clients import connected
from tests.support.live import LiveServer
from tests.support.web import csrf_of, post_json, signed_in
from tests.support.world import ROLE_USERS, World

LINE = "Line Berg"
PER = "Per Lund"
KARI = "Kari Nilsen"
LINE_WORDS = "Jonas trenger ro i friminuttene 🌿 – æøå"


def email(role: str) -> str:
    return ROLE_USERS[role][0]


async def _goal(server: LiveServer, world: World) -> str:
    """A goal in Skole og læring to comment on, written by the server."""

    def add(doc: Doc[Any]) -> str:
        goals = get_root(doc, "area", "goals")
        return append_item(goals, {"label": "M1", "title": "Trives på skolen 🏫 æøå"})

    goal_id: str = await server.services.registry.edit(
        world.zones["area/skole"], add, "area", actor=None
    )
    return goal_id


async def _stored(server: LiveServer, world: World) -> dict[str, Any]:
    """The comments zone as the durable log has it (snapshot plus tail), not the live room."""
    stored = await server.services.repos.zone_log.load(world.zones["comments"])
    return read_zone(doc_from_stored(stored), "comments")


async def _live(server: LiveServer, world: World) -> dict[str, Any]:
    return read_zone(await server.services.registry.read(world.zones["comments"]), "comments")


def _url(world: World, what: str = "comments") -> str:
    return f"/plans/{world.plan_id}/{what}"


async def _comment(http: httpx.AsyncClient, world: World, anchor: str, text: str) -> str:
    response = await post_json(http, _url(world), {"anchorId": anchor, "text": text})
    assert response.status_code == 201, response.text
    comment_id: str = response.json()["id"]
    return comment_id


async def test_crafted_client_cannot_forge_words(web: LiveServer, world: World) -> None:
    server = web
    goal = await _goal(server, world)
    async with signed_in(server.http, email("verge")) as line:
        comment_id = await _comment(line, world, goal, LINE_WORDS)
        response = await post_json(line, _url(world, "messages"), {"text": "Hei fra Line 👋"})
        assert response.status_code == 201
    before = await _stored(server, world)
    assert [c["text"] for c in before["comments"]] == [LINE_WORDS]

    room = world.room("comments")
    async with connected(server.ws_url(room, world.token("leser"))) as per:
        comments = per.doc.get("comments", type=Array)
        item = find_item(comments, comment_id)
        assert isinstance(item, Map)
        with per.doc.transaction():
            item["text"] = Text("Line vil at Jonas skal flytte skole ❗")
        await per.wait_for(lambda: len(per.denied) == 1)
        with per.doc.transaction():
            append_item(
                per.doc.get("messages", type=Array),
                {
                    "authorId": str(world.users["koordinator"]),
                    "authorName": KARI,
                    "text": "Møtet er avlyst for godt 🚫",
                    "createdAt": "2026-01-15T10:00:00Z",
                },
            )
        await per.wait_for(lambda: len(per.denied) == 2)
        assert per.denied == ["read-only", "read-only"]

    async with connected(server.ws_url(room, world.token("planeier"))) as fresh:
        seen = read_zone(fresh.doc, "comments")
    for zone in (seen, await _stored(server, world), await _live(server, world)):
        assert zone == before
        assert [c["text"] for c in zone["comments"]] == [LINE_WORDS]
        assert zone["comments"][0]["authorName"] == LINE
        assert [(m["authorName"], m["text"]) for m in zone["messages"]] == [
            (LINE, "Hei fra Line 👋")
        ]


async def test_leser_comments_in_their_own_name_only(web: LiveServer, world: World) -> None:
    goal = await _goal(web, world)
    forged = {
        "anchorId": goal,
        "text": "  Hvem følger opp leksene? 🤔 æøå  ",
        "authorId": str(world.users["koordinator"]),
        "authorName": KARI,
        "createdAt": "2001-01-01T00:00:00Z",
    }
    async with signed_in(web.http, email("leser")) as per:
        response = await post_json(per, _url(world), forged)
        assert response.status_code == 201
        message = {"text": "Takk for sist 🙏", "authorId": str(world.users["koordinator"])}
        assert (await post_json(per, _url(world, "messages"), message)).status_code == 201
    zone = await _stored(web, world)
    [comment] = zone["comments"]
    assert comment["id"] == response.json()["id"]
    assert comment["text"] == "Hvem følger opp leksene? 🤔 æøå"
    assert (comment["authorId"], comment["authorName"]) == (str(world.users["leser"]), PER)
    assert comment["createdAt"] != "2001-01-01T00:00:00Z" and comment["resolved"] is False
    [posted] = zone["messages"]
    assert (posted["authorId"], posted["authorName"]) == (str(world.users["leser"]), PER)


async def test_only_the_author_edits_or_deletes(web: LiveServer, world: World) -> None:
    goal = await _goal(web, world)
    async with signed_in(web.http, email("verge")) as line:
        comment_id = await _comment(line, world, goal, LINE_WORDS)
        async with signed_in(web.http, email("deltaker")) as aase:
            edit = await post_json(
                aase, f"{_url(world)}/{comment_id}/edit", {"text": "Åse sier 😈"}
            )
            assert edit.status_code == 403 and "Bare den som skrev" in edit.json()["error"]
            delete = await post_json(aase, f"{_url(world)}/{comment_id}/delete", {})
            assert delete.status_code == 403
            resolve = await post_json(aase, f"{_url(world)}/{comment_id}/resolve", {})
            assert resolve.status_code == 403
            hide = await post_json(aase, f"{_url(world)}/{comment_id}/hide", {})
            assert hide.status_code == 403
        async with signed_in(web.http, email("koordinator")) as kari:  # resolves, never rewrites
            edit = await post_json(kari, f"{_url(world)}/{comment_id}/edit", {"text": "Kari 🖊️"})
            assert edit.status_code == 403
        [comment] = (await _stored(web, world))["comments"]
        assert comment["text"] == LINE_WORDS and "editedAt" not in comment

        # The author edits: the earlier text stays in the history.
        edited = "Jonas trenger ro – og en voksen å snakke med 🌿 æøå"
        response = await post_json(line, f"{_url(world)}/{comment_id}/edit", {"text": edited})
        assert response.status_code == 200
        [comment] = (await _stored(web, world))["comments"]
        assert comment["text"] == edited and comment["editedAt"] >= comment["createdAt"]
        assert comment["edits"] == [{"text": LINE_WORDS, "at": comment["createdAt"]}]
        assert comment["authorName"] == LINE

        # ... and deletes it.
        response = await post_json(line, f"{_url(world)}/{comment_id}/delete", {})
        assert response.status_code == 200
        assert (await _stored(web, world))["comments"] == []
        again = await post_json(line, f"{_url(world)}/{comment_id}/edit", {"text": "igjen 🔁"})
        assert again.status_code == 404


async def test_messages_edited_by_their_author_keep_their_history(
    web: LiveServer, world: World
) -> None:
    async with signed_in(web.http, email("deltaker")) as aase:
        response = await post_json(aase, _url(world, "messages"), {"text": "Møtet flyttes 🙂"})
        message_id = response.json()["id"]
        async with signed_in(web.http, email("koordinator")) as kari:
            path = f"{_url(world, 'messages')}/{message_id}/edit"
            forged = await post_json(kari, path, {"text": "Møtet er avlyst"})
            assert forged.status_code == 403
        path = f"{_url(world, 'messages')}/{message_id}/edit"
        response = await post_json(aase, path, {"text": "Møtet flyttes til torsdag 🙂 æøå"})
        assert response.status_code == 200
    [message] = (await _stored(web, world))["messages"]
    assert message["text"] == "Møtet flyttes til torsdag 🙂 æøå"
    assert message["authorName"] == "Åse Ødegård" and message["editedAt"]
    assert message["edits"] == [{"text": "Møtet flyttes 🙂", "at": message["createdAt"]}]


async def test_koordinator_resolves_and_hides_with_a_trace(web: LiveServer, world: World) -> None:
    goal = await _goal(web, world)
    async with signed_in(web.http, email("verge")) as line:
        comment_id = await _comment(line, world, goal, LINE_WORDS)
    async with signed_in(web.http, email("koordinator")) as kari:
        base = f"{_url(world)}/{comment_id}"
        response = await post_json(kari, f"{base}/resolve", {"resolved": True})
        assert response.status_code == 200
        assert (await post_json(kari, f"{base}/resolve", {"resolved": "ja"})).status_code == 400
        response = await post_json(kari, f"{base}/hide", {})
        assert response.status_code == 200
    [comment] = (await _stored(web, world))["comments"]
    koordinator = str(world.users["koordinator"])
    assert comment["resolved"] is True and comment["resolvedBy"] == koordinator
    assert (comment["hiddenBy"], comment["hiddenByName"]) == (koordinator, KARI)
    assert comment["hiddenAt"] and comment["text"] == LINE_WORDS  # hidden, never rewritten
    async with signed_in(web.http, email("verge")) as line:  # a hidden comment stays as it is
        edit = await post_json(line, f"{_url(world)}/{comment_id}/edit", {"text": "ny 🆕"})
        assert edit.status_code == 403
        assert (await post_json(line, f"{_url(world)}/{comment_id}/delete", {})).status_code == 403
    [after] = (await _stored(web, world))["comments"]
    assert after == comment


async def test_bad_requests_change_nothing(web: LiveServer, world: World) -> None:
    goal = await _goal(web, world)
    async with signed_in(web.http, email("deltaker")) as aase:
        for body, status in [
            ({"anchorId": "finnes-ikke", "text": "Hei 👋"}, 400),
            ({"anchorId": "", "text": "Hei 👋"}, 400),
            ({"anchorId": ["x"], "text": "Hei 👋"}, 400),
            ({"anchorId": goal, "text": "   "}, 400),
            ({"anchorId": goal, "text": 7}, 400),
            ({"anchorId": goal, "text": "æ" * 4001}, 400),
        ]:
            response = await post_json(aase, _url(world), body)
            assert response.status_code == status, (body, response.text)
            assert response.json()["error"]
        no_token = await post_json(
            aase, _url(world), {"anchorId": goal, "text": "Hei"}, token=False
        )
        assert no_token.status_code == 403
        as_form = await aase.post(_url(world), data={"anchorId": goal, "text": "Hei"})
        assert as_form.status_code == 400
        missing = await post_json(aase, f"{_url(world)}/finnes-ikke/edit", {"text": "Hei 👋"})
        assert missing.status_code == 404
        # A section of the content zone is an anchor too.
        assert (
            await post_json(aase, _url(world), {"anchorId": "aboutMe", "text": "Fint 👍"})
        ).status_code == 201
    zone = await _stored(web, world)
    assert [c["anchorId"] for c in zone["comments"]] == ["aboutMe"] and zone["messages"] == []


async def test_consent_and_a_closed_plan_bound_who_may_write(web: LiveServer, world: World) -> None:
    goal = await _goal(web, world)
    consents = web.services.consents
    planeier = world.users["planeier"]
    # The leser may see Skole og læring, not the comments.
    await consents.give(world.plan_id, world.users["leser"], ["area/skole"], None, planeier)
    # The deltaker may comment, but not on an area her consent does not cover.
    await consents.give(world.plan_id, world.users["deltaker"], ["comments"], None, planeier)
    async with signed_in(web.http, email("leser")) as per:
        response = await post_json(per, _url(world), {"anchorId": goal, "text": "Hei 👋"})
        assert response.status_code == 404
        assert (await post_json(per, _url(world, "messages"), {"text": "Hei"})).status_code == 404
    async with signed_in(web.http, email("deltaker")) as aase:
        response = await post_json(aase, _url(world), {"anchorId": goal, "text": "Hei 👋"})
        assert response.status_code == 400  # the anchor is in a zone she may not read
        assert (
            await post_json(aase, _url(world, "messages"), {"text": "Hei 🙂"})
        ).status_code == 201
    async with signed_in(web.http, email("koordinator")) as kari:
        page = await kari.get("/plans")
        closed = await kari.post(
            f"/plans/{world.plan_id}/close",
            data={"csrf_token": csrf_of(page.text), "confirm": "yes"},
        )
        assert closed.status_code == 303
        response = await post_json(kari, _url(world), {"anchorId": goal, "text": "Etterpå 🔒"})
        assert response.status_code == 409
        assert (
            await post_json(kari, _url(world, "messages"), {"text": "Etterpå"})
        ).status_code == 409
    zone = await _stored(web, world)
    assert zone["comments"] == [] and [m["text"] for m in zone["messages"]] == ["Hei 🙂"]


async def test_not_signed_in_gets_401_as_json(web: LiveServer, world: World) -> None:
    async with httpx.AsyncClient(base_url=web.http) as anonymous:
        response = await anonymous.post(
            _url(world), json={"text": "Hei"}, headers={"accept": "application/json"}
        )
    assert response.status_code == 401 and response.json()["error"]


# Every test here that starts a server runs on SQLite and on PostgreSQL (tests/conftest.py).
pytestmark = pytest.mark.both_databases
