"""Notifications noticed in zones over a real server with real WebSocket clients, and the
reminder job run twice and on two "nodes" at once."""

from __future__ import annotations

import asyncio
import logging
import time
from datetime import timedelta

import pytest
from pycrdt import Array, Map

from crdt.facts import zone_facts
from crdt.schema import append_item, find_item, new_zone_doc, set_fields, utc_timestamp
from server.core.clock import today_oslo
from server.notify.notifier import Notifier, dotted_initials
from server.notify.reminders import Reminders
from storage.repositories.notifications import NotificationRepo
from tests.support.clients import connected
from tests.support.live import LiveServer
from tests.support.waiting import wait_for
from tests.support.web import post_json, signed_in
from tests.support.world import MEETING, ROLE_USERS, World

log = logging.getLogger("tests.notifications")


async def _kinds(repo: NotificationRepo, user_id: int) -> list[str]:
    return [n.kind for n in await repo.list_for_user(user_id)]


async def test_message_comment_and_assignment_notify_the_right_members(
    web: LiveServer, world: World
) -> None:
    server = web
    repo = server.services.repos.notifications
    users = world.users
    async with signed_in(server.http, ROLE_USERS["deltaker"][0]) as aase:
        started = time.perf_counter()
        posted = await post_json(
            aase, f"/plans/{world.plan_id}/messages", {"text": "Hei alle, møtet flyttes 🙂 æøå"}
        )
        assert posted.status_code == 201
        others = ("planeier", "verge", "koordinator", "leser")
        for role in others:
            await wait_for(
                lambda r=role: _has(repo, users[r], "message"), what=f"{role} told of the message"
            )
        log.info("message noticed in %.0f ms", (time.perf_counter() - started) * 1000)
        assert await _kinds(repo, users["deltaker"]) == []  # not told of her own message
        assert await _kinds(repo, users["outsider"]) == []
        note = (await repo.list_for_user(users["koordinator"]))[0]
        assert note.link.startswith(f"/plans/{world.plan_id}#message-")

    area = world.room("area/skole")
    async with connected(server.ws_url(area, world.token("koordinator"))) as kari:
        with kari.doc.transaction():
            measure_id = append_item(
                kari.doc.get("measures", type=Array),
                {"title": "Leksehjelp to dager i uka 📚", "end": "2099-01-01", "status": "pagar"},
            )
        # Existing at first sight is not "assigned": nothing yet. Now name the deltaker.
        measure = find_item(kari.doc.get("measures", type=Array), measure_id)
        assert isinstance(measure, Map)
        # Kari names the deltaker and herself, and forges the stamp as if the deltaker
        # had: who named whom is the server's record (Kari's socket), never the stamp.
        set_fields(
            measure,
            {
                "responsible": [str(users["deltaker"]), str(users["koordinator"])],
                "updatedBy": str(users["deltaker"]),
            },
        )
        await wait_for(lambda: _has(repo, users["deltaker"], "assigned"), what="assigned")
        await server.services.zone_watch.flush()
        assert not await _has(repo, users["koordinator"], "assigned")  # she named herself
        assigned = (await repo.list_for_user(users["deltaker"]))[0]
        assert assigned.item_id == measure_id
        assert assigned.link == f"/plans/{world.plan_id}#measure-{measure_id}"

    async with signed_in(server.http, ROLE_USERS["leser"][0]) as per:
        body = {"anchorId": measure_id, "text": "Går dette bra? 🤔"}
        assert (await post_json(per, f"/plans/{world.plan_id}/comments", body)).status_code == 201
        await wait_for(lambda: _has(repo, users["deltaker"], "comment"), what="comment")
    assert await _kinds(repo, users["verge"]) == ["message"]  # not responsible: no comment note


async def _has(repo: NotificationRepo, user_id: int, kind: str) -> bool:
    return kind in await _kinds(repo, user_id)


