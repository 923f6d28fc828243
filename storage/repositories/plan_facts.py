"""The facts behind the "effective plan" indicators (issue 14), for many plans at once.

What SQL holds (the koordinator, the consent to the plan, the members' sharing consents,
meetings, the unit) and what the per-zone summaries hold (next revision, last evaluation,
open measure deadlines, when a zone last changed), folded per plan by a handful of grouped
queries: no CRDT document is loaded, nor any text anyone wrote but the person's and the
koordinator's names. The KE overview reads a whole municipality (`municipality_facts`); Mine
planer reads the plans of one member (`plan_facts` and, bounded by consent, `zone_edits`).
The rules that turn facts into indicators are the server's (server/core/indicators.py).
"""

from __future__ import annotations

import re
from collections.abc import Collection
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Integer,
    Select,
    String,
    and_,
    bindparam,
    case,
    func,
    or_,
    select,
    true,
    type_coerce,
)
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.orm import aliased
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.functions import FunctionElement

from storage.models import (
    Consent,
    Meeting,
    Membership,
    Plan,
    PlanConsent,
    Unit,
    User,
    Zone,
    ZoneSummary,
    ZoneUpdate,
)

_KEY = re.compile(r"^[A-Za-z]{1,40}$")
_IN_CHUNK = 500


# The facts are read-only by convention, not frozen: a frozen dataclass's __init__ sets each
# field through object.__setattr__, ~20x the cost of a plain one, which is 20 ms over a
# municipality's 5,000 plans.
@dataclass(slots=True)
class ZoneFold:
    """A plan's zone summaries folded: ISO dates as the summaries keep them."""

    next_revision: str | None = None
    last_evaluation: str | None = None
    overdue_measures: int = 0
    last_edit: datetime | None = None


@dataclass(slots=True)
class PlanFacts:
    """One plan's SQL facts. `plan_consent`: the newest answer to the consent to the plan
    being made ('given', 'refused', or None when none is recorded); `sharing_consents`: how
    many members hold an active consent to see (part of) the plan."""

    plan_id: str
    person_name: str
    status: str
    draft: bool
    unit_id: int | None = None
    unit_name: str | None = None
    koordinator_id: int | None = None
    koordinator_name: str | None = None
    plan_consent: str | None = None
    plan_consent_on: date | None = None
    sharing_consents: int = 0
    last_meeting: datetime | None = None
    next_meeting: datetime | None = None
    zones: ZoneFold = field(default_factory=ZoneFold)


# --- JSON in a TEXT column, on SQLite and PostgreSQL --------------------------------------


class json_field(FunctionElement[str]):
    """`data ->> key` as text (the key is a constant of this module, rendered into the SQL)."""

    type = String()
    inherit_cache = True
    name = "json_field"

    def __init__(self, column: ColumnElement[Any], key: str) -> None:
        if not _KEY.match(key):
            raise ValueError(f"not a summary key: {key!r}")
        self.key = key
        super().__init__(column)


@compiles(json_field, "sqlite")
def _json_field_sqlite(element: json_field, compiler: SQLCompiler, **kw: Any) -> str:
    return f"json_extract({compiler.process(element.clauses, **kw)}, '$.{element.key}')"


@compiles(json_field, "postgresql")
def _json_field_postgresql(element: json_field, compiler: SQLCompiler, **kw: Any) -> str:
    return f"(CAST({compiler.process(element.clauses, **kw)} AS JSON) ->> '{element.key}')"


class json_count_below(FunctionElement[int]):
    """How many strings in the JSON array `data[key]` sort below `bound` (ISO dates do)."""

    type = Integer()
    inherit_cache = True
    name = "json_count_below"

    def __init__(self, column: ColumnElement[Any], key: str, bound: ColumnElement[Any]) -> None:
        if not _KEY.match(key):
            raise ValueError(f"not a summary key: {key!r}")
        self.key = key
        super().__init__(column, bound)


@compiles(json_count_below, "sqlite")
def _count_below_sqlite(element: json_count_below, compiler: SQLCompiler, **kw: Any) -> str:
    column, bound = (compiler.process(c, **kw) for c in element.clauses.clauses)
    return (
        f"(SELECT count(*) FROM json_each({column}, '$.{element.key}') AS je "
        f"WHERE je.value < {bound})"
    )


@compiles(json_count_below, "postgresql")
def _count_below_postgresql(element: json_count_below, compiler: SQLCompiler, **kw: Any) -> str:
    column, bound = (compiler.process(c, **kw) for c in element.clauses.clauses)
    return (
        f"(SELECT count(*) FROM json_array_elements_text("
        f"CAST({column} AS JSON) -> '{element.key}') AS je(v) WHERE je.v < {bound})"
    )


