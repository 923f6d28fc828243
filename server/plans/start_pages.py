"""Starting a plan from the browser and shaping its life areas (issue 12).

GET/POST /plans/new: the "Ny plan" form (who may: server.plans.start / PlanStartRepo
.may_start_plans). POST /plans/{id}/plan-consent: the consent to the plan being made, given
in the browser by the planeier or verge, or recorded by the koordinator (oral or written).
POST /plans/{id}/areas and /plans/{id}/areas/{key}: the koordinator adds, renames, moves and
retires life areas; every open page of the plan hears `areas_changed` on /events and asks
GET /plans/{id}/areas for what it may see. Every refusal changes nothing.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from pycrdt import Doc, Map
from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response

from crdt.protocol import CloseCode
from crdt.schema import ABOUT_ME, CONTENT, META, NEEDS, RESOURCES, zone_name
from server.core.access import Role, consent_rule, may_give_consent
from server.core.audit import client_address
from server.core.clock import today_oslo
from server.plans.start import (
    SUGGESTED_AREAS,
    AreaExtra,
    PlanStart,
    StartError,
    StartErrors,
    area_key,
    check_area_title,
    create_plan,
    parse_recorded_consent,
    parse_start,
)
from server.services import Services
from server.web.errors import BadRequest, Conflict, Forbidden, LoginRequired, NotFound
from server.web.i18n import language_of, translator
from server.web.security import CSRF_FIELD, csrf_valid
from server.web.session import current_user
from server.web.templating import render
from server.web.visit import PlanVisit, visit
from storage.errors import Conflict as StorageConflict
from storage.errors import NotFound as StorageNotFound
from storage.models import Municipality
from storage.repositories.templates import TemplateRecord

_FIELDS = (
    "title",
    "person_name",
    "birth_date",
    "period_start",
    "period_end",
    "next_revision",
    "guardian_name",
    "guardian_email",
    "extra_areas",
    "koordinator",
    "municipality",
    "template",
)


def _suggested(
    request: Request, form: Any | None, template: TemplateRecord | None = None
) -> list[dict[str, Any]]:
    """The life areas the form offers: the chosen template's (each checked at first, with its
    hint and the template area's id in `src`), or the suggested ones (none checked)."""
    if template is not None:
        return _template_rows(form, template)
    t = translator(language_of(request))
    rows = []
    for i, name in enumerate(SUGGESTED_AREAS):
        default = t(f"start.area.{name}")
        if form is None:
            rows.append({"i": i, "title": default, "checked": False})
        else:
            rows.append(
                {
                    "i": i,
                    "title": str(form.get(f"area_title_{i}") or ""),
                    "checked": str(i) in form.getlist("area"),
                }
            )
    return rows


def _template_rows(form: Any | None, template: TemplateRecord) -> list[dict[str, Any]]:
    rows = []
    for i, area in enumerate(template.areas):
        row = {"i": i, "src": str(area.id), "hint": area.hint, "subheadings": area.subheadings}
        if form is None:
            rows.append({**row, "title": area.name, "checked": True})
        else:
            title = str(form.get(f"area_title_{i}") or "")
            rows.append({**row, "title": title, "checked": str(i) in form.getlist("area")})
    return rows


def _chosen_areas(
    form: Any, rows: list[dict[str, Any]], template: TemplateRecord | None
) -> tuple[list[str], list[AreaExtra] | None]:
    """The areas ticked and typed, each with its (hint, sub-headings) when it comes from the
    template (found by the template area's id, so a template changed meanwhile still pairs
    each row with its own area, or with nothing), then the extra lines typed. No template:
    no extras (None)."""
    by_id = {str(a.id): a for a in template.areas} if template is not None else {}
    titles: list[str] = []
    extras: list[AreaExtra] = []
    for row in rows:
        if not row["checked"]:
            continue
        titles.append(row["title"])
        area = by_id.get(str(form.get(f"area_src_{row['i']}") or ""))
        extras.append((area.hint, area.subheadings) if area is not None else ("", ()))
    for line in str(form.get("extra_areas") or "").splitlines():
        if line.strip():
            titles.append(line)
            extras.append(("", ()))
    return titles, (extras if template is not None else None)


