"""`samplan serve` runs on uvloop with httptools by default (issue 16: accepting a connection
costs half as much, the relay's CPU per delivery falls), on asyncio when asked for or when the
stall tracer is on (it times asyncio's own handles); and the relay's direct send still finds
uvicorn's WebSocket protocol underneath, so the fan-out keeps its fast path on the new loop."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import httpx
import pytest
from pycrdt import Text

from crdt.client import YClient
from server.services import Repositories
from tests.conftest import make_settings
from tests.support.live import ServerProcess
from tests.support.world import World, build_world

log = logging.getLogger(__name__)

TOKEN = "metrics-token-for-the-event-loop-test"  # a header: ASCII
TEXT = "Åse Ødegård øver på å gå til skolen 🚶"


async def _server(tmp_path: Path, **env: str) -> tuple[World, ServerProcess]:
    settings = make_settings(tmp_path)
    repos = await Repositories.open(settings)
    world = await build_world(repos, settings.resolved_secret_key())
    await repos.close()
    return world, ServerProcess(
        {
            "SAMPLAN_VAR_DIR": str(settings.var_dir),
            "SAMPLAN_DATABASE_URL": settings.resolved_database_url(),
            "SAMPLAN_SECRET_KEY": settings.resolved_secret_key(),
            "SAMPLAN_METRICS_TOKEN": TOKEN,
            **env,
        },
        tmp_path,
    )


def _metric(text: str, name: str) -> float:
    for line in text.splitlines():
        if line.split(" ", 1)[0].split("{", 1)[0] in (name, name + "_total"):
            return float(line.rsplit(" ", 1)[1])
    raise AssertionError(f"{name} not in /metrics")


async def test_the_default_is_uvloop_and_httptools_and_the_relay_sends_directly(
    tmp_path: Path,
) -> None:
    world, proc = await _server(tmp_path)
    proc.start()
    try:
        room = world.room("area/skole")
        writer = await YClient(proc.ws_url(room, world.token("koordinator"))).connect()
        reader = await YClient(proc.ws_url(room, world.token("deltaker"))).connect()
        await writer.wait_for(writer.synced.is_set)
        await reader.wait_for(reader.synced.is_set)
        writer.doc.get("t", type=Text).insert(0, TEXT)
        await reader.wait_for(lambda: str(reader.doc.get("t", type=Text)) == TEXT)
        async with httpx.AsyncClient() as http:
            page = await http.get(f"http://127.0.0.1:{proc.port}/login")
            metrics = await http.get(
                f"http://127.0.0.1:{proc.port}/metrics",
                headers={"Authorization": f"Bearer {TOKEN}"},
            )
        await writer.close()
        await reader.close()
    finally:
        proc.stop()
    output = proc.output()
    assert "event loop: uvloop, HTTP: HttpToolsProtocol" in output, output[-2000:]
    assert page.status_code == 200 and "text/html" in page.headers["content-type"]
    direct = _metric(metrics.text, "samplan_ws_direct_sends")
    asgi = _metric(metrics.text, "samplan_ws_asgi_connections")
    log.info("direct sends %s, ASGI-only connections %s", direct, asgi)
    assert direct >= 1 and asgi == 0, (direct, asgi)


@pytest.mark.parametrize("env", ["SAMPLAN_EVENT_LOOP", "SAMPLAN_STALL_TRACE"])
async def test_asyncio_when_asked_for_or_when_the_stall_tracer_is_on(
    tmp_path: Path, env: str
) -> None:
    trace = tmp_path / "stalls.jsonl"
    value = "asyncio" if env == "SAMPLAN_EVENT_LOOP" else str(trace)
    world, proc = await _server(tmp_path, **{env: value})
    proc.start()
    try:
        url = proc.ws_url(world.room("content"), world.token("koordinator"))
        client = await YClient(url).connect()
        await client.wait_for(client.synced.is_set)
        await client.close()
    finally:
        proc.stop()
    output = proc.output()
    assert "event loop: asyncio" in output, output[-2000:]
    if env == "SAMPLAN_STALL_TRACE":
        first = json.loads(trace.read_text(encoding="utf-8").splitlines()[0])
        assert first["start"] is True
