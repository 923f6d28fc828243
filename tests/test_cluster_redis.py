"""The nodes' Redis as an operator sees it (issue 15): the lag of room messages through Redis
and the reconnects in `/metrics`, and SAMPLAN_REDIS_PREFIX, so two installations can share
one Redis without hearing each other. Real nodes on one PostgreSQL and a redis-server of the
test's own (tests/support/cluster.py)."""

from __future__ import annotations

import logging
import re
from pathlib import Path

import httpx
import pytest
from pycrdt import Text
from redis.asyncio import Redis

from server.settings import Settings
from tests.support.clients import connected, text_of
from tests.support.cluster import cluster, health, http_base
from tests.support.live import ServerProcess
from tests.support.waiting import wait_for

log = logging.getLogger("tests.cluster_redis")

METRICS_TOKEN = "test-metrics-token-ikke-hemmelig"  # an HTTP header: ASCII


def test_the_redis_prefix_is_checked_with_a_clear_message(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    assert Settings(redis_prefix="samplan-bærum:".replace("æ", "ae")).redis_prefix == (
        "samplan-baerum:"
    )
    assert Settings().redis_prefix == "samplan:"
    for bad, says in [
        ("", "must not be empty"),
        ("samplan", "ending in ':'"),
        ("sam plan:", "a prefix Samplan uses"),
        ("samplan-bærum:", "a prefix Samplan uses"),
        ("*:", "a prefix Samplan uses"),
        (":", "a prefix Samplan uses"),
        ("a" * 64 + ":", "at most 64"),
    ]:
        monkeypatch.setenv("SAMPLAN_REDIS_PREFIX", bad)
        with pytest.raises(ValueError) as caught:
            Settings()
        message = str(caught.value)
        assert "SAMPLAN_REDIS_PREFIX" in message and says in message, (bad, message)


def _cluster(node: ServerProcess) -> dict[str, object]:
    found = health(node)["cluster"]
    assert isinstance(found, dict)
    return found


def _sample(exposition: str, name: str) -> float:
    found = re.search(rf"^{re.escape(name)} (\S+)$", exposition, re.MULTILINE)
    assert found is not None, f"{name} not in /metrics"
    return float(found.group(1))


async def _metrics(node: ServerProcess) -> str:
    async with httpx.AsyncClient(timeout=30) as http:
        reply = await http.get(
            f"{http_base(node)}/metrics",
            headers={"Authorization": f"Bearer {METRICS_TOKEN}"},
        )
    assert reply.status_code == 200
    return reply.text


@pytest.mark.postgres
@pytest.mark.redis
async def test_metrics_show_the_redis_lag_of_room_messages_and_a_reconnect(
    tmp_path: Path,
) -> None:
    async with cluster(tmp_path) as c:
        a = c.node("a", metrics_token=METRICS_TOKEN)
        b = c.node("b", metrics_token=METRICS_TOKEN)
        w = c.world
        room = w.room("content")
        async with (
            connected(a.ws_url(room, w.token("koordinator"))) as kari,
            connected(b.ws_url(room, w.token("deltaker"))) as ase,
        ):
            kari.doc.get("t", type=Text).insert(0, "Hei fra Kari til Åse Ødegård 😀 æøå")
            await ase.wait_for(lambda: "Åse Ødegård 😀" in text_of(ase), timeout=60)

            async def lag_observed() -> bool:
                return _sample(await _metrics(b), "samplan_redis_lag_seconds_count") >= 1

            await wait_for(lag_observed, timeout=60, what="a lag observed on node B")
            scraped = await _metrics(b)
            count = _sample(scraped, "samplan_redis_lag_seconds_count")
            total = _sample(scraped, "samplan_redis_lag_seconds_sum")
            log.info("Redis lag on node B: %d messages, mean %.2f ms", count, total / count * 1000)
            assert total >= 0
            assert _sample(scraped, 'samplan_redis_lag_seconds_bucket{le="+Inf"}') == count
            assert _sample(scraped, "samplan_redis_reconnects_total") == 0

            # Redis restarts: each node's subscriber connects again, and counts it.
            c.redis.stop()
            c.redis.start()

            async def reconnected() -> bool:
                return _sample(await _metrics(b), "samplan_redis_reconnects_total") >= 1

            took = await wait_for(reconnected, timeout=60, what="a reconnect counted on node B")
            log.info("node B counted its Redis reconnect %.2f s after the restart", took)
            await wait_for(lambda: _cluster(a)["redis"] == "up", timeout=60, what="A up again")
            assert _sample(await _metrics(a), "samplan_redis_reconnects_total") >= 1


@pytest.mark.postgres
@pytest.mark.redis
async def test_installations_with_another_prefix_share_a_redis_and_never_hear_each_other(
    tmp_path: Path,
) -> None:
    async with cluster(tmp_path) as c:
        a = c.node("a", redis_prefix="samplan-eksempelvik:")
        a2 = c.node("a2", redis_prefix="samplan-eksempelvik:")
        b = c.node("b", redis_prefix="samplan-baerum:")
        w = c.world
        # Same prefix: one installation, each node hears the other, one leads.
        await wait_for(
            lambda: _cluster(a)["nodes"] == 2 and _cluster(a2)["nodes"] == 2,
            timeout=60,
            what="the two nodes with one prefix hear each other",
        )
        room = w.room("content")
        async with (
            connected(a.ws_url(room, w.token("koordinator"))) as kari,
            connected(a2.ws_url(room, w.token("deltaker"))) as ase,
        ):
            kari.doc.get("t", type=Text).insert(0, "Til Åse Ødegård 😀 æøå")
            await ase.wait_for(lambda: "Åse Ødegård 😀" in text_of(ase), timeout=60)
        # Another prefix: another installation with its own leader, hearing nobody.
        await wait_for(
            lambda: _cluster(b)["leader"] and (_cluster(a)["leader"] or _cluster(a2)["leader"]),
            timeout=60,
            what="a leader in each installation",
        )
        assert not (_cluster(a)["leader"] and _cluster(a2)["leader"])
        # A and A2 have heard each other's heartbeats for seconds by now; B's go through the
        # same Redis at the same rate, on its own channels.
        assert _cluster(b)["nodes"] == 1
        assert _cluster(a)["nodes"] == 2 and _cluster(a2)["nodes"] == 2
        redis = Redis.from_url(c.redis.url)
        try:
            channels = {ch.decode() for ch in await redis.pubsub_channels()}
            keys = {k.decode() for k in await redis.keys("*")}
        finally:
            await redis.aclose()
        log.info("channels %s, keys %s", sorted(channels), sorted(keys))
        assert "samplan-eksempelvik:nodes" in channels and "samplan-baerum:nodes" in channels
        assert all(ch.startswith(("samplan-eksempelvik:", "samplan-baerum:")) for ch in channels)
        assert keys == {"samplan-eksempelvik:leader", "samplan-baerum:leader"}
