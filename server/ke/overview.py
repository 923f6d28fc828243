"""The KE overview's rows: every plan of one municipality with its indicators, filtered,
sorted and paged on the server (issue 14).

Facts, never words: the person's name, the unit, the koordinator's name, dates, yes/no and
counts. Not the plan's title: it is free text a koordinator typed ("Plan etter hjerneslag"
would be health data), so the KE sees the person and the plan's short id instead.
The rows come from storage.repositories.plan_facts (a few grouped queries over SQL and the
zone summaries, no document loaded) and the rules of server/core/indicators.py, the same
Mine planer uses. The page and the CSV share `parse_query` and `select_rows`, so the CSV
holds exactly what the filter shows, on every page.
"""

from __future__ import annotations

import time
import weakref
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any
from urllib.parse import urlencode

from server.core.clock import OSLO, today_oslo
from server.core.indicators import NAMES, Indicators, Rules, evaluate
from server.services import Services
from storage.models import Municipality
from storage.repositories.plan_facts import (
    NO_ONE,
    Narrowing,
    PlanFacts,
    municipality_count,
    municipality_facts,
    municipality_ids_by_name,
    municipality_koordinators,
)
from storage.sort_keys import name_key

PAGE_SIZE = 50
STATUSES = ("active", "closed", "draft")
SORTS = (
    "person",
    "unit",
    "coordinator",
    "status",
    "next_revision",
    "next_meeting",
    "overdue",
    "last_activity",
)
NONE = "none"  # the filter value for "no unit" / "no koordinator"
MAX_PAGE = 10_000_000


@dataclass(slots=True)  # read-only; not frozen for speed (see plan_facts.ZoneFold)
class Row:
    facts: PlanFacts
    indicators: Indicators

    @property
    def status(self) -> str:
        return "draft" if self.facts.draft else self.facts.status


@dataclass
class Query:
    """The filter, sort and page as asked for; `errors` names each parameter that could not
    be used (the page answers 400 and says which)."""

    unit: str = ""
    coordinator: str = ""
    status: str = ""
    indicator: str = ""
    sort: str = "person"
    direction: str = "asc"
    page: int = 1
    errors: list[str] = field(default_factory=list)

    def params(self, **changes: str) -> str:
        values = {
            "unit": self.unit,
            "coordinator": self.coordinator,
            "status": self.status,
            "indicator": self.indicator,
            "sort": self.sort,
            "dir": self.direction,
            "page": str(self.page),
        } | changes
        defaults = {("sort", "person"), ("dir", "asc"), ("page", "1")}
        return urlencode({k: v for k, v in values.items() if v and (k, v) not in defaults})

    def filter_params(self) -> str:
        """The filter and sort without the page: the CSV link (every page)."""
        return self.params(page="1")


@dataclass(frozen=True, slots=True)
class Selection:
    # Every plan the filter matched, sorted; None when SQL sorts and pages them by name
    # (`by_name`: the overview as it opens), and `page_of` reads its page's ids there.
    matched: list[PlanFacts] | None
    # The same plans evaluated, when every fact was read for them; None: `matched` holds
    # what its sort needed only (the plan's unit and koordinator when sorted by those:
    # `light`), or SQL pages by name, and `page_of` reads the rest for the rows of the page
    # by their ids.
    rows: list[Row] | None
    units: list[tuple[int, str]]
    coordinators: list[tuple[int, str]]
    rules: Rules
    today: date
    now: datetime
    total: int
    by_name: Narrowing | None = None  # SQL's name order, of the plans this keeps
    descending: bool = False


def indicator_choices() -> list[str]:
    return [f"{name}.{answer}" for name in NAMES for answer in ("yes", "no")]


def parse_query(params: Mapping[str, str]) -> Query:
    """Each parameter checked on its own; an unknown unit or koordinator id is checked later
    against the municipality's own (`check_ids`), so B's ids are as unknown as made-up ones."""

    def get(name: str) -> str:
        return params.get(name, "").strip()

    q = Query(get("unit"), get("coordinator"), get("status"), get("indicator"))
    for name, value in (("unit", q.unit), ("coordinator", q.coordinator)):
        if value and value != NONE and not (value.isascii() and value.isdigit()):
            q.errors.append(name)
    if q.status and q.status not in STATUSES:
        q.errors.append("status")
    if q.indicator and q.indicator not in indicator_choices():
        q.errors.append("indicator")
    q.sort = get("sort") or "person"
    if q.sort not in SORTS:
        q.errors.append("sort")
    q.direction = get("dir") or "asc"
    if q.direction not in ("asc", "desc"):
        q.errors.append("dir")
    page = get("page") or "1"
    if page.isascii() and page.isdigit() and 1 <= int(page) <= MAX_PAGE:
        q.page = int(page)
    else:
        q.errors.append("page")
    return q


