"""The access log: append-only rows, each carrying the hash of the row before (DESIGN.md §5).

    hash = sha256(canonical(id, at, action, actor_user_id, role, plan_id, zone,
                            client_address, details, prev_hash))

where `canonical` is the compact JSON array of those ten values (UTF-8, `ensure_ascii=False`,
separators "," and ":"), `at` as UTC ISO 8601 with microseconds ("2026-01-15T09:30:00.123456
+00:00") and `details` the stored JSON text itself. The first row's prev_hash is 64 zeros.
Editing a row breaks its own hash; deleting one breaks the next row's link; `verify` names the
first broken row. (Deleting the newest rows leaves a shorter, valid chain: compare the row
count or the last hash with an earlier reading to notice that.)

Appends are serialised: on SQLite by the engine's writer lock and BEGIN IMMEDIATE (which also
excludes other processes), on PostgreSQL by a transaction-scoped advisory lock, so several
nodes chain correctly. The last hash is read inside the lock.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import AsyncIterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import String, select, text, type_coerce
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession, async_sessionmaker

from storage.db import engine_of, is_sqlite, write_connection
from storage.errors import InvalidValue
from storage.models import AuditEntry, audit_log_table, utcnow
from storage.repositories import access_history
from storage.repositories.access_history import HistoryPage, HistoryQuery, HistoryRow

log = logging.getLogger(__name__)

GENESIS_HASH = "0" * 64
AUDIT_LOCK_KEY = 7405612  # pg_advisory_xact_lock key; 7405611 is the migration lock
_ACTION_MAX = 40
_VERIFY_BATCH = 1000
_DETAILS_MAX = 2000


@dataclass(frozen=True, slots=True)
class AuditEvent:
    """One thing to record; `details` is a small JSON-able mapping, never plan content."""

    action: str
    actor_user_id: int | None = None
    role: str | None = None
    plan_id: str | None = None
    zone: str | None = None
    client_address: str | None = None
    details: Mapping[str, Any] = field(default_factory=dict)
    at: datetime | None = None  # None: the time of the append


@dataclass(frozen=True, slots=True)
class VerifyResult:
    ok: bool
    rows_checked: int
    first_broken_id: int | None = None
    problem: str | None = None


def format_at(at: datetime) -> str:
    return at.astimezone(UTC).isoformat(timespec="microseconds")


def row_hash(
    row_id: int,
    at: str,
    action: str,
    actor_user_id: int | None,
    role: str | None,
    plan_id: str | None,
    zone: str | None,
    client_address: str | None,
    details: str,
    prev_hash: str,
) -> str:
    """The chain's hash of one row; `at` already formatted by `format_at`."""
    canonical = json.dumps(
        [
            row_id,
            at,
            action,
            actor_user_id,
            role,
            plan_id,
            zone,
            client_address,
            details,
            prev_hash,
        ],
        ensure_ascii=False,
        separators=(",", ":"),
    )
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


def _details_json(details: Mapping[str, Any]) -> str:
    data = json.dumps(dict(details), ensure_ascii=False, sort_keys=True, separators=(",", ":"))
    if len(data) > _DETAILS_MAX:
        raise InvalidValue("audit details are meant to be small (a few numbers and ids)")
    return data


def _check(event: AuditEvent) -> None:
    if not event.action or len(event.action) > _ACTION_MAX:
        raise InvalidValue(f"an audit action is 1-{_ACTION_MAX} characters")
    if event.at is not None and event.at.tzinfo is None:
        raise InvalidValue("audit times must carry a time zone")


def _parse_stored_at(value: object) -> str:
    """The stored time, read without the column type (tampered text must not crash verify)."""
    if isinstance(value, datetime):
        parsed = value
    elif isinstance(value, str):
        parsed = datetime.fromisoformat(value)
    else:
        raise ValueError(f"time of type {type(value).__name__}")
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return format_at(parsed)


