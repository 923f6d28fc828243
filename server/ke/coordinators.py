"""The people the municipality lets coordinate plans, kept by its KE (issue 14).

GET  /ke/{municipality_id}/coordinators                       the list and the add form
POST /ke/{municipality_id}/coordinators                       email, unit (optional): add one,
                                                              or change their unit
POST /ke/{municipality_id}/coordinators/{user_id:id}/remove   take them off the list

Who is on the list may start plans ("Ny plan") in the municipality and is who the KE appoints
a plan's koordinator from (appoint.py). Taking someone off the list changes no plan: the
plans they coordinate keep them until the KE appoints another. Each change is an access-log
row (ids only).
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from server.ke.access import KeVisit
from server.ke.forms import back, form_number, ke_form, ke_page, ke_render, row_id, user_by_email
from storage import errors as storage_errors

PAGE = "coordinators"


async def coordinators_page(request: Request) -> Response:
    return await _page(request, await ke_page(request, PAGE))


async def _page(
    request: Request,
    visit: KeVisit,
    *,
    error: str = "",
    values: dict[str, str] | None = None,
    status: int = 200,
) -> Response:
    repos = visit.services.repos
    people = await repos.coordinators.of(visit.municipality.id)
    units = await repos.municipalities.units(visit.municipality.id)
    context = {
        "coordinators": [
            {"id": c.user_id, "name": c.name, "email": c.email, "unit": c.unit_name} for c in people
        ],
        "units": [{"id": str(u.id), "name": u.name} for u in units],
        "error": error,
        "values": values or {"email": "", "unit": ""},
    }
    return ke_render(request, visit, "ke_coordinators.html", PAGE, context, status=status)


async def coordinator_add(request: Request) -> Response:
    visit, form = await ke_form(request)
    values = {"email": form.get("email", "").strip(), "unit": form.get("unit", "").strip()}
    user = await user_by_email(visit, values["email"])
    if user is None:
        return await _page(request, visit, error="ke.error.noAccount", values=values, status=400)
    unit_id: int | None = None
    if values["unit"]:
        raw = values["unit"]
        unit_id = form_number(raw) or 0
    try:
        added = await visit.services.repos.coordinators.put(
            visit.municipality.id, user.id, unit_id, added_by=visit.user.id
        )
    except storage_errors.InvalidValue:
        return await _page(request, visit, error="ke.error.unit", values=values, status=400)
    visit.audit(
        request,
        "ke_coordinator_add" if added else "ke_coordinator_unit",
        {"user_id": user.id, "unit_id": unit_id},
    )
    return back(visit, PAGE, "added" if added else "changed")


async def coordinator_remove(request: Request) -> Response:
    visit, _form = await ke_form(request)
    user_id = row_id(request, "user_id")
    if not await visit.services.repos.coordinators.remove(visit.municipality.id, user_id):
        return await _page(request, visit, error="ke.error.notCoordinator", status=400)
    visit.audit(request, "ke_coordinator_remove", {"user_id": user_id})
    return back(visit, PAGE, "removed")