def _check_ids(q: Query, units: list[tuple[int, str]], coords: list[tuple[int, str]]) -> None:
    if q.unit and q.unit != NONE and "unit" not in q.errors:
        if int(q.unit) not in {uid for uid, _ in units}:
            q.errors.append("unit")
    if q.coordinator and q.coordinator != NONE and "coordinator" not in q.errors:
        if int(q.coordinator) not in {uid for uid, _ in coords}:
            q.errors.append("coordinator")


def _narrowing(q: Query) -> Narrowing:
    """What SQL filters from the plan's own row: the unit, the koordinator (and whether
    there is one: the `coordinator` indicator), the status. `q` has no errors."""

    def ref(value: str) -> int | None:
        return None if not value else NO_ONE if value == NONE else int(value)

    has = {"coordinator.yes": True, "coordinator.no": False}.get(q.indicator)
    return Narrowing(ref(q.unit), ref(q.coordinator), q.status or None, has)


def _keep(q: Query, row: Row) -> bool:
    """The indicator filter (the unit, koordinator and status are `_narrowing`'s)."""
    if q.indicator:
        name, answer = q.indicator.rsplit(".", 1)
        if row.indicators.met(name) != (answer == "yes"):
            return False
    return True


# Norwegian alphabetical order (æ, ø, å after z), the same key as `plans.sort_key`'s.
_fold = name_key


def _status(f: PlanFacts) -> str:
    return "draft" if f.draft else f.status


# The sorts a plan's own row answers (`light` facts do), and those that need its indicators.
_FACT_KEYS: dict[str, Callable[[PlanFacts], Any]] = {
    "person": lambda f: _fold(f.person_name),
    "unit": lambda f: _fold(f.unit_name) if f.unit_name else None,
    "coordinator": lambda f: _fold(f.koordinator_name) if f.koordinator_id else None,
    "status": lambda f: STATUSES.index(_status(f)),
}
_INDICATOR_KEYS: dict[str, Callable[[Indicators], Any]] = {
    "next_revision": lambda i: i.next_revision,
    "next_meeting": lambda i: i.next_meeting,
    "overdue": lambda i: i.overdue_measures,
    "last_activity": lambda i: i.last_activity,
}


def _sorted(rows: list[Row], sort: str, direction: str) -> list[Row]:
    """Sorted by the column, then by person and id; an empty value last either way."""
    return _order(rows, sort, direction, lambda r: r.facts, lambda r: r.indicators)


def _order(
    items: list[Any],
    sort: str,
    direction: str,
    facts: Callable[[Any], PlanFacts],
    indicators: Callable[[Any], Indicators],
) -> list[Any]:
    """`_sorted` for rows or (a sort by a fact) for facts: each name folded once."""
    named = sorted(
        ((_fold(f.person_name), f.plan_id, item) for item in items for f in (facts(item),)),
        key=lambda n: (n[0], n[1]),
    )
    if sort == "person":
        keyed = [(name, item) for name, _, item in named]
    elif sort in _FACT_KEYS:
        by_fact = _FACT_KEYS[sort]
        keyed = [(by_fact(facts(item)), item) for _, _, item in named]
    else:
        by_indicator = _INDICATOR_KEYS[sort]
        keyed = [(by_indicator(indicators(item)), item) for _, _, item in named]
    present = [(k, item) for k, item in keyed if k is not None]
    present.sort(key=lambda p: p[0], reverse=direction == "desc")
    return [item for _, item in present] + [item for k, item in keyed if k is None]


class _Evaluated:
    """One municipality's koordinators and the facts (light) or rows (evaluated) of each
    filter asked for, for CACHE_SECONDS: paging, sorting and filtering the same overview
    again (the KE clicking through it) need no new query (a page by name asks SQL for its
    count and its 50 ids each time: an index read). Keyed by the rules and the day,
    dropped when the KE changes the rules (`forget`); another node's change shows within
    CACHE_SECONDS."""

    def __init__(self) -> None:
        self.by_municipality: dict[int, _Entry] = {}


