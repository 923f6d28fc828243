"""GET /ke/{municipality_id}/access: the KE's log control (issue 14; Normen asks that access
logs be kept *and checked*, helsepersonelloven § 21a forbids snooping).

Every opening of the municipality's plans in a period, by person and by plan (and of the plans
that moved to another municipality here, up to the move: it was the data controller for that
period, so checking its log stays its duty; those by initials and short id), with what looks
unusual flagged, as facts (who, when, which plan by the person's name and short id, which
page, the role the log recorded), never a word of the plan:
- `unexplained`: the person had no role that opens the plan by itself (planeier, verge,
  koordinator), no meeting invitation in it and no open measure they are responsible for;
  or is not a member at all now;
- `night`: opened in the night's Oslo hours (default 22:00-06:00);
- `burst`: one person opened many different plans in a row (default 10 within 60 minutes).
The KE sets the night's hours and the burst's numbers for its municipality
(server/ke/log_settings.py, storage/repositories/ke_log_thresholds.py). A flag asks for a look,
it accuses no one. The view itself is an access-log row; so is the CSV (server/ke/log_csv.py),
which reads the same rows through `review`.
"""

from __future__ import annotations

from collections import defaultdict, deque
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from typing import Any
from urllib.parse import urlencode

from sqlalchemy.ext.asyncio import AsyncEngine
from starlette.requests import Request
from starlette.responses import Response

from server.core.clock import OSLO, today_oslo
from server.ke.access import KeVisit, ke_visit, municipality_id_of
from server.web.i18n import language_of, translator
from server.web.templating import render
from storage.repositories.ke_log import Opening, Reasons, openings, people, reasons
from storage.repositories.ke_log_thresholds import LogThresholds, thresholds

EXPLAINING_ROLES = frozenset({"planeier", "verge", "koordinator"})
DEFAULT_DAYS = 30
PAGE_SIZE = 100
MAX_ROWS = 50_000  # openings read per request: past it, the page asks for a shorter period
FLAGS = ("unexplained", "night", "burst")
MAX_PAGE = 10_000_000


@dataclass
class LogQuery:
    person: str = ""
    plan: str = ""
    date_from: str = ""
    date_to: str = ""
    flagged: bool = False
    page: int = 1
    errors: list[str] = field(default_factory=list)
    user_id: int | None = None
    first_day: date | None = None
    last_day: date | None = None

    def params(self, **changes: str) -> str:
        values = {
            "person": self.person,
            "plan": self.plan,
            "from": self.date_from,
            "to": self.date_to,
            "flagged": "1" if self.flagged else "",
            "page": str(self.page),
        } | changes
        return urlencode({k: v for k, v in values.items() if v and (k, v) != ("page", "1")})


def _day(text: str) -> date | None:
    try:
        day = datetime.strptime(text, "%d.%m.%Y").date()
    except ValueError:
        return None
    return day if 1900 <= day.year <= 2999 else None


def parse_log_query(params: Any, today: date) -> LogQuery:
    def get(name: str) -> str:
        return str(params.get(name, "")).strip()

    q = LogQuery(get("person"), get("plan").lower(), get("from"), get("to"))
    q.flagged = get("flagged") == "1"
    if q.person:
        if q.person.isascii() and q.person.isdigit() and len(q.person) < 12:
            q.user_id = int(q.person)
        else:
            q.errors.append("person")
    if q.plan and not (4 <= len(q.plan) <= 36 and all(c in "0123456789abcdef-" for c in q.plan)):
        q.errors.append("plan")
    q.first_day = _day(q.date_from) if q.date_from else today - timedelta(days=DEFAULT_DAYS - 1)
    q.last_day = _day(q.date_to) if q.date_to else today
    if q.first_day is None:
        q.errors.append("from")
    if q.last_day is None:
        q.errors.append("to")
    if q.first_day and q.last_day and q.last_day < q.first_day:
        q.errors.append("to")
    page = get("page") or "1"
    if page.isascii() and page.isdigit() and 1 <= int(page) <= MAX_PAGE:
        q.page = int(page)
    else:
        q.errors.append("page")
    return q


def is_night(at: datetime, limits: LogThresholds) -> bool:
    """In the night's Oslo hours [from, until): across midnight when from > until."""
    hour = at.astimezone(OSLO).hour
    if limits.night_from > limits.night_until:
        return hour >= limits.night_from or hour < limits.night_until
    return limits.night_from <= hour < limits.night_until


def _explained(row: Opening, why: Reasons) -> bool:
    if row.user_id is None:
        return False
    key = (row.plan_id, row.user_id)
    return why.roles.get(key) in EXPLAINING_ROLES or key in why.invited or key in why.responsible


def _bursts(rows: list[Opening], limits: LogThresholds) -> set[int]:
    """Row ids in a run where one person opened `burst_plans` or more different plans within
    `burst_minutes` (rows oldest first)."""
    flagged: set[int] = set()
    window = timedelta(minutes=limits.burst_minutes)
    recent: dict[int, deque[Opening]] = defaultdict(deque)
    for row in rows:
        if row.user_id is None:
            continue
        seen = recent[row.user_id]
        seen.append(row)
        while seen and row.at - seen[0].at > window:
            seen.popleft()
        if len({r.plan_id for r in seen}) >= limits.burst_plans:
            flagged.update(r.id for r in seen)
    return flagged


def flag(rows: list[Opening], why: Reasons, limits: LogThresholds) -> dict[int, list[str]]:
    bursts = _bursts(rows, limits)
    flags: dict[int, list[str]] = {}
    for row in rows:
        found = []
        if not _explained(row, why):
            found.append("unexplained")
        if is_night(row.at, limits):
            found.append("night")
        if row.id in bursts:
            found.append("burst")
        flags[row.id] = found
    return flags


