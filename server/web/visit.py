"""Who is asking about a plan: the one check every plan page and form makes first.

A plan that does not exist, that the user is not in, or that a deltaker or leser may not
see yet for want of consent all get the same 404 (no oracle on which). Pages then refuse
by role by raising `server.web.errors.Forbidden` (403 and a sentence saying why).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import date
from typing import Any

from starlette.requests import Request

from crdt.schema import zone_name
from server.core.access import effective_access, sees_plan
from server.core.audit import client_address
from server.core.clock import today_oslo
from server.services import Services
from server.web.errors import LoginRequired, NotFound
from server.web.session import current_user
from storage.models import Plan
from storage.repositories.consents import MemberAccess


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

    @property
    def closed(self) -> bool:
        """A closed plan is read-only for everyone (issue 4): the server changes nothing in
        it either, until the koordinator reopens it."""
        return self.plan.status == "closed"

    def audit(
        self,
        request: Request,
        action: str,
        *,
        zone: str | None = None,
        details: dict[str, Any] | None = None,
    ) -> None:
        """Record what this member did in the access log (ids and counts, never content)."""
        self.services.audit.record(
            action,
            actor_user_id=self.user.id,
            role=self.member.role,
            plan_id=self.plan.id,
            zone=zone,
            client_address=client_address(request),
            details=details or {},
        )

    def access(self, kind: str, key: str) -> str | None:
        """'rw', 'r' or None for one zone (role table, then consent scope)."""
        return effective_access(
            self.member.role,
            kind,
            zone_name(kind, key),
            self.member.consent,
            self.today,
            closed=self.plan.status == "closed",
        )


async def visit(request: Request) -> PlanVisit:
    """The member behind the request. Raises LoginRequired when nobody is signed in, and
    NotFound for a plan they may not see."""
    user = await current_user(request)
    if user is None:
        raise LoginRequired()
    services: Services = request.app.state.services
    plan_id = request.path_params["plan_id"]
    member = await services.consents.member_access(plan_id, user.id) if is_uuid(plan_id) else None
    plan = await services.plans.get_plan(plan_id) if member else None
    today = today_oslo()
    if plan is None or member is None or not sees_plan(member, today):
        raise NotFound()
    return PlanVisit(services, user, plan, member, today)


def is_uuid(value: str) -> bool:
    """A plan id as the URL must spell it (canonical lower-case UUID); anything else is a 404
    before the database is asked."""
    try:
        return str(uuid.UUID(value)) == value
    except ValueError:
        return False