# --- the queries ---------------------------------------------------------------------------


def _facts_query(
    scope: ColumnElement[bool],
    today: date,
    now: datetime,
    *,
    light: bool = False,
) -> Select[Any]:
    """One row per plan, its columns in `_facts`' order; `light`: only the plan, its unit and
    its koordinator (what the overview needs to sort and page by unit, koordinator or
    status). The koordinator is an outer join on its partial unique index (one per plan);
    each other fact is a correlated subquery that seeks one plan's rows by an index ((plan_id,
    id) of plan_consents, consents' (plan_id, user_id), meetings' plan_id): grouped
    subqueries over whole tables made SQLite build temporary indexes on every request."""

    def one(column: Any, *where: Any, order: Any = None) -> Any:
        stmt = select(column).where(*where)
        if order is not None:
            stmt = stmt.order_by(order).limit(1)
        return stmt.correlate(Plan).scalar_subquery()

    koordinator = aliased(Membership, name="koordinator")
    columns: list[Any] = [
        Plan.id,
        Plan.person_name,
        Plan.status,
        Plan.draft,
        Plan.unit_id,
        koordinator.user_id,
        Unit.name,
        User.name,
    ]
    if not light:
        newest = PlanConsent.id.desc()
        in_plan = PlanConsent.plan_id == Plan.id
        member = (
            select(Membership.id)
            .where(Membership.plan_id == Consent.plan_id, Membership.user_id == Consent.user_id)
            .exists()
        )
        sharing = one(
            func.count(func.distinct(Consent.user_id)),
            Consent.plan_id == Plan.id,
            Consent.status == "given",
            Consent.revoked_at.is_(None),
            or_(Consent.valid_until.is_(None), Consent.valid_until >= today),
            member,
        )
        held = and_(Meeting.plan_id == Plan.id, Meeting.cancelled_at.is_(None))
        last_meeting = one(func.max(Meeting.starts_at), held, Meeting.starts_at <= now)
        next_meeting = one(func.min(Meeting.starts_at), held, Meeting.starts_at > now)
        columns += [
            one(PlanConsent.status, in_plan, order=newest),
            one(PlanConsent.given_on, in_plan, order=newest),
            sharing,
            _raw(last_meeting),
            _raw(next_meeting),
        ]
    return (
        select(*columns)
        .select_from(Plan)
        .outerjoin(
            koordinator,
            and_(koordinator.plan_id == Plan.id, koordinator.role == "koordinator"),
        )
        .outerjoin(Unit, Unit.id == Plan.unit_id)
        .outerjoin(User, User.id == koordinator.user_id)
        .where(scope)
    )


def _raw(column: ColumnElement[Any]) -> ColumnElement[Any]:
    """A time column as the driver gives it, parsed by `_utc`: SQLAlchemy's own SQLite
    datetime parsing costs ~10x `datetime.fromisoformat`, which counts over 5,000 plans."""
    return type_coerce(column, String())


def _utc(value: object) -> datetime | None:
    """A UTC time from SQLite's text or PostgreSQL's timestamptz."""
    if value is None:
        return None
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    if not isinstance(value, datetime):
        raise TypeError(f"expected a time, got {type(value).__name__}")
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def _facts(row: Any, zones: ZoneFold | None = None) -> PlanFacts:
    """A row of `_facts_query` (by position: ~3x faster than by name over 5,000 rows)."""
    plan_id, person, status, draft, unit_id, koordinator_id, unit_name, koordinator_name = row[:8]
    if len(row) == 8:  # light
        return PlanFacts(
            plan_id, person, status, bool(draft), unit_id, unit_name, koordinator_id,
            koordinator_name, zones=zones or ZoneFold(),
        )  # fmt: skip
    consent, consent_on, sharing, last_meeting, next_meeting = row[8:]
    return PlanFacts(
        plan_id, person, status, bool(draft), unit_id, unit_name, koordinator_id,
        koordinator_name, consent, consent_on, int(sharing or 0), _utc(last_meeting),
        _utc(next_meeting), zones or ZoneFold(),
    )  # fmt: skip


