"""GET /plans/{plan_id}/access-log: "Hvem har vært i planen min" (issue 4, DESIGN §3).

The planeier, verge and koordinator see who opened the plan, when, for how long, which parts
and how many edits; filtered by person, Oslo dates and kind, a page at a time, or all of it as
a CSV file (which is itself written to the audit log). A deltaker or leser gets 403, a
non-member or unknown plan 404 (as the plan page). Bad filter input answers 400 with the form
and a message, never a 500; nothing is read with a filter that did not parse.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
from collections.abc import AsyncIterator, Callable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from typing import Any
from urllib.parse import urlencode

from starlette.requests import Request
from starlette.responses import Response, StreamingResponse

from crdt.schema import ZONE_ORDER, zone_name
from server.core.access import Role, may_see_access_log
from server.core.audit import client_address
from server.core.clock import OSLO, today_oslo
from server.services import Services
from server.web.csv_lines import csv_line
from server.web.errors import Forbidden, LoginRequired, NotFound
from server.web.i18n import language_of, translator
from server.web.session import current_user
from server.web.templating import render
from server.web.visit import is_uuid
from storage.repositories.access_history import HistoryKind, HistoryQuery, HistoryRow, RowKind

PAGE_SIZE = 25
# The planeier and verge read about their own plan; the koordinator about one they coordinate.
_HEADINGS: dict[str, str] = {Role.KOORDINATOR: "accessLog.heading"}
EXPORT_BATCH = 5000  # each batch is one pass over the plan's rows: few, not huge
FLUSH_WAIT_SECONDS = 1.0
FIRST_YEAR, LAST_YEAR = 1900, 2999
# Past this no page can exist; the offset is not even sent (SQLite ints end at 2**63).
MAX_PAGE = 10_000_000
Translate = Callable[[str], str]


@dataclass
class Filters:
    """The form's values as typed (shown back as they were) and what they parsed to."""

    person: str = ""
    date_from: str = ""
    date_to: str = ""
    kind: str = HistoryKind.ALL.value
    page: str = "1"
    errors: dict[str, str] = field(default_factory=dict)  # field -> message
    user_id: int | None = None
    first_day: date | None = None
    last_day: date | None = None
    page_number: int = 1

    def query(self, plan_id: str) -> HistoryQuery:
        """Oslo days to UTC bounds: from the first day's midnight to the day after the last."""
        start = _oslo_midnight(self.first_day) if self.first_day else None
        end = _oslo_midnight(self.last_day + timedelta(days=1)) if self.last_day else None
        return HistoryQuery(plan_id, self.user_id, start, end, HistoryKind(self.kind))

    def params(self, **changes: str) -> str:
        """This filter as a query string (for page links and the CSV link)."""
        values = {"person": self.person, "from": self.date_from, "to": self.date_to}
        values |= {"kind": self.kind, **changes}
        return urlencode({k: v for k, v in values.items() if v and (k, v) != ("kind", "all")})


def _oslo_midnight(day: date) -> datetime:
    return datetime.combine(day, time(0), tzinfo=OSLO)


def _parse_day(text: str) -> date:
    return datetime.strptime(text, "%d.%m.%Y").date()


def parse_filters(params: Mapping[str, str], members: set[int], t: Translate) -> Filters:
    def get(name: str) -> str:
        return params.get(name, "").strip()

    found = Filters(get("person"), get("from"), get("to"), get("kind") or "all", get("page") or "1")
    errors = found.errors
    if found.person:
        try:
            found.user_id = int(found.person)
        except ValueError:
            found.user_id = None
        if found.user_id not in members:
            errors["person"] = t("accessLog.error.person")
    for name, text in (("from", found.date_from), ("to", found.date_to)):
        if not text:
            continue
        try:
            day = _parse_day(text)
        except ValueError:
            errors[name] = t("accessLog.error.date").replace("{value}", text)
            continue
        if not FIRST_YEAR <= day.year <= LAST_YEAR:  # 31.12.9999 + 1 day would overflow
            errors[name] = t("accessLog.error.year").replace("{value}", text)
            continue
        if name == "from":
            found.first_day = day
        else:
            found.last_day = day
    if found.first_day and found.last_day and found.last_day < found.first_day:
        errors["to"] = t("accessLog.error.order")
    if found.kind not in {k.value for k in HistoryKind}:
        errors["kind"] = t("accessLog.error.kind")
    try:
        found.page_number = int(found.page)
    except ValueError:
        found.page_number = 0
    if found.page_number < 1:
        errors["page"] = t("accessLog.error.page")
    return found