class AuditRepo:
    def __init__(self, sessionmaker: async_sessionmaker[AsyncSession]) -> None:
        self._sessionmaker = sessionmaker
        self._engine = engine_of(sessionmaker)

    async def append(self, event: AuditEvent) -> int:
        """Append one row; returns its id."""
        (row_id,) = await self.append_many([event])
        return row_id

    async def append_many(self, events: Sequence[AuditEvent]) -> list[int]:
        """Append rows in order, in one transaction; returns their ids."""
        if not events:
            return []
        for event in events:
            _check(event)
        now = utcnow()
        async with write_connection(self._engine) as conn:
            prev = await self._lock_and_last_hash(conn)
            ids = await self._next_ids(conn, len(events))
            rows = []
            for row_id, event in zip(ids, events, strict=True):
                at = event.at or now
                details = _details_json(event.details)
                digest = row_hash(
                    row_id,
                    format_at(at),
                    event.action,
                    event.actor_user_id,
                    event.role,
                    event.plan_id,
                    event.zone,
                    event.client_address,
                    details,
                    prev,
                )
                rows.append(
                    {
                        "id": row_id,
                        "at": at,
                        "action": event.action,
                        "actor_user_id": event.actor_user_id,
                        "role": event.role,
                        "plan_id": event.plan_id,
                        "zone": event.zone,
                        "client_address": event.client_address,
                        "details": details,
                        "prev_hash": prev,
                        "hash": digest,
                    }
                )
                prev = digest
            await conn.execute(audit_log_table.insert(), rows)
        return ids

    async def _lock_and_last_hash(self, conn: AsyncConnection) -> str:
        if not is_sqlite(conn):
            # SQLite's BEGIN IMMEDIATE (write_connection) already excludes every other writer.
            await conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": AUDIT_LOCK_KEY})
        last = await conn.scalar(
            select(audit_log_table.c.hash).order_by(audit_log_table.c.id.desc()).limit(1)
        )
        return str(last) if last is not None else GENESIS_HASH

    async def _next_ids(self, conn: AsyncConnection, count: int) -> list[int]:
        if is_sqlite(conn):
            # As storage.db.insert_returning_ids: inside BEGIN IMMEDIATE nobody else inserts.
            seq = await conn.scalar(
                text("SELECT seq FROM sqlite_sequence WHERE name = 'audit_log'")
            )
            first = int(seq or 0) + 1
            return list(range(first, first + count))
        result = await conn.execute(
            text(
                "SELECT nextval(pg_get_serial_sequence('audit_log', 'id')) "
                "FROM generate_series(1, :n)"
            ),
            {"n": count},
        )
        return sorted(int(i) for i in result.scalars())

    async def for_plan(
        self, plan_id: str, limit: int = 100, offset: int = 0, action: str | None = None
    ) -> list[AuditEntry]:
        """The plan's rows, newest first."""
        stmt = select(AuditEntry).where(AuditEntry.plan_id == plan_id)
        if action is not None:
            stmt = stmt.where(AuditEntry.action == action)
        stmt = stmt.order_by(AuditEntry.id.desc()).limit(limit).offset(offset)
        async with self._sessionmaker() as session:
            return list(await session.scalars(stmt))

    async def of_plan_oldest_first(self, plan_id: str) -> list[AuditEntry]:
        """Every row about the plan, oldest first: what a move to another installation
        carries with the plan (server/transfer/moving.py)."""
        stmt = select(AuditEntry).where(AuditEntry.plan_id == plan_id).order_by(AuditEntry.id)
        async with self._sessionmaker() as session:
            return list(await session.scalars(stmt))

    async def access_history(
        self, query: HistoryQuery, limit: int = 25, offset: int = 0
    ) -> HistoryPage:
        """One page of a plan's visits and page views for people to read, newest first
        (storage.repositories.access_history says how joins and leaves become visits)."""
        return await access_history.page(self._engine, query, limit, offset)

    def access_history_batches(
        self, query: HistoryQuery, size: int = 1000
    ) -> AsyncIterator[list[HistoryRow]]:
        """All of it, newest first, a batch at a time (for an export)."""
        return access_history.batches(self._engine, query, size)

    async def count(self) -> int:
        async with self._engine.connect() as conn:
            return int(await conn.scalar(text("SELECT count(*) FROM audit_log")) or 0)

    async def verify(self) -> VerifyResult:
        """Check the whole chain in one pass, in batches (never the whole table in memory).

        Stops at the first broken row: later rows chain from a hash that is no longer trusted.
        """
        t = audit_log_table.c
        columns = [
            t.id,
            type_coerce(t.at, String),  # the raw stored value: tampered text must not crash
            t.action,
            t.actor_user_id,
            t.role,
            t.plan_id,
            t.zone,
            t.client_address,
            t.details,
            t.prev_hash,
            t.hash,
        ]
        prev_hash = GENESIS_HASH
        prev_id: int | None = None
        checked = 0
        after = None
        while True:
            stmt = select(*columns).order_by(t.id).limit(_VERIFY_BATCH)
            if after is not None:
                stmt = stmt.where(t.id > after)
            async with self._engine.connect() as conn:
                rows = (await conn.execute(stmt)).all()
            if not rows:
                return VerifyResult(True, checked)
            for row in rows:
                row_id = int(row[0])
                problem = _check_row(row, prev_hash, prev_id)
                if problem is not None:
                    log.warning("audit chain broken at row %s: %s", row_id, problem)
                    return VerifyResult(False, checked, row_id, problem)
                checked += 1
                prev_hash = str(row[10])
                prev_id = row_id
            after = int(rows[-1][0])


def _check_row(row: Sequence[Any], prev_hash: str, prev_id: int | None) -> str | None:
    stored_prev, stored_hash = row[9], row[10]
    try:
        expected = row_hash(
            int(row[0]),
            _parse_stored_at(row[1]),
            row[2],
            row[3],
            row[4],
            row[5],
            row[6],
            row[7],
            row[8],
            stored_prev,
        )
    except (TypeError, ValueError) as exc:
        # The type only: this is logged, and a message could quote the row's values.
        return f"unreadable row ({type(exc).__name__})"
    if expected != stored_hash:
        return "its contents do not match its hash (the row was changed)"
    if stored_prev != prev_hash:
        before = f"row {prev_id}" if prev_id is not None else "the start of the log"
        return (
            f"its prev_hash does not match the hash of {before} "
            "(a row between them was deleted, or a hash was rewritten)"
        )
    return None
