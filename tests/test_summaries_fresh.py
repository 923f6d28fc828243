"""Figures read from stored zone summaries (Mine planer, the KE overview, reminders) are as
fresh on every node as on the node holding the room, with no compaction (issue 15;
server/core/summary_writer.py): on one node the KE overview's SQL fold reads what the live
room holds, and with two real nodes an edit through node A shows on node B's pages and in the
reminders node B runs as the cluster's leader."""

from __future__ import annotations

import csv
import io
import logging
import re
from datetime import timedelta
from pathlib import Path

import pytest
from pycrdt import Array
from sqlalchemy import text as sql

from crdt.schema import EVALUATIONS, MEASURES, append_item
from server.core.clock import today_oslo
from server.notify.reminders import DEADLINE_DAYS
from tests.support.clients import connected
from tests.support.cluster import cluster, health, http_base
from tests.support.commits import recording_one_writer
from tests.support.live import LiveServer
from tests.support.passwords import hash_password
from tests.support.waiting import wait_for
from tests.support.web import PASSWORD, signed_in
from tests.support.world import ROLE_USERS, World

log = logging.getLogger("tests.summaries_fresh")

KE_EMAIL = "aashild.ke@eksempelvik.test"
MEASURE = {"title": "Leksehjelp for Åse Ødegård 📚 æøå", "end": "2020-01-01", "status": "pagar"}
EVALUATION = {"date": "2026-01-15", "worked": "Faste møter med Åse Ødegård 😀"}


def _edit(doc_owner: object) -> None:
    """An overdue open measure and an evaluation of 15 January 2026, in one transaction."""
    doc = doc_owner.doc  # type: ignore[attr-defined]
    with doc.transaction():
        append_item(doc.get(MEASURES, type=Array), MEASURE)
        append_item(doc.get(EVALUATIONS, type=Array), EVALUATION)


def _ke_row(body: bytes, plan_id: str) -> dict[str, str]:
    text = body.decode("utf-8").lstrip("\ufeff")
    rows = list(csv.reader(io.StringIO(text), delimiter=";"))
    found = [r for r in rows[1:] if r and r[0] == plan_id]
    assert len(found) == 1, rows
    # The columns as server/ke/overview.COLUMNS lists them.
    return dict(zip(("plan", "person", "unit", "coordinator", "status", "plan_consent",
                     "sharing_consent", "in_use", "evaluated", "overdue", "next_revision",
                     "next_meeting"), found[0], strict=False))  # fmt: skip


def _mine_planer_shows_it(page: str) -> bool:
    return bool(re.search(r'badge-warn">1<', page)) and "15.01.2026" in page


async def _make_ke_admin(repos: object, plan_id: str) -> None:
    plan = await repos.plans.get_plan(plan_id)  # type: ignore[attr-defined]
    assert plan is not None
    user = await repos.users.create(KE_EMAIL, "Åshild Kåsa")  # type: ignore[attr-defined]
    await repos.users.set_password_hash(user.id, hash_password(PASSWORD))  # type: ignore[attr-defined]
    await repos.municipalities.add_admin(plan.municipality_id, user.id, granted_by=None)  # type: ignore[attr-defined]


async def test_on_one_node_the_ke_overview_reads_what_the_live_room_holds(
    web: LiveServer, world: World
) -> None:
    services = web.services
    await _make_ke_admin(services.repos, world.plan_id)
    plan = await services.repos.plans.get_plan(world.plan_id)
    assert plan is not None
    zone = world.zones["area/skole"]
    async with connected(web.ws_url(world.room("area/skole"), world.token("koordinator"))) as kari:
        room = services.registry.rooms[zone]
        before = room.committed_seq
        _edit(kari)
        # Durable here (the commit marks the zone), and the room stays live: no compaction.
        await wait_for(lambda: room.committed_seq > before, timeout=30, what="the commit")
        async with signed_in(web.http, KE_EMAIL) as ke:
            exported = await ke.get(f"/ke/{plan.municipality_id}/overview.csv")
        assert exported.status_code == 200
        row = _ke_row(exported.content, world.plan_id)
        assert row["overdue"] == "1"
        assert "15.01.2026" in row["evaluated"]
        assert zone in services.registry.rooms  # read while the room is live, not compacted


@pytest.mark.postgres
@pytest.mark.redis
async def test_an_edit_through_node_a_shows_on_node_bs_pages_without_a_compaction(
    tmp_path: Path,
) -> None:
    async with cluster(tmp_path) as c:
        a, b = c.node("a"), c.node("b")
        w = c.world
        await _make_ke_admin(c.repos, w.plan_id)
        plan = await c.repos.plans.get_plan(w.plan_id)
        assert plan is not None
        zone = w.zones["area/skole"]
        csv_path = f"/ke/{plan.municipality_id}/overview.csv"

        async def snapshots() -> int:
            async with c.repos.engine.connect() as conn:
                query = sql("SELECT count(*) FROM zone_snapshots WHERE zone_id = :zone")
                return int((await conn.execute(query, {"zone": zone})).scalar_one())

        folded_before = await snapshots()
        async with (
            signed_in(http_base(b), ROLE_USERS["koordinator"][0]) as kari_on_b,
            signed_in(http_base(b), KE_EMAIL) as ke_on_b,
        ):
            # Before: nothing overdue, no evaluation, on node B's pages.
            assert not _mine_planer_shows_it((await kari_on_b.get("/plans")).text)
            row = _ke_row((await ke_on_b.get(csv_path)).content, w.plan_id)
            assert row["overdue"] == "0" and "15.01.2026" not in row["evaluated"]

            # The edit through node A; the room stays open there (never unloaded, never
            # compacted) and node B never loads it.
            async with connected(a.ws_url(w.room("area/skole"), w.token("koordinator"))) as kari:
                _edit(kari)

                async def mine_planer() -> bool:
                    return _mine_planer_shows_it((await kari_on_b.get("/plans")).text)

                async def ke_overview() -> bool:
                    row = _ke_row((await ke_on_b.get(csv_path)).content, w.plan_id)
                    return row["overdue"] == "1" and "15.01.2026" in row["evaluated"]

                took = await wait_for(mine_planer, timeout=60, what="Mine planer on node B")
                log.info("Mine planer on node B showed node A's edit after %.2f s", took)
                # The KE overview keeps its rows CACHE_SECONDS (10 s): a generous wait.
                took = await wait_for(ke_overview, timeout=90, what="the KE overview on node B")
                log.info("the KE overview on node B showed node A's edit after %.2f s", took)
                assert health(b)["rooms"] == 0  # B read stored summaries, not a room
                assert health(a)["rooms"] >= 1  # the room is still live on A
                assert await snapshots() == folded_before  # and no compaction happened


