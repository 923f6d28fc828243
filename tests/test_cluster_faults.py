"""Faults in a cluster of two real nodes (DESIGN §6, issue 15): a node SIGKILLed, Redis
restarted under load, PostgreSQL gone for a few seconds (connections reset and refused) or
stalled (packets vanish). Clients on both nodes write all the
while and reconnect as the y-websocket provider does; nothing any client saw is lost, and
nothing is relayed before it is durable.

Every test starts its own redis-server and reaches PostgreSQL through a TCP proxy of its own
(tests/support/tcp_proxy.py): the machine's shared services are never stopped.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from pycrdt import Text

from crdt.protocol import CloseCode
from crdt.zone_state import doc_from_stored
from tests.support.clients import Reconnecting, chunks_in, connected, text_of
from tests.support.cluster import Cluster, cluster, health, http_base
from tests.support.live import ServerProcess
from tests.support.tcp_proxy import proxied
from tests.support.waiting import wait_for
from tests.support.web import signed_in
from tests.support.world import ROLE_USERS

pytestmark = [pytest.mark.postgres, pytest.mark.redis]

log = logging.getLogger("tests.cluster_faults")

# Who writes, and on which node (index) each starts.
WRITERS = {"Åse": 0, "Kari": 0, "Jonas": 1, "Line": 1}
ROLES = {"Åse": "deltaker", "Kari": "koordinator", "Jonas": "planeier", "Line": "verge"}


async def _two_nodes(c: Cluster, **settings: object) -> list[ServerProcess]:
    """Nodes "a" and "b", started side by side (each takes seconds to import and start)."""
    return list(
        await asyncio.gather(
            asyncio.to_thread(c.node, "a", **settings), asyncio.to_thread(c.node, "b", **settings)
        )
    )


async def _health(node: ServerProcess) -> dict[str, Any]:
    # In a thread: the test's event loop runs the database proxy, which must not stall.
    return await asyncio.to_thread(health, node)


async def _stored_chunks(c: Cluster) -> set[str]:
    """What the database holds for the zone, read straight from PostgreSQL (not the proxy)."""
    stored = await c.repos.zone_log.load(c.world.zones["content"])
    return chunks_in(str(doc_from_stored(stored).get("t", type=Text)))


class DurableBeforeSeen:
    """Checks, again and again while the test runs, that every chunk any client has seen
    arrive from the server is in the database already: persist before relay, from outside."""

    def __init__(self, c: Cluster, clients: list[Reconnecting]) -> None:
        self.c = c
        self.clients = clients
        self.checks = 0
        self.problem = ""

    async def run(self) -> None:
        while True:
            seen = set().union(*(cl.seen for cl in self.clients))  # before the read
            stored = await self._read()
            if stored is not None:
                missing = seen - stored
                if missing:
                    self.problem = f"seen by a client but not stored: {sorted(missing)[:5]}"
                    return
                self.checks += 1
            await asyncio.sleep(0.3)

    async def _read(self) -> set[str] | None:
        try:
            return await _stored_chunks(self.c)
        except Exception as exc:  # the test's own connection is not the one cut; log it
            log.warning("reading the stored zone failed: %s", type(exc).__name__)
            return None


@contextlib.asynccontextmanager
async def writing(
    c: Cluster, nodes: list[ServerProcess], *, failover: bool = False
) -> AsyncIterator[tuple[list[Reconnecting], DurableBeforeSeen]]:
    """Four clients writing to the content zone, on both nodes, and the durability check.
    With `failover` a client whose node is gone reconnects to the other (a load balancer)."""
    w = c.world
    room = w.room("content")
    clients: list[Reconnecting] = []
    checker: asyncio.Task[None] | None = None
    try:
        for name, index in WRITERS.items():
            token = w.token(ROLES[name])
            order = [nodes[index], *(n for n in nodes if n is not nodes[index])]
            urls = [n.ws_url(room, token) for n in (order if failover else order[:1])]
            clients.append(await Reconnecting(name, urls).start())
        durable = DurableBeforeSeen(c, clients)
        checker = asyncio.get_running_loop().create_task(durable.run())
        yield clients, durable
        assert not durable.problem, durable.problem
    finally:
        if checker is not None:
            checker.cancel()
            await asyncio.gather(checker, return_exceptions=True)
        for client in clients:
            await client.close()


async def _everything_converges(
    c: Cluster, clients: list[Reconnecting], durable: DurableBeforeSeen, timeout: float = 30
) -> None:
    """Stop writing; every client's doc converges on one text holding every chunk anyone
    wrote, and the database holds all of it."""
    for client in clients:
        client.writing = False
    written = {chunk for client in clients for chunk in client.written}
    started = time.monotonic()
    for client in clients:
        await client.confirm(timeout=timeout)

    def converged() -> bool:
        texts = {client.text for client in clients}
        return len(texts) == 1 and written <= chunks_in(next(iter(texts)))

    await wait_for(converged, timeout=timeout, what="every client holds every chunk")
    log.info(
        "converged %.1f s after writing stopped: %d chunks, %d durability checks",
        time.monotonic() - started,
        len(written),
        durable.checks,
    )
    seen = set().union(*(client.seen for client in clients))
    stored = await _stored_chunks(c)
    assert written <= stored, sorted(written - stored)[:5]
    assert seen <= stored
    assert not durable.problem, durable.problem
    assert durable.checks > 0


@pytest.mark.parametrize("killed", ["unforwarded", "committing", "forwarding"])
async def test_a_sigkilled_nodes_clients_reconnect_to_the_other_and_lose_nothing(
    tmp_path: Path, killed: str
) -> None:
    """Each node commits its own clients' edits ("unforwarded", the default), or, with
    SAMPLAN_CLUSTER_FORWARD_EDITS, the node killed is the one that commits the zone (the
    other's edits in flight to it are committed by the other itself, once unanswered) or
    the one that forwards to it."""
    async with cluster(tmp_path) as c:
        forward = killed != "unforwarded"
        nodes = await _two_nodes(c, cluster_forward_edits=forward)
        async with writing(c, nodes, failover=True) as (clients, durable):
            await wait_for(
                lambda: all(len(cl.seen) >= 10 for cl in clients), timeout=30, what="traffic"
            )
            forwarding = [(await _health(n))["cluster"] for n in nodes]
            gone = 0
            if forward:
                committer = next(
                    i for i, f in enumerate(forwarding) if f["edits_committed_for_others"]
                )
                assert forwarding[1 - committer]["edits_forwarded"] > 0
                gone = committer if killed == "committing" else 1 - committer
            else:
                assert all(f["edits_forwarded"] == 0 for f in forwarding)
            survivor = nodes[1 - gone]
            on_gone = [cl for cl in clients if WRITERS[cl.name] == gone]
            on_survivor = [cl for cl in clients if WRITERS[cl.name] != gone]
            nodes[gone].kill()
            since = time.monotonic()
            await wait_for(
                lambda: all(cl.connections == 2 and cl.synced for cl in on_gone),
                timeout=30,
                what="the killed node's clients reconnected to the other",
            )
            log.info(
                "the %s node's clients synced on the other %.1f s after the SIGKILL",
                killed,
                time.monotonic() - since,
            )
            assert all(
                cl.client is not None and str(survivor.port) in cl.client.url for cl in on_gone
            )
            assert all(cl.connections == 1 for cl in on_survivor)  # they never noticed
            seen_before = {cl.name: len(cl.seen) for cl in clients}
            await wait_for(
                lambda: all(len(cl.seen) >= seen_before[cl.name] + 10 for cl in clients),
                timeout=30,
                what="writing goes on through the survivor",
            )
            await _everything_converges(c, clients, durable)
            status = await _health(survivor)
            assert status["status"] == "ok"
            log.info("the survivor's forwarding: %s", status["cluster"])
            if killed == "committing":
                # Its clients' edits sent to the dead node: committed by the survivor itself.
                assert status["cluster"]["forwards_unanswered"] > 0
            # The survivor's own state (a newcomer's first sync) holds all anyone saw or wrote.
            everything = set().union(*(cl.seen for cl in clients), *(cl.written for cl in clients))
            room, token = c.world.room("content"), c.world.token("leser")
            async with connected(survivor.ws_url(room, token)) as per:
                assert everything <= chunks_in(text_of(per))


async def test_redis_restarted_under_load_the_nodes_resubscribe_and_reconverge(
    tmp_path: Path,
) -> None:
    async with cluster(tmp_path) as c:
        nodes = await _two_nodes(c)
        async with writing(c, nodes) as (clients, durable):
            await wait_for(
                lambda: all(len(cl.seen) >= 10 for cl in clients), timeout=30, what="traffic"
            )
            c.redis.stop()
            await wait_for(
                _all_degraded(nodes, "redis"), timeout=30, what="both nodes saw Redis go"
            )
            await asyncio.sleep(1.0)  # pacing only: writes go on while the nodes are apart
            c.redis.start()
            restarted = time.monotonic()
            await wait_for(_all_ok(nodes), timeout=30, what="both nodes resubscribed")
            log.info("nodes ok again %.1f s after Redis came back", time.monotonic() - restarted)
            # Live fan-out again: each client sees the others' new chunks.
            written_now = {cl.name: len(cl.written) for cl in clients}

            def fresh_chunks_cross() -> bool:
                return all(
                    all(
                        f"{other.name}:{written_now[other.name] + 3}" in cl.seen
                        for other in clients
                        if other is not cl
                    )
                    for cl in clients
                )

            await wait_for(fresh_chunks_cross, timeout=30, what="fan-out after the restart")
            await _everything_converges(c, clients, durable)
            for node in nodes:
                assert (await _health(node))["cluster"]["catch_ups"] >= 1
            assert all(cl.connections == 1 for cl in clients)  # nobody was sent away


def _all_degraded(nodes: list[ServerProcess], part: str) -> Any:
    async def check() -> bool:
        bodies = [await _health(n) for n in nodes]
        return all(b["status"] == "degraded" and part in b["degraded"] for b in bodies)

    return check


def _all_ok(nodes: list[ServerProcess]) -> Any:
    async def check() -> bool:
        bodies = [await _health(n) for n in nodes]
        return all(b["status"] == "ok" for b in bodies)

    return check


async def test_postgresql_gone_for_seconds_nothing_relayed_before_durable_and_nodes_recover(
    tmp_path: Path,
) -> None:
    async with cluster(tmp_path) as c:
        with proxied(c.database_url) as (proxy, via_proxy):
            nodes = await _two_nodes(c, database_url=via_proxy)
            kari_email = ROLE_USERS["koordinator"][0]
            plan_page = f"/plans/{c.world.plan_id}"
            async with (
                signed_in(http_base(nodes[0]), kari_email) as kari_http,
                writing(c, nodes) as (clients, durable),
            ):
                await wait_for(
                    lambda: all(len(cl.seen) >= 10 for cl in clients), timeout=30, what="traffic"
                )
                await proxy.cut()
                written_at_cut = {cl.name: len(cl.written) for cl in clients}
                cut = time.monotonic()
                await wait_for(
                    _all_degraded(nodes, "database"),
                    timeout=15,
                    what="both nodes saw the database go",
                )
                log.info("healthz degraded %.1f s after the cut", time.monotonic() - cut)
                body = await _health(nodes[0])
                assert body["database"] == "unavailable"
                # Every writer is told to come back later, with a clear close code; none is
                # served an edit that is not stored.
                await wait_for(
                    lambda: all(CloseCode.TRY_AGAIN_LATER in cl.closes for cl in clients),
                    timeout=15,
                    what="writers closed with 1013",
                )
                assert all(
                    reason == "storage unavailable"
                    for cl in clients
                    for code, reason in zip(cl.closes, cl.reasons, strict=True)
                    if code == CloseCode.TRY_AGAIN_LATER
                )
                seen_at_cut = set().union(*(cl.seen for cl in clients))
                await asyncio.sleep(2.0)  # the outage goes on; clients keep writing and retrying
                await _outage_shows(nodes)
                page = await kari_http.get(plan_page)  # a page needs the database too
                assert page.status_code == 503, page.status_code
                assert page.headers["retry-after"] == "5"
                assert set().union(
                    *(cl.seen for cl in clients)
                ) - seen_at_cut <= await _stored_chunks(c)
                offline = {ch for cl in clients for ch in cl.written[written_at_cut[cl.name] :]}
                assert offline  # typed while the database was gone (mostly while shut out)
                await proxy.restore()
                restored = time.monotonic()
                await wait_for(_all_ok(nodes), timeout=30, what="both nodes recovered")
                await wait_for(
                    lambda: all(cl.synced for cl in clients), timeout=30, what="clients back"
                )
                log.info(
                    "nodes ok and clients synced %.1f s after the database came back "
                    "(outage %.1f s, %d proxied connections)",
                    time.monotonic() - restored,
                    restored - cut,
                    proxy.connections,
                )
                written_now = {cl.name: len(cl.written) for cl in clients}
                await wait_for(
                    lambda: all(
                        f"{o.name}:{written_now[o.name] + 3}" in cl.seen
                        for cl in clients
                        for o in clients
                        if o is not cl
                    ),
                    timeout=30,
                    what="new edits commit and relay",
                )
                await _everything_converges(c, clients, durable)
                assert (await kari_http.get(plan_page)).status_code == 200
                # What they typed during the outage was kept in their docs and stored after.
                assert offline <= await _stored_chunks(c)
            # Recovered by themselves: the same processes served it all.
            assert all(node.proc is not None and node.proc.poll() is None for node in nodes)
            c.stop()  # while the proxy still forwards: their shut-down writes reach the database


async def _outage_shows(nodes: list[ServerProcess]) -> None:
    for node in nodes:
        body = await _health(node)
        assert body["status"] == "degraded"
        assert body["degraded"] == ["database"]
        assert "storage unavailable" in node.output()


async def test_postgresql_stalled_for_seconds_nothing_relayed_meanwhile_and_all_goes_on(
    tmp_path: Path,
) -> None:
    """Packets to the database vanish (no reset, no refusal) for a few seconds: commits wait,
    so writers see no confirmation and nobody sees an edit that is not stored; /healthz's probe
    times out and says degraded; when packets flow again the waiting commits finish and are
    relayed, and nobody had to reconnect."""
    async with cluster(tmp_path) as c:
        with proxied(c.database_url) as (proxy, via_proxy):
            nodes = await _two_nodes(c, database_url=via_proxy)
            async with writing(c, nodes) as (clients, durable):
                await wait_for(
                    lambda: all(len(cl.seen) >= 10 for cl in clients), timeout=30, what="traffic"
                )
                await proxy.stall()
                stalled = time.monotonic()
                await wait_for(
                    _all_degraded(nodes, "database"), timeout=15, what="both nodes saw it"
                )
                log.info("healthz degraded %.1f s after the stall", time.monotonic() - stalled)
                seen_at_stall = set().union(*(cl.seen for cl in clients))
                await asyncio.sleep(1.0)  # the stall goes on; clients keep writing
                # Nothing new was relayed: every commit waits for the database.
                assert set().union(*(cl.seen for cl in clients)) <= seen_at_stall | (
                    await _stored_chunks(c)
                )
                await proxy.restore()
                restored = time.monotonic()
                await wait_for(_all_ok(nodes), timeout=30, what="both nodes ok")
                log.info("nodes ok %.1f s after packets flowed again", time.monotonic() - restored)
                await _everything_converges(c, clients, durable)
                assert all(cl.connections == 1 for cl in clients)  # nobody was sent away
            c.stop()


METRICS_TOKEN = "metrics-token-stall"  # a header value: ASCII


async def _database_available(node: ServerProcess) -> float:
    """`samplan_database_available` from /metrics (which probes nothing: /healthz is not
    asked anywhere in the test that reads it)."""

    def scrape() -> float:
        reply = httpx.get(
            f"{http_base(node)}/metrics",
            headers={"Authorization": f"Bearer {METRICS_TOKEN}"},
            timeout=30,
        )
        assert reply.status_code == 200
        for line in reply.text.splitlines():
            if line.startswith("samplan_database_available "):
                return float(line.split()[1])
        raise AssertionError("samplan_database_available not in /metrics")

    return await asyncio.to_thread(scrape)


async def test_postgresql_stalled_past_the_commit_timeout_writers_sent_away_and_all_recovers(
    tmp_path: Path,
) -> None:
    """Packets to the database vanish for longer than the commit timeout: a durable write is
    not waited for beyond it, so every writer is sent away with 1013 "storage unavailable"
    (as when the database is refused), /metrics says the database is gone without /healthz
    being asked, nothing was relayed that is not stored, and when packets flow again the
    nodes recover by themselves and everything anyone wrote is stored and converges."""
    async with cluster(tmp_path) as c:
        with proxied(c.database_url) as (proxy, via_proxy):
            nodes = await _two_nodes(
                c, database_url=via_proxy, commit_timeout_seconds=2, metrics_token=METRICS_TOKEN
            )
            async with writing(c, nodes) as (clients, durable):
                await wait_for(
                    lambda: all(len(cl.seen) >= 10 for cl in clients), timeout=30, what="traffic"
                )
                assert [await _database_available(n) for n in nodes] == [1.0, 1.0]
                await proxy.stall()
                stalled = time.monotonic()
                seen_at_stall = set().union(*(cl.seen for cl in clients))
                await wait_for(
                    lambda: all(CloseCode.TRY_AGAIN_LATER in cl.closes for cl in clients),
                    timeout=30,
                    what="writers closed with 1013 after the commit timeout",
                )
                log.info("writers sent away %.1f s after the stall", time.monotonic() - stalled)
                assert all(
                    reason == "storage unavailable"
                    for cl in clients
                    for code, reason in zip(cl.closes, cl.reasons, strict=True)
                    if code == CloseCode.TRY_AGAIN_LATER
                )

                async def metrics_say_gone() -> bool:
                    return [await _database_available(n) for n in nodes] == [0.0, 0.0]

                await wait_for(metrics_say_gone, timeout=15, what="/metrics: database gone")
                assert all("failed: CommitTimeout" in n.output() for n in nodes)
                # Nothing new was relayed while the database did not answer.
                assert set().union(*(cl.seen for cl in clients)) <= seen_at_stall | (
                    await _stored_chunks(c)
                )
                await proxy.restore()
                restored = time.monotonic()

                async def metrics_say_back() -> bool:
                    return [await _database_available(n) for n in nodes] == [1.0, 1.0]

                await wait_for(
                    lambda: all(cl.synced for cl in clients), timeout=60, what="clients back"
                )
                await wait_for(metrics_say_back, timeout=30, what="/metrics: database back")
                log.info(
                    "clients synced and /metrics back %.1f s after packets flowed again",
                    time.monotonic() - restored,
                )
                await _everything_converges(c, clients, durable, timeout=60)
            assert all(node.proc is not None and node.proc.poll() is None for node in nodes)
            c.stop()
