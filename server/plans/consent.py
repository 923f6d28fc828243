"""POST /plans/{plan_id}/consent: the planeier (or verge) gives, refuses or revokes a member's
consent from the plan page's Samtykke section; who may follows the person's age
(server.core.access.may_give_consent). Nothing changes on any error."""

from __future__ import annotations

from datetime import date, datetime

from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from crdt.schema import zone_name
from server.core.access import Role, may_give_consent, needs_consent
from server.core.audit import client_address
from server.core.clock import today_oslo
from server.services import Services
from server.web.errors import BadRequest, Forbidden, LoginRequired, NotFound
from server.web.security import CSRF_FIELD, csrf_valid
from server.web.session import current_user
from storage.errors import NotFound as StorageNotFound

OWNER_ROLES = (Role.PLANEIER, Role.VERGE)
ACTIONS = ("give", "refuse", "revoke")


class BadDate(ValueError):
    pass


def parse_until(text: str, today: date) -> date | None:
    """'' is "until revoked"; otherwise dd.mm.yyyy, today or later."""
    text = text.strip()
    if not text:
        return None
    try:
        value = datetime.strptime(text, "%d.%m.%Y").date()
    except ValueError as exc:
        raise BadDate("consent.error.date") from exc
    if value < today:
        raise BadDate("consent.error.past")
    return value


async def consent_submit(request: Request) -> Response:
    user = await current_user(request)
    plan_id = request.path_params["plan_id"]
    if user is None:
        raise LoginRequired(f"/plans/{plan_id}")
    services: Services = request.app.state.services
    form = await request.form()
    me = await services.plans.get_membership(plan_id, user.id)
    if me is None:
        raise NotFound()
    if not csrf_valid(request, services.secret_key, form.get(CSRF_FIELD)):
        raise Forbidden("consent.error.expired_form")
    if me.role not in OWNER_ROLES:
        raise Forbidden("consent.error.not_owner")
    plan = await services.plans.get_plan(plan_id)
    if plan is None:
        raise NotFound()
    if not may_give_consent(me.role, plan.person_birth_date):
        raise Forbidden("consent.error.under_16")
    action = str(form.get("action") or "")
    if action not in ACTIONS:
        raise BadRequest("consent.error.action")
    if form.get("invitation_id") is not None:
        return await _invitee_consent(request, services, form, action, plan_id, user.id, me.role)
    try:
        target_id = int(str(form.get("user_id") or ""))
    except ValueError:
        raise BadRequest("consent.error.member") from None
    target = await services.plans.get_membership(plan_id, target_id)
    if target is None or not needs_consent(target.role):
        raise BadRequest("consent.error.member")

    details: dict[str, object] = {"user_id": target_id}
    if action == "give":
        until, chosen = await _scope_and_until(services, plan_id, form)
        record = await services.consents.give(plan_id, target_id, chosen, until, user.id)
        details |= {
            "scope": "all" if record.scope is None else list(record.scope),
            "valid_until": until.isoformat() if until else None,
        }
    elif action == "refuse":
        await services.consents.refuse(plan_id, target_id, user.id)
        details |= {"scope": [], "valid_until": None}
    else:
        revoked = await services.consents.revoke(plan_id, target_id, user.id)
        if revoked is None:
            raise BadRequest("consent.error.nothing_active")
        details |= {
            "scope": "all" if revoked.scope is None else list(revoked.scope),
            "valid_until": revoked.valid_until.isoformat() if revoked.valid_until else None,
        }
    # The watcher would notice the access_version bump too; this is at once.
    await services.connections.recheck_plan(plan_id)
    services.audit.record(
        f"consent_{action}",
        actor_user_id=user.id,
        role=me.role,
        plan_id=plan_id,
        client_address=client_address(request),
        details=details,
    )
    return RedirectResponse(f"/plans/{plan_id}#plan-consent", status_code=303)


async def _scope_and_until(
    services: Services, plan_id: str, form: FormData
) -> tuple[date | None, list[str] | str]:
    """The end date and the chosen zones ("all" when every zone is chosen), or BadRequest."""
    try:
        until = parse_until(str(form.get("until") or ""), today_oslo())
    except BadDate as exc:
        raise BadRequest(str(exc)) from exc
    known = {zone_name(z.kind, z.key) for z in await services.plans.list_zones(plan_id)}
    scope = [str(v) for v in form.getlist("scope")]
    if not scope or any(s not in known and s != "all" for s in scope):
        raise BadRequest("consent.error.scope")
    return until, "all" if "all" in scope or set(scope) >= known else scope


async def _invitee_consent(
    request: Request,
    services: Services,
    form: FormData,
    action: str,
    plan_id: str,
    giver_id: int,
    giver_role: str,
) -> Response:
    """Consent for someone invited but not yet joined (a deltaker or leser): stored with the
    invitation (storage InvitationRepo.set_consent), it becomes theirs when they accept."""
    invitations = services.repos.invitations
    try:
        invitation_id = int(str(form.get("invitation_id") or ""))
    except ValueError:
        raise BadRequest("consent.error.invitee") from None
    invitation = await invitations.get(plan_id, invitation_id)
    if (
        invitation is None
        or invitation.accepted_at is not None
        or invitation.withdrawn_at is not None
        or not needs_consent(invitation.role)
    ):
        raise BadRequest("consent.error.invitee")
    details: dict[str, object] = {"invitation": invitation_id}
    try:
        if action == "give":
            until, chosen = await _scope_and_until(services, plan_id, form)
            given = await invitations.set_consent(
                plan_id,
                invitation_id,
                status="given",
                scope=chosen,
                valid_until=until,
                given_by_user_id=giver_id,
            )
            details |= {
                "scope": "all" if given.scope is None else list(given.scope),
                "valid_until": until.isoformat() if until else None,
            }
        elif action == "refuse":
            await invitations.set_consent(
                plan_id,
                invitation_id,
                status="refused",
                scope=[],
                valid_until=None,
                given_by_user_id=giver_id,
            )
            details |= {"scope": [], "valid_until": None}
        else:
            dropped = await invitations.drop_consent(plan_id, invitation_id)
            if dropped is None:
                raise BadRequest("consent.error.nothing_active")
            details |= {"scope": "all" if dropped.scope is None else list(dropped.scope)}
    except StorageNotFound:  # accepted or withdrawn just now
        raise BadRequest("consent.error.invitee") from None
    services.audit.record(
        f"consent_{action}",
        actor_user_id=giver_id,
        role=giver_role,
        plan_id=plan_id,
        client_address=client_address(request),
        details=details,
    )
    return RedirectResponse(f"/plans/{plan_id}#plan-consent", status_code=303)
