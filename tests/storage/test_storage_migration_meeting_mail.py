"""Migration 0019: new notification kinds without losing an e-mail not yet sent.

On SQLite the kind check is replaced by rebuilding `notifications`; dropping the old table
would delete (by cascade) the outbox rows that point at it unless the migration keeps them.
"""

from __future__ import annotations

import asyncio

from storage.db import create_engine
from storage.migrate import downgrade_sync, upgrade

BEFORE = "0014_zone_changes"


async def _rows(url: str, sql: str) -> list[tuple[object, ...]]:
    engine = create_engine(url)
    try:
        async with engine.connect() as conn:
            return [tuple(r) for r in await conn.exec_driver_sql(sql)]
    finally:
        await engine.dispose()


async def _run(url: str, *statements: str) -> None:
    engine = create_engine(url)
    try:
        async with engine.begin() as conn:
            for sql in statements:
                await conn.exec_driver_sql(sql)
    finally:
        await engine.dispose()


async def test_unsent_email_survives_and_meeting_kinds_are_allowed(db_url: str) -> None:
    await upgrade(db_url, BEFORE)
    await _run(
        db_url,
        "INSERT INTO municipalities (id, name) VALUES (1, 'Eksempelvik')",
        "INSERT INTO users (id, email, name, created_at)"
        " VALUES (1, 'ase@example.no', 'Åse Ødegård', '2026-12-01T10:00:00+00:00')",
        "INSERT INTO plans (id, municipality_id, title, person_name, status, access_version,"
        " created_at) VALUES ('p1', 1, 'Plan 🌱', 'Åse Ødegård', 'active', 0,"
        " '2026-12-01T10:00:00+00:00')",
        "INSERT INTO notifications (id, user_id, plan_id, kind, link, created_at, dedupe_key)"
        " VALUES (7, 1, 'p1', 'message', '/plans/p1', '2026-12-01T10:00:00+00:00', 'k7')",
        'INSERT INTO email_outbox (id, notification_id, "to", subject, body, attempts,'
        " next_attempt_at, created_at) VALUES (3, 7, 'ase@example.no', 'Samplan: æøå',"
        " 'Åpne 🙂', 0, '2026-12-01T10:00:00+00:00', '2026-12-01T10:00:00+00:00')",
    )
    await upgrade(db_url)

    assert await _rows(db_url, "SELECT id, notification_id, body FROM email_outbox") == [
        (3, 7, "Åpne 🙂")
    ]
    await _run(
        db_url,
        "INSERT INTO notifications (id, user_id, plan_id, kind, link, created_at, dedupe_key)"
        " VALUES (8, 1, 'p1', 'meeting_cancelled', '/plans/p1', '2026-12-02T10:00:00+00:00', 'k8')",
        "INSERT INTO notification_prefs (user_id, kind, email) VALUES (1, 'meeting_soon', false)",
    )
    kinds = await _rows(db_url, "SELECT kind FROM notifications ORDER BY id")
    assert kinds == [("message",), ("meeting_cancelled",)]

    # Back down: the new kinds' rows go (the old check would refuse them), the rest stays.
    await asyncio.to_thread(downgrade_sync, db_url, BEFORE)
    assert await _rows(db_url, "SELECT kind FROM notifications") == [("message",)]
    assert await _rows(db_url, "SELECT id FROM email_outbox") == [(3,)]
