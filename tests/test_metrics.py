"""`/metrics`: the node's figures in the Prometheus text format, for the operator's bearer
token only; off (404) without one. Real server, real clients, the output parsed back."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import httpx
from prometheus_client.parser import text_string_to_metric_families
from pycrdt import Map

from crdt.client import YClient
from server.ops.metrics import COMMIT_MAX, LOOP_LAG_MAX, WRITE_JOB_MAX
from server.services import Repositories
from tests.conftest import make_settings
from tests.support.clients import connected
from tests.support.live import live_server
from tests.support.waiting import wait_for
from tests.support.world import build_world

TOKEN = "maalepunkt-" + "k" * 32  # an HTTP header: ASCII, as an operator would make it


def _samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    found: dict[tuple[str, tuple[tuple[str, str], ...]], float] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            found[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return found


async def test_metrics_do_not_exist_without_a_token(tmp_path: Path) -> None:
    settings = make_settings(tmp_path)
    async with (
        live_server(settings) as live,
        httpx.AsyncClient(base_url=live.http, timeout=60) as http,
    ):
        for headers in ({}, {"Authorization": "Bearer"}, {"Authorization": f"Bearer {TOKEN}"}):
            response = await http.get("/metrics", headers=headers)
            assert response.status_code == 404
            assert "samplan_" not in response.text
        assert live.services.metrics.probe is None  # and the lag probe costs nothing


async def test_metrics_need_the_bearer_token(tmp_path: Path) -> None:
    settings = make_settings(tmp_path, metrics_token=TOKEN)
    async with (
        live_server(settings) as live,
        httpx.AsyncClient(base_url=live.http, timeout=60) as http,
    ):
        for headers in (
            {},
            {"Authorization": "Bearer"},
            {"Authorization": "Bearer feil-nokkel"},
            {"Authorization": f"Basic {TOKEN}"},
            {"Authorization": f"Bearer {TOKEN}x"},
            {"Cookie": f"token={TOKEN}"},
        ):
            refused = await http.get("/metrics", headers=headers)
            assert refused.status_code == 401, headers
            assert refused.headers["www-authenticate"].startswith("Bearer")
            assert "samplan_" not in refused.text
        response = await http.get("/metrics", headers={"Authorization": f"Bearer {TOKEN}"})
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/plain; version=")
        names = {family.name for family in text_string_to_metric_families(response.text)}
        assert {
            "samplan_connections",
            "samplan_rooms_loaded",
            "samplan_updates_received",
            "samplan_updates_relayed",
            "samplan_fanout_seconds",
            "samplan_commit_seconds",
            "samplan_websocket_closes",
            "samplan_event_loop_lag_seconds",
            LOOP_LAG_MAX,
            "process_cpu_seconds",
        } <= names


async def test_metrics_count_what_the_relay_did(tmp_path: Path) -> None:
    settings = make_settings(tmp_path, metrics_token=TOKEN)
    repos = await Repositories.open(settings)
    world = await build_world(repos, settings.resolved_secret_key())
    await repos.close()
    room = world.room("area/skole")
    edits = 30
    async with (
        live_server(settings) as live,
        httpx.AsyncClient(
            base_url=live.http, timeout=60, headers={"Authorization": f"Bearer {TOKEN}"}
        ) as http,
    ):
        async with (
            connected(live.ws_url(room, world.token("koordinator"))) as writer,
            connected(live.ws_url(room, world.token("deltaker"))) as reader,
            connected(live.ws_url(room, world.token("leser"))) as watcher,
        ):
            goals = writer.doc.get("m", type=Map)
            for i in range(edits):
                goals[f"mål-{i}"] = f"Åse Ødegård øver på {i} 📚"
            for client in (reader, watcher):
                await client.wait_for(lambda c=client: len(c.doc.get("m", type=Map)) == edits)
            during = _samples((await http.get("/metrics")).text)
        refused = YClient(live.ws_url(room, "ikke-en-gyldig-nøkkel"))
        await refused.connect()
        assert await refused.wait_closed() == 4401
        await refused.close()
        after = _samples((await http.get("/metrics")).text)

    assert during[("samplan_connections", ())] == 3
    assert during[("samplan_rooms_loaded", ())] >= 1
    # Every edit was received, made durable and relayed to the two others.
    assert during[("samplan_updates_received_total", ())] >= edits
    assert during[("samplan_updates_relayed_total", ())] >= edits
    assert during[("samplan_deliveries_total", ())] >= 2 * edits
    # A durable batch reaches each client as one frame: never more frames than deliveries.
    frames = during[("samplan_relay_frames_total", ())]
    assert 1 <= frames <= during[("samplan_deliveries_total", ())]
    assert during[("samplan_committed_updates_total", ())] >= edits
    # The relay's frames went straight to the sockets (server/sync/fast_send.py): at least
    # one per relay frame (the counter is per process, so other tests' sends may be in it).
    assert during[("samplan_ws_direct_sends_total", ())] >= frames
    assert ("samplan_ws_asgi_connections_total", ()) in during
    assert during[("samplan_fanout_seconds_count", ())] >= edits
    assert during[("samplan_commit_seconds_count", ())] >= 1
    inf = during[("samplan_fanout_seconds_bucket", (("le", "+Inf"),))]
    assert inf == during[("samplan_fanout_seconds_count", ())]
    assert during[("samplan_fanout_seconds_sum", ())] > 0
    # The three clients left with a normal close; the bad token was refused with 4401.
    assert after[("samplan_websocket_closes_total", (("by", "client"), ("code", "1000")))] == 3
    assert after[("samplan_websocket_closes_total", (("by", "refused"), ("code", "4401")))] == 1
    assert after[("samplan_connections", ())] == 0


async def test_the_loop_lag_probe_sees_a_stall_and_each_scrape_starts_anew(
    tmp_path: Path,
) -> None:
    settings = make_settings(tmp_path, metrics_token=TOKEN)
    async with live_server(settings) as live:
        metrics = live.services.metrics
        probe = metrics.probe
        assert probe is not None

        def stalls() -> int:  # lags over half a second the probe has recorded
            return probe.lag.count - dict(probe.lag.cumulative())[0.5]

        await asyncio.sleep(0.1)  # the probe is asleep, waiting for its next wake-up
        time.sleep(1.0)  # noqa: ASYNC251 (the server shares this event loop: a one-second stall)
        await wait_for(lambda: stalls() > 0, what="the probe's wake-up after the stall")
        first = _samples(metrics.exposition().decode())
        second = _samples(metrics.exposition().decode())  # no turn of the loop in between
    assert first[(LOOP_LAG_MAX, ())] >= 1.0 - probe.interval
    assert first[("samplan_event_loop_lag_seconds_count", ())] >= 1
    assert second[(LOOP_LAG_MAX, ())] == 0.0


async def test_the_longest_commit_and_write_job_are_shown_and_each_scrape_starts_anew(
    tmp_path: Path,
) -> None:
    """What tells a fan-out tail that is the disk's (or a job's) from one that is not: the
    longest durable commit and the longest write job since the previous scrape, which the
    benchmark puts beside each round's tail."""
    settings = make_settings(tmp_path, metrics_token=TOKEN)
    repos = await Repositories.open(settings)
    world = await build_world(repos, settings.resolved_secret_key())
    await repos.close()
    async with live_server(settings) as live:
        metrics, committer = live.services.metrics, live.services.committer
        metrics.exposition()  # a new period from here
        async with connected(live.ws_url(world.room("content"), world.token("koordinator"))) as c:
            c.doc.get("m", type=Map)["notat"] = "Åse Ødegård: møtet flyttes 📅"
            assert await c.confirm()
        await committer.run_exclusive(lambda: asyncio.sleep(0.3))  # a slow job between batches
        first = _samples(metrics.exposition().decode())
        second = _samples(metrics.exposition().decode())
    commits = first[("samplan_commit_seconds_sum", ())]
    assert 0 < first[(COMMIT_MAX, ())] <= commits
    assert first[(WRITE_JOB_MAX, ())] >= 0.3
    assert second[(COMMIT_MAX, ())] == second[(WRITE_JOB_MAX, ())] == 0.0