# --- showing rows ------------------------------------------------------------------------


def format_duration(value: timedelta, t: Translate) -> str:
    seconds = max(0, int(value.total_seconds()))
    if seconds < 60:
        return t("accessLog.duration.seconds").replace("{n}", str(seconds))
    minutes = seconds // 60
    if minutes < 60:
        return t("accessLog.duration.minutes").replace("{n}", str(minutes))
    hours, rest = divmod(minutes, 60)
    return t("accessLog.duration.hours").replace("{h}", str(hours)).replace("{m}", str(rest))


def _when(value: datetime, t: Translate) -> dict[str, str]:
    local = value.astimezone(OSLO)
    return {
        "iso": local.isoformat(timespec="seconds"),
        "date": local.strftime("%d.%m.%Y"),
        "time": t("accessLog.at") + " " + local.strftime("%H.%M"),
        "clock": local.strftime("%H.%M"),
    }


@dataclass(frozen=True)
class Display:
    """What a page needs besides the rows: zone titles, who is connected now, the clock."""

    titles: dict[str, str]
    order: dict[str, int]
    live_users: set[int]
    now: datetime
    t: Translate

    def status(self, row: HistoryRow) -> str | None:
        # Open in the log, but nobody of theirs is connected here: the server stopped without
        # writing the leave (a crash). Shown as an unknown end, not as still going on.
        if row.status == "open" and row.user_id not in self.live_users:
            return "unknown"
        return row.status

    def zones(self, row: HistoryRow) -> list[str]:
        ordered = sorted(row.zones, key=lambda z: (self.order.get(z, len(self.order)), z))
        return [self.titles.get(z, z) for z in ordered]

    def view(self, row: HistoryRow) -> dict[str, Any]:
        t = self.t
        status = self.status(row)
        duration = None
        if row.ended_at is not None:
            duration = format_duration(row.ended_at - row.started_at, t)
        elif status == "open":
            so_far = format_duration(self.now - row.started_at, t)
            duration = t("accessLog.soFar").replace("{d}", so_far)
        return {
            "kind": row.kind.value,
            "id": row.sort_id,
            "who": row.user_name or t("accessLog.unknownUser"),
            "role": t("role." + row.role) if row.role else "",
            "start": _when(row.started_at, t),
            "end": _when(row.ended_at, t) if row.ended_at else None,
            "same_day": row.ended_at is not None
            and row.ended_at.astimezone(OSLO).date() == row.started_at.astimezone(OSLO).date(),
            "status": status,
            "duration": duration,
            "zones": self.zones(row),
            "edits": row.edits,
        }


async def _settled(services: Services) -> None:
    """Let this node's queued audit rows land first (bounded: a busy writer never holds the
    page), so someone who just left is shown as left, not as an unknown end."""
    with contextlib.suppress(TimeoutError):
        async with asyncio.timeout(FLUSH_WAIT_SECONDS):
            await services.audit.flush()


async def _display(services: Services, plan_id: str, t: Translate) -> Display:
    zones = await services.plans.list_zones(plan_id)
    suffixes = [zone_name(z.kind, z.key) for z in zones]
    ordered = sorted(
        zip(suffixes, zones, strict=True), key=lambda p: (ZONE_ORDER[p[1].kind], p[1].position)
    )
    live = {c.user_id for c in services.connections.of_plan(plan_id)}
    return Display(
        titles={s: z.title for s, z in zip(suffixes, zones, strict=True)},
        order={s: i for i, (s, _) in enumerate(ordered)},
        live_users=live,
        now=datetime.now(OSLO),
        t=t,
    )


# --- the route ---------------------------------------------------------------------------