def _with_template(start: PlanStart, template: TemplateRecord | None) -> PlanStart:
    if template is None:
        return start
    sections = (
        (ABOUT_ME, template.about_me),
        (RESOURCES, template.resources),
        (NEEDS, template.needs),
    )
    return replace(start, sections=sections)


async def _offered_templates(
    services: Services, places: list[Municipality]
) -> list[TemplateRecord]:
    """The templates of the municipalities whose lists hold the user, in the KE's order."""
    found: list[TemplateRecord] = []
    for place in places:
        found += await services.repos.templates.of(place.id)
    return found


def _chosen_template(raw: str, templates: list[TemplateRecord]) -> TemplateRecord | None:
    return next((t for t in templates if str(t.id) == raw.strip()), None)


async def new_plan(request: Request) -> Response:
    user = await current_user(request)
    if user is None:
        raise LoginRequired("/plans/new")
    services: Services = request.app.state.services
    if not await services.repos.plan_start.may_start_plans(user.id):
        raise Forbidden("start.error.notAllowed")
    # Someone on a KE's list of coordinators (issue 14) starts plans in that municipality,
    # for themselves or a colleague on the same list; an installation without a KE keeps
    # the operator's marks (`samplan user mark-coordinator`) and one default municipality.
    places = await services.repos.coordinators.municipalities_of(user.id)
    colleagues = await _colleagues(services, user.id, [m.id for m in places])
    templates = await _offered_templates(services, places)
    if request.method == "GET":
        values = {name: "" for name in _FIELDS}
        chosen = request.query_params.get("mal", "").strip()
        template = _chosen_template(chosen, templates) if chosen else None
        if chosen and template is None:
            raise NotFound()  # another municipality's template, or none: no oracle
        if template is not None:
            values["template"] = str(template.id)
            if len(places) > 1:
                values["municipality"] = str(template.municipality_id)
        suggested = _suggested(request, None, template)
        return _form(request, user, values, suggested, {}, colleagues, places, templates)
    form = await request.form()
    if not csrf_valid(request, services.secret_key, form.get(CSRF_FIELD)):
        raise Forbidden("start.error.expiredForm")
    values = {name: str(form.get(name) or "") for name in _FIELDS}
    extra: dict[str, str] = {}
    template = _chosen_template(values["template"], templates)
    if values["template"].strip() and template is None:
        extra["template"] = "start.error.template"
    suggested = _suggested(request, form, template)
    areas, extras = _chosen_areas(form, suggested, template)
    koordinator = _chosen_koordinator(values["koordinator"], user.id, colleagues)
    place = _chosen_place(values["municipality"], places)
    if places and place is None:
        extra["municipality"] = "start.error.municipality"
    elif template is not None and place is not None and template.municipality_id != place.id:
        extra["template"] = "start.error.templatePlace"
    elif place is not None and koordinator is not None and koordinator != user.id:
        if not await services.repos.coordinators.listed(place.id, koordinator):
            koordinator = None
    if koordinator is None:
        extra["koordinator"] = "start.error.koordinator"
    try:
        start = parse_start(form, areas, today_oslo(), extras)
        if extra:
            raise StartErrors(extra)
    except StartErrors as exc:
        errors = {**exc.errors, **extra}
        return _form(
            request, user, values, suggested, errors, colleagues, places, templates, status=400
        )
    assert koordinator is not None
    start = _with_template(start, template)
    if place is not None:
        start = replace(start, municipality=place.name)
    plan = await create_plan(
        services.repos,
        start,
        koordinator_user_id=koordinator,
        draft=True,
        actor_user_id=user.id,
        client_address=client_address(request),
    )
    if koordinator != user.id:
        return RedirectResponse("/plans?started=1", status_code=303)
    return RedirectResponse(f"/plans/{plan.id}", status_code=303)


async def _colleagues(
    services: Services, user_id: int, municipality_ids: list[int]
) -> list[tuple[int, str]]:
    """Who else the plan may be started for: the coordinators on the user's municipalities'
    lists, or (no list holds the user) everyone who may start plans, as before the KE."""
    if not municipality_ids:
        everyone = await services.repos.plan_start.coordinators()
        return [c for c in everyone if c[0] != user_id]
    found: dict[int, str] = {}
    for municipality_id in municipality_ids:
        for c in await services.repos.coordinators.of(municipality_id):
            if c.user_id != user_id:
                found.setdefault(c.user_id, c.name)
    return sorted(found.items(), key=lambda item: (item[1], item[0]))


