"""The HTML pages: "Mine planer" and the plan page. Membership is checked on every request:
a user who changes an id in the URL gets the same 404 as for a plan that does not exist."""

from __future__ import annotations

import json
from typing import Any

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from server.access import zone_access
from server.audit import client_address
from server.auth.web import current_user
from server.i18n import language_of, translator
from server.identity import colour_for, identity_of, initials
from server.overview import indicators, today_in_oslo
from server.services import Services
from server.templating import render

ZONE_ORDER = {"content": 0, "area": 1, "comments": 2, "minutes": 3}


def _login_redirect(request: Request) -> Response:
    return RedirectResponse(f"/login?next={request.url.path}", status_code=303)


def not_found(request: Request, user: Any) -> Response:
    t = translator(language_of(request))
    context = {"status": 404, "message": t("error.not_found")}
    return render(request, "error.html", context, status_code=404, user=user)


async def home(request: Request) -> Response:
    user = await current_user(request)
    return RedirectResponse("/plans" if user else "/login", status_code=303)


async def my_plans(request: Request) -> Response:
    user = await current_user(request)
    if user is None:
        return _login_redirect(request)
    services: Services = request.app.state.services
    present = services.connections.present_by_plan()
    summaries = await services.summaries.for_user(user.id)
    today = today_in_oslo()
    plans = [
        {
            "id": plan.id,
            "title": plan.title,
            "person_name": plan.person_name,
            "role": role,
            "koordinator_name": koordinator,
            "consent_given": False,  # consent is recorded by the consent issue
            **indicators(summaries.get(plan.id, []), today),
            "present_now": present.get(plan.id, []),
            "unread": 0,  # messages and notifications are the minutes issue's
        }
        for plan, role, koordinator in await services.plans.overview_for_user(user.id)
    ]
    return render(request, "plans.html", {"plans": plans}, user=user)


async def plan_page(request: Request) -> Response:
    user = await current_user(request)
    if user is None:
        return _login_redirect(request)
    services: Services = request.app.state.services
    plan_id = request.path_params["plan_id"]
    member = await services.plans.get_membership(plan_id, user.id) if _is_uuid(plan_id) else None
    plan = await services.plans.get_plan(plan_id) if member else None
    if plan is None or member is None:
        return not_found(request, user)
    services.audit.record(
        "plan_view",
        actor_user_id=user.id,
        role=member.role,
        plan_id=plan.id,
        client_address=client_address(request),
    )
    zones = []
    for zone in sorted(
        await services.plans.list_zones(plan.id), key=lambda z: (ZONE_ORDER[z.kind], z.position)
    ):
        access = zone_access(member.role, zone.kind)
        if access is not None:
            room = f"plan/{plan.id}/{zone.kind}" + (f"/{zone.key}" if zone.key else "")
            zones.append(
                {
                    "room": room,
                    "kind": zone.kind,
                    "key": zone.key,
                    "title": zone.title,
                    "access": access,
                }
            )
    members = [
        {
            "id": m.user_id,
            "name": name,
            "role": m.role,
            "unit": m.unit,
            "contribution": m.contribution,
            "initials": initials(name),
            "color": colour_for(m.user_id),
        }
        for m, name in await services.plans.list_members_with_names(plan.id)
    ]
    me = identity_of(user.id, user.name, member.role)
    app_data = {
        "planId": plan.id,
        "lang": language_of(request),
        "me": me,
        "zones": zones,
        "members": members,
        "ownDevice": request.cookies.get("samplan_own_device") == "1",
    }
    context = {
        "plan": {
            "id": plan.id,
            "title": plan.title,
            "person_name": plan.person_name,
            "status": plan.status,
        },
        "me": me,
        "members": members,
        "app_data": json.dumps(app_data, ensure_ascii=False),
    }
    return render(request, "plan.html", context, user=user)


def _is_uuid(value: str) -> bool:
    import uuid

    try:
        return str(uuid.UUID(value)) == value
    except ValueError:
        return False
