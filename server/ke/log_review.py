"""GET /ke/{municipality_id}/access: the KE's log control (issue 14; Normen asks that access
logs be kept *and checked*, helsepersonelloven § 21a forbids snooping).

Every opening of the municipality's plans in a period, by person and by plan, with what looks
unusual flagged, as facts (who, when, which plan by the person's name and short id, which
page, the role the log recorded), never a word of the plan:
- `unexplained`: the person had no role that opens the plan by itself (planeier, verge,
  koordinator), no meeting invitation in it and no open measure they are responsible for;
  or is not a member at all now;
- `night`: opened between 22:00 and 06:00 Oslo time;
- `burst`: one person opened BURST_PLANS or more different plans within BURST_MINUTES.
A flag asks for a look, it accuses no one. The view itself is an access-log row.
"""

from __future__ import annotations

from collections import defaultdict, deque
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from typing import Any
from urllib.parse import urlencode

from starlette.requests import Request
from starlette.responses import Response

from server.core.clock import OSLO, today_oslo
from server.ke.access import ke_visit, municipality_id_of
from server.web.i18n import language_of, translator
from server.web.templating import render
from storage.repositories.ke_log import Opening, Reasons, openings, people, reasons

EXPLAINING_ROLES = frozenset({"planeier", "verge", "koordinator"})
NIGHT_FROM, NIGHT_UNTIL = 22, 6  # Oslo hours
BURST_PLANS, BURST_MINUTES = 10, 60
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


def is_night(at: datetime) -> bool:
    hour = at.astimezone(OSLO).hour
    return hour >= NIGHT_FROM or hour < NIGHT_UNTIL


def _explained(row: Opening, why: Reasons) -> bool:
    if row.user_id is None:
        return False
    key = (row.plan_id, row.user_id)
    return why.roles.get(key) in EXPLAINING_ROLES or key in why.invited or key in why.responsible


def _bursts(rows: list[Opening]) -> set[int]:
    """Row ids in a run where one person opened BURST_PLANS or more different plans within
    BURST_MINUTES (rows oldest first)."""
    flagged: set[int] = set()
    window = timedelta(minutes=BURST_MINUTES)
    recent: dict[int, deque[Opening]] = defaultdict(deque)
    for row in rows:
        if row.user_id is None:
            continue
        seen = recent[row.user_id]
        seen.append(row)
        while seen and row.at - seen[0].at > window:
            seen.popleft()
        if len({r.plan_id for r in seen}) >= BURST_PLANS:
            flagged.update(r.id for r in seen)
    return flagged


def flag(rows: list[Opening], why: Reasons) -> dict[int, list[str]]:
    bursts = _bursts(rows)
    flags: dict[int, list[str]] = {}
    for row in rows:
        found = []
        if not _explained(row, why):
            found.append("unexplained")
        if is_night(row.at):
            found.append("night")
        if row.id in bursts:
            found.append("burst")
        flags[row.id] = found
    return flags


async def ke_access_page(request: Request) -> Response:
    visit = await ke_visit(request, municipality_id_of(request))
    services, municipality = visit.services, visit.municipality
    t = translator(language_of(request))
    q = parse_log_query(request.query_params, today_oslo())
    engine = services.repos.engine
    context: dict[str, Any] = {
        "municipality": {"id": municipality.id, "name": municipality.name},
        "q": q,
        "people": await people(engine, municipality.id),
        "flags_names": FLAGS,
        "night": f"{NIGHT_FROM:02d}–{NIGHT_UNTIL:02d}",
        "burst": t("ke.log.burstRule")
        .replace("{plans}", str(BURST_PLANS))
        .replace("{minutes}", str(BURST_MINUTES)),
        "rows": None,
    }
    if q.errors:
        visit.audit(request, "ke_log_view", {"errors": q.errors})
        return render(request, "ke_access.html", context, status_code=400, user=visit.user)
    assert q.first_day and q.last_day
    start = datetime.combine(q.first_day, time(0), tzinfo=OSLO)
    end = datetime.combine(q.last_day + timedelta(days=1), time(0), tzinfo=OSLO)
    # The burst rule looks at the person's openings across every plan, so the plan filter is
    # applied after flagging.
    found = await openings(
        engine, municipality.id, start=start, end=end, user_id=q.user_id, limit=MAX_ROWS + 1
    )
    truncated = len(found) > MAX_ROWS
    found = found[:MAX_ROWS]
    flags = flag(found, await reasons(engine, {r.plan_id for r in found}))
    shown = [
        r
        for r in reversed(found)
        if (not q.plan or r.plan_id.startswith(q.plan)) and (not q.flagged or flags[r.id])
    ]
    pages = max(1, -(-len(shown) // PAGE_SIZE))
    q.page = min(q.page, pages)
    page_rows = shown[(q.page - 1) * PAGE_SIZE : q.page * PAGE_SIZE]
    counts = {name: sum(1 for r in shown if name in flags[r.id]) for name in FLAGS}
    base = f"/ke/{municipality.id}/access"
    context |= {
        "rows": [_row(r, flags[r.id], t) for r in page_rows],
        "total": len(shown),
        "counts": counts,
        "truncated": truncated,
        "page": q.page,
        "pages": pages,
        "previous_url": f"{base}?{q.params(page=str(q.page - 1))}" if q.page > 1 else None,
        "next_url": f"{base}?{q.params(page=str(q.page + 1))}" if q.page < pages else None,
        "period": f"{q.first_day.strftime('%d.%m.%Y')}–{q.last_day.strftime('%d.%m.%Y')}",
    }
    visit.audit(
        request,
        "ke_log_view",
        {
            "rows": len(shown),
            "person": q.user_id,
            "plan": q.plan or None,
            "from": q.first_day.isoformat(),
            "to": q.last_day.isoformat(),
            "flagged": counts,
        },
    )
    return render(request, "ke_access.html", context, user=visit.user)


def _row(row: Opening, flags: list[str], t: Any) -> dict[str, Any]:
    at = row.at.astimezone(OSLO)
    return {
        "id": row.id,
        "iso": at.isoformat(timespec="seconds"),
        "when": at.strftime("%d.%m.%Y %H:%M"),
        "who": row.user_name or t("accessLog.unknownUser"),
        "role": t("role." + row.role) if row.role else "",
        "person": row.person_name,
        "plan": row.plan_id[:8],
        "action": t("ke.log.action." + row.action),
        "flags": flags,
    }