def _zone_folds_query(scope: ColumnElement[bool], today: date) -> Select[*tuple[Any, ...]]:
    """Per plan: its summaries folded in SQL (the same fold as server.core.indicators.fold):
    the content zone's next revision, the newest evaluation and the open measures past their
    end over its live (not retired) areas, and when a zone's summary was last stored."""
    content = Zone.kind == "content"
    area = and_(Zone.kind == "area", Zone.retired_at.is_(None))
    data: ColumnElement[Any] = ZoneSummary.__table__.c.data
    return (
        select(
            Zone.plan_id,
            func.max(_when(content, json_field(data, "nextRevision"))).label("next_revision"),
            func.max(_when(area, json_field(data, "lastEvaluation"))).label("last_evaluation"),
            func.sum(
                _when(area, json_count_below(data, "openMeasureEnds", _bound(today.isoformat())))
            ).label("overdue"),
            _raw(func.max(ZoneSummary.updated_at)).label("summarised_at"),
        )
        .join(ZoneSummary, ZoneSummary.zone_id == Zone.id)
        .join(Plan, Plan.id == Zone.plan_id)
        .where(scope)
        .group_by(Zone.plan_id)
    )


def _when(condition: ColumnElement[bool], value: ColumnElement[Any]) -> ColumnElement[Any]:
    return case((condition, value))


def _bound(value: str) -> ColumnElement[Any]:
    return bindparam(None, value, type_=String())


def _tails_query(scope: ColumnElement[bool]) -> Select[*tuple[Any, ...]]:
    """The newest logged (not yet compacted) update per plan. Compaction empties the log of
    every room that is unloaded, so this scans only the short tails of recent work."""
    return (
        select(Zone.plan_id, _raw(func.max(ZoneUpdate.created_at)).label("at"))
        .join(Zone, Zone.id == ZoneUpdate.zone_id)
        .join(Plan, Plan.id == Zone.plan_id)
        .where(scope)
        .group_by(Zone.plan_id)
    )


def _latest(*values: datetime | None) -> datetime | None:
    present = [v for v in values if v is not None]
    return max(present) if present else None


@dataclass(frozen=True, slots=True)
class Narrowing:
    """The part of a filter the plan's own row answers (its unit, its koordinator, its
    status), applied in SQL so that the other facts are read for the matching plans only.
    `unit` / `koordinator`: None any, NO_ONE none, else that id; `status`: None any, else
    "draft" or the status of a plan that is not a draft."""

    unit: int | None = None
    koordinator: int | None = None
    status: str | None = None
    has_koordinator: bool | None = None

    def condition(self) -> ColumnElement[bool]:
        """A condition on `plans` alone (so every query of the facts can use it)."""
        parts: list[ColumnElement[bool]] = []
        if self.unit is not None:
            parts.append(
                Plan.unit_id.is_(None) if self.unit == NO_ONE else Plan.unit_id == self.unit
            )
        appointed = select(Membership.id).where(
            Membership.plan_id == Plan.id, Membership.role == "koordinator"
        )
        if self.koordinator is not None:
            if self.koordinator == NO_ONE:
                parts.append(~appointed.exists())
            else:
                parts.append(appointed.where(Membership.user_id == self.koordinator).exists())
        if self.has_koordinator is not None:
            parts.append(appointed.exists() if self.has_koordinator else ~appointed.exists())
        if self.status == "draft":
            parts.append(Plan.draft.is_(True))
        elif self.status is not None:
            parts.append(and_(Plan.draft.is_(False), Plan.status == self.status))
        return and_(true(), *parts)


NO_ONE = -1  # Narrowing: no unit / no koordinator
EVERY_PLAN = Narrowing()


async def municipality_facts(
    engine: AsyncEngine,
    municipality_id: int,
    today: date,
    now: datetime,
    *,
    plan_ids: Collection[str] | None = None,
    light: bool = False,
    narrowing: Narrowing = EVERY_PLAN,
) -> list[PlanFacts]:
    """The municipality's plans (or those of `plan_ids` among them, or those `narrowing`
    keeps) with their facts and their zones folded: three queries, whatever the number of
    plans. `light`: one query for the plan, unit and koordinator only (consents, meetings and
    zones left at their empty defaults), for a page that sorts and filters by those alone (by
    name SQL pages: `municipality_count`, `municipality_ids_by_name`)."""
    if plan_ids is None:
        scope = and_(Plan.municipality_id == municipality_id, narrowing.condition())
    else:
        # `+ 0`: the ids' primary key, not the municipality's index (SQLite took that one
        # and read every plan of the municipality to find a page's 50).
        in_municipality = Plan.municipality_id + 0 == municipality_id
        scope = and_(in_municipality, narrowing.condition(), Plan.id.in_(list(plan_ids)))
    async with engine.connect() as conn:
        query = _facts_query(scope, today, now, light=light)
        rows = (await conn.execute(query)).all()
        if light:
            return [_facts(row) for row in rows]
        folds = (await conn.execute(_zone_folds_query(scope, today))).all()
        tails = {plan: _utc(at) for plan, at in await conn.execute(_tails_query(scope))}
    by_plan = {
        plan_id: ZoneFold(
            next_revision,
            last_evaluation,
            int(overdue or 0),
            _latest(_utc(summarised_at), tails.get(plan_id)),
        )
        for plan_id, next_revision, last_evaluation, overdue, summarised_at in folds
    }
    return [
        _facts(row, by_plan.get(row[0]) or ZoneFold(last_edit=tails.get(row[0]))) for row in rows
    ]


