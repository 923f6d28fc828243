"""Who may use a KE route: the administrators of that municipality's koordinerende enhet.

The answers differ on purpose: someone who administers no KE at all gets 403 (and an
access-log row: a plan member probing KE routes is worth a look), while the administrator of
another municipality gets the same 404 as a municipality that does not exist, so nothing says
whether B exists or what it holds.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, NoReturn

from starlette.requests import Request

from server.core.audit import client_address
from server.services import Services
from server.web.errors import Forbidden, LoginRequired, NotFound
from server.web.session import current_user
from storage.models import Municipality, Plan

KE_ROLE = "ke_admin"  # the `role` of a KE administrator's access-log rows


@dataclass(frozen=True, slots=True)
class KeVisit:
    """A KE administrator on one of their municipality's KE routes."""

    services: Services
    user: Any
    municipality: Municipality

    async def plan(self, request: Request) -> Plan:
        """The route's plan (`plan_id`), when it is one of this municipality's; another's, a
        moved one or none at all is the same 404, so nothing tells them apart."""
        found = await self.services.repos.municipalities.plan_in(
            self.municipality.id, request.path_params["plan_id"]
        )
        if found is None:
            raise NotFound()
        return found

    def audit(
        self,
        request: Request,
        action: str,
        details: dict[str, Any] | None = None,
        *,
        plan_id: str | None = None,
    ) -> None:
        """Record a KE view, export or change: ids and counts, never content. A change to
        one plan (its koordinator, its unit) is a row on that plan (`plan_id`)."""
        self.services.audit.record(
            action,
            actor_user_id=self.user.id,
            role=KE_ROLE,
            plan_id=plan_id,
            client_address=client_address(request),
            details={"municipality_id": self.municipality.id, **(details or {})},
        )


async def ke_visit(request: Request, municipality_id: int) -> KeVisit:
    """The visit, or the page error that says why not (nothing is changed before this)."""
    services: Services = request.app.state.services
    user = await current_user(request)
    if user is None:
        raise LoginRequired(request.url.path)
    municipalities = services.repos.municipalities
    if await municipalities.administers(user.id, municipality_id):
        municipality = await municipalities.get(municipality_id)
        if municipality is not None:
            return KeVisit(services, user, municipality)
    if await municipalities.administered_by(user.id):
        raise NotFound()
    refuse_non_ke(services, request, user.id)


def refuse_non_ke(services: Services, request: Request, user_id: int) -> NoReturn:
    """403 for someone who administers no KE, with an access-log row: a plan member probing
    KE routes is worth a look."""
    services.audit.record(
        "ke_refused",
        actor_user_id=user_id,
        client_address=client_address(request),
        details={"path": request.url.path},
    )
    raise Forbidden("ke.error.not_admin")


def municipality_id_of(request: Request) -> int:
    """The `{municipality_id}` path parameter; a malformed one is a municipality nobody has
    (0), so `ke_visit` still answers 403 to someone who administers no KE and 404 to an
    administrator."""
    text = str(request.path_params.get("municipality_id", ""))
    return int(text) if text.isascii() and text.isdigit() and len(text) < 12 else 0