@dataclass(frozen=True, slots=True)
class Review:
    """The openings the filter shows, newest first, with their flags: what the page pages
    through and what the CSV writes, so the file is what the KE saw."""

    rows: list[Opening]
    flags: dict[int, list[str]]
    counts: dict[str, int]
    truncated: bool


async def review(
    engine: AsyncEngine, municipality_id: int, q: LogQuery, limits: LogThresholds
) -> Review:
    assert q.first_day and q.last_day and not q.errors
    start = datetime.combine(q.first_day, time(0), tzinfo=OSLO)
    end = datetime.combine(q.last_day + timedelta(days=1), time(0), tzinfo=OSLO)
    # The burst rule looks at the person's openings across every plan, so the plan filter is
    # applied after flagging.
    found = await openings(
        engine, municipality_id, start=start, end=end, user_id=q.user_id, limit=MAX_ROWS + 1
    )
    truncated = len(found) > MAX_ROWS
    found = found[:MAX_ROWS]
    flags = flag(found, await reasons(engine, {r.plan_id for r in found}), limits)
    shown = [
        r
        for r in reversed(found)
        if (not q.plan or r.plan_id.startswith(q.plan)) and (not q.flagged or flags[r.id])
    ]
    counts = {name: sum(1 for r in shown if name in flags[r.id]) for name in FLAGS}
    return Review(shown, flags, counts, truncated)


def filter_details(q: LogQuery) -> dict[str, Any]:
    """The filter as the access-log row records it (ids and dates, never a name)."""
    return {
        "person": q.user_id,
        "plan": q.plan or None,
        "from": q.first_day.isoformat() if q.first_day else None,
        "to": q.last_day.isoformat() if q.last_day else None,
        "only_flagged": q.flagged,
    }


async def ke_access_page(request: Request) -> Response:
    visit = await ke_visit(request, municipality_id_of(request))
    q = parse_log_query(request.query_params, today_oslo())
    extra = {"limits_saved": request.query_params.get("saved") == "1"}
    return await access_page(request, visit, q, extra)


async def access_page(
    request: Request,
    visit: KeVisit,
    q: LogQuery,
    extra: dict[str, Any],
    *,
    typed: dict[str, str] | None = None,
    status: int = 200,
) -> Response:
    """The log control drawn for `q`, with the thresholds form as stored, or as typed when
    it came back with errors (`typed`, and `extra["limits_errors"]`): a view, audited."""
    municipality = visit.municipality
    t = translator(language_of(request))
    engine = visit.services.repos.engine
    limits = await thresholds(engine, municipality.id)
    stored = {name: str(getattr(limits, name)) for name in LIMIT_FIELDS}
    context: dict[str, Any] = {
        "municipality": {"id": municipality.id, "name": municipality.name},
        "q": q,
        "people": await people(engine, municipality.id),
        "flags_names": FLAGS,
        "night": f"{limits.night_from:02d}–{limits.night_until:02d}",
        "burst": t("ke.log.burstRule")
        .replace("{plans}", str(limits.burst_plans))
        .replace("{minutes}", str(limits.burst_minutes)),
        "limits": typed if typed is not None else stored,
        "limits_errors": {},
        "rows": None,
        "csv_url": None,
    } | extra
    if q.errors:
        visit.audit(request, "ke_log_view", {"errors": q.errors})
        return render(request, "ke_access.html", context, status_code=400, user=visit.user)
    assert q.first_day and q.last_day
    found = await review(engine, municipality.id, q, limits)
    pages = max(1, -(-len(found.rows) // PAGE_SIZE))
    q.page = min(q.page, pages)
    page_rows = found.rows[(q.page - 1) * PAGE_SIZE : q.page * PAGE_SIZE]
    base = f"/ke/{municipality.id}/access"
    context |= {
        "rows": [row_cells(r, found.flags[r.id], t) for r in page_rows],
        "total": len(found.rows),
        "counts": found.counts,
        "truncated": found.truncated,
        "page": q.page,
        "pages": pages,
        "previous_url": f"{base}?{q.params(page=str(q.page - 1))}" if q.page > 1 else None,
        "next_url": f"{base}?{q.params(page=str(q.page + 1))}" if q.page < pages else None,
        "period": f"{q.first_day.strftime('%d.%m.%Y')}–{q.last_day.strftime('%d.%m.%Y')}",
        "csv_url": f"/ke/{municipality.id}/access.csv?{q.params(page='1')}",
    }
    details = {"rows": len(found.rows), **filter_details(q), "flagged": found.counts}
    visit.audit(request, "ke_log_view", details)
    return render(request, "ke_access.html", context, status_code=status, user=visit.user)


LIMIT_FIELDS = ("night_from", "night_until", "burst_plans", "burst_minutes")


def row_cells(row: Opening, flags: list[str], t: Any) -> dict[str, Any]:
    """One opening as the page shows it; the CSV writes the same texts."""
    at = row.at.astimezone(OSLO)
    return {
        "id": row.id,
        "iso": at.isoformat(timespec="seconds"),
        "when": at.strftime("%d.%m.%Y %H:%M"),
        "who": row.user_name or t("accessLog.unknownUser"),
        "role": t("role." + row.role) if row.role else "",
        # A plan that moved away (its rows up to the move): the move record's initials only.
        "person": row.person_name
        if row.person_name is not None
        else t("ke.log.movedAway").replace("{initials}", row.moved_initials or "?"),
        "plan": row.plan_id[:8],
        "plan_id": row.plan_id,
        "action": t("ke.log.action." + row.action),
        "flags": flags,
        "flag_texts": ", ".join(t("ke.log.flag." + name) for name in flags) or t("ke.log.noFlag"),
    }
