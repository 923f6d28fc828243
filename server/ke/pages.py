"""The KE's pages (issue 14): `/ke` (the municipalities one administers), `/ke/{id}` the
overview of every plan with its indicators, and its settings form.

Every route starts with `ke_visit` (403 and an access-log row for someone who administers no
KE, 404 for another municipality's), and every view is an access-log row with counts only.
"""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from server.core.indicators import MAX_DAYS, NAMES
from server.ke.access import KeVisit, ke_visit, municipality_id_of, refuse_non_ke
from server.ke.moves import moved_from
from server.ke.overview import (
    COLUMNS,
    NONE,
    SORT_OF,
    STATUSES,
    Query,
    Selection,
    cells,
    forget,
    page_of,
    parse_query,
    select_rows,
)
from server.services import Services
from server.web.errors import Forbidden, LoginRequired
from server.web.i18n import language_of, translator
from server.web.security import CSRF_FIELD, csrf_valid
from server.web.session import current_user
from server.web.templating import render


async def ke_home(request: Request) -> Response:
    """The municipalities whose KE the user administers; with one, straight to its overview."""
    user = await current_user(request)
    if user is None:
        raise LoginRequired(request.url.path)
    services: Services = request.app.state.services
    mine = await services.repos.municipalities.administered_by(user.id)
    if not mine:
        refuse_non_ke(services, request, user.id)
    if len(mine) == 1:
        return RedirectResponse(f"/ke/{mine[0].id}", status_code=303)
    municipalities = [{"id": m.id, "name": m.name} for m in mine]
    return render(request, "ke_home.html", {"municipalities": municipalities}, user=user)


def _sort_links(q: Query, base: str) -> dict[str, dict[str, Any]]:
    """Per sortable column: its link (the other direction when it is the current sort) and
    its aria-sort value."""
    links: dict[str, dict[str, Any]] = {}
    for column, sort in SORT_OF.items():
        current = q.sort == sort
        direction = ("desc" if q.direction == "asc" else "asc") if current else "asc"
        links[column] = {
            "url": f"{base}?{q.params(sort=sort, dir=direction, page='1')}",
            "aria": ("ascending" if q.direction == "asc" else "descending") if current else None,
        }
    return links


async def overview_context(
    request: Request, visit: KeVisit, q: Query, selection: Selection
) -> dict[str, Any]:
    t = translator(language_of(request))
    base = f"/ke/{visit.municipality.id}"
    rows, pages = await page_of(visit.services, visit.municipality.id, selection, q)
    # Plans moved here whose koordinator this KE has not yet appointed (server/ke/moves.py).
    moved_in = await visit.services.repos.moves.arrivals(visit.municipality.id)
    return {
        "municipality": {"id": visit.municipality.id, "name": visit.municipality.name},
        "rules": selection.rules,
        "max_days": MAX_DAYS,
        "q": q,
        "none": NONE,
        "statuses": STATUSES,
        "indicators": NAMES,
        "units": selection.units,
        "coordinators": selection.coordinators,
        "columns": COLUMNS,
        "sort_links": _sort_links(q, base),
        "rows": [
            {
                "id": r.facts.plan_id,
                "ok": _flags(r),
                "moved_in": r.facts.plan_id in moved_in,
                "moved_from": moved_from(moved_in[r.facts.plan_id], t)
                if r.facts.plan_id in moved_in
                else "",
                **cells(r, t),
            }
            for r in rows
        ],
        "total": selection.total,
        "page": q.page,
        "pages": pages,
        "previous_url": f"{base}?{q.params(page=str(q.page - 1))}" if q.page > 1 else None,
        "next_url": f"{base}?{q.params(page=str(q.page + 1))}" if q.page < pages else None,
        "csv_url": f"{base}/overview.csv?{q.filter_params()}",
        "base": base,
    }


def _flags(row: Any) -> dict[str, bool]:
    """Which cells are a warning (an indicator not met), for the badges."""
    ind = row.indicators
    return {
        "coordinator": ind.coordinator,
        "plan_consent": ind.plan_consent,
        "sharing_consent": ind.sharing_consent,
        "in_use": ind.in_use,
        "evaluated": ind.evaluated,
        "overdue": ind.overdue_measures == 0,
        "next_revision": not ind.revision_overdue,
    }


async def ke_overview(request: Request) -> Response:
    visit = await ke_visit(request, municipality_id_of(request))
    q = parse_query(request.query_params)
    selection = await select_rows(visit.services, visit.municipality, q)
    context = await overview_context(request, visit, q, selection)
    context["request_saved"] = request.query_params.get("saved") == "1"
    visit.audit(
        request,
        "ke_overview_view",
        {
            "plans": context["total"],
            "page": q.page,
            "filter": q.filter_params(),
            "errors": q.errors,
        },
    )
    status = 400 if q.errors else 200
    return render(request, "ke_overview.html", context, status_code=status, user=visit.user)


def _days(value: object) -> int | None:
    text = str(value or "").strip()
    if not (text.isascii() and text.isdigit()):
        return None
    days = int(text)
    return days if 1 <= days <= MAX_DAYS else None


async def ke_settings(request: Request) -> Response:
    """POST: the KE's two numbers (in use: days back; evaluated: days back)."""
    visit = await ke_visit(request, municipality_id_of(request))
    form = await request.form()
    if not csrf_valid(request, visit.services.secret_key, form.get(CSRF_FIELD)):
        raise Forbidden("lifecycle.error.expired_form")
    in_use, revision = _days(form.get("in_use_days")), _days(form.get("revision_days"))
    if in_use is None or revision is None:
        q = parse_query({})
        selection = await select_rows(visit.services, visit.municipality, q)
        context = await overview_context(request, visit, q, selection)
        context["settings_error"] = True
        context["settings_typed"] = {
            "in_use_days": str(form.get("in_use_days") or ""),
            "revision_days": str(form.get("revision_days") or ""),
        }
        return render(request, "ke_overview.html", context, status_code=400, user=visit.user)
    await visit.services.repos.municipalities.set_overview_rules(
        visit.municipality.id, in_use_days=in_use, revision_days=revision
    )
    forget(visit.services, visit.municipality.id)
    visit.audit(request, "ke_settings", {"in_use_days": in_use, "revision_days": revision})
    return RedirectResponse(f"/ke/{visit.municipality.id}?saved=1", status_code=303)
