from __future__ import annotations

import asyncio
from typing import Any

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, inspect

from storage.db import create_engine, is_sqlite
from storage.migrate import alembic_config, downgrade_sync, upgrade
from storage.models import Base

TABLES = {
    "municipalities",
    "users",
    "plans",
    "zones",
    "memberships",
    "meetings",
    "zone_updates",
    "zone_snapshots",
    "sessions",
    "zone_summaries",
    "audit_log",
    "consents",
    "meeting_invitees",
    "notifications",
    "email_outbox",
    "notification_prefs",
    "plan_versions",
    "plan_version_zones",
    "published_minutes",
    "invitations",
    "invitation_consents",
    "meeting_notes",
}


def _diff(conn: Connection) -> list[Any]:
    context = MigrationContext.configure(conn, opts={"compare_type": True})
    return list(compare_metadata(context, Base.metadata))


def _tables(conn: Connection) -> set[str]:
    return set(inspect(conn).get_table_names())


async def test_migration_from_empty_matches_models(db_url: str) -> None:
    await upgrade(db_url)
    await upgrade(db_url)  # at head already: a second start-up is a no-op
    engine = create_engine(db_url)
    try:
        async with engine.connect() as conn:
            assert await conn.run_sync(_diff) == []
            assert TABLES <= await conn.run_sync(_tables)
            version = await conn.exec_driver_sql("SELECT version_num FROM alembic_version")
            head = ScriptDirectory.from_config(alembic_config(db_url)).get_current_head()
            assert version.scalar_one() == head
            if is_sqlite(engine):
                ddl = await conn.exec_driver_sql(
                    "SELECT sql FROM sqlite_master WHERE name = 'zone_updates'"
                )
                assert "AUTOINCREMENT" in ddl.scalar_one()
    finally:
        await engine.dispose()


async def test_downgrade_to_base_and_back(db_url: str) -> None:
    await upgrade(db_url)
    await asyncio.to_thread(downgrade_sync, db_url, "base")
    engine = create_engine(db_url)
    try:
        async with engine.connect() as conn:
            assert not (TABLES & await conn.run_sync(_tables))
        await upgrade(db_url)
        async with engine.connect() as conn:
            assert await conn.run_sync(_diff) == []
    finally:
        await engine.dispose()


async def test_concurrent_upgrades_take_turns(db_url: str) -> None:
    """Several processes starting at once must not trip over each other's DDL."""
    await asyncio.gather(*(upgrade(db_url) for _ in range(3)))
    engine = create_engine(db_url)
    try:
        async with engine.connect() as conn:
            assert await conn.run_sync(_diff) == []
    finally:
        await engine.dispose()


async def test_plan_sort_key_is_filled_for_existing_plans_and_by_a_core_insert(
    db_url: str,
) -> None:
    """0029 fills `plans.sort_key` for the plans there before it (Norwegian order: æ, ø, å
    after z), and a plan inserted afterwards by a Core statement (no ORM object: a bulk
    insert) gets its key from the column default."""
    from sqlalchemy import insert, select, text

    from storage.models import Plan
    from storage.sort_keys import name_key

    await upgrade(db_url, "0028_ke_log_thresholds")
    engine = create_engine(db_url)
    names = {"p-1": "Åse Ødegård 🌸", "p-2": "Zorro Zeta", "p-3": "Æsop Ærlig", "p-4": "aage"}
    try:
        async with engine.begin() as conn:
            await conn.execute(text("INSERT INTO municipalities (name) VALUES ('Ærøy 🏔')"))
            muni = (await conn.execute(text("SELECT id FROM municipalities"))).scalar_one()
            for plan_id, name in names.items():
                await conn.execute(
                    text(
                        "INSERT INTO plans (id, municipality_id, title, person_name, status,"
                        " access_version, created_at, draft)"
                        " VALUES (:id, :m, 'Tittel 🤫', :name, 'active', 0,"
                        " CURRENT_TIMESTAMP, false)"
                    ),
                    {"id": plan_id, "m": muni, "name": name},
                )
        await upgrade(db_url)
        async with engine.begin() as conn:
            await conn.execute(
                insert(Plan),
                [{"id": "p-5", "municipality_id": muni, "title": "T", "person_name": "Øyvind Ås"}],
            )
            rows = (
                await conn.execute(select(Plan.id, Plan.sort_key).order_by(Plan.sort_key))
            ).all()
        names["p-5"] = "Øyvind Ås"
        assert {plan_id: key for plan_id, key in rows} == {
            plan_id: name_key(name) for plan_id, name in names.items()
        }
        assert [plan_id for plan_id, _ in rows] == [
            "p-2",
            "p-3",
            "p-5",
            "p-4",
            "p-1",
        ]  # aage is åge
    finally:
        await engine.dispose()
