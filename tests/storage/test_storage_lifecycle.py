"""Closing, deleting and purging plans at the storage layer, on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import text

from storage.db import create_engine, is_sqlite, make_sessionmaker, sqlite_zone_log
from storage.errors import InvalidValue, NotFound
from storage.migrate import downgrade_sync, upgrade
from storage.models import utcnow
from storage.repositories import AuditEvent, AuditRepo, ConsentRepo, MeetingRepo, PlanRepo
from storage.repositories.versions import VersionRepo, ZoneCopy
from tests.storage.conftest import Store

SECRET = "Åse Ødegård: epilepsimedisin 🧪 hemmelig-æøå-4711"
PLAN_TABLES = ("zones", "memberships", "consents", "meetings", "plan_versions")
ZONE_TABLES = ("zone_updates", "zone_snapshots", "zone_summaries")


async def _plan(store: Store, title: str = "Individuell plan for Åse Ødegård") -> str:
    municipality = await store.plans.get_or_create_municipality("Eksempelvik kommune")
    plan = await store.plans.create_plan(municipality, title, "Åse Ødegård")
    return plan.id


async def _full_plan(store: Store) -> tuple[str, list[int]]:
    """A plan with something in every table a plan owns."""
    plan_id = await _plan(store)
    await store.plans.add_zone(plan_id, "area", "skole", "Skole og læring ✏️", 0)
    planeier = await store.users.create(f"planeier-{plan_id[:8]}@example.no", "Åse Ødegård")
    deltaker = await store.users.create(f"deltaker-{plan_id[:8]}@example.no", "Per Lærer")
    await store.plans.add_member(plan_id, planeier.id, "planeier")
    await store.plans.add_member(plan_id, deltaker.id, "deltaker")
    await MeetingRepo(store.sessionmaker).schedule(  # with its minutes zone
        plan_id,
        title="Ansvarsgruppemøte",
        starts_at=datetime(2026, 1, 15, 13, tzinfo=UTC),
        ends_at=datetime(2026, 1, 15, 14, tzinfo=UTC),
        place="Rom 204",
        video_link=None,
        agenda=[],
        invitee_ids=[deltaker.id],
        created_by_user_id=planeier.id,
    )
    await ConsentRepo(store.sessionmaker).give(plan_id, deltaker.id, "all", None, planeier.id)
    zones = [zone.id for zone in await store.plans.list_zones(plan_id)]
    seqs = await store.zone_log.append_batch([(zone, SECRET.encode()) for zone in zones])
    await store.zone_log.compact(zones[0], seqs[:1], SECRET.encode() * 2)
    await store.zone_log.append_batch([(zones[0], b"tail " + SECRET.encode())])
    await store.plans.save_zone_summary(zones[0], {"nextRevision": "2026-01-15", "note": SECRET})
    copy = ZoneCopy("content", "", "Felles del", SECRET.encode(), json.dumps({"t": SECRET}))
    await VersionRepo(store.sessionmaker).create_version(plan_id, "named", [copy], name="Før 🗂️")
    return plan_id, zones


async def _rows(store: Store, plan_id: str, zones: list[int]) -> dict[str, int]:
    counts: dict[str, int] = {}
    async with store.engine.connect() as conn:
        for table in ("plans", *PLAN_TABLES):
            column = "id" if table == "plans" else "plan_id"
            result = await conn.execute(
                text(f"SELECT count(*) FROM {table} WHERE {column} = :p"), {"p": plan_id}
            )
            counts[table] = int(result.scalar_one())
        for table in ZONE_TABLES:
            total = 0
            for zone in zones:
                result = await conn.execute(
                    text(f"SELECT count(*) FROM {table} WHERE zone_id = :z"), {"z": zone}
                )
                total += int(result.scalar_one())
            counts[table] = total
    return counts


async def test_close_and_reopen_stamp_closed_at_and_move_access_version(store: Store) -> None:
    plan_id = await _plan(store)
    assert (await store.plans.access_versions([plan_id]))[plan_id] == 0
    before = utcnow()
    assert await store.plans.set_plan_status(plan_id, "closed")
    plan = await store.plans.get_plan(plan_id)
    assert plan is not None and plan.status == "closed"
    assert plan.closed_at is not None and before <= plan.closed_at <= utcnow()
    assert plan.closed_at.tzinfo is not None
    # Closing twice changes nothing: not the time, not the version.
    assert not await store.plans.set_plan_status(plan_id, "closed")
    again = await store.plans.get_plan(plan_id)
    assert again is not None and again.closed_at == plan.closed_at
    assert (await store.plans.access_versions([plan_id]))[plan_id] == 1

    assert await store.plans.set_plan_status(plan_id, "active")
    reopened = await store.plans.get_plan(plan_id)
    assert reopened is not None and reopened.status == "active" and reopened.closed_at is None
    assert not await store.plans.set_plan_status(plan_id, "active")
    assert (await store.plans.access_versions([plan_id]))[plan_id] == 2

    long_ago = datetime(2020, 5, 17, 12, tzinfo=UTC)
    assert await store.plans.set_plan_status(plan_id, "closed", at=long_ago)
    dated = await store.plans.get_plan(plan_id)
    assert dated is not None and dated.closed_at == long_ago

    with pytest.raises(InvalidValue):
        await store.plans.set_plan_status(plan_id, "active", at=datetime(2020, 1, 1))
    with pytest.raises(NotFound):
        await store.plans.set_plan_status("no-such-plan", "closed")


async def test_closed_plan_shows_in_access_lookups(store: Store) -> None:
    plan_id = await _plan(store)
    user = await store.users.create("kari@example.no", "Kari Nilsen")
    await store.plans.add_member(plan_id, user.id, "koordinator")
    consents = ConsentRepo(store.sessionmaker)
    context = await store.plans.connection_context(plan_id, "content", "", user.id)
    member = await consents.member_access(plan_id, user.id)
    assert context is not None and not context.plan_closed
    assert member is not None and not member.plan_closed
    await store.plans.set_plan_status(plan_id, "closed")
    context = await store.plans.connection_context(plan_id, "content", "", user.id)
    member = await consents.member_access(plan_id, user.id)
    assert context is not None and context.plan_closed
    assert member is not None and member.plan_closed and member.role == "koordinator"


async def test_birth_date(store: Store) -> None:
    municipality = await store.plans.get_or_create_municipality("Eksempelvik kommune")
    plan = await store.plans.create_plan(
        municipality, "Plan for Jonas", "Jonas Berg", person_birth_date=date(2009, 3, 14)
    )
    assert plan.person_birth_date == date(2009, 3, 14)
    fetched = await store.plans.get_plan(plan.id)
    assert fetched is not None and fetched.person_birth_date == date(2009, 3, 14)
    assert not await store.plans.set_person_birth_date(plan.id, date(2009, 3, 14))
    assert await store.plans.set_person_birth_date(plan.id, date(2012, 2, 29))
    assert await store.plans.set_person_birth_date(plan.id, None)
    fetched = await store.plans.get_plan(plan.id)
    assert fetched is not None and fetched.person_birth_date is None
    with pytest.raises(NotFound):
        await store.plans.set_person_birth_date("no-such-plan", None)


async def test_delete_removes_everything_the_plan_owns_and_keeps_the_access_log(
    store: Store,
) -> None:
    plan_id, zones = await _full_plan(store)
    other_id, other_zones = await _full_plan(store)
    audit = AuditRepo(store.sessionmaker)
    await audit.append(AuditEvent("plan_view", actor_user_id=1, role="planeier", plan_id=plan_id))
    await audit.append(AuditEvent("ws_join", plan_id=plan_id, zone="content"))
    before = await _rows(store, plan_id, zones)
    assert all(before.values()), before

    owned = await store.plans.owned_rows(plan_id)
    rows = await store.plans.delete_plan(plan_id)
    assert rows is not None and rows == owned
    assert rows.counts() == {
        "zones": 4,
        "updates": 4,  # one per zone, less the first zone's compacted one, plus its tail
        "snapshots": 1,
        "summaries": 1,
        "members": 2,
        "consents": 1,
        "meetings": 1,
        "versions": 1,
        "published_minutes": 0,
        "notifications": 0,
    }
    assert not any((await _rows(store, plan_id, zones)).values())
    assert await store.plans.get_plan(plan_id) is None
    assert await store.plans.delete_plan(plan_id) is None
    assert await store.plans.owned_rows(plan_id) is None
    # Nothing of the other plan went with it.
    assert all((await _rows(store, other_id, other_zones)).values())
    # The access log keeps every row (no foreign keys), and its chain still verifies.
    assert [e.action for e in await audit.for_plan(plan_id)] == ["ws_join", "plan_view"]
    assert (await audit.verify()).ok


async def test_delete_for_purge_takes_only_plans_closed_before_the_cutoff(store: Store) -> None:
    now = utcnow()
    old = await _plan(store, "Gammel plan")
    recent = await _plan(store, "Nylig avsluttet")
    active = await _plan(store, "Aktiv plan")
    await store.plans.set_plan_status(old, "closed", at=now - timedelta(days=400))
    await store.plans.set_plan_status(recent, "closed", at=now - timedelta(days=10))
    cutoff = now - timedelta(days=365)
    assert [p.id for p in await store.plans.closed_before(cutoff)] == [old]
    assert await store.plans.delete_plan(recent, closed_before=cutoff) is None
    assert await store.plans.delete_plan(active, closed_before=cutoff) is None
    assert await store.plans.delete_plan(old, closed_before=cutoff) is not None
    assert await store.plans.get_plan(recent) is not None
    assert await store.plans.get_plan(active) is not None
    assert await store.plans.closed_before(cutoff) == []


async def test_vacuum_after_delete(store: Store) -> None:
    plan_id, _ = await _full_plan(store)
    await store.plans.delete_plan(plan_id)
    # PostgreSQL: a plain VACUUM runs (outside a transaction); SQLite: delete already scrubbed.
    assert await store.plans.vacuum_plan_tables() is (not is_sqlite(store.engine))


async def test_sqlite_connections_have_secure_delete_on(sqlite_store: Store) -> None:
    async with sqlite_store.engine.connect() as conn:
        assert (await conn.exec_driver_sql("PRAGMA secure_delete")).scalar_one() == 1
    zone_log = sqlite_zone_log(sqlite_store.engine)
    assert zone_log is not None
    for role in ("writer", "reader"):
        value = await zone_log.run(role, lambda c: c.execute("PRAGMA secure_delete").fetchone())
        assert value == (1,)


def _file_bytes(database: Path) -> bytes:
    data = database.read_bytes()
    wal = database.with_name(database.name + "-wal")
    return data + (wal.read_bytes() if wal.exists() else b"")


async def test_sqlite_deleted_bytes_are_in_neither_the_file_nor_the_wal(
    sqlite_store: Store,
) -> None:
    database = Path(sqlite_store.engine.url.database or "")
    plan_id, _zones = await _full_plan(sqlite_store)
    needle = SECRET.encode("utf-8")
    assert needle in _file_bytes(database)  # the control: it was there to find
    await sqlite_store.plans.delete_plan(plan_id)
    assert needle not in _file_bytes(database)
    wal = database.with_name(database.name + "-wal")
    assert not wal.exists() or wal.stat().st_size == 0  # truncated by the checkpoint
    # The same holds after the engine is gone (nothing is written back at close).
    await sqlite_store.engine.dispose()
    assert needle not in _file_bytes(database)


async def test_migration_stamps_plans_closed_before_it(db_url: str) -> None:
    """A plan closed before 0005 gets closed_at = the migration's time: its retention starts
    then, never at an invented earlier date."""
    await upgrade(db_url, "0004")
    engine = create_engine(db_url)
    try:
        async with engine.begin() as conn:
            await conn.execute(
                text("INSERT INTO municipalities (id, name) VALUES (1, 'Eksempelvik')")
            )
            for plan_id, status in (("p-closed", "closed"), ("p-active", "active")):
                await conn.execute(
                    text(
                        "INSERT INTO plans (id, municipality_id, title, person_name, status,"
                        " access_version, created_at) VALUES (:id, 1, 'Plan', 'Åse', :s, 0, :t)"
                    ),
                    {"id": plan_id, "s": status, "t": datetime(2025, 1, 1, tzinfo=UTC)},
                )
        started = utcnow().replace(microsecond=0) - timedelta(seconds=1)
        await upgrade(db_url)
        plans = PlanRepo(make_sessionmaker(engine))
        closed = await plans.get_plan("p-closed")
        active = await plans.get_plan("p-active")
        assert closed is not None and closed.closed_at is not None
        assert closed.closed_at >= started
        assert active is not None and active.closed_at is None
        await asyncio.to_thread(downgrade_sync, db_url, "0004")
        await upgrade(db_url)
    finally:
        await engine.dispose()
