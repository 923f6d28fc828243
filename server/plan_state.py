"""Who is asking about a plan, and what its zones hold right now: shared by the publishing
and version pages (server/published.py, server/plan_versions.py).

A zone is read from its live room when one is loaded (after `settle()`, so nothing is read
that is not yet durable), else from storage (snapshot plus tail), without loading a room.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import date
from typing import Any

from pycrdt import Doc
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from crdt.schema import read_zone
from server.access import effective_access, needs_consent, today_oslo
from server.auth.web import current_user
from server.i18n import language_of, translator
from server.room_path import is_uuid
from server.services import Services
from server.templating import render
from storage.models import Plan, Zone
from storage.repositories.consents import MemberAccess
from storage.repositories.versions import ZoneCopy

# The zones a plan version copies and a restore writes: what the plan says. Comments have
# their own thread, minutes their own published versions.
VERSIONED_KINDS = ("content", "area")


def suffix_of(kind: str, key: str) -> str:
    return kind + (f"/{key}" if key else "")


@dataclass
class PlanVisit:
    """A logged-in member who may open the plan (consent included), for one request."""

    services: Services
    user: Any
    plan: Plan
    member: MemberAccess
    today: date

    @property
    def role(self) -> str:
        return self.member.role

    def access(self, kind: str, key: str) -> str | None:
        """'rw', 'r' or None for one zone (role table, then consent scope)."""
        return effective_access(
            self.member.role, kind, suffix_of(kind, key), self.member.consent, self.today
        )


async def visit(request: Request) -> PlanVisit | Response:
    """The member behind the request, or the response to send instead: a log-in redirect,
    or the same 404 for a plan that does not exist, that the user is not in, or that they
    may not see yet for want of consent (no oracle on which)."""
    user = await current_user(request)
    if user is None:
        return RedirectResponse(f"/login?next={request.url.path}", status_code=303)
    services: Services = request.app.state.services
    plan_id = request.path_params["plan_id"]
    member = await services.consents.member_access(plan_id, user.id) if is_uuid(plan_id) else None
    plan = await services.plans.get_plan(plan_id) if member else None
    if plan is None or member is None:
        return error_page(request, user, 404, "error.not_found")
    today = today_oslo()
    if needs_consent(member.role) and not (member.consent and member.consent.active_on(today)):
        return error_page(request, user, 404, "error.not_found")
    return PlanVisit(services, user, plan, member, today)


def error_page(request: Request, user: Any, status: int, key: str) -> Response:
    """A clear message (role="alert" in error.html) with the right status; nothing changed."""
    t = translator(language_of(request))
    context = {"status": status, "message": t(key)}
    return render(request, "error.html", context, status_code=status, user=user)


async def zone_doc(services: Services, zone: Zone) -> Doc[Any]:
    """A private copy of the zone's current, durable state."""
    doc: Doc[Any] = Doc()
    room = services.registry.rooms.get(zone.id)
    if room is not None and not room.failed:
        await room.settle()
        doc.apply_update(room.doc.get_update())
        return doc
    stored = await services.repos.zone_log.load(zone.id)
    if stored.snapshot:
        doc.apply_update(stored.snapshot)
    for _, update in stored.updates:
        doc.apply_update(update)
    return doc


async def zone_copies(services: Services, plan_id: str) -> list[ZoneCopy]:
    """Full-state copies of the plan's versioned zones, as a version stores them."""
    copies = []
    for zone in await services.plans.list_zones(plan_id):
        if zone.kind not in VERSIONED_KINDS:
            continue
        doc = await zone_doc(services, zone)
        data = json.dumps(read_zone(doc, zone.kind), ensure_ascii=False)
        copies.append(ZoneCopy(zone.kind, zone.key, zone.title, doc.get_update(), data))
    return copies
