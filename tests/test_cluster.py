"""Two real server processes on one PostgreSQL and one Redis of the test's own (DESIGN §6):
clients on different nodes edit one plan and converge, presence crosses nodes and leaves
(also when a node is SIGKILLed), access and events cross at once (consent, removal,
deactivation, a plan closed, notifications, minutes published), both nodes compacting one
zone lose nothing, and the scheduled work runs on one node only."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import logging
import time
from collections.abc import AsyncIterator, Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
import websockets
from pycrdt import Array, Map, Text
from sqlalchemy import text as sql
from websockets.asyncio.client import ClientConnection

from crdt.client import YClient
from crdt.schema import MEASURES, append_item, find_item, write_zone
from server.core.authors import zone_changes
from storage.models import utcnow
from tests.support.clients import connected, text_of
from tests.support.cluster import Cluster, cluster, health, http_base
from tests.support.live import ServerProcess
from tests.support.mail import Inbox, running_inbox
from tests.support.waiting import wait_for
from tests.support.web import csrf_of, log_in, post_json, signed_in
from tests.support.world import MEETING, ROLE_USERS

pytestmark = [pytest.mark.postgres, pytest.mark.redis]

log = logging.getLogger("tests.cluster")


def _text(client: YClient) -> Text:
    return client.doc.get("t", type=Text)


def _log_lines(node: ServerProcess, needle: str) -> int:
    return sum(needle in line for line in node.output().splitlines())


@contextlib.asynccontextmanager
async def _events_page(node: ServerProcess, role: str) -> AsyncIterator[ClientConnection]:
    """`/events` on `node`, as the page of `role` signed in there has it open."""
    async with signed_in(http_base(node), ROLE_USERS[role][0]) as http:
        cookie = str(http.cookies["samplan_session"])
    headers = {"Origin": http_base(node), "Cookie": f"samplan_session={cookie}"}
    url = f"ws://127.0.0.1:{node.port}/events"
    async with websockets.connect(url, additional_headers=headers) as page:
        yield page


async def _leader_and_follower(
    nodes: list[ServerProcess],
) -> tuple[ServerProcess, ServerProcess]:
    """Once exactly one of the two nodes holds the leader lease: (it, the other)."""
    await wait_for(
        lambda: sum(bool(health(n)["cluster"]["leader"]) for n in nodes) == 1,
        timeout=30,
        what="one leader",
    )
    leader = next(n for n in nodes if health(n)["cluster"]["leader"])
    return leader, next(n for n in nodes if n is not leader)


async def _rows(c: Cluster, query: str, zone_id: int) -> int:
    async with c.repos.engine.connect() as conn:
        return int((await conn.execute(sql(query), {"zone": zone_id})).scalar_one())


async def test_clients_on_two_nodes_edit_one_plan_and_converge(tmp_path: Path) -> None:
    async with cluster(tmp_path) as c:
        a, b = c.node("a"), c.node("b")
        w = c.world
        room = w.room("content")
        edits = 0
        async with (
            connected(a.ws_url(room, w.token("koordinator"))) as kari,
            connected(b.ws_url(room, w.token("deltaker"))) as ase,
        ):
            started = time.monotonic()
            for i in range(10):  # turns: each sees the other's edit before writing again
                writer, reader = (kari, ase) if i % 2 == 0 else (ase, kari)
                _text(writer).insert(0, f"[{i} Åse Ødegård 😀 æøå]")
                edits += 1
                await reader.wait_for(lambda i=i, r=reader: f"[{i} " in text_of(r))
            log.info("10 turns across two nodes in %.0f ms", (time.monotonic() - started) * 1000)
            for i in range(30):  # both at once, with no waiting
                _text(kari).insert(len(_text(kari)), f" K{i}ø😀")
                _text(ase).insert(len(_text(ase)), f" Å{i}🧭")
                edits += 2
                await asyncio.sleep(0.005)

            def converged() -> bool:
                return text_of(kari) == text_of(ase) and all(
                    f" K{i}ø😀" in text_of(kari) and f" Å{i}🧭" in text_of(kari) for i in range(30)
                )

            await kari.wait_for(converged, timeout=60)
            final = text_of(kari)
            # A measure added on node B reaches a client of the same zone on node A.
            area = w.room("area/skole")
            async with (
                connected(a.ws_url(area, w.token("verge"))) as line,
                connected(b.ws_url(area, w.token("planeier"))) as jonas,
            ):
                measure = append_item(
                    jonas.doc.get(MEASURES, type=Array),
                    {"title": "Leksehjelp for Åse Ødegård 📚", "status": "planlagt"},
                )
                await line.wait_for(
                    lambda: find_item(line.doc.get(MEASURES, type=Array), measure) is not None
                )
                item = find_item(line.doc.get(MEASURES, type=Array), measure)
                assert isinstance(item, Map)
                assert str(item["title"]) == "Leksehjelp for Åse Ødegård 📚"
            # A newcomer on either node reads it all.
            for node in (a, b):
                async with connected(node.ws_url(room, w.token("leser"))) as per:
                    assert text_of(per) == final

        # Each edit was stored once, by the node that commits the zone: none stored again by
        # the node that relayed it (log rows plus the records of the folded ones).
        zone = w.zones["content"]
        await wait_for(
            lambda: all(not health(n)["rooms"] for n in (a, b)), timeout=60, what="unloaded"
        )
        logged = await _rows(c, "SELECT count(*) FROM zone_updates WHERE zone_id = :zone", zone)
        folded = await _rows(
            c,
            "SELECT count(*) FROM zone_changes WHERE zone_id = :zone AND seq IS NOT NULL",
            zone,
        )
        assert logged + folded == edits


def _forwarding(node: ServerProcess) -> dict[str, int]:
    found = health(node)["cluster"]
    return {
        key: int(found[key])
        for key in ("edits_forwarded", "edits_committed_for_others", "forwards_unanswered")
    }


async def test_one_node_commits_a_zone_and_the_other_forwards_its_edits_under_the_writer(
    tmp_path: Path,
) -> None:
    """One commit stream per zone (server/cluster/zones.py): the node with the lower id
    commits; the other forwards its clients' edits, each logged once under the user its own
    session vouches for, and relays them to its clients once they come back durable."""
    async with cluster(tmp_path) as c:
        forwarding = {"cluster_forward_edits": True}
        nodes = a, b = c.node("a", **forwarding), c.node("b", **forwarding)
        w = c.world
        room, zone = w.room("content"), w.zones["content"]
        async with (
            connected(a.ws_url(room, w.token("koordinator"))) as kari,
            connected(b.ws_url(room, w.token("deltaker"))) as ase,
            connected(b.ws_url(room, w.token("leser"))) as per,  # beside Åse on node B
        ):
            _text(kari).insert(0, "Kari først 😀 ")  # by now each node heard the other
            await ase.wait_for(lambda: "Kari først" in text_of(ase))
            _text(ase).insert(0, "Åse først æøå ")
            await kari.wait_for(lambda: "Åse først" in text_of(kari))
            before = [_forwarding(n) for n in nodes]
            logged_before = await _rows(
                c, "SELECT count(*) FROM zone_updates WHERE zone_id = :zone", zone
            )
            for i in range(10):  # turns: each sees the other's edit before writing again
                writer, reader = (kari, ase) if i % 2 == 0 else (ase, kari)
                _text(writer).insert(0, f"[{i} Åse Ødegård 🧭 æøå]")
                for client in (reader, per):
                    await client.wait_for(lambda i=i, cl=client: f"[{i} " in text_of(cl))
            after = [_forwarding(n) for n in nodes]
        sent, taken = (
            [n_after[key] - n_before[key] for n_before, n_after in zip(before, after, strict=True)]
            for key in ("edits_forwarded", "edits_committed_for_others")
        )
        log.info("forwarded per node %s, committed for the other %s", sent, taken)
        assert sorted(sent) == [0, 5] and taken == sent[::-1]
        assert all(n["forwards_unanswered"] == 0 for n in after)
        logged = await _rows(c, "SELECT count(*) FROM zone_updates WHERE zone_id = :zone", zone)
        assert logged - logged_before == 10  # each once: nobody committed a forwarded edit twice
        for role in ("koordinator", "deltaker"):
            mine = await _rows(
                c,
                f"SELECT count(*) FROM zone_updates WHERE zone_id = :zone "
                f"AND user_id = {w.users[role]}",
                zone,
            )
            assert mine == 6, role  # the warm-up edit and five turns, under the writer


async def test_awareness_crosses_nodes_and_leaves_with_the_client_and_with_a_dead_node(
    tmp_path: Path,
) -> None:
    async with cluster(tmp_path) as c:
        a, b = c.node("a"), c.node("b")
        w = c.world
        room = w.room("content")
        kari = await YClient(a.ws_url(room, w.token("koordinator"))).connect()
        await kari.wait_for(kari.synced.is_set)
        await kari.set_awareness({"user": {"name": "Kari 🙂"}, "cursor": {"anchor": 3}})
        # Åse's node loads the room afterwards, and asks the others who is already there.
        async with connected(b.ws_url(room, w.token("deltaker"))) as ase:
            took = await ase.wait_for(lambda: kari.doc.client_id in ase.awareness, timeout=30)
            log.info("presence of a client on another node seen %.0f ms after join", took * 1000)
            # The name is the one node A authenticated, not the one the client wrote.
            assert ase.awareness[kari.doc.client_id]["user"]["name"] == "Kari Nilsen"
            await ase.set_awareness({"user": {"name": "Åse"}, "cursor": {"anchor": 1}})
            await kari.wait_for(lambda: ase.doc.client_id in kari.awareness, timeout=30)
            assert kari.awareness[ase.doc.client_id]["user"]["name"] == "Åse Ødegård"

            await kari.close()  # leaves: gone on the other node at once
            await ase.wait_for(lambda: kari.doc.client_id not in ase.awareness, timeout=30)

            line = await YClient(a.ws_url(room, w.token("verge"))).connect()
            await line.wait_for(line.synced.is_set)
            await line.set_awareness({"user": {"name": "Line"}, "cursor": None})
            await ase.wait_for(lambda: line.doc.client_id in ase.awareness, timeout=30)
            a.kill()  # SIGKILL: node A says nothing; node B stops hearing it
            killed = time.monotonic()
            # This client keeps no awareness timeout of its own: only the server removes it.
            await ase.wait_for(lambda: line.doc.client_id not in ase.awareness, timeout=20)
            gone_after = time.monotonic() - killed
            log.info("a SIGKILLed node's client left the presence after %.1f s", gone_after)
            await line.close()


async def test_withdrawn_consent_and_a_removed_member_on_node_a_close_sockets_on_node_b(
    tmp_path: Path,
) -> None:
    async with cluster(tmp_path) as c:
        a, b = c.node("a"), c.node("b")
        w = c.world
        ase = await YClient(b.ws_url(w.room("content"), w.token("deltaker"))).connect()
        per = await YClient(b.ws_url(w.room("area/skole"), w.token("leser"))).connect()
        for client in (ase, per):
            await client.wait_for(client.synced.is_set)
        async with signed_in(http_base(a), ROLE_USERS["verge"][0]) as verge:
            page = await verge.get(f"/plans/{w.plan_id}")
            form = {"csrf_token": csrf_of(page.text), "user_id": str(w.users["deltaker"])}
            started = time.monotonic()
            response = await verge.post(
                f"/plans/{w.plan_id}/consent", data={**form, "action": "revoke"}
            )
            assert response.status_code == 303
            assert await ase.wait_closed(timeout=10) == 4403
            log.info("consent revoked on A -> closed on B in %.0f ms", _ms(started))
        async with signed_in(http_base(a), ROLE_USERS["koordinator"][0]) as kari:
            page = await kari.get(f"/plans/{w.plan_id}")
            started = time.monotonic()
            response = await kari.post(
                f"/plans/{w.plan_id}/members/{w.users['leser']}/remove",
                data={"csrf_token": csrf_of(page.text)},
            )
            assert response.status_code == 303
            assert await per.wait_closed(timeout=10) in (4403, 4404)
            log.info("member removed on A -> closed on B in %.0f ms", _ms(started))
        await ase.close()
        await per.close()


async def test_an_account_deactivated_on_node_a_has_its_sockets_on_node_b_closed(
    tmp_path: Path,
) -> None:
    async with cluster(tmp_path) as c:
        a, b = c.node("a"), c.node("b")
        w = c.world
        ase = await YClient(b.ws_url(w.room("area/skole"), w.token("deltaker"))).connect()
        await ase.wait_for(ase.synced.is_set)
        async with _events_page(b, "deltaker") as page:
            async with signed_in(http_base(a), ROLE_USERS["koordinator"][0]) as kari:
                form = {"csrf_token": csrf_of((await kari.get(f"/plans/{w.plan_id}")).text)}
                started = time.monotonic()
                response = await kari.post(
                    f"/plans/{w.plan_id}/members/{w.users['deltaker']}/deactivate", data=form
                )
                assert response.status_code == 303
            assert await ase.wait_closed(timeout=10) == 4401  # the token's socket
            with pytest.raises(websockets.ConnectionClosed):  # and the session's page
                await asyncio.wait_for(page.recv(), 10)
            assert page.close_code == 4401
            log.info("deactivated on A -> sockets on B closed in %.0f ms", _ms(started))
        await ase.close()


async def _confirmed_post(http: httpx.AsyncClient, plan_id: str, action: str) -> int:
    page = await http.get(f"/plans/{plan_id}")
    form = {"csrf_token": csrf_of(page.text), "confirm": "yes"}
    return (await http.post(f"/plans/{plan_id}/{action}", data=form)).status_code


async def test_a_plan_closed_on_node_a_makes_writers_on_node_b_read_only_at_once(
    tmp_path: Path,
) -> None:
    async with cluster(tmp_path) as c:
        a, b = c.node("a"), c.node("b")
        w = c.world
        room = w.room("area/skole")
        writer = await YClient(b.ws_url(room, w.token("deltaker"))).connect()
        reader = await YClient(a.ws_url(room, w.token("verge"))).connect()
        for client in (writer, reader):
            await client.wait_for(client.synced.is_set)
        _text(writer).insert(0, "Før avslutning på node B ✅ ")
        await reader.wait_for(lambda: "Før avslutning" in str(_text(reader)), timeout=20)
        async with signed_in(http_base(a), ROLE_USERS["koordinator"][0]) as kari:
            started = time.monotonic()
            assert await _confirmed_post(kari, w.plan_id, "close") == 303
            # Told at once, through Redis (the access poll is a minute away): read-only.
            await writer.wait_for(lambda: writer.denied == ["read-only"], timeout=10)
            log.info("closed on A -> read-only on B in %.0f ms", _ms(started))
            writer.denied.clear()
            _text(writer).insert(0, "etter avslutning 🚫 ")
            await writer.wait_for(lambda: writer.denied == ["read-only"], timeout=10)
            assert writer.close_code is None  # it still reads

            assert await _confirmed_post(kari, w.plan_id, "reopen") == 303
        # Reopened: the page asks for a reload (client/src/plan/zones.js), and the new socket
        # on B may write again.
        again = await YClient(b.ws_url(room, w.token("deltaker"))).connect()
        await again.wait_for(again.synced.is_set)
        _text(again).insert(0, "etter gjenåpning på node B 💬 ")
        await reader.wait_for(lambda: "etter gjenåpning" in str(_text(reader)), timeout=20)
        assert again.denied == []
        assert "etter avslutning" not in str(_text(reader))
        for client in (writer, reader, again):
            await client.close()


async def test_minutes_published_on_node_a_reach_a_members_page_on_node_b(
    tmp_path: Path,
) -> None:
    async with cluster(tmp_path) as c:
        a, b = c.node("a"), c.node("b")
        w = c.world
        minutes = w.room(f"minutes/{MEETING}")
        decision = "Leksehjelp to dager i uka ✅ (Åse Ødegård 📚)"
        writer = await YClient(a.ws_url(minutes, w.token("koordinator"))).connect()
        await writer.wait_for(writer.synced.is_set)
        write_zone(
            writer.doc,
            "minutes",
            {"agenda": [{"id": "s1", "title": "Skole og læring", "decision": decision}]},
        )
        async with _events_page(b, "deltaker") as page:
            async with signed_in(http_base(a), ROLE_USERS["koordinator"][0]) as kari:
                form = {"csrf_token": csrf_of((await kari.get(f"/plans/{w.plan_id}")).text)}
                publish = f"/plans/{w.plan_id}/meetings/{MEETING}/publish"

                async def published() -> bool:
                    # Until node A's room holds the agenda, the minutes are empty: refused.
                    return (await kari.post(publish, data=form)).status_code == 303

                started = time.monotonic()
                while not await published():
                    assert time.monotonic() - started < 20, "the minutes never published"
                    await asyncio.sleep(0.1)
            event = json.loads(await asyncio.wait_for(page.recv(), 10))
            log.info("published on A -> event on B in %.0f ms", _ms(started))
        assert event == {
            "type": "minutes_published",
            "planId": w.plan_id,
            "meetingId": MEETING,
            "version": 1,
        }
        async with signed_in(http_base(b), ROLE_USERS["deltaker"][0]) as ase:
            frozen = await ase.get(f"/plans/{w.plan_id}/meetings/{MEETING}/published/1.json")
            assert frozen.status_code == 200
            assert json.loads(frozen.content)["agenda"][0]["decision"] == decision
        await writer.close()


def _ms(started: float) -> float:
    return (time.monotonic() - started) * 1000


async def test_a_notification_made_on_node_a_reaches_the_page_on_node_b(tmp_path: Path) -> None:
    async with cluster(tmp_path) as c:
        a, b = c.node("a"), c.node("b")
        w = c.world
        async with _events_page(b, "koordinator") as page:
            async with signed_in(http_base(a), ROLE_USERS["verge"][0]) as verge:
                response = await post_json(
                    verge, f"/plans/{w.plan_id}/messages", {"text": "Hei fra Line på node A 👋"}
                )
                assert response.status_code in (200, 201)
            event = json.loads(await asyncio.wait_for(page.recv(), 10))
            assert event["type"] == "notification"
            assert event["unread"] >= 1


async def test_log_in_failures_on_one_node_count_on_the_other(tmp_path: Path) -> None:
    async with cluster(tmp_path) as c:
        slow = {"login_backoff_base_seconds": 20, "login_backoff_max_seconds": 30}
        a, b = c.node("a", **slow), c.node("b", **slow)
        email = ROLE_USERS["deltaker"][0]
        before = health(b)["cluster"]["events"]
        async with httpx.AsyncClient(base_url=http_base(a), timeout=60) as http:
            for _ in range(3):  # the free failures, all on node A
                assert (await log_in(http, email, "feil passord æøå 🔑")).status_code == 401
        await wait_for(
            lambda: health(b)["cluster"]["events"] >= before + 3,
            timeout=30,
            what="node B heard the failures",
        )
        async with httpx.AsyncClient(base_url=http_base(b), timeout=60) as http:
            response = await log_in(http, email)  # the right password, but it must wait
            assert response.status_code == 429
            assert int(response.headers["retry-after"]) > 1


# -- compaction on both nodes ----------------------------------------------------------------

MEASURES_EACH = 10
COMPACTIONS = 3


def _title(who: str, i: int) -> str:
    return f"Tiltak {i} for Åse Ødegård fra {who} 🧭"


def _titles(client: YClient) -> dict[str, str]:
    measures = client.doc.get(MEASURES, type=Array)
    return {str(item["id"]): str(item["title"]) for item in measures if isinstance(item, Map)}


async def _write_measures(client: YClient, who: str, enough: Callable[[], bool]) -> dict[str, str]:
    written: dict[str, str] = {}
    measures = client.doc.get(MEASURES, type=Array)
    for i in range(MEASURES_EACH):
        written[append_item(measures, {"title": _title(who, i), "status": "planlagt"})] = _title(
            who, i
        )
        await asyncio.sleep(0.02)
    for round_ in itertools.count():
        for measure_id in written:
            item = find_item(measures, measure_id)
            assert isinstance(item, Map)
            title = item["title"]
            assert isinstance(title, Text)
            title += " ✔ æøå"
            written[measure_id] += " ✔ æøå"
            await asyncio.sleep(0.02)
        if enough():
            return written
        # generous: under load the fold worker can lag many rounds behind the writers
        assert round_ < 500, "the nodes never compacted the zone"
    raise AssertionError("unreachable")


async def _type(client: YClient, who: str, enough: Callable[[], bool]) -> list[str]:
    """Chunks typed at the end; the other node's typist's chunks may land between them."""
    typed = []
    for i in itertools.count():
        chunk = f"[{who}:{i}ø😀]"
        _text(client).insert(len(_text(client)), chunk)
        typed.append(chunk)
        await asyncio.sleep(0.01)
        if i >= 40 and enough():
            return typed
        assert i < 5000, "the nodes never compacted the zone"
    raise AssertionError("unreachable")


async def test_both_nodes_compacting_one_zone_while_clients_on_both_write_lose_nothing(
    tmp_path: Path,
) -> None:
    async with cluster(tmp_path) as c:
        nodes = [c.node("a", compact_after_updates=8), c.node("b", compact_after_updates=8)]
        w = c.world
        area, content = w.zones["area/skole"], w.zones["content"]

        def enough(zone: int) -> Callable[[], bool]:
            return lambda: all(_log_lines(n, f"room {zone}: folded") >= COMPACTIONS for n in nodes)

        writers = {(0, "deltaker"): "Åse", (0, "koordinator"): "Kari", (1, "planeier"): "Jonas"}
        writers[(1, "verge")] = "Line"
        async with contextlib.AsyncExitStack() as stack:
            clients = {
                key: await stack.enter_async_context(
                    connected(nodes[key[0]].ws_url(w.room("area/skole"), w.token(key[1])))
                )
                for key in writers
            }
            typists = [
                await stack.enter_async_context(
                    connected(nodes[i].ws_url(w.room("content"), w.token("koordinator")))
                )
                for i in range(2)
            ]
            results: list[Any] = await asyncio.gather(
                *(_write_measures(clients[k], writers[k], enough(area)) for k in writers),
                *(_type(t, f"N{i}", enough(content)) for i, t in enumerate(typists)),
            )
            written: dict[str, str] = {}
            for result in results[: len(writers)]:
                written.update(result)
            typed = [chunk for r in results[len(writers) :] for chunk in r]
            assert len(written) == MEASURES_EACH * len(writers)
            # With the fan-out every client sees every node's edits, not just its own node's.
            for client in clients.values():
                await client.wait_for(lambda cl=client: _titles(cl) == written, timeout=60)
            for typist in typists:
                await typist.wait_for(
                    lambda t=typist: all(own in text_of(t) for own in typed), timeout=60
                )
        for node in nodes:
            await wait_for(lambda n=node: not health(n)["rooms"], timeout=60, what="unloaded")
        for node in nodes:  # a fresh load on either node holds every edit from both
            async with connected(node.ws_url(w.room("area/skole"), w.token("leser"))) as reader:
                assert _titles(reader) == written
            async with connected(node.ws_url(w.room("content"), w.token("leser"))) as reader:
                assert all(own in text_of(reader) for own in typed)
        for zone in (area, content):  # both nodes folded what both wrote, remote ones too
            assert all(_log_lines(n, f"room {zone}: folded") >= COMPACTIONS for n in nodes)


async def test_both_nodes_fold_every_update_with_its_author_record_once(tmp_path: Path) -> None:
    async with cluster(tmp_path) as c:
        nodes = [c.node("a", compact_after_updates=6), c.node("b", compact_after_updates=6)]
        w = c.world
        area = w.zones["area/skole"]
        async with (
            connected(nodes[0].ws_url(w.room("area/skole"), w.token("deltaker"))) as ase,
            connected(nodes[1].ws_url(w.room("area/skole"), w.token("planeier"))) as jonas,
        ):
            mine: dict[str, int] = {}
            for i in range(12):
                client, role = (ase, "deltaker") if i % 2 == 0 else (jonas, "planeier")
                measure = append_item(
                    client.doc.get(MEASURES, type=Array), {"title": _title(role, i)}
                )
                mine[measure] = w.users[role]
                await asyncio.sleep(0.02)
            for client in (ase, jonas):
                await client.wait_for(lambda cl=client: set(_titles(cl)) == set(mine), timeout=60)
        for node in nodes:
            await wait_for(lambda n=node: not health(n)["rooms"], timeout=60, what="unloaded")
        # Both nodes folded remote updates too: nothing left in the log, every record once.
        assert await c.repos.zone_log.count_updates(area) == 0
        creators: dict[str, int | None] = {}
        for change in await zone_changes(c.repos.zone_log, area, "area"):
            for measure_id, entry in change.items.items():
                if isinstance(entry, dict) and entry.get("created"):
                    assert measure_id not in creators, measure_id
                    creators[measure_id] = change.user_id
        assert creators == mine


async def test_scheduled_work_runs_on_exactly_one_node(tmp_path: Path) -> None:
    """Reminders, daily versions and the outbox run on the leader only (purge is the
    operator's `samplan purge`, README "Retention"). The outbox's poll is a minute away: an
    e-mail queued on the follower is sent at once only because its wake-up crosses nodes."""
    with running_inbox() as inbox:
        async with cluster(tmp_path) as c:
            await _scheduled_work_on_one_node(c, inbox)


async def _scheduled_work_on_one_node(c: Cluster, inbox: Inbox) -> None:
    often = {
        "reminder_interval_seconds": 0.2,
        "daily_version_check_seconds": 0.2,
        "smtp_host": "127.0.0.1",
        "smtp_port": inbox.port,
        "smtp_starttls": "false",
        "smtp_poll_seconds": 60,
    }
    nodes = [c.node("a", **often), c.node("b", **often)]
    w = c.world
    leader, follower = await _leader_and_follower(nodes)
    reminders, versions, sent = "reminders for ", "daily versions stored", " sent (attempt "
    await wait_for(lambda: _log_lines(leader, reminders) >= 5, timeout=30, what="leader's rounds")

    # A change through the follower: the leader stores the plan's daily version.
    writer = await YClient(follower.ws_url(w.room("content"), w.token("deltaker"))).connect()
    await writer.wait_for(writer.synced.is_set)
    _text(writer).insert(0, "Endret på følgeren 🌙 æøå ")
    await wait_for(lambda: _log_lines(leader, versions) >= 1, timeout=30, what="a daily version")
    await writer.close()
    stored = await c.repos.versions.list_versions(w.plan_id)
    assert [v.kind for v in stored] == ["daily"]

    # A message posted on the follower: its e-mails go out from the leader, each once.
    async with signed_in(http_base(follower), ROLE_USERS["deltaker"][0]) as ase:
        text = "Hei fra Åse Ødegård på følgeren 👋"
        posted = await post_json(ase, f"/plans/{w.plan_id}/messages", {"text": text})
        assert posted.status_code == 201
    wanted = [ROLE_USERS[role][0] for role in ("planeier", "koordinator")]
    await wait_for(lambda: all(inbox.to(a) for a in wanted), timeout=20, what="e-mails")
    assert all(len(inbox.to(a)) == 1 for a in wanted)
    # (each is logged once marked sent, just after the SMTP server took it)
    await wait_for(lambda: _log_lines(leader, sent) == len(inbox.messages), what="sends logged")

    for line in (reminders, versions, sent):
        assert _log_lines(follower, line) == 0, line
    assert not health(follower)["cluster"]["leader"]
    leader.kill()  # its lease lapses; the follower takes the work over
    await wait_for(
        lambda: _log_lines(follower, reminders) >= 2, timeout=30, what="the follower took over"
    )
    assert health(follower)["cluster"]["leader"]


async def test_the_servers_own_purge_runs_on_the_leader_and_closes_the_plan_on_every_node(
    tmp_path: Path,
) -> None:
    """SAMPLAN_PURGE_INTERVAL_SECONDS: the leader deletes a plan closed past its retention
    period, once, and its readers' sockets close with 4404 on both nodes at once (the access
    poll, the CLI's way, is a minute away)."""
    async with cluster(tmp_path) as c:
        often = {"purge_interval_seconds": 0.3, "retention_days": 30}
        nodes = [c.node("a", **often), c.node("b", **often)]
        w = c.world
        leader, follower = await _leader_and_follower(nodes)
        readers = [
            await YClient(n.ws_url(w.room("content"), w.token("verge"))).connect() for n in nodes
        ]
        for reader in readers:
            await reader.wait_for(reader.synced.is_set)
        # Closed 31 days ago (as `samplan plan close` long since would have left it).
        await c.repos.plans.set_plan_status(w.plan_id, "closed", at=utcnow() - timedelta(days=31))
        for reader in readers:
            assert await reader.wait_closed(timeout=15) == 4404
        assert await c.repos.plans.get_plan(w.plan_id) is None
        deletes = await c.repos.audit.for_plan(w.plan_id, action="plan_delete")
        assert [json.loads(row.details)["reason"] for row in deletes] == ["purge"]
        line = "scheduled purge: 1 plan(s) deleted"  # after the VACUUM that follows
        await wait_for(lambda: _log_lines(leader, line) == 1, timeout=30, what="the round's end")
        assert _log_lines(follower, line) == 0
        assert "Åse" not in leader.output()  # ids and counts only


async def test_after_a_redis_restart_the_nodes_catch_up_and_converge(tmp_path: Path) -> None:
    async with cluster(tmp_path) as c:
        a, b = c.node("a"), c.node("b")
        w = c.world
        room = w.room("content")
        async with (
            connected(a.ws_url(room, w.token("koordinator"))) as kari,
            connected(b.ws_url(room, w.token("deltaker"))) as ase,
        ):
            _text(kari).insert(0, "[før Åse Ødegård 😀]")
            await ase.wait_for(lambda: "[før " in text_of(ase), timeout=30)
            c.redis.stop()
            await wait_for(
                lambda: all(health(n)["status"] == "degraded" for n in (a, b)),
                timeout=30,
                what="both nodes saw Redis go",
            )
            # Written while the nodes cannot hear each other: durable on each, not relayed.
            for i in range(5):
                _text(kari).insert(len(_text(kari)), f"[K{i} æøå]")
                _text(ase).insert(len(_text(ase)), f"[Å{i} 🧭]")
            await asyncio.sleep(0.2)  # pacing only: the writes reach their own nodes
            c.redis.start()
            restarted = time.monotonic()

            def converged() -> bool:
                return text_of(kari) == text_of(ase) and all(
                    f"[K{i} æøå]" in text_of(kari) and f"[Å{i} 🧭]" in text_of(kari)
                    for i in range(5)
                )

            await kari.wait_for(converged, timeout=60)
            log.info("converged %.1f s after Redis came back", time.monotonic() - restarted)
            assert all(health(n)["cluster"]["catch_ups"] >= 1 for n in (a, b))
            assert all(health(n)["status"] == "ok" for n in (a, b))
            # And the fan-out works again afterwards.
            _text(ase).insert(0, "[etter 🎉]")
            await kari.wait_for(lambda: "[etter 🎉]" in text_of(kari), timeout=30)