def _chosen_place(chosen: str, places: list[Municipality]) -> Municipality | None:
    """The municipality the plan goes to: the one list that holds the user, or the one they
    picked when several do (a crafted id is no choice)."""
    if len(places) == 1:
        return places[0]
    return next((m for m in places if str(m.id) == chosen.strip()), None)


def _chosen_koordinator(chosen: str, user_id: int, colleagues: list[tuple[int, str]]) -> int | None:
    """The koordinator picked on the form: empty is oneself; anyone else must be one of the
    colleagues offered (a crafted id gets a message, and nothing is created)."""
    if not chosen.strip():
        return user_id
    return next((uid for uid, _ in colleagues if str(uid) == chosen.strip()), None)


def _form(
    request: Request,
    user: Any,
    values: dict[str, str],
    suggested: list[dict[str, Any]],
    errors: dict[str, str],
    colleagues: list[tuple[int, str]],
    places: list[Municipality],
    templates: list[TemplateRecord],
    status: int = 200,
) -> Response:
    names = {m.id: m.name for m in places}
    context = {
        "values": values,
        "suggested": suggested,
        "errors": errors,
        "templates": [
            {
                "id": str(t.id),
                "name": f"{t.name} ({names[t.municipality_id]})" if len(places) > 1 else t.name,
            }
            for t in templates
        ],
        "template_action": "/plans/new",
        "colleagues": [{"id": str(uid), "name": name} for uid, name in colleagues],
        "places": [{"id": str(m.id), "name": m.name} for m in places] if len(places) > 1 else [],
    }
    return render(request, "plan_new.html", context, status_code=status, user=user)


# -- the KE's way in (issue 14): the same form and the same create_plan -------------------------


def area_rows(
    request: Request, form: Any | None, template: TemplateRecord | None = None
) -> list[dict[str, Any]]:
    """The life areas the form offers, as typed, or the template's (the KE's start page
    renders the same fields: client/templates/_plan_start_fields.html)."""
    return _suggested(request, form, template)


async def start_from_form(
    request: Request,
    form: Any,
    *,
    municipality: str,
    koordinator_user_id: int | None,
    actor_user_id: int,
    actor_role: str,
    errors: dict[str, str],
    template: TemplateRecord | None = None,
) -> tuple[str | None, dict[str, str]]:
    """Check the "Ny plan" fields of `form` (parse_start, every problem at once, merged with
    the caller's own `errors`) and create the plan in `municipality` with its koordinator:
    (plan id, {}) or (None, {field: i18n key}) with nothing created. The one who starts it
    gets no role in it unless they are its koordinator."""
    services: Services = request.app.state.services
    suggested = _suggested(request, form, template)
    areas, extras = _chosen_areas(form, suggested, template)
    try:
        start = parse_start(form, areas, today_oslo(), extras)
    except StartErrors as exc:
        return None, {**exc.errors, **errors}
    if errors or koordinator_user_id is None:
        return None, errors or {"koordinator": "start.error.koordinator"}
    plan = await create_plan(
        services.repos,
        replace(_with_template(start, template), municipality=municipality),
        koordinator_user_id=koordinator_user_id,
        draft=True,
        actor_user_id=actor_user_id,
        actor_role=actor_role,
        client_address=client_address(request),
    )
    return plan.id, {}


# -- the consent to the plan being made ----------------------------------------------------


