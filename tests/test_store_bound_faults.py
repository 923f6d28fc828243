"""A stalled PostgreSQL (packets vanish: no reset, no refusal) against a zone's load and a
cluster catch-up (issue 15): both wait at most SAMPLAN_COMMIT_TIMEOUT_SECONDS, like a commit.

A client joining a zone no node holds is sent away with 1013 instead of waiting for ever with
its socket open, and nothing of the half-made load stays behind: once packets flow again the
next join loads the zone afresh and sees every durable edit. A node whose catch-up from the
database times out keeps trying, and converges once the database answers.

Real nodes, as in tests/test_cluster_faults.py; the database is reached through a TCP proxy of
the test's own (tests/support/tcp_proxy.py).
"""

from __future__ import annotations

import asyncio
import logging
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
from pycrdt import Text

from crdt.client import YClient
from crdt.protocol import CloseCode
from crdt.zone_state import doc_from_stored
from tests.support.clients import connected, text_of
from tests.support.cluster import Cluster, cluster, health, http_base
from tests.support.live import ServerProcess
from tests.support.tcp_proxy import proxied
from tests.support.waiting import wait_for

pytestmark = [pytest.mark.postgres, pytest.mark.redis]

log = logging.getLogger("tests.store_bound_faults")

METRICS_TOKEN = "metrics-token-store-bound"  # a header value: ASCII
TEXT = "Åse Ødegård: blåbærsyltetøy på fjellet 🫐"
MORE = " — Kari Nordmann svarer: ærlig talt, gå på ski ⛷️"


async def _health(node: ServerProcess) -> dict[str, Any]:
    # In a thread: the test's event loop runs the database proxy, which must not stall.
    return await asyncio.to_thread(health, node)


async def _store_timeouts(node: ServerProcess) -> dict[str, float]:
    """`samplan_store_timeouts` from /metrics, by what waited."""

    def scrape() -> dict[str, float]:
        reply = httpx.get(
            f"{http_base(node)}/metrics",
            headers={"Authorization": f"Bearer {METRICS_TOKEN}"},
            timeout=30,
        )
        assert reply.status_code == 200
        found: dict[str, float] = {}
        for line in reply.text.splitlines():
            if line.startswith("samplan_store_timeouts_total{"):
                wait = line.split('wait="', 1)[1].split('"', 1)[0]
                found[wait] = float(line.rsplit(" ", 1)[1])
        assert found, "samplan_store_timeouts not in /metrics"
        return found

    return await asyncio.to_thread(scrape)


async def _stored_text(c: Cluster) -> str:
    """The content zone as PostgreSQL holds it (read straight, not through the proxy)."""
    stored = await c.repos.zone_log.load(c.world.zones["content"])
    return str(doc_from_stored(stored).get("t", type=Text))


async def _write(url: str, text: str) -> None:
    async with connected(url) as writer:
        t = writer.doc.get("t", type=Text)
        t += text
        assert await writer.confirm()