async def municipality_count(
    engine: AsyncEngine, municipality_id: int, narrowing: Narrowing = EVERY_PLAN
) -> int:
    """How many of the municipality's plans `narrowing` keeps (by the municipality's index)."""
    scope = and_(Plan.municipality_id == municipality_id, narrowing.condition())
    async with engine.connect() as conn:
        return int(
            (await conn.execute(select(func.count()).select_from(Plan).where(scope))).scalar_one()
        )


async def municipality_ids_by_name(
    engine: AsyncEngine,
    municipality_id: int,
    narrowing: Narrowing = EVERY_PLAN,
    *,
    descending: bool = False,
    offset: int = 0,
    limit: int = 50,
) -> list[str]:
    """One page of the municipality's plans that `narrowing` keeps, in Norwegian name order
    (`plans.sort_key`, then the id; descending: the name reversed, equal names still by id),
    read from the (municipality_id, sort_key, id) index: the KE overview as it opens, without
    reading every plan to sort it."""
    scope = and_(Plan.municipality_id == municipality_id, narrowing.condition())
    name = Plan.sort_key.desc() if descending else Plan.sort_key.asc()
    stmt = select(Plan.id).where(scope).order_by(name, Plan.id).offset(offset).limit(limit)
    async with engine.connect() as conn:
        return list((await conn.execute(stmt)).scalars())


async def municipality_koordinators(
    engine: AsyncEngine, municipality_id: int
) -> list[tuple[int, str]]:
    """Every koordinator of a plan of the municipality, once each (id, name): the overview's
    koordinator filter offers them whatever the other filters keep."""
    # `IN (...)`, not a join with DISTINCT: no temporary b-tree over 5,000 plans' rows
    # (SQLite: 2.5 against 4 ms at 5,000 plans).
    appointed = (
        select(Membership.user_id)
        .join(Plan, Plan.id == Membership.plan_id)
        .where(Plan.municipality_id == municipality_id, Membership.role == "koordinator")
    )
    stmt = select(User.id, User.name).where(User.id.in_(appointed))
    async with engine.connect() as conn:
        return [(uid, name or "") for uid, name in await conn.execute(stmt)]


async def plan_facts(
    engine: AsyncEngine, plan_ids: Collection[str], today: date, now: datetime
) -> dict[str, PlanFacts]:
    """The SQL facts of these plans, zones not folded (the caller folds only the zones its
    reader may open: Mine planer)."""
    ids = list(dict.fromkeys(plan_ids))
    found: dict[str, PlanFacts] = {}
    async with engine.connect() as conn:
        for start in range(0, len(ids), _IN_CHUNK):
            chunk = ids[start : start + _IN_CHUNK]
            for row in await conn.execute(_facts_query(Plan.id.in_(chunk), today, now)):
                found[row.id] = _facts(row)
    return found


async def zone_edits(engine: AsyncEngine, zone_ids: Collection[int]) -> dict[int, datetime]:
    """When each of these zones last changed as far as storage knows: its summary's last
    store (at every compaction) or its newest logged update, whichever is later."""
    ids = list(dict.fromkeys(zone_ids))
    found: dict[int, datetime] = {}
    async with engine.connect() as conn:
        for start in range(0, len(ids), _IN_CHUNK):
            chunk = ids[start : start + _IN_CHUNK]
            stored = await conn.execute(
                select(ZoneSummary.zone_id, ZoneSummary.updated_at).where(
                    ZoneSummary.zone_id.in_(chunk)
                )
            )
            logged = await conn.execute(
                select(ZoneUpdate.zone_id, func.max(ZoneUpdate.created_at))
                .where(ZoneUpdate.zone_id.in_(chunk))
                .group_by(ZoneUpdate.zone_id)
            )
            for zone_id, at in [*stored, *logged]:
                if at is not None:
                    found[zone_id] = _latest(found.get(zone_id), at) or at
    return found