@pytest.mark.postgres
@pytest.mark.redis
async def test_a_deadline_set_through_node_a_is_reminded_by_the_leader_on_node_b(
    tmp_path: Path,
) -> None:
    """The reminders run on the leader only, which need not hold the room: B, leading, reads
    the summary node A stored after its commit."""
    async with cluster(tmp_path) as c:
        often = {"reminder_interval_seconds": 0.2}
        b = c.node("b", **often)
        await wait_for(lambda: bool(health(b)["cluster"]["leader"]), timeout=30, what="B leads")
        a = c.node("a", **often)
        w = c.world
        ase = w.users["deltaker"]
        deadline = (today_oslo() + timedelta(days=DEADLINE_DAYS)).isoformat()
        measure = {
            "title": "Svømming med Åse Ødegård 🏊 æøå",
            "end": deadline,
            "status": "pagar",
            "responsible": [str(ase)],
        }

        async def deadlines() -> list[str]:
            found = await c.repos.notifications.list_for_user(ase)
            return [n.kind for n in found if n.kind == "deadline"]

        assert await deadlines() == []
        async with connected(a.ws_url(w.room("area/skole"), w.token("koordinator"))) as kari:
            append_item(kari.doc.get(MEASURES, type=Array), measure)
            took = await wait_for(deadlines, timeout=60, what="the deadline reminder")
            log.info("B reminded of a deadline set through A after %.2f s", took)
            assert health(b)["rooms"] == 0  # B read the stored summary, not a room
            assert health(a)["rooms"] >= 1
        assert await deadlines() == ["deadline"]
        assert "reminders for " in b.output() and "reminders for " not in a.output()


async def test_a_summary_is_stored_once_per_change_and_not_for_an_edit_that_leaves_it(
    server: LiveServer, world: World
) -> None:
    """The writer runs after commits, but writes only a summary that differs from what it
    wrote last: typing in a measure's title stores nothing."""
    services = server.services
    writer = services.summaries.writer
    zone = world.zones["area/skole"]
    async with connected(server.ws_url(world.room("area/skole"), world.token("koordinator"))) as k:
        room = services.registry.rooms[zone]

        async def commit(change: object) -> None:
            before = room.committed_seq
            with k.doc.transaction():
                change(k.doc.get(MEASURES, type=Array))  # type: ignore[operator]
            await wait_for(lambda: room.committed_seq > before, timeout=30, what="the commit")
            await services.summaries.flush()

        writes = writer.writes
        await commit(lambda measures: append_item(measures, MEASURE))
        assert writer.writes == writes + 1
        stored = await services.repos.plans.zone_summaries_for_user(world.users["koordinator"])
        summary = next(s for zid, _, _, s in stored[world.plan_id] if zid == zone)
        assert summary["openMeasureEnds"] == ["2020-01-01"]

        await commit(lambda measures: measures[0].__setitem__("title", "Leksehjelp, Åse 😀 ✏️"))
        assert writer.writes == writes + 1  # the same summary: nothing stored

        await commit(lambda measures: measures[0].__setitem__("status", "fullfort"))
        assert writer.writes == writes + 2
        stored = await services.repos.plans.zone_summaries_for_user(world.users["koordinator"])
        summary = next(s for zid, _, _, s in stored[world.plan_id] if zid == zone)
        assert summary["openMeasureEnds"] == []


async def test_on_sqlite_a_summary_is_saved_between_the_edits_batches(
    server: LiveServer, world: World
) -> None:
    """SQLite has one writer: a summary saved on a connection of its own beside the edits'
    commits made them sleep in SQLite's busy handler (the municipality scenario's tail). It
    goes through the committer's queue instead, between batches, and is stored as before."""
    services = server.services
    writer = services.summaries.writer
    assert writer.one_writer == services.committer.run_exclusive
    through_committer = recording_one_writer(writer)
    assert through_committer is not None
    zone = world.zones["area/skole"]
    async with connected(server.ws_url(world.room("area/skole"), world.token("koordinator"))) as k:
        room = services.registry.rooms[zone]
        before = room.committed_seq
        _edit(k)
        await wait_for(lambda: room.committed_seq > before, timeout=30, what="the commit")
        await services.summaries.flush()
    assert len(through_committer) == 1
    stored = await services.repos.plans.zone_summaries_for_user(world.users["koordinator"])
    summary = next(s for zid, _, _, s in stored[world.plan_id] if zid == zone)
    assert summary["openMeasureEnds"] == ["2020-01-01"]
    assert summary["lastEvaluation"] == "2026-01-15"
    log.info("a summary saved through the committer's queue (Åse Ødegård's plan, æøå 📚)")