async def access_log_page(request: Request) -> Response:
    user = await current_user(request)
    plan_id = request.path_params["plan_id"]
    if user is None:
        raise LoginRequired(f"/plans/{plan_id}/access-log")
    services: Services = request.app.state.services
    membership = await services.plans.get_membership(plan_id, user.id) if is_uuid(plan_id) else None
    plan = await services.plans.get_plan(plan_id) if membership else None
    if plan is None or membership is None:
        raise NotFound()
    if not may_see_access_log(membership.role):
        raise Forbidden("accessLog.error.forbidden")
    t = translator(language_of(request))

    members = await services.plans.list_members_with_names(plan.id)
    filters = parse_filters(request.query_params, {m.user_id for m, _, _ in members}, t)
    wanted = request.query_params.get("format", "")
    if wanted not in ("", "csv"):
        filters.errors["format"] = t("accessLog.error.format")
    context: dict[str, Any] = {
        "plan": {"id": plan.id, "title": plan.title, "person_name": plan.person_name},
        "heading": t(_HEADINGS.get(membership.role, "accessLog.headingOwner")),
        "members": [{"id": m.user_id, "name": name, "role": m.role} for m, name, _ in members],
        "filters": filters,
        "kinds": [k.value for k in HistoryKind],
        "rows": None,
    }
    if filters.errors:
        return render(request, "access_log.html", context, status_code=400, user=user)
    query = filters.query(plan.id)
    await _settled(services)
    if wanted == "csv":
        return await _export(request, services, query, filters, membership.role, user.id, t)

    offset = (min(filters.page_number, MAX_PAGE) - 1) * PAGE_SIZE
    page = await services.repos.audit.access_history(query, PAGE_SIZE, offset)
    pages = max(1, math.ceil(page.total / PAGE_SIZE))
    context |= {"total": page.total, "page": filters.page_number, "pages": pages}
    if filters.page_number > pages:
        message = t("accessLog.error.pageBeyond").replace("{page}", str(filters.page_number))
        filters.errors["page"] = message.replace("{pages}", str(pages))
        context["last_page_url"] = "?" + filters.params(page=str(pages))
        return render(request, "access_log.html", context, status_code=400, user=user)
    display = await _display(services, plan.id, t)
    context |= {
        "rows": [display.view(row) for row in page.rows],
        "filtered": bool(filters.params()),
        "previous_url": "?" + filters.params(page=str(filters.page_number - 1))
        if filters.page_number > 1
        else None,
        "next_url": "?" + filters.params(page=str(filters.page_number + 1))
        if filters.page_number < pages
        else None,
        "csv_url": "?" + filters.params(format="csv"),
    }
    return render(request, "access_log.html", context, user=user)


# --- CSV ---------------------------------------------------------------------------------

_csv_line = csv_line


CSV_COLUMNS = (
    "kind",
    "who",
    "userId",
    "role",
    "start",
    "end",
    "status",
    "seconds",
    "zones",
    "edits",
)


def _csv_row(row: HistoryRow, display: Display) -> list[object]:
    t = display.t
    status = display.status(row)
    seconds = row.duration.total_seconds() if row.duration is not None else None
    return [
        t("accessLog.rowKind." + row.kind.value),
        row.user_name or t("accessLog.unknownUser"),
        row.user_id,
        t("role." + row.role) if row.role else "",
        row.started_at.astimezone(OSLO).isoformat(timespec="seconds"),
        row.ended_at.astimezone(OSLO).isoformat(timespec="seconds") if row.ended_at else "",
        t("accessLog.status." + status) if status else "",
        round(seconds) if seconds is not None else "",
        ", ".join(display.zones(row)),
        row.edits if row.kind is RowKind.VISIT else "",
    ]


async def _export(
    request: Request,
    services: Services,
    query: HistoryQuery,
    filters: Filters,
    role: str,
    user_id: int,
    t: Translate,
) -> Response:
    display = await _display(services, query.plan_id, t)
    total = (await services.repos.audit.access_history(query, 1, 0)).total
    services.audit.record(
        "access_log_export",
        actor_user_id=user_id,
        role=role,
        plan_id=query.plan_id,
        client_address=client_address(request),
        details={
            "rows": total,
            "kind": query.kind.value,
            "person": query.user_id,
            "from": filters.first_day.isoformat() if filters.first_day else None,
            "to": filters.last_day.isoformat() if filters.last_day else None,
        },
    )

    async def lines() -> AsyncIterator[bytes]:
        # The BOM makes Excel read UTF-8 (æøå); ";" is its separator in a Norwegian locale.
        header = _csv_line([t("accessLog.csv." + c) for c in CSV_COLUMNS])
        yield ("\ufeff" + header).encode("utf-8")
        async for batch in services.repos.audit.access_history_batches(query, EXPORT_BATCH):
            yield "".join(_csv_line(_csv_row(row, display)) for row in batch).encode("utf-8")

    name = f"tilgangslogg-{query.plan_id[:8]}-{today_oslo().isoformat()}.csv"
    headers = {"content-disposition": f'attachment; filename="{name}"', "cache-control": "no-store"}
    return StreamingResponse(lines(), media_type="text/csv; charset=utf-8", headers=headers)