@dataclass
class _Entry:
    at: float
    rules: Rules
    today: date
    coordinators: list[tuple[int, str]]
    light: dict[Narrowing, list[PlanFacts]] = field(default_factory=dict)
    full: dict[Narrowing, list[Row]] = field(default_factory=dict)
    # (narrowing, indicator, sort, direction) -> the selection's `matched` and `rows`
    ordered: dict[tuple[Narrowing, str, str, str], tuple[list[PlanFacts], list[Row] | None]] = (
        field(default_factory=dict)
    )


CACHE_SECONDS = 10.0
_MAX_FILTERS = 32  # per municipality and CACHE_SECONDS: a bound, not a size anyone reaches
_evaluated: weakref.WeakKeyDictionary[Any, _Evaluated] = weakref.WeakKeyDictionary()


def forget(services: Services, municipality_id: int) -> None:
    _evaluated.get(services.repos.engine, _Evaluated()).by_municipality.pop(municipality_id, None)


# Sorts and indicators that need more than the plan, its unit and its koordinator.
_FULL_SORTS = frozenset(_INDICATOR_KEYS)


def _needs_every_fact(q: Query) -> bool:
    return q.sort in _FULL_SORTS or bool(q.indicator and not q.indicator.startswith("coordinator."))


async def _entry(services: Services, municipality_id: int, rules: Rules, today: date) -> _Entry:
    cache = _evaluated.setdefault(services.repos.engine, _Evaluated())
    entry = cache.by_municipality.get(municipality_id)
    fresh = entry is not None and time.monotonic() - entry.at < CACHE_SECONDS
    if entry is None or not fresh or (entry.rules, entry.today) != (rules, today):
        coordinators = await municipality_koordinators(services.repos.engine, municipality_id)
        coordinators.sort(key=lambda c: (_fold(c[1]), c[0]))
        entry = _Entry(time.monotonic(), rules, today, coordinators)
        cache.by_municipality[municipality_id] = entry
    return entry


async def select_rows(
    services: Services, municipality: Municipality, q: Query, *, every_fact: bool = False
) -> Selection:
    """Every plan of the municipality that matches, sorted; `q.errors` filled when an id is
    not one of this municipality's (then no rows). The unit, koordinator and status filters
    are SQL's (`_narrowing`), so only the plans they keep are read. A page sorted by name
    and filtered by unit, koordinator or status alone (the overview as it opens) is counted
    and paged by SQL over `plans.sort_key`, and only its own 50 rows are read (`page_of`);
    one sorted by unit, koordinator or status reads those for each plan and the rest for its
    50 rows; anything else, and `every_fact` (the CSV), reads every fact of the kept plans.
    Kept CACHE_SECONDS (not the count and page by name: fresh each time)."""
    today, now = today_oslo(), datetime.now(UTC)
    rules = Rules(municipality.in_use_days, municipality.revision_days)
    entry = await _entry(services, municipality.id, rules, today)
    units = [(u.id, u.name) for u in await services.repos.municipalities.units(municipality.id)]
    _check_ids(q, units, entry.coordinators)
    if q.errors:
        return Selection([], [], units, entry.coordinators, rules, today, now, 0)
    narrowing = _narrowing(q)
    engine = services.repos.engine
    if q.sort == "person" and not every_fact and not _needs_every_fact(q):
        total = await municipality_count(engine, municipality.id, narrowing)
        return Selection(
            None, None, units, entry.coordinators, rules, today, now, total,
            by_name=narrowing, descending=q.direction == "desc",
        )  # fmt: skip
    asked = (narrowing, q.indicator, q.sort, q.direction)
    # The CSV (`every_fact`) is read afresh: the page's own rows always are (`page_of`), so a
    # file downloaded just after a change must not hold the cached state from before it.
    if asked in entry.ordered and not every_fact:
        matched, rows = entry.ordered[asked]
        return Selection(matched, rows, units, entry.coordinators, rules, today, now, len(matched))
    rows = None if every_fact else entry.full.get(narrowing)
    if rows is None and (every_fact or _needs_every_fact(q)):
        await services.summaries.write_pending()  # the SQL fold reads what the rooms hold now
        facts = await municipality_facts(engine, municipality.id, today, now, narrowing=narrowing)
        rows = [Row(f, evaluate(f, today, now, rules)) for f in facts]
        _remember(entry.full, narrowing, rows)
    if rows is not None:
        rows = _sorted([r for r in rows if _keep(q, r)], q.sort, q.direction)
        matched = [r.facts for r in rows]
    else:
        light = entry.light.get(narrowing)
        if light is None:
            light = await municipality_facts(
                engine, municipality.id, today, now, light=True, narrowing=narrowing
            )
            _remember(entry.light, narrowing, light)
        matched = _order(light, q.sort, q.direction, lambda f: f, _unread)
    _remember(entry.ordered, asked, (matched, rows))
    return Selection(matched, rows, units, entry.coordinators, rules, today, now, len(matched))


