"""One plan's access history for people to read ("Hvem har vært i planen min", issue 4).

The audit log stores events; people want visits. A WebSocket `ws_join` and its `ws_leave` carry
the same connection id (`details.conn`), and the connections a plan page opened carry that
page load's id (`details.visit`, also on its `plan_view`). So a visit is every join and leave
of one user with one visit id (or, for a client that sent none, one connection id), folded in
SQL by one GROUP BY over the plan's WebSocket rows (the `(plan_id, id)` index keeps the scan to
one plan; nothing but the requested page reaches Python). Rows written before connection ids
existed have nothing to pair by: each such join is a visit whose end is unknown.

Newest first by the visit's first join id (ids grow with time), so pages are stable while new
rows arrive only at the top; `batches` walks the same order by keyset for exports.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any, Literal

from sqlalchemy import (
    ColumnElement,
    Integer,
    Select,
    String,
    Subquery,
    case,
    cast,
    func,
    literal_column,
    null,
    select,
    union_all,
)
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.functions import FunctionElement

from storage.errors import InvalidValue
from storage.models import User, audit_log_table

JOIN, LEAVE, VIEW = "ws_join", "ws_leave", "plan_view"
# Someone other than its writer read a note before a meeting (server/meetings/notes.py).
NOTE_READ = "note_read"
ZONE_SEPARATOR = ","  # room suffixes never hold one (server.sync.room_path)
_KEY_NAME = re.compile(r"^[a-z_]{1,40}$")


class HistoryKind(StrEnum):
    """Which rows a query wants."""

    ALL = "all"
    VISITS = "visits"
    PAGE_VIEWS = "page_views"
    NOTE_READS = "note_reads"


class RowKind(StrEnum):
    VISIT = "visit"
    PAGE_VIEW = "page_view"
    NOTE_READ = "note_read"


VisitStatus = Literal["ended", "open", "unknown"]


@dataclass(frozen=True, slots=True)
class HistoryQuery:
    """Filters: `started_from` inclusive, `started_before` exclusive (aware datetimes; the
    caller turns Oslo dates into them). A visit is in range by the time it started."""

    plan_id: str
    user_id: int | None = None
    started_from: datetime | None = None
    started_before: datetime | None = None
    kind: HistoryKind = HistoryKind.ALL

    def __post_init__(self) -> None:
        for value in (self.started_from, self.started_before):
            if value is not None and value.tzinfo is None:
                raise InvalidValue("history bounds must carry a time zone")


@dataclass(frozen=True, slots=True)
class HistoryRow:
    kind: RowKind
    sort_id: int  # the page view's row id, or the visit's first join row id
    user_id: int | None
    user_name: str | None  # None: the user no longer exists
    role: str | None
    started_at: datetime
    ended_at: datetime | None  # None for a page view, an open visit or an unknown end
    status: VisitStatus | None  # None for a page view
    zones: tuple[str, ...]  # room suffixes the visit opened, sorted
    edits: int
    connections: int

    @property
    def duration(self) -> timedelta | None:
        return self.ended_at - self.started_at if self.ended_at is not None else None


@dataclass(frozen=True, slots=True)
class HistoryPage:
    rows: list[HistoryRow]
    total: int  # rows matching the filters, over all pages
    offset: int
    limit: int


class json_text(FunctionElement[str]):
    """`details ->> key` as text, on SQLite and PostgreSQL (`details` is JSON in a TEXT column).

    The key is rendered into the SQL (it is a constant of this module, checked): a bound
    parameter would make PostgreSQL see the same expression twice as two different ones.
    """

    type = String()
    inherit_cache = True
    name = "json_text"

    def __init__(self, column: ColumnElement[Any], key: str) -> None:
        if not _KEY_NAME.match(key):
            raise ValueError(f"not a details key: {key!r}")
        self.key = key
        super().__init__(column)


@compiles(json_text, "sqlite")
def _json_text_sqlite(element: json_text, compiler: SQLCompiler, **kw: Any) -> str:
    return f"json_extract({compiler.process(element.clauses, **kw)}, '$.{element.key}')"


@compiles(json_text, "postgresql")
def _json_text_postgresql(element: json_text, compiler: SQLCompiler, **kw: Any) -> str:
    return f"(CAST({compiler.process(element.clauses, **kw)} AS JSON) ->> '{element.key}')"


def _visits(query: HistoryQuery) -> Select[Any]:
    t = audit_log_table.c
    conn_id = json_text(t.details, "conn")
    visit_id = json_text(t.details, "visit")
    # One key per visit: the page load's id, else the connection's, else (an old row) its own.
    key = func.coalesce(
        literal_column("'v:'", String) + visit_id,
        literal_column("'c:'", String) + conn_id,
        literal_column("'r:'", String) + cast(t.id, String),
    )
    rows = select(
        t.id,
        t.at,
        t.action,
        t.actor_user_id.label("user_id"),
        t.role,
        t.zone,
        key.label("key"),
        conn_id.label("conn"),
        cast(json_text(t.details, "edits"), Integer).label("edits"),
    ).where(t.plan_id == query.plan_id, t.action.in_((JOIN, LEAVE)))
    if query.user_id is not None:
        rows = rows.where(t.actor_user_id == query.user_id)
    ws = rows.subquery("ws")
    is_join = ws.c.action == JOIN
    started = func.min(case((is_join, ws.c.at)))
    joins = func.count(case((is_join, 1)))
    stmt = (
        select(
            literal_column("'visit'", String).label("kind"),
            func.min(case((is_join, ws.c.id))).label("sort_id"),
            ws.c.user_id,
            func.max(ws.c.role).label("role"),
            started.label("started_at"),
            func.max(case((~is_join, ws.c.at))).label("ended_at"),
            joins.label("joins"),
            func.count(case((~is_join, 1))).label("leaves"),
            func.count(ws.c.conn).label("keyed"),
            func.coalesce(func.sum(ws.c.edits), 0).label("edits"),
            func.aggregate_strings(case((is_join, ws.c.zone)), ZONE_SEPARATOR).label("zones"),
        )
        .group_by(ws.c.user_id, ws.c.key)
        .having(joins > 0)  # a leave whose join is not in the log (old rows) is no visit
    )
    if query.started_from is not None:
        stmt = stmt.having(started >= query.started_from)
    if query.started_before is not None:
        stmt = stmt.having(started < query.started_before)
    return stmt


def _page_views(query: HistoryQuery) -> Select[Any]:
    return _single_rows(query, VIEW, RowKind.PAGE_VIEW)


def _single_rows(query: HistoryQuery, action: str, kind: RowKind) -> Select[Any]:
    """Rows that stand alone (a page opened, a note read): one event each, no end."""
    t = audit_log_table.c
    stmt = select(
        literal_column(f"'{kind.value}'", String).label("kind"),
        t.id.label("sort_id"),
        t.actor_user_id.label("user_id"),
        t.role,
        t.at.label("started_at"),
        null().label("ended_at"),
        literal_column("0", Integer).label("joins"),
        literal_column("0", Integer).label("leaves"),
        literal_column("0", Integer).label("keyed"),
        literal_column("0", Integer).label("edits"),
        null().label("zones"),
    ).where(t.plan_id == query.plan_id, t.action == action)
    if query.user_id is not None:
        stmt = stmt.where(t.actor_user_id == query.user_id)
    if query.started_from is not None:
        stmt = stmt.where(t.at >= query.started_from)
    if query.started_before is not None:
        stmt = stmt.where(t.at < query.started_before)
    return stmt


def _history(query: HistoryQuery) -> Subquery:
    if query.kind is HistoryKind.VISITS:
        return _visits(query).subquery("history")
    if query.kind is HistoryKind.PAGE_VIEWS:
        return _page_views(query).subquery("history")
    if query.kind is HistoryKind.NOTE_READS:
        return _single_rows(query, NOTE_READ, RowKind.NOTE_READ).subquery("history")
    # Visits first: a UNION takes its column types (UTC times) from the first SELECT.
    return union_all(
        _visits(query), _page_views(query), _single_rows(query, NOTE_READ, RowKind.NOTE_READ)
    ).subquery("history")


def _row(row: Any) -> HistoryRow:
    kind = RowKind(row.kind)
    status: VisitStatus | None = None
    ended_at = row.ended_at
    if kind is RowKind.VISIT:
        if row.keyed == 0:
            status, ended_at = "unknown", None  # written before joins and leaves were paired
        elif row.joins > row.leaves:
            status, ended_at = "open", None
        else:
            status = "ended"
    zones = tuple(sorted({z for z in (row.zones or "").split(ZONE_SEPARATOR) if z}))
    return HistoryRow(
        kind=kind,
        sort_id=int(row.sort_id),
        user_id=row.user_id,
        user_name=row.name,
        role=row.role,
        started_at=row.started_at,
        ended_at=ended_at,
        status=status,
        zones=zones,
        edits=int(row.edits or 0),
        connections=int(row.joins),
    )


def _ordered(history: Subquery) -> Select[Any]:
    return (
        select(history, User.name)
        .outerjoin(User, User.id == history.c.user_id)
        .order_by(history.c.sort_id.desc())
    )


async def page(engine: AsyncEngine, query: HistoryQuery, limit: int, offset: int) -> HistoryPage:
    if limit < 1 or offset < 0:
        raise InvalidValue("a page needs limit >= 1 and offset >= 0")
    history = _history(query)
    # The total rides along as a window count: one pass over the plan's rows, not two.
    stmt = _ordered(history).add_columns(func.count().over().label("total"))
    async with engine.connect() as conn:
        rows = (await conn.execute(stmt.limit(limit).offset(offset))).all()
        if rows:
            total = int(rows[0].total)
        else:  # past the end (or nothing at all): count on its own
            total = int(await conn.scalar(select(func.count()).select_from(history)) or 0)
    return HistoryPage([_row(r) for r in rows], total, offset, limit)


async def batches(
    engine: AsyncEngine, query: HistoryQuery, size: int = 1000
) -> AsyncIterator[list[HistoryRow]]:
    """Every matching row, newest first, `size` at a time (keyset on sort_id: each batch is
    one short read, and rows added meanwhile, all newer, are not in it)."""
    before: int | None = None
    while True:
        history = _history(query)
        stmt = _ordered(history).limit(size)
        if before is not None:
            stmt = stmt.where(history.c.sort_id < before)
        async with engine.connect() as conn:
            rows = (await conn.execute(stmt)).all()
        if not rows:
            return
        yield [_row(r) for r in rows]
        if len(rows) < size:
            return
        before = int(rows[-1].sort_id)
