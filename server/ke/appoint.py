"""The KE appoints or changes a plan's koordinator (issue 14).

GET  /ke/{municipality_id}/plans/{plan_id}/koordinator   the plan's facts and the form
POST /ke/{municipality_id}/plans/{plan_id}/koordinator   to (a user id from the list of
                                                         coordinators), then: deltaker | leave

The KE picks from its list of coordinators only: anyone else is refused with a message and
nothing changes (MemberRepo.appoint checks the list in the appointment's own transaction).
The plan keeps one koordinator at every moment, by the handover's rule: the old one steps
down and the new one takes the role in one transaction.

What becomes of the old koordinator: a deltaker unless the KE says they leave. A deltaker
keeps what the plan already credits to them (their contribution, regulation element d, and
the measures naming them) and sees no more than any deltaker: only what the planeier's
consent lets them (DESIGN §3), nothing in a draft. The KE cannot see whether the old
koordinator still has a part in the plan, so it does not take that decision away from the
new koordinator, who can remove them in one step; when they have left the service, the KE
chooses "leave" and their access ends at once.

The KE administrator gets no membership and no content: the page shows what SQL holds (the
plan's short id and the person's initials (never its title: a title can hold health
data), draft or not, its koordinator and unit), never a zone. The appointment is an
access-log row on the plan, the members who may open the plan are notified, and the old
koordinator too (server.notify.notifier.koordinator_changed). Open sockets follow at once
(`recheck_plan`): a koordinator who left is shut out, one made deltaker reads by consent.
"""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from server.core.identity import dotted_initials
from server.ke.access import KeVisit
from server.ke.forms import form_number, ke_form, ke_page, ke_render
from server.ke.moves import moved_from
from server.web.errors import NotFound
from server.web.i18n import language_of, translator
from storage import errors as storage_errors
from storage.models import Plan, utcnow
from storage.repositories.members import NotACoordinator

PAGE = "plans"
THEN = ("deltaker", "leave")


async def koordinator_page(request: Request) -> Response:
    visit = await ke_page(request, "koordinator")
    plan = await visit.plan(request)
    return await _page(request, visit, plan)


async def _page(
    request: Request,
    visit: KeVisit,
    plan: Plan,
    *,
    error: str = "",
    values: dict[str, str] | None = None,
    status: int = 200,
) -> Response:
    repos = visit.services.repos
    members = await visit.services.plans.list_members_with_names(plan.id)
    current = next(((m.user_id, name) for m, name, _e in members if m.role == "koordinator"), None)
    people = await repos.coordinators.of(visit.municipality.id)
    units = await repos.municipalities.units(visit.municipality.id)
    arrival = (await repos.moves.arrivals(visit.municipality.id)).get(plan.id)
    context: dict[str, Any] = {
        "plan": {
            "id": plan.id,
            "short": plan.id[:8],
            "initials": dotted_initials(plan.person_name),
            "draft": plan.draft,
            "closed": plan.status == "closed",
            "unit": str(plan.unit_id or ""),
        },
        "koordinator": {"id": current[0], "name": current[1]} if current else None,
        "choices": [
            {"id": str(c.user_id), "name": c.name, "unit": c.unit_name}
            for c in people
            if current is None or c.user_id != current[0]
        ],
        "units": [{"id": str(u.id), "name": u.name} for u in units],
        "error": error,
        "values": values or {"to": "", "then": "deltaker"},
        "moved_in": arrival is not None,
        "moved_from": moved_from(arrival, translator(language_of(request))) if arrival else "",
    }
    return ke_render(request, visit, "ke_koordinator.html", PAGE, context, status=status)


async def koordinator_submit(request: Request) -> Response:
    visit, form = await ke_form(request)
    plan = await visit.plan(request)
    values = {"to": form.get("to", "").strip(), "then": form.get("then", "deltaker")}
    if values["then"] not in THEN:
        return await _page(request, visit, plan, error="ke.error.then", values=values, status=400)
    raw = values["to"]
    to_user_id = form_number(raw) or 0
    keep_role = None if values["then"] == "leave" else values["then"]
    services = visit.services
    try:
        done = await services.repos.members.appoint(
            plan.id, visit.municipality.id, to_user_id, keep_role
        )
    except NotACoordinator:
        error, status = "ke.error.notCoordinator", 400
    except storage_errors.NotFound:
        raise NotFound() from None
    except storage_errors.Conflict:
        error, status = "ke.error.appointTarget", 409
    else:
        error, status = "", 200
    if error:
        return await _page(request, visit, plan, error=error, values=values, status=status)
    await services.connections.recheck_plan(plan.id)
    # A plan moved here waits for this appointment (server/ke/moves.py): no longer flagged.
    settled = await services.repos.moves.settle(plan.id, visit.municipality.id)
    visit.audit(
        request,
        "koordinator_appoint",
        {
            "from_user_id": done.from_user_id,
            "to_user_id": done.to_user_id,
            "old_role": (done.old_role or "left") if done.from_user_id is not None else None,
            "new_previous_role": done.new_previous_role,
            **({"moved_in_settled": settled} if settled else {}),
        },
        plan_id=plan.id,
    )
    await services.notifier.koordinator_changed(
        plan.id,
        to_user_id=done.to_user_id,
        from_user_id=done.from_user_id,
        version=utcnow().isoformat(timespec="microseconds"),
    )
    address = f"/ke/{visit.municipality.id}/plans/{plan.id}/koordinator?done=appointed"
    return RedirectResponse(address, status_code=303)
