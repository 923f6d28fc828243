"""POST /plans/{plan_id}/close, /reopen and /delete: the koordinator's end of a plan.

Closing asks for confirmation on a page of its own; deleting asks for the plan's title typed
again. Every refusal says why on the error page and changes nothing. Non-members get the same
404 as for a plan that does not exist (no oracle).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from server.core.access import Role
from server.core.audit import client_address
from server.plans.lifecycle import delete_details, delete_plan_live, title_confirmed
from server.services import Services
from server.web.errors import Conflict, Forbidden, LoginRequired, NotFound
from server.web.security import CSRF_FIELD, csrf_valid
from server.web.session import current_user
from server.web.templating import render
from server.web.visit import is_uuid
from storage.models import Plan


@dataclass(frozen=True, slots=True)
class _Koordinator:
    user: Any
    plan: Plan
    form: Any


async def _koordinator(request: Request) -> _Koordinator:
    """The signed-in koordinator of the plan with a valid form; raises a PageError if not."""
    user = await current_user(request)
    plan_id = request.path_params["plan_id"]
    if user is None:
        raise LoginRequired(f"/plans/{plan_id}")
    services: Services = request.app.state.services
    form = await request.form()
    me = await services.plans.get_membership(plan_id, user.id) if is_uuid(plan_id) else None
    plan = await services.plans.get_plan(plan_id) if me else None
    if me is None or plan is None:
        raise NotFound()
    if not csrf_valid(request, services.secret_key, form.get(CSRF_FIELD)):
        raise Forbidden("lifecycle.error.expired_form")
    if me.role != Role.KOORDINATOR:
        raise Forbidden("lifecycle.error.not_koordinator")
    return _Koordinator(user, plan, form)


def _confirm_page(
    request: Request, who: _Koordinator, action: str, status: int = 200, error: str | None = None
) -> Response:
    plan = {"id": who.plan.id, "title": who.plan.title}
    context = {"plan": plan, "action": action, "error": error}
    return render(request, "plan_confirm.html", context, status_code=status, user=who.user)


def _audit(request: Request, who: _Koordinator, action: str, details: dict[str, Any]) -> None:
    services: Services = request.app.state.services
    services.audit.record(
        action,
        actor_user_id=who.user.id,
        role=Role.KOORDINATOR.value,
        plan_id=who.plan.id,
        client_address=client_address(request),
        details=details,
    )


async def close_submit(request: Request) -> Response:
    who = await _koordinator(request)
    if who.plan.status == "closed":
        raise Conflict("lifecycle.error.already_closed")
    if who.form.get("confirm") != "yes":
        return _confirm_page(request, who, "close")
    services: Services = request.app.state.services
    if not await services.plans.set_plan_status(who.plan.id, "closed"):
        raise Conflict("lifecycle.error.already_closed")
    # Writers become readers on their open sockets now; the watcher would within a second.
    await services.connections.recheck_plan(who.plan.id)
    _audit(request, who, "plan_close", {})
    return RedirectResponse(f"/plans/{who.plan.id}", status_code=303)


async def reopen_submit(request: Request) -> Response:
    who = await _koordinator(request)
    services: Services = request.app.state.services
    if not await services.plans.set_plan_status(who.plan.id, "active"):
        raise Conflict("lifecycle.error.not_closed")
    await services.connections.recheck_plan(who.plan.id)
    _audit(request, who, "plan_reopen", {})
    return RedirectResponse(f"/plans/{who.plan.id}", status_code=303)


async def delete_submit(request: Request) -> Response:
    who = await _koordinator(request)
    typed = str(who.form.get("confirm_title") or "")
    if not typed.strip():
        return _confirm_page(request, who, "delete", 400, "lifecycle.error.title_missing")
    if not title_confirmed(typed, who.plan.title):
        return _confirm_page(request, who, "delete", 400, "lifecycle.error.title_wrong")
    services: Services = request.app.state.services
    rows = await delete_plan_live(services, who.plan.id)
    if rows is None:  # deleted by someone else a moment ago
        raise NotFound()
    _audit(request, who, "plan_delete", delete_details(Role.KOORDINATOR.value, rows))
    return RedirectResponse("/plans?deleted=1", status_code=303)