async def plan_consent_submit(request: Request) -> Response:
    """The koordinator records an oral or written answer; the planeier or verge answers in
    the browser. Only while the plan is a draft: its answer is what ends the draft."""
    v = await _checked(request)
    form = v.form
    services, plan, today = v.visit.services, v.visit.plan, v.visit.today
    role = v.visit.role
    if role not in (Role.KOORDINATOR, Role.PLANEIER, Role.VERGE):
        raise Forbidden("planConsent.error.notAllowed")
    if not plan.draft:
        raise Conflict("planConsent.error.notDraft")
    if role == Role.KOORDINATOR:
        try:
            answer = parse_recorded_consent(form, plan, today)
        except StartErrors as exc:
            raise BadRequest(next(iter(exc.errors.values()))) from None
        status, giver, name = answer.status, answer.giver, answer.giver_name
        method, given_on, giver_user = answer.method, answer.given_on, None
    elif role in (Role.PLANEIER, Role.VERGE):
        if not may_give_consent(role, plan.person_birth_date, today):
            raise Forbidden("planConsent.error.under16")
        status = str(form.get("status") or "")
        if status not in ("given", "refused"):
            raise BadRequest("planConsent.error.status")
        giver, name, method = role, v.visit.user.name, "browser"
        given_on, giver_user = today, v.visit.user.id
    else:
        raise Forbidden("planConsent.error.notAllowed")
    await services.repos.plan_start.record_consent(
        plan.id,
        status=status,
        giver=giver,
        giver_name=name,
        giver_user_id=giver_user,
        method=method,
        given_on=given_on,
        recorded_by=v.visit.user.id,
    )
    await services.connections.recheck_plan(plan.id)
    if status == "given":
        await _mark_active(services, plan.id, v.visit.user.id)
    v.visit.audit(
        request,
        f"plan_consent_{'give' if status == 'given' else 'refuse'}",
        details={"giver": giver, "method": method, "rule": consent_rule(plan.person_birth_date)},
    )
    return RedirectResponse(f"/plans/{plan.id}#plan-start-consent", status_code=303)


async def _mark_active(services: Services, plan_id: str, actor: int) -> None:
    """The content zone's `meta.status` follows ("utkast" -> "aktiv"), written through the
    room's durable path for the one who recorded the consent; a status someone already
    changed by hand is left alone."""
    zone = await services.plans.get_zone(plan_id, CONTENT, "")
    if zone is None:
        return

    def change(doc: Doc[Any]) -> None:
        meta = doc.get(META, type=Map)
        if meta.get("status") == "utkast":
            meta["status"] = "aktiv"

    await services.registry.edit(zone.id, change, CONTENT, actor=actor)


# -- life areas ------------------------------------------------------------------------------


class _Checked:
    def __init__(self, visit_: PlanVisit, form: Any) -> None:
        self.visit = visit_
        self.form = form


async def _checked(request: Request) -> _Checked:
    v = await visit(request)
    form = await request.form()
    if not csrf_valid(request, v.services.secret_key, form.get(CSRF_FIELD)):
        raise Forbidden("start.error.expiredForm")
    return _Checked(v, form)


async def _koordinator(request: Request) -> _Checked:
    c = await _checked(request)
    if c.visit.role != Role.KOORDINATOR:
        raise Forbidden("areas.error.notKoordinator")
    if c.visit.closed:
        raise Conflict("areas.error.closed")
    return c


async def _announce(services: Services, plan_id: str) -> None:
    """Every member's open pages refresh their areas (ids only on /events)."""
    members = await services.plans.list_members(plan_id)
    services.events.publish(
        [m.user_id for m in members], {"type": "areas_changed", "plan": plan_id}
    )


async def area_add(request: Request) -> Response:
    c = await _koordinator(request)
    services, plan = c.visit.services, c.visit.plan
    try:
        title = check_area_title(str(c.form.get("title") or ""))
    except StartError as exc:
        raise BadRequest(exc.key) from None
    zones = await services.plans.list_zones(plan.id)
    if any(z.kind == "area" and z.title.casefold() == title.casefold() for z in zones):
        raise BadRequest("start.error.areaTwice")
    key = area_key(title, await services.repos.plan_start.area_keys(plan.id))
    await services.repos.plan_start.add_area(plan.id, key, title)
    c.visit.audit(request, "area_add", zone=zone_name("area", key), details={"key": key})
    await _announce(services, plan.id)
    return RedirectResponse(f"/plans/{plan.id}#plan-areas", status_code=303)


AREA_ACTIONS = ("rename", "up", "down", "retire")


