"""A plan's access history (visits and page views) from the audit log, on SQLite and
PostgreSQL: pairing joins with leaves, grouping a page load's zones, filters, pages, batches."""

from __future__ import annotations

import logging
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import text

from storage.db import is_sqlite
from storage.errors import InvalidValue
from storage.repositories.access_history import (
    HistoryKind,
    HistoryQuery,
    HistoryRow,
    RowKind,
)
from storage.repositories.audit import AuditEvent, AuditRepo
from tests.storage.conftest import Store

log = logging.getLogger("tests.storage")

PLAN = "6f1c2a8e-2d7b-4c55-9a51-3b2f0e9d1c11"
OTHER = "0d3c2b1a-9f8e-4d7c-8b6a-5e4d3c2b1a00"
T0 = datetime(2026, 1, 15, 8, 0, tzinfo=UTC)  # 09:00 in Oslo


def at(minutes: float) -> datetime:
    return T0 + timedelta(minutes=minutes)


def ev(
    action: str,
    user: int,
    minutes: float,
    zone: str | None = None,
    plan: str | None = PLAN,
    role: str = "deltaker",
    **details: Any,
) -> AuditEvent:
    return AuditEvent(action, user, role, plan, zone, "10.0.0.7", details=details, at=at(minutes))


async def _users(store: Store) -> tuple[int, int]:
    ase = await store.users.create("ase.odegard@eksempelvik.test", "Åse Ødegård 🎉")
    per = await store.users.create("per.lund@eksempelvik.test", "Per Lund")
    return ase.id, per.id


async def _story(repo: AuditRepo, ase: int, per: int) -> None:
    """Åse opens the plan page (two zones, edits in both) and leaves; Per connects one zone
    with a token (no page load); an old join and leave without ids; Åse reconnects within a
    second page load; someone in another plan; Åse's third page load is still open."""
    await repo.append_many(
        [
            ev("login", ase, -1, plan=None),
            ev("plan_view", ase, 0, visit="v1"),
            ev("ws_join", ase, 0.1, "content", conn="c1", visit="v1", access="rw"),
            ev("ws_join", ase, 0.1, "area/skole", conn="c2", visit="v1", access="rw"),
            ev("ws_leave", ase, 12.1, "content", conn="c1", visit="v1", seconds=720, edits=2),
            ev("ws_leave", ase, 12.2, "area/skole", conn="c2", visit="v1", seconds=721, edits=3),
            ev("ws_join", per, 20, "comments", role="leser", conn="c3", access="r"),
            ev("ws_leave", per, 25, "comments", role="leser", conn="c3", seconds=300, edits=0),
            ev("ws_join", per, 30, "content", role="leser", access="r"),  # before ids existed
            ev("ws_leave", per, 31, "content", role="leser", seconds=60, edits=0),
            ev("plan_view", ase, 24 * 60, visit="v2"),
            ev("ws_join", ase, 24 * 60 + 0.1, "comments", conn="c5", visit="v2", access="rw"),
            ev("ws_leave", ase, 24 * 60 + 5, "comments", conn="c5", visit="v2", edits=1),
            ev("ws_join", ase, 24 * 60 + 6, "comments", conn="c6", visit="v2", access="rw"),
            ev("ws_leave", ase, 24 * 60 + 9, "comments", conn="c6", visit="v2", edits=4),
            ev("ws_join", per, 24 * 60 + 10, "content", plan=OTHER, conn="c7", access="rw"),
            ev("plan_view", ase, 2 * 24 * 60, visit="v3"),
            ev("ws_join", ase, 2 * 24 * 60 + 0.1, "content", conn="c8", visit="v3"),
        ]
    )


def _brief(rows: list[HistoryRow]) -> list[tuple[Any, ...]]:
    return [(r.kind.value, r.user_id, r.status, r.zones, r.edits, r.connections) for r in rows]


async def test_visits_pair_joins_and_leaves_and_group_a_page_load(store: Store) -> None:
    repo = AuditRepo(store.sessionmaker)
    ase, per = await _users(store)
    await _story(repo, ase, per)

    page = await repo.access_history(HistoryQuery(PLAN), limit=50)
    assert page.total == 8
    assert _brief(page.rows) == [
        ("visit", ase, "open", ("content",), 0, 1),
        ("page_view", ase, None, (), 0, 0),
        ("visit", ase, "ended", ("comments",), 5, 2),  # a reconnect is the same visit
        ("page_view", ase, None, (), 0, 0),
        ("visit", per, "unknown", ("content",), 0, 1),  # an old row: nothing to pair it by
        ("visit", per, "ended", ("comments",), 0, 1),
        ("visit", ase, "ended", ("area/skole", "content"), 5, 2),
        ("page_view", ase, None, (), 0, 0),
    ]
    ase_first = page.rows[6]
    assert ase_first.user_name == "Åse Ødegård 🎉" and ase_first.role == "deltaker"
    assert ase_first.started_at == at(0.1) and ase_first.ended_at == at(12.2)
    assert ase_first.duration == timedelta(minutes=12.1)
    assert page.rows[0].ended_at is None and page.rows[0].duration is None
    assert page.rows[4].ended_at is None  # unknown, not "still open"
    per_visit = page.rows[5]
    assert (per_visit.role, per_visit.started_at, per_visit.ended_at) == ("leser", at(20), at(25))
    ids = [r.sort_id for r in page.rows]
    assert ids == sorted(ids, reverse=True)


