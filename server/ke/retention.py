"""How long the municipality keeps a closed plan, set by its KE (issue 14).

GET/POST /ke/{municipality_id}/retention   days: 1-36500, or empty for the installation's
                                           SAMPLAN_RETENTION_DAYS

`samplan purge` deletes a plan closed longer ago than its municipality's period
(server/plans/lifecycle.py). A change is an access-log row with the old and new values.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from server.ke.access import KeVisit
from server.ke.forms import back, form_number, ke_form, ke_page, ke_render
from storage.repositories.municipalities import RETENTION_MAX

PAGE = "retention"


async def retention_page(request: Request) -> Response:
    return _page(request, await ke_page(request, PAGE))


def _page(
    request: Request, visit: KeVisit, *, error: str = "", days: str | None = None, status: int = 200
) -> Response:
    current = visit.municipality.retention_days
    context = {
        "days": days if days is not None else (str(current) if current else ""),
        "current": current,
        "default": visit.services.settings.retention_days,
        "most": RETENTION_MAX,
        "error": error,
    }
    return ke_render(request, visit, "ke_retention.html", PAGE, context, status=status)


async def retention_submit(request: Request) -> Response:
    visit, form = await ke_form(request)
    raw = form.get("days", "").strip()
    days: int | None = None
    if raw:
        number = form_number(raw, 5)
        if number is None or not 1 <= number <= RETENTION_MAX:
            return _page(request, visit, error="ke.error.retention", days=raw, status=400)
        days = number
    before = visit.municipality.retention_days
    await visit.services.repos.municipalities.set_retention(visit.municipality.id, days)
    visit.audit(request, "ke_retention_set", {"from_days": before, "to_days": days})
    return back(visit, PAGE, "saved")
