"""Mine planer's indicators: from the documents, stored at compaction, read live when loaded."""

from __future__ import annotations

import re
from datetime import date

import httpx
import pytest
from pycrdt import Array, Map

from crdt.schema import append_item
from crdt.summary import zone_summary
from server.core.indicators import fold
from storage.repositories.plan_facts import ZoneFold
from tests.support.clients import connected
from tests.support.live import LiveServer
from tests.support.passwords import hash_password
from tests.support.waiting import wait_for
from tests.support.world import ROLE_USERS, World


def test_indicators_count_overdue_open_measures_and_find_the_last_evaluation() -> None:
    zones = [
        ("content", {"nextRevision": "2026-01-15", "planPeriodEnd": "2026-08-31"}),
        ("area", {"openMeasureEnds": ["2025-11-01", "2027-01-01"], "lastEvaluation": "2026-01-15"}),
        ("area", {"openMeasureEnds": ["2025-12-01"], "lastEvaluation": None}),
        ("comments", {}),
    ]
    assert fold(zones, date(2026, 2, 1)) == ZoneFold(
        next_revision="2026-01-15", last_evaluation="2026-01-15", overdue_measures=2
    )
    assert fold([], date(2026, 2, 1)).next_revision is None


async def test_mine_planer_shows_what_the_plan_says(server: LiveServer, world: World) -> None:
    room = world.room("area/skole")
    async with connected(server.ws_url(room, world.token("koordinator"))) as client:
        measures = client.doc.get("measures", type=Array)
        evaluations = client.doc.get("evaluations", type=Array)
        with client.doc.transaction():
            append_item(
                measures,
                {"title": "Ukentlig planleggingsmøte 📅", "end": "2020-01-01", "status": "pagar"},
            )
            append_item(
                measures, {"title": "Ferdig tiltak ✅", "end": "2020-01-01", "status": "fullfort"}
            )
            append_item(evaluations, {"date": "2026-01-15", "worked": "Faste møter med Åse"})
        live = server.services.registry.rooms[world.zones["area/skole"]]
        await client.wait_for(lambda: len(live.doc.get("measures", type=Array)) == 2)
        assert zone_summary(live.doc, "area")["openMeasureEnds"] == ["2020-01-01"]

        email, _ = ROLE_USERS["koordinator"]
        await server.services.repos.users.set_password_hash(
            world.users["koordinator"], hash_password("Blåbær 🫐 passord")
        )
        async with httpx.AsyncClient(base_url=server.http) as http:
            page = await http.get("/login")
            token = re.search(r'name="csrf_token" value="([^"]+)"', page.text).group(1)  # type: ignore[union-attr]
            await http.post(
                "/login",
                data={"email": email, "password": "Blåbær 🫐 passord", "csrf_token": token},
            )
            live_view = (await http.get("/plans")).text  # the room is in memory: read live
            assert re.search(r'badge-warn">1<', live_view)
            assert "15.01.2026" in live_view
    # After the room is unloaded, the summary stored at compaction tells the same.
    await wait_for(
        lambda: world.zones["area/skole"] not in server.services.registry.rooms,
        timeout=server.settings.room_grace_seconds + 30,
        what="the room to unload after its grace period",
    )
    await server.services.summaries.flush()
    stored = await server.services.plans.zone_summaries_for_user(world.users["koordinator"])
    summary = next(s for zid, _, _, s in stored[world.plan_id] if zid == world.zones["area/skole"])
    assert summary["openMeasureEnds"] == ["2020-01-01"]
    assert summary["lastEvaluation"] == "2026-01-15"
    assert [(m["end"], m["responsible"]) for m in summary["openMeasures"]] == [("2020-01-01", [])]
    content = next(s for _, kind, _, s in stored[world.plan_id] if kind == "content")
    assert content == {}  # never opened: nothing to say yet, and nothing invented


def test_content_summary_reads_meta() -> None:
    from pycrdt import Doc

    doc: Doc = Doc()  # type: ignore[type-arg]
    meta = doc.get("meta", type=Map)
    meta["nextRevision"] = "2026-01-15"
    assert zone_summary(doc, "content") == {"nextRevision": "2026-01-15", "planPeriodEnd": None}


async def test_mine_planer_with_200_plans(server: LiveServer, world: World) -> None:
    """A coordinator with 200 plans: every plan listed with its indicators; the time is
    logged (measured, not asserted)."""
    import logging
    import time

    repos = server.services.repos
    koordinator = world.users["koordinator"]
    municipality = await repos.plans.get_or_create_municipality("Eksempelvik kommune")
    for n in range(199):  # plus the world's plan
        plan = await repos.plans.create_plan(
            municipality, f"Plan nr. {n} for Åse 🌱", "Åse Ødegård"
        )
        await repos.plans.add_member(plan.id, koordinator, "koordinator")
        content = await repos.plans.get_zone(plan.id, "content", "")
        assert content is not None
        await repos.plans.save_zone_summary(content.id, {"nextRevision": "2020-01-01"})
    email, _ = ROLE_USERS["koordinator"]
    await repos.users.set_password_hash(koordinator, hash_password("Blåbær 🫐 passord"))
    async with httpx.AsyncClient(base_url=server.http) as http:
        page = await http.get("/login")
        token = re.search(r'name="csrf_token" value="([^"]+)"', page.text).group(1)  # type: ignore[union-attr]
        await http.post(
            "/login", data={"email": email, "password": "Blåbær 🫐 passord", "csrf_token": token}
        )
        timings = []
        for _ in range(5):
            started = time.perf_counter()
            response = await http.get("/plans")
            timings.append((time.perf_counter() - started) * 1000)
    assert response.status_code == 200
    assert response.text.count('href="/plans/') >= 200
    assert response.text.count("01.01.2020") == 199
    logging.getLogger("tests").info(
        "Mine planer with 200 plans: %s ms", [round(t) for t in timings]
    )


# Every test here that starts a server runs on SQLite and on PostgreSQL (tests/conftest.py).
pytestmark = pytest.mark.both_databases