async def test_a_join_during_a_database_stall_is_sent_away_and_the_next_loads_afresh(
    tmp_path: Path,
) -> None:
    async with cluster(tmp_path) as c:
        with proxied(c.database_url) as (proxy, via_proxy):
            node = await asyncio.to_thread(
                c.node,
                "a",
                database_url=via_proxy,
                commit_timeout_seconds=1,
                metrics_token=METRICS_TOKEN,
            )
            w = c.world
            room = w.room("content")
            await _write(node.ws_url(room, w.token("koordinator")), TEXT)
            assert TEXT in await _stored_text(c)

            async def unloaded() -> bool:
                return (await _health(node))["rooms"] == 0

            await wait_for(unloaded, timeout=30, what="the zone unloaded (no room in memory)")
            await proxy.stall()
            stalled = time.monotonic()
            # Two clients join the unloaded zone at once: neither is held for ever.
            joiners = [YClient(node.ws_url(room, w.token(role))) for role in ("leser", "deltaker")]
            await asyncio.gather(*(j.connect() for j in joiners))
            codes = [await j.wait_closed(timeout=30) for j in joiners]
            log.info(
                "joiners closed %s %.1f s after the stall (timeout 1 s)",
                codes,
                time.monotonic() - stalled,
            )
            assert codes == [CloseCode.TRY_AGAIN_LATER] * 2
            assert all(j.close_reason == "storage unavailable" for j in joiners)
            assert not any(j.synced.is_set() for j in joiners)  # nothing was shown
            for j in joiners:
                await j.close()
            timeouts = await _store_timeouts(node)
            log.info("store timeouts on the node: %s", timeouts)
            assert timeouts["join"] + timeouts["load"] >= 2, timeouts
            await proxy.restore()
            # The next join loads the zone afresh and sees every durable edit.
            async with connected(node.ws_url(room, w.token("leser"))) as reader:
                assert text_of(reader) == TEXT
                await _write(node.ws_url(room, w.token("deltaker")), MORE)
                await reader.wait_for(lambda: text_of(reader) == TEXT + MORE)
            assert await _stored_text(c) == TEXT + MORE
            assert (await _health(node))["status"] == "ok"
            # What was left waiting on the stalled database ended once it answered.
            assert "timed out and returned in the end" in node.output() or (
                "timed out and failed in the end" in node.output()
            )
            c.stop()


async def test_a_catch_up_that_times_out_is_tried_again_and_the_node_converges(
    tmp_path: Path,
) -> None:
    async with cluster(tmp_path) as c:
        with proxied(c.database_url) as (proxy, via_proxy):
            nodes = list(
                await asyncio.gather(
                    *(
                        asyncio.to_thread(
                            c.node,
                            name,
                            database_url=via_proxy,
                            commit_timeout_seconds=1,
                            metrics_token=METRICS_TOKEN,
                        )
                        for name in ("a", "b")
                    )
                )
            )
            a, b = nodes
            w = c.world
            room = w.room("content")
            async with (
                connected(a.ws_url(room, w.token("koordinator"))) as writer,
                connected(b.ws_url(room, w.token("leser"))) as reader,
            ):
                t = writer.doc.get("t", type=Text)
                t += TEXT
                assert await writer.confirm()
                await reader.wait_for(lambda: text_of(reader) == TEXT)
                # Redis goes: B misses what A commits meanwhile (durable on A's side).
                c.redis.stop()

                async def redis_gone() -> bool:
                    bodies = [await _health(n) for n in nodes]
                    return all("redis" in body.get("degraded", []) for body in bodies)

                await wait_for(redis_gone, timeout=30, what="both nodes saw Redis go")
                t += MORE
                assert await writer.confirm()
                assert await _stored_text(c) == TEXT + MORE
                assert text_of(reader) == TEXT
                # The database stalls, then Redis is back: B's catch-up (it may have missed
                # messages) cannot read the zone, gives up after the bound, and tries again.
                await proxy.stall()
                c.redis.start()

                async def catch_up_timed_out() -> bool:
                    return (await _store_timeouts(b)).get("catch_up", 0) >= 1

                await wait_for(catch_up_timed_out, timeout=60, what="B's catch-up timed out")
                assert (await _health(b))["cluster"]["catch_up_failures"] >= 1
                assert text_of(reader) == TEXT  # the stall goes on: nothing new is shown
                await proxy.restore()
                restored = time.monotonic()
                await reader.wait_for(lambda: text_of(reader) == TEXT + MORE, timeout=60)
                log.info(
                    "B converged %.1f s after packets flowed again", time.monotonic() - restored
                )
                assert reader.close_code is None  # converged in place: never sent away
                assert "catching up from the store failed" in b.output()
                assert (await _health(b))["cluster"]["catch_ups"] >= 1
                # A newcomer on B sees it all.
                async with connected(b.ws_url(room, w.token("deltaker"))) as newcomer:
                    assert text_of(newcomer) == TEXT + MORE
            c.stop()