async def test_reminders_once_when_run_twice_and_on_two_nodes(
    server: LiveServer, world: World
) -> None:
    services = server.services
    repo = services.repos.notifications
    today = today_oslo()
    due = (today + timedelta(days=7)).isoformat()
    users = world.users
    await services.plans.save_zone_summary(
        world.zones["area/skole"],
        {
            "openMeasureEnds": [due, "2099-01-01"],
            "openMeasures": [
                {"id": "m-frist", "end": due, "responsible": [str(users["deltaker"])]},
                {"id": "m-senere", "end": "2099-01-01", "responsible": [str(users["deltaker"])]},
            ],
        },
    )
    await services.plans.save_zone_summary(
        world.zones["content"], {"nextRevision": today.isoformat()}
    )
    first = await services.reminders.run(today)
    assert first == 2
    assert await services.reminders.run(today) == 0  # the second run is a no-op
    # Two "nodes": two reminder jobs over two notifiers on the same database, at once.
    nodes = [
        Reminders(
            services.plans,
            services.summaries,
            Notifier(
                services.settings,
                services.plans,
                services.consents,
                NotificationRepo(services.repos.sessionmaker),
                services.events,
                services.repos.users,
            ),
            0,
        )
        for _ in range(2)
    ]
    tomorrow = today + timedelta(days=1)
    await services.plans.save_zone_summary(
        world.zones["area/skole"],
        {
            "openMeasures": [
                {
                    "id": "m-frist-2",
                    "end": (tomorrow + timedelta(days=7)).isoformat(),
                    "responsible": [str(users["deltaker"])],
                }
            ]
        },
    )
    results = await asyncio.gather(*(node.run(tomorrow) for node in nodes))
    assert sorted(results) == [0, 1]  # revision date unchanged: already told; one deadline
    assert sorted(await _kinds(repo, users["deltaker"])) == ["deadline", "deadline"]
    assert await _kinds(repo, users["koordinator"]) == ["revision"]
    assert await _kinds(repo, users["planeier"]) == []


def test_initials_say_nothing_more() -> None:
    assert dotted_initials("Jonas Berg") == "J. B."
    assert dotted_initials("Åse Ødegård") == "Å. Ø."
    assert dotted_initials("  ") == "?"


async def test_minutes_published_tells_who_may_read_them_once_per_version(
    server: LiveServer, world: World
) -> None:
    services = server.services
    notifier = services.notifier
    users = world.users
    await services.consents.revoke(world.plan_id, users["leser"], users["planeier"])
    first = await notifier.minutes_published(world.plan_id, MEETING, 1)
    told = {n.user_id for n in first}
    assert told == {users[r] for r in ("planeier", "verge", "koordinator", "deltaker")}
    assert all(n.link == f"/plans/{world.plan_id}/meetings/{MEETING}/published/1" for n in first)
    assert await notifier.minutes_published(world.plan_id, MEETING, 1) == []  # same version
    assert len(await notifier.minutes_published(world.plan_id, MEETING, 2)) == 4
    assert await services.repos.notifications.list_for_user(users["leser"]) == []
    assert await services.repos.notifications.list_for_user(users["outsider"]) == []


def test_zone_facts_are_ids_and_authors_only() -> None:
    doc = new_zone_doc("comments")
    messages = doc.get("messages", type=Array)
    first = append_item(messages, {"authorId": "4", "text": "Hei 🙂 æøå"})
    facts = zone_facts(doc, "comments")
    assert facts.messages == {first: "4"} and facts.comments == {}
    second = append_item(messages, {"authorId": "3", "text": "Svar"})
    again = zone_facts(doc, "comments", facts)
    assert again.messages == {first: "4", second: "3"}
    assert "Hei" not in repr(again)
    area = new_zone_doc("area")
    measure = append_item(area.get("measures", type=Array), {"title": "T", "responsible": ["4"]})
    assert zone_facts(area, "area").responsible == {measure: frozenset({"4"})}
    assert zone_facts(new_zone_doc("content"), "content") == zone_facts(area, "minutes")


async def test_a_recent_message_stored_but_never_noticed_is_notified_when_the_room_loads(
    server: LiveServer, world: World
) -> None:
    """As if a node stopped between storing a message and noticing it: the message is in the
    log, no notification exists; the next load of the room makes up for it (once). A message
    older than RECENT is history, not news."""
    repo = server.services.repos.notifications
    doc = new_zone_doc("comments")
    updates: list[bytes] = []
    doc.observe(lambda event: updates.append(event.update))
    messages = doc.get("messages", type=Array)
    old = append_item(
        messages,
        {
            "authorId": str(world.users["koordinator"]),
            "text": "Gammel",
            "createdAt": "2020-01-01T10:00:00Z",
        },
    )
    new = append_item(
        messages,
        {
            "authorId": str(world.users["koordinator"]),
            "text": "Ny 🙂",
            "createdAt": utc_timestamp(),
        },
    )
    await server.services.repos.zone_log.append_batch(
        [(world.zones["comments"], u) for u in updates]
    )
    async with connected(server.ws_url(world.room("comments"), world.token("leser"))):
        await wait_for(lambda: _has(repo, world.users["deltaker"], "message"), what="made up")
        await server.services.zone_watch.flush()
    notes = await repo.list_for_user(world.users["deltaker"])
    assert [n.item_id for n in notes] == [new] and old != new
    assert await repo.list_for_user(world.users["koordinator"]) == []  # the author


# Every test here that starts a server runs on SQLite and on PostgreSQL (tests/conftest.py).
pytestmark = pytest.mark.both_databases
