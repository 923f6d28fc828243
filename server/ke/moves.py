"""Moving a plan to another municipality when the person moves (issue 14).

GET  /ke/{municipality_id}/plans/{plan_id}/move   the form: where to, and the person's consent
POST /ke/{municipality_id}/plans/{plan_id}/move   to, giver, giver_name, method, given_on, confirm
GET  /ke/{municipality_id}/moves                  "Flyttede planer": what left this municipality

Started by the KE of the municipality the plan belongs to, with the person's consent to the
move recorded as `plan_consents` records the consent to the plan: who gave it (the planeier,
or the verge; under 16 only the verge, `server.plans.start.may_answer`), how (oral or
written: the KE records what it was told or shown) and on which day. Without it the move is
refused with the reason, and nothing changes.

The move itself (storage.repositories.moves.PlanMoveRepo.move) changes only the plan's
municipality and clears its unit: its zones, history, versions and access log stay on the
same plan id, untouched, and every member keeps their role, the koordinator too, until the
receiving KE appoints one (the overview flags it until then). From that moment the sending KE
gets the same 404 as for any plan that is not its own, and keeps its record in "Flyttede
planer": the short id and the person's initials (never the title), to where, when, by whom,
and the consent. Every step is an access-log row; the plan's members are told.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from server.core.access import may_give_consent
from server.core.clock import OSLO, today_oslo
from server.core.identity import dotted_initials
from server.ke.access import KeVisit
from server.ke.forms import form_number, ke_form, ke_page, ke_render
from server.ke.overview import forget
from server.web.errors import NotFound
from storage import errors as storage_errors
from storage.models import Plan
from storage.repositories.moves import MAX_NAME, Arrival, MoveConsent, MoveRecord

PAGE = "moves"
GIVERS = ("planeier", "verge")  # as plan_consents: the person, or the guardian
RECORDED_METHODS = ("oral", "written")  # what the KE records it was told or shown
FIELDS = ("to", "giver", "giver_name", "method", "given_on", "confirm")
CONSENT_FIELDS = ("giver", "method", "given_on")


@dataclass(frozen=True, slots=True)
class Giver:
    """Who may be recorded as having consented: the member in that role, or the name the
    plan holds (the person; the guardian named at the start)."""

    role: str
    name: str
    user_id: int | None


async def _givers(visit: KeVisit, plan: Plan) -> dict[str, Giver]:
    members = await visit.services.plans.list_members_with_names(plan.id)
    by_role = {m.role: (m.user_id, name) for m, name, _e in members if m.role in GIVERS}
    givers = {}
    for role, fallback in (("planeier", plan.person_name), ("verge", plan.guardian_name)):
        if role in by_role:
            givers[role] = Giver(role, by_role[role][1], by_role[role][0])
        elif fallback:
            givers[role] = Giver(role, fallback, None)
    return givers


async def _targets(visit: KeVisit) -> list[dict[str, str]]:
    """Every other municipality of the installation (the sending KE must name one)."""
    everyone = await visit.services.repos.municipalities.all()
    return [
        {"id": str(m.id), "name": m.name}
        for m in sorted(everyone, key=lambda m: m.name.casefold())
        if m.id != visit.municipality.id
    ]


async def move_page(request: Request) -> Response:
    visit = await ke_page(request, "move")
    plan = await visit.plan(request)
    return await _page(request, visit, plan)


async def _page(
    request: Request,
    visit: KeVisit,
    plan: Plan,
    *,
    errors: dict[str, str] | None = None,
    values: dict[str, str] | None = None,
    status: int = 200,
) -> Response:
    givers = await _givers(visit, plan)
    today = today_oslo()
    context: dict[str, Any] = {
        "plan": {
            "id": plan.id,
            "short": plan.id[:8],
            "initials": dotted_initials(plan.person_name),
            "closed": plan.status == "closed",
        },
        "targets": await _targets(visit),
        "givers": [
            {
                "role": g.role,
                "name": g.name,
                "allowed": may_give_consent(g.role, plan.person_birth_date, today),
            }
            for g in givers.values()
        ],
        "methods": RECORDED_METHODS,
        "errors": errors or {},
        "consent_missing": bool(errors) and any(f in (errors or {}) for f in CONSENT_FIELDS),
        "values": values or {f: "" for f in FIELDS},
    }
    return ke_render(request, visit, "ke_move.html", "plans", context, status=status)


def parse_date(text: str) -> date | None:
    """dd.mm.åååå (what the form asks for) or YYYY-MM-DD; None when it is neither."""
    for pattern in ("%d.%m.%Y", "%Y-%m-%d"):
        try:
            return datetime.strptime(text.strip(), pattern).date()
        except ValueError:
            continue
    return None


def _check(
    form: dict[str, str], plan: Plan, givers: dict[str, Giver], targets: set[int], today: date
) -> tuple[dict[str, str], MoveConsent | None, int]:
    """Every problem at once ({field: i18n key}), or the consent and the receiving id."""
    errors: dict[str, str] = {}
    to = form_number(form.get("to", "")) or 0
    if to not in targets:
        errors["to"] = "ke.move.error.to"
    giver = givers.get(form.get("giver", ""))
    if giver is None:
        errors["giver"] = "ke.move.error.giver"
    elif not may_give_consent(giver.role, plan.person_birth_date, today):
        errors["giver"] = "planConsent.error.under16"
    name = " ".join(form.get("giver_name", "").split()) or (giver.name if giver else "")
    if len(name) > MAX_NAME:
        errors["giver_name"] = "start.error.tooLong"
    method = form.get("method", "")
    if method not in RECORDED_METHODS:
        errors["method"] = "ke.move.error.method"
    given_on = parse_date(form.get("given_on", ""))
    if given_on is None:
        errors["given_on"] = "ke.move.error.date"
    elif given_on > today:
        errors["given_on"] = "planConsent.error.future"
    if form.get("confirm") != "yes":
        errors["confirm"] = "ke.move.error.confirm"
    if errors or giver is None or given_on is None:
        return errors, None, 0
    user_id = giver.user_id if name == giver.name else None
    return {}, MoveConsent(giver.role, name, method, given_on, user_id), to


async def move_submit(request: Request) -> Response:
    visit, form = await ke_form(request)
    plan = await visit.plan(request)
    values = {f: form.get(f, "").strip() for f in FIELDS}
    services = visit.services
    targets = {int(t["id"]) for t in await _targets(visit)}
    givers = await _givers(visit, plan)
    errors, consent, to = _check(form, plan, givers, targets, today_oslo())
    if plan.status == "closed":
        errors = {"to": "ke.move.error.closed"}
    if errors or consent is None:
        visit.audit(request, "plan_move_refused", {"fields": sorted(errors)}, plan_id=plan.id)
        return await _page(request, visit, plan, errors=errors, values=values, status=400)
    try:
        move = await services.repos.moves.move(
            plan.id,
            visit.municipality.id,
            to,
            consent,
            initials=dotted_initials(plan.person_name),
            recorded_by=visit.user.id,
        )
    except storage_errors.NotFound:
        raise NotFound() from None
    except (storage_errors.InvalidValue, storage_errors.Conflict):
        errors = {"to": "ke.move.error.to"}
        visit.audit(request, "plan_move_refused", {"fields": ["to"]}, plan_id=plan.id)
        return await _page(request, visit, plan, errors=errors, values=values, status=409)
    forget(services, visit.municipality.id)
    forget(services, to)
    visit.audit(
        request,
        "plan_move",
        {
            "move_id": move.id,
            "to_municipality_id": to,
            "consent_giver": consent.giver,
            "consent_method": consent.method,
            "consent_given_on": consent.given_on.isoformat(),
            "unit_cleared": plan.unit_id is not None,
        },
        plan_id=plan.id,
    )
    await services.notifier.plan_moved(plan.id, move.id)
    return RedirectResponse(f"/ke/{visit.municipality.id}/moves?done=planMoved", status_code=303)


def moved_from(arrival: Arrival, t: Callable[[str], str]) -> str:
    """ "Flyttet inn fra Trondheim kommune 06.12.2026": where the receiving KE's plan came
    from (the sending municipality's name, never anything of the plan), beside the flag."""
    day = arrival.moved_at.astimezone(OSLO).strftime("%d.%m.%Y")
    return t("ke.move.movedFrom").replace("{from}", arrival.from_name).replace("{date}", day)


def _row(m: MoveRecord) -> dict[str, Any]:
    return {
        "plan": m.plan_id[:8],
        "plan_id": m.plan_id,
        "initials": m.initials,
        "kind": m.kind,
        "to": m.to_name,
        "when": m.moved_at.astimezone(OSLO).strftime("%d.%m.%Y %H:%M"),
        "by": m.recorded_by or "",
        "giver": m.consent_giver,
        "giver_name": m.consent_giver_name,
        "method": m.consent_method,
        "given_on": m.consent_given_on.strftime("%d.%m.%Y"),
    }


async def moves_page(request: Request) -> Response:
    """The municipality's logged record of the plans that moved away."""
    visit = await ke_page(request, "moves")
    moves = await visit.services.repos.moves.moved_out(visit.municipality.id)
    context = {"moves": [_row(m) for m in moves]}
    return ke_render(request, visit, "ke_moves.html", PAGE, context)
