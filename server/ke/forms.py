"""What every KE administration page shares (issue 14): the visit checked before anything
else, the form token, the page drawn with the KE navigation, and a user named by e-mail.

Order matters: `ke_visit` answers first (403 with an access-log row for someone who
administers no KE, 404 for another municipality's administrator), then the form token; a
refusal at any step has changed nothing.
"""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from server.ke.access import KeVisit, ke_visit, municipality_id_of
from server.web.errors import Forbidden
from server.web.security import CSRF_FIELD, csrf_valid
from server.web.templating import render

EMAIL_MAX = 320


async def ke_page(request: Request, page: str) -> KeVisit:
    """A KE administrator opening one of the pages: an access-log row names the page."""
    visit = await ke_visit(request, municipality_id_of(request))
    visit.audit(request, "ke_view", {"page": page})
    return visit


async def ke_form(request: Request) -> tuple[KeVisit, dict[str, str]]:
    """A KE administrator's form with a valid token, as {field: text}."""
    visit = await ke_visit(request, municipality_id_of(request))
    form = await request.form()
    if not csrf_valid(request, visit.services.secret_key, form.get(CSRF_FIELD)):
        raise Forbidden("ke.error.expiredForm")
    return visit, {key: str(value) for key, value in form.items()}


def ke_render(
    request: Request,
    visit: KeVisit,
    template: str,
    current: str,
    context: dict[str, Any],
    *,
    status: int = 200,
) -> Response:
    """A KE page with the KE navigation (client/templates/_ke_nav.html reads `ke`)."""
    ke = {"id": visit.municipality.id, "name": visit.municipality.name, "current": current}
    done = request.query_params.get("done", "")
    values = {"ke": ke, "done": done if done.isidentifier() else "", **context}
    return render(request, template, values, status_code=status, user=visit.user)


def back(visit: KeVisit, page: str, done: str) -> Response:
    """After a change: the page again, saying what was done (role="status")."""
    return RedirectResponse(f"/ke/{visit.municipality.id}/{page}?done={done}", status_code=303)


async def user_by_email(visit: KeVisit, email: str) -> Any | None:
    """An existing, active account with this e-mail (the KE names people it can reach)."""
    email = email.strip()
    if not email or len(email) > EMAIL_MAX:
        return None
    user = await visit.services.repos.users.get_by_email(email)
    if user is None or user.deactivated_at is not None:
        return None
    return user


def form_number(raw: str, digits: int = 9) -> int | None:
    """A whole number typed or chosen in a form: ASCII digits only (str.isdigit also takes
    "٣" and "³", which int() reads or refuses), at most `digits` of them; else None."""
    raw = raw.strip()
    if not raw or len(raw) > digits or not (raw.isascii() and raw.isdigit()):
        return None
    return int(raw)


def row_id(request: Request, name: str) -> int:
    """A `{name:id}` path parameter (the `id` convertor has checked its digits)."""
    return int(request.path_params[name])
