"""The KE's administrators add and remove each other in the browser (issue 14).

GET  /ke/{municipality_id}/admins                      the list and the add form
POST /ke/{municipality_id}/admins                      email: an existing account
POST /ke/{municipality_id}/admins/{user_id:id}/remove  take it away (never the last one)

The first administrator comes from `samplan municipality add-admin`; after that the KE keeps
its own list. The last administrator is never removed here: a municipality whose KE nobody
administers could only be mended on the command line. Each change is an access-log row.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from server.ke.access import KeVisit
from server.ke.forms import back, ke_form, ke_page, ke_render, row_id, user_by_email
from storage import errors as storage_errors

PAGE = "admins"


async def admins_page(request: Request) -> Response:
    return await _page(request, await ke_page(request, PAGE))


async def _page(
    request: Request, visit: KeVisit, *, error: str = "", email: str = "", status: int = 200
) -> Response:
    admins = await visit.services.repos.municipalities.admins(visit.municipality.id)
    context = {
        "admins": [{"id": a.user_id, "name": a.name, "email": a.email} for a in admins],
        "error": error,
        "email": email,
        "me": visit.user.id,
    }
    return ke_render(request, visit, "ke_admins.html", PAGE, context, status=status)


async def admin_add(request: Request) -> Response:
    visit, form = await ke_form(request)
    email = form.get("email", "").strip()
    user = await user_by_email(visit, email)
    if user is None:
        return await _page(request, visit, error="ke.error.noAccount", email=email, status=400)
    municipality_id = visit.municipality.id
    repo = visit.services.repos.municipalities
    if not await repo.add_admin(municipality_id, user.id, granted_by=visit.user.id):
        return await _page(request, visit, error="ke.error.alreadyAdmin", email=email, status=409)
    visit.audit(request, "ke_admin_add", {"user_id": user.id})
    return back(visit, PAGE, "added")


async def admin_remove(request: Request) -> Response:
    visit, _form = await ke_form(request)
    user_id = row_id(request, "user_id")
    repo = visit.services.repos.municipalities
    try:
        removed = await repo.remove_admin_unless_last(visit.municipality.id, user_id)
    except storage_errors.Conflict:
        return await _page(request, visit, error="ke.error.lastAdmin", status=409)
    if not removed:
        return await _page(request, visit, error="ke.error.notAdmin", status=400)
    visit.audit(request, "ke_admin_remove", {"user_id": user_id})
    if user_id == visit.user.id:  # they took their own administration away
        return RedirectResponse("/plans", status_code=303)
    return back(visit, PAGE, "removed")