async def test_filters_by_kind_person_and_start_time(store: Store) -> None:
    repo = AuditRepo(store.sessionmaker)
    ase, per = await _users(store)
    await _story(repo, ase, per)

    visits = await repo.access_history(HistoryQuery(PLAN, kind=HistoryKind.VISITS))
    assert visits.total == 5 and {r.kind for r in visits.rows} == {RowKind.VISIT}
    views = await repo.access_history(HistoryQuery(PLAN, kind=HistoryKind.PAGE_VIEWS))
    assert views.total == 3 and {r.kind for r in views.rows} == {RowKind.PAGE_VIEW}

    pers = await repo.access_history(HistoryQuery(PLAN, user_id=per))
    assert [(r.user_id, r.status) for r in pers.rows] == [(per, "unknown"), (per, "ended")]
    assert pers.rows[0].user_name == "Per Lund"

    # The second day only: visits are in range by their start.
    day2 = HistoryQuery(PLAN, started_from=at(24 * 60 - 60), started_before=at(2 * 24 * 60 - 60))
    second = await repo.access_history(day2)
    assert _brief(second.rows) == [
        ("visit", ase, "ended", ("comments",), 5, 2),
        ("page_view", ase, None, (), 0, 0),
    ]
    # A visit that started before `from` stays out even when it has rows after it.
    late = await repo.access_history(HistoryQuery(PLAN, started_from=at(24 * 60 + 1)))
    assert [(r.kind.value, r.status) for r in late.rows] == [
        ("visit", "open"),
        ("page_view", None),
    ]
    nobody = await repo.access_history(HistoryQuery(PLAN, user_id=per + 1000))
    assert (nobody.total, nobody.rows) == (0, [])
    empty = await repo.access_history(HistoryQuery("00000000-0000-0000-0000-000000000000"))
    assert (empty.total, empty.rows) == (0, [])


async def test_pages_are_stable_and_batches_walk_everything(store: Store) -> None:
    repo = AuditRepo(store.sessionmaker)
    ase, per = await _users(store)
    await _story(repo, ase, per)
    everything = (await repo.access_history(HistoryQuery(PLAN), limit=100)).rows

    pages = [await repo.access_history(HistoryQuery(PLAN), limit=3, offset=o) for o in (0, 3, 6)]
    assert [p.total for p in pages] == [8, 8, 8]
    assert [r for p in pages for r in p.rows] == everything

    walked = [
        r
        for batch in [b async for b in repo.access_history_batches(HistoryQuery(PLAN), 3)]
        for r in batch
    ]
    assert walked == everything

    # A new visit lands on top; what the next page holds does not shift under a keyset walk.
    batches = repo.access_history_batches(HistoryQuery(PLAN), 3)
    first = await anext(batches)
    await repo.append(ev("ws_join", per, 3 * 24 * 60, "content", conn="c9"))
    rest = [r for batch in [b async for b in batches] for r in batch]
    assert first + rest == everything

    with pytest.raises(InvalidValue):
        await repo.access_history(HistoryQuery(PLAN), limit=0)
    with pytest.raises(InvalidValue):
        HistoryQuery(PLAN, started_from=datetime(2026, 1, 1))  # naive: which zone?


async def test_a_long_log_is_read_through_the_plan_index(store: Store) -> None:
    """20,000 rows of another plan and 2,000 of this one: the page query scans this plan's
    rows by index. Timings are logged, not asserted."""
    repo = AuditRepo(store.sessionmaker)
    ase, per = await _users(store)
    noise: list[AuditEvent] = []
    for i in range(5000):
        noise += [
            ev("ws_join", per, i, "content", plan=OTHER, conn=f"o{i}", visit=f"ov{i}"),
            ev("ws_leave", per, i + 0.5, "content", plan=OTHER, conn=f"o{i}", edits=1),
            ev("plan_view", per, i, plan=OTHER, visit=f"ov{i}"),
            ev("login", per, i, plan=None),
        ]
    mine: list[AuditEvent] = []
    for i in range(500):
        mine += [
            ev("plan_view", ase, i, visit=f"v{i}"),
            ev("ws_join", ase, i + 0.1, "content", conn=f"a{i}", visit=f"v{i}"),
            ev("ws_join", ase, i + 0.1, "area/skole", conn=f"b{i}", visit=f"v{i}"),
            ev("ws_leave", ase, i + 0.4, "content", conn=f"a{i}", visit=f"v{i}", edits=1),
        ]
    for start in range(0, len(noise), 2000):
        await repo.append_many(noise[start : start + 2000])
    await repo.append_many(mine)

    started = time.perf_counter()
    page = await repo.access_history(HistoryQuery(PLAN), limit=25, offset=0)
    first_ms = (time.perf_counter() - started) * 1000
    started = time.perf_counter()
    last = await repo.access_history(HistoryQuery(PLAN), limit=25, offset=975)
    last_ms = (time.perf_counter() - started) * 1000
    log.info(
        "access history, %s: first page %.1f ms, last page %.1f ms (22,000 rows, 1,000 shown)",
        store.url.split(":")[0],
        first_ms,
        last_ms,
    )
    assert page.total == 1000 and len(page.rows) == 25 and len(last.rows) == 25
    assert page.rows[0].status == "open" and page.rows[0].zones == ("area/skole", "content")
    assert last.rows[-1].kind is RowKind.PAGE_VIEW

    async with store.engine.connect() as conn:
        if is_sqlite(conn):
            plan = await conn.execute(
                text(
                    "EXPLAIN QUERY PLAN SELECT id FROM audit_log "
                    "WHERE plan_id = :p AND action IN ('ws_join', 'ws_leave')"
                ),
                {"p": PLAN},
            )
            assert "ix_audit_log_plan_id_id" in " ".join(str(r[-1]) for r in plan)