async def area_change(request: Request) -> Response:
    c = await _koordinator(request)
    services, plan = c.visit.services, c.visit.plan
    key = request.path_params["key"]
    action = str(c.form.get("action") or "")
    if action not in AREA_ACTIONS:
        raise BadRequest("areas.error.action")
    repo = services.repos.plan_start
    zone = zone_name("area", key)
    try:
        if action == "rename":
            try:
                title = check_area_title(str(c.form.get("title") or ""))
            except StartError as exc:
                raise BadRequest(exc.key) from None
            await repo.rename_area(plan.id, key, title)
            details: dict[str, Any] = {"key": key}
        elif action in ("up", "down"):
            moved = await repo.move_area(plan.id, key, -1 if action == "up" else 1)
            if not moved:
                raise BadRequest("areas.error.cannotMove")
            details = {"key": key, "direction": action}
        else:
            await repo.retire_area(plan.id, key)
            details = {"key": key}
            # Open sockets on the area become read-only readers: close them, so the page
            # reopens (as a reader) or drops the area when it refreshes.
            for conn in services.connections.of_plan(plan.id):
                if conn.zone == zone:
                    conn.peer.close(CloseCode.FORBIDDEN, "area retired")
                    services.connections.discard(conn)
    except StorageNotFound:
        raise BadRequest("areas.error.unknown") from None
    except StorageConflict:
        raise Conflict("areas.error.retired") from None
    c.visit.audit(
        request,
        f"area_{action if action in ('rename', 'retire') else 'move'}",
        zone=zone,
        details=details,
    )
    await _announce(services, plan.id)
    return RedirectResponse(f"/plans/{plan.id}#plan-areas", status_code=303)


async def areas_json(request: Request) -> Response:
    """The areas this member may open, in order, for a page refreshing after
    `areas_changed`; retired areas are left out (no longer offered for editing)."""
    v = await visit(request)
    zones = await v.services.plans.list_zones(v.plan.id)
    areas = []
    for zone in zones:
        if zone.kind != "area" or zone.retired_at is not None:
            continue
        access = v.access(zone.kind, zone.key)
        if access is None:
            continue
        areas.append(
            {
                "room": f"plan/{v.plan.id}/{zone_name(zone.kind, zone.key)}",
                "kind": zone.kind,
                "key": zone.key,
                "title": zone.title,
                "hint": zone.hint or "",
                "access": access,
            }
        )
    return JSONResponse({"areas": areas}, headers={"Cache-Control": "no-store"})


async def areas_section(v: PlanVisit) -> dict[str, Any]:
    """The plan page's Livsområder section: the areas in order, retired last. An area's
    title is the plan's content too: a deltaker or leser is shown only the areas their
    consent lets them open (the koordinator, planeier and verge see them all)."""
    zones = [
        z
        for z in await v.services.plans.list_zones(v.plan.id)
        if z.kind == "area" and v.access(z.kind, z.key) is not None
    ]
    live = [z for z in zones if z.retired_at is None]
    retired = [z for z in zones if z.retired_at is not None]
    return {
        "may_edit": v.role == Role.KOORDINATOR and not v.closed,
        "live": [{"key": z.key, "title": z.title} for z in live],
        "retired": [{"key": z.key, "title": z.title} for z in retired],
    }


async def start_consent_section(v: PlanVisit) -> dict[str, Any]:
    """The consent to the plan being made: history, and who may answer now."""
    plan = v.plan
    rows = await v.services.repos.plan_start.consents(plan.id)
    current = rows[-1] if rows else None
    owner = v.role in (Role.PLANEIER, Role.VERGE)
    return {
        "draft": plan.draft,
        "current": current.status if current else None,
        "rows": [
            {
                "status": r.status,
                "giver": r.giver,
                "giver_name": r.giver_name,
                "method": r.method,
                "given_on": r.given_on.strftime("%d.%m.%Y"),
            }
            for r in reversed(rows)
        ],
        "may_record": plan.draft and v.role == Role.KOORDINATOR,
        "may_answer": plan.draft
        and owner
        and may_give_consent(v.role, plan.person_birth_date, v.today),
        "under_16": consent_rule(plan.person_birth_date, v.today).value == "under_16",
        "person_name": plan.person_name,
        "guardian_name": plan.guardian_name or "",
        "guardian_email": plan.guardian_email or "",
        "today": v.today.strftime("%d.%m.%Y"),
    }