def _unread(facts: PlanFacts) -> Indicators:
    raise AssertionError("a light selection sorts by the plan's own facts only")


def _remember(found: dict[Any, Any], key: object, value: object) -> None:
    if len(found) >= _MAX_FILTERS:
        found.clear()
    found[key] = value


async def page_of(
    services: Services, municipality_id: int, selection: Selection, q: Query
) -> tuple[list[Row], int]:
    """The asked-for page (every fact read for its rows) and the number of pages; a page
    past the end shows the last."""
    pages = max(1, -(-selection.total // PAGE_SIZE))
    q.page = min(q.page, pages)
    start = (q.page - 1) * PAGE_SIZE
    if selection.rows is not None:
        return selection.rows[start : start + PAGE_SIZE], pages
    if selection.matched is not None:
        ids = [f.plan_id for f in selection.matched[start : start + PAGE_SIZE]]
    elif selection.by_name is not None and selection.total:
        ids = await municipality_ids_by_name(
            services.repos.engine,
            municipality_id,
            selection.by_name,
            descending=selection.descending,
            offset=start,
            limit=PAGE_SIZE,
        )
    else:
        ids = []
    if not ids:
        return [], pages
    await services.summaries.write_pending()
    full = await municipality_facts(
        services.repos.engine, municipality_id, selection.today, selection.now, plan_ids=ids
    )
    by_id = {f.plan_id: f for f in full}
    rules, today, now = selection.rules, selection.today, selection.now
    return [
        Row(f, evaluate(f, today, now, rules)) for i in ids if (f := by_id.get(i)) is not None
    ], pages


# --- what a row shows: the page's cells and the CSV's columns are the same texts ------------

COLUMNS = (
    "plan",
    "person",
    "unit",
    "coordinator",
    "status",
    "plan_consent",
    "sharing_consent",
    "in_use",
    "evaluated",
    "overdue",
    "next_revision",
    "next_meeting",
)
# Column -> the sort it offers (the others do not sort).
SORT_OF = {
    "person": "person",
    "unit": "unit",
    "coordinator": "coordinator",
    "status": "status",
    "in_use": "last_activity",
    "overdue": "overdue",
    "next_revision": "next_revision",
    "next_meeting": "next_meeting",
}


# Formatted by hand: strftime took half the time of a CSV's 5,000 lines.
def _date(value: date | None) -> str:
    return f"{value.day:02d}.{value.month:02d}.{value.year}" if value else ""


def _oslo_day(value: datetime | None) -> str:
    return _date(value.astimezone(OSLO)) if value else ""


def _time(value: datetime | None) -> str:
    if not value:
        return ""
    local = value.astimezone(OSLO)
    return f"{_date(local)} {local.hour:02d}:{local.minute:02d}"


def cells(row: Row, t: Callable[[str], str]) -> dict[str, str]:
    """The row as the page and the CSV show it: facts, yes/no, counts and dates."""
    f, ind = row.facts, row.indicators
    yes, no = t("ke.yes"), t("ke.no")

    def with_date(flag: bool, when: str) -> str:
        return f"{yes if flag else no}{' (' + when + ')' if when else ''}"

    if f.plan_consent == "given":
        plan_consent = with_date(True, _date(f.plan_consent_on))
    elif f.plan_consent == "refused":
        on = _date(f.plan_consent_on)
        plan_consent = t("ke.refused") + (f" ({on})" if on else "")
    else:
        plan_consent = t("ke.notRecorded")
    return {
        "plan": f.plan_id[:8],
        "person": f.person_name,
        "unit": f.unit_name or "",
        "coordinator": f.koordinator_name or t("ke.missing"),
        "status": t("ke.status." + row.status),
        "plan_consent": plan_consent,
        "sharing_consent": t("ke.sharingCount").replace("{n}", str(f.sharing_consents)),
        "in_use": with_date(ind.in_use, _oslo_day(ind.last_activity)),
        "evaluated": with_date(ind.evaluated, _date(ind.last_evaluation)),
        "overdue": str(ind.overdue_measures),
        "next_revision": _date(ind.next_revision)
        + (f" ({t('ke.revisionOverdue')})" if ind.revision_overdue else ""),
        "next_meeting": _time(ind.next_meeting),
    }
