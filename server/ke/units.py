"""The municipality's units (skole, helsestasjon, NAV, ...), kept by its KE (issue 14).

GET  /ke/{municipality_id}/units                        the list, add and rename forms
POST /ke/{municipality_id}/units                        name: a new unit
POST /ke/{municipality_id}/units/{unit_id:id}           name: rename it
POST /ke/{municipality_id}/units/{unit_id:id}/delete    delete one no plan names
POST /ke/{municipality_id}/plans/{plan_id}/unit         unit: the unit a plan belongs to

A name is never empty and never another unit's (case does not make two units). A unit a
plan names is not deleted: the plan would silently lose the unit that answers for it, so
the page says which to change first. Another municipality's unit or plan is 404, like one
that does not exist. Each change is an access-log row (ids, never the name).
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from server.ke.access import KeVisit
from server.ke.forms import back, form_number, ke_form, ke_page, ke_render, row_id
from server.web.errors import NotFound
from storage import errors as storage_errors
from storage.repositories.municipalities import NAME_MAX

PAGE = "units"


async def units_page(request: Request) -> Response:
    return await _page(request, await ke_page(request, PAGE))


async def _page(
    request: Request,
    visit: KeVisit,
    *,
    error: str = "",
    name: str = "",
    unit_id: int | None = None,
    status: int = 200,
) -> Response:
    repo = visit.services.repos.municipalities
    use = await repo.unit_use(visit.municipality.id)
    units = await repo.units(visit.municipality.id)
    context = {
        "units": [{"id": u.id, "name": u.name, "plans": use.get(u.id, 0)} for u in units],
        "error": error,
        "error_unit": unit_id,  # the unit whose form failed; None: the add form
        "name": name,
    }
    return ke_render(request, visit, "ke_units.html", PAGE, context, status=status)


async def _checked_name(visit: KeVisit, raw: str, unit_id: int | None) -> tuple[str, str]:
    """(name, "") or (name as typed, error key): empty, too long, or another unit's name."""
    name = " ".join(raw.split())
    if not name or len(name) > NAME_MAX:
        return raw, "ke.error.unitName"
    for unit in await visit.services.repos.municipalities.units(visit.municipality.id):
        if unit.id != unit_id and unit.name.casefold() == name.casefold():
            return raw, "ke.error.unitTwice"
    return name, ""


async def unit_add(request: Request) -> Response:
    visit, form = await ke_form(request)
    name, error = await _checked_name(visit, form.get("name", ""), None)
    if not error:
        try:
            unit = await visit.services.repos.municipalities.add_unit(visit.municipality.id, name)
        except storage_errors.AlreadyExists:
            error = "ke.error.unitTwice"
        except storage_errors.InvalidValue:
            error = "ke.error.unitName"
    if error:
        status = 409 if error == "ke.error.unitTwice" else 400
        return await _page(request, visit, error=error, name=name, status=status)
    visit.audit(request, "ke_unit_add", {"unit_id": unit.id})
    return back(visit, PAGE, "added")


async def _own_unit(visit: KeVisit, unit_id: int) -> None:
    if await visit.services.repos.municipalities.unit(visit.municipality.id, unit_id) is None:
        raise NotFound()


async def unit_rename(request: Request) -> Response:
    visit, form = await ke_form(request)
    unit_id = row_id(request, "unit_id")
    await _own_unit(visit, unit_id)
    name, error = await _checked_name(visit, form.get("name", ""), unit_id)
    if not error:
        try:
            await visit.services.repos.municipalities.rename_unit(
                visit.municipality.id, unit_id, name
            )
        except storage_errors.NotFound:
            raise NotFound() from None
        except storage_errors.AlreadyExists:
            error = "ke.error.unitTwice"
        except storage_errors.InvalidValue:
            error = "ke.error.unitName"
    if error:
        status = 409 if error == "ke.error.unitTwice" else 400
        return await _page(request, visit, error=error, name=name, unit_id=unit_id, status=status)
    visit.audit(request, "ke_unit_rename", {"unit_id": unit_id})
    return back(visit, PAGE, "renamed")


async def unit_delete(request: Request) -> Response:
    visit, _form = await ke_form(request)
    unit_id = row_id(request, "unit_id")
    try:
        await visit.services.repos.municipalities.delete_unit(visit.municipality.id, unit_id)
    except storage_errors.NotFound:
        raise NotFound() from None
    except storage_errors.Conflict:
        return await _page(request, visit, error="ke.error.unitInUse", unit_id=unit_id, status=409)
    visit.audit(request, "ke_unit_delete", {"unit_id": unit_id})
    return back(visit, PAGE, "deleted")


async def plan_unit(request: Request) -> Response:
    """The unit that answers for a plan (empty: none); the plan and the unit must both be
    this municipality's."""
    visit, form = await ke_form(request)
    plan_id = request.path_params["plan_id"]
    repo = visit.services.repos.municipalities
    if await repo.plan_in(visit.municipality.id, plan_id) is None:
        raise NotFound()
    raw = form.get("unit", "").strip()
    unit_id: int | None = None
    if raw:
        unit_id = form_number(raw) or 0
        if await repo.unit(visit.municipality.id, unit_id) is None:
            raise NotFound()
    try:
        await repo.set_plan_unit(plan_id, unit_id)
    except (storage_errors.NotFound, storage_errors.InvalidValue):
        raise NotFound() from None
    visit.audit(request, "ke_plan_unit", {"unit_id": unit_id}, plan_id=plan_id)
    address = f"/ke/{visit.municipality.id}/plans/{plan_id}/koordinator?done=unit"
    return RedirectResponse(address, status_code=303)
