"""The ansvarsgruppe section's forms (issue 12): the koordinator changes a member's role, unit
and contribution, removes a member, and hands the koordinator role over; every member writes
their own contribution.

POST /plans/{plan_id}/members/{user_id}          role, unit, contribution (each optional)
POST /plans/{plan_id}/members/{user_id}/remove   confirm_verge (for a verge)
POST /plans/{plan_id}/handover                   to (user id), then: deltaker | leser | leave

Who may do what is server.core.access's (may_manage_members, may_edit_contribution,
ASSIGNABLE_ROLES). The rules that keep a plan whole:

- A plan keeps exactly one koordinator: the page never makes a second one, never demotes or
  removes the koordinator; the role moves by a handover alone, in one transaction
  (storage.repositories.members.hand_over), to a deltaker or leser. The old koordinator
  chooses to stay as a deltaker or leser, or to leave the plan. Staying grants no consent:
  like any deltaker or leser they see the plan once the planeier (or verge) consents.
- The planeier is never removed from the page: the plan is about them. Ending their plan is
  closing or deleting it; an operator can still `samplan member remove`.
- The verge is removed only with the box saying the guardianship has ended ticked (a verge
  may legitimately go, e.g. when the person turns 18; never by a slip of the mouse).
- The page changes only deltaker and leser roles; planeier and verge are set by an operator.

A change of role or a removal re-checks the plan's open sockets at once, as a withdrawn
consent does (server.sync.connections.ConnectionIndex.recheck_plan): a removed member's sockets
close with 4403 and their session or token no longer opens the plan. Each change is one audit
row with ids and which fields changed, never the text. Any refusal changes nothing and says
why (error page, role="alert").
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from server.core.access import (
    ASSIGNABLE_ROLES,
    Role,
    may_edit_contribution,
    may_manage_members,
    sees_plan,
)
from server.web.errors import BadRequest, Conflict, Forbidden, PlanClosed
from server.web.security import CSRF_FIELD, csrf_valid
from server.web.visit import PlanVisit, visit
from storage import errors as storage_errors
from storage.models import Membership
from storage.repositories.members import KEEP

UNIT_MAX = 200  # memberships.unit is VARCHAR(200)
CONTRIBUTION_MAX = 2000
THEN_CHOICES = (*(r.value for r in ASSIGNABLE_ROLES), "leave")


async def _checked(request: Request) -> tuple[PlanVisit, dict[str, str]]:
    """The member behind a valid form on an open plan; raises a PageError otherwise."""
    v = await visit(request)
    form = await request.form()
    if not csrf_valid(request, v.services.secret_key, form.get(CSRF_FIELD)):
        raise Forbidden("members.error.expired_form")
    if v.closed:
        raise PlanClosed()
    return v, {k: str(value) for k, value in form.items()}


async def _target(v: PlanVisit, request: Request) -> Membership:
    target = await v.services.plans.get_membership(v.plan.id, request.path_params["user_id"])
    if target is None:
        raise BadRequest("members.error.member")
    return target


def _back(v: PlanVisit, user_id: int | None = None) -> Response:
    anchor = f"member-{user_id}" if user_id else "plan-members"
    return RedirectResponse(f"/plans/{v.plan.id}#{anchor}", status_code=303)


async def member_submit(request: Request) -> Response:
    v, form = await _checked(request)
    target = await _target(v, request)
    manages = may_manage_members(v.role)
    if ("role" in form or "unit" in form) and not manages:
        raise Forbidden("members.error.not_koordinator")
    if "contribution" in form and not may_edit_contribution(v.role, v.user.id, target.user_id):
        raise Forbidden("members.error.not_own" if v.role != Role.LESER else "members.error.leser")
    role = form.get("role") or None
    if role is not None and role != target.role:
        if role == Role.KOORDINATOR:
            raise Conflict("members.error.second_koordinator")
        if role not in ASSIGNABLE_ROLES:
            raise BadRequest("members.error.role")
        if target.role not in ASSIGNABLE_ROLES:
            raise Conflict("members.error.role_fixed")
    unit = form.get("unit")
    contribution = form.get("contribution")
    if unit is not None and len(unit.strip()) > UNIT_MAX:
        raise BadRequest("members.error.unit_long")
    if contribution is not None and len(contribution.strip()) > CONTRIBUTION_MAX:
        raise BadRequest("members.error.contribution_long")
    try:
        change = await v.services.repos.members.change_member(
            v.plan.id,
            target.user_id,
            role=role,
            unit=KEEP if unit is None else unit,
            contribution=KEEP if contribution is None else contribution,
            by_user_id=v.user.id,
        )
    except storage_errors.Conflict:
        raise Conflict("members.error.second_koordinator") from None
    except storage_errors.NotFound:
        raise BadRequest("members.error.member") from None
    if change.role_changed:
        await v.services.connections.recheck_plan(v.plan.id)
    if change.changed:
        details: dict[str, object] = {
            "user_id": target.user_id,
            "role": change.membership.role,
            "unit_changed": change.unit_changed,
            "contribution_changed": change.contribution_changed,
        }
        if change.role_changed:
            details["previous_role"] = change.previous_role
        v.audit(request, "membership_change", details=details)
    return _back(v, target.user_id)


async def member_remove(request: Request) -> Response:
    v, form = await _checked(request)
    if not may_manage_members(v.role):
        raise Forbidden("members.error.not_koordinator")
    target = await _target(v, request)
    if target.role == Role.PLANEIER:
        raise Conflict("members.error.remove_planeier")
    if target.role == Role.KOORDINATOR:
        raise Conflict("members.error.remove_koordinator")
    if target.role == Role.VERGE and form.get("confirm_verge") != "1":
        raise BadRequest("members.error.confirm_verge")
    if not await v.services.plans.remove_member(v.plan.id, target.user_id, v.user.id):
        raise BadRequest("members.error.member")
    # The watcher would notice the access_version bump too; this is at once.
    await v.services.connections.recheck_plan(v.plan.id)
    v.audit(request, "membership_remove", details={"user_id": target.user_id, "role": target.role})
    return _back(v)


async def handover_submit(request: Request) -> Response:
    v, form = await _checked(request)
    if not may_manage_members(v.role):
        raise Forbidden("members.error.not_koordinator")
    then = form.get("then", "")
    if then not in THEN_CHOICES:
        raise BadRequest("members.error.handover_choice")
    try:
        to_user_id = int(form.get("to", ""))
    except ValueError:
        raise BadRequest("members.error.handover_non_member") from None
    target = await v.services.plans.get_membership(v.plan.id, to_user_id)
    if target is None:
        raise BadRequest("members.error.handover_non_member")
    if target.user_id == v.user.id or target.role not in ASSIGNABLE_ROLES:
        raise Conflict("members.error.handover_target")
    keep_role = None if then == "leave" else then
    try:
        await v.services.repos.members.hand_over(v.plan.id, v.user.id, to_user_id, keep_role)
    except storage_errors.NotFound:
        raise BadRequest("members.error.handover_non_member") from None
    except storage_errors.Conflict:
        raise Conflict("members.error.handover_target") from None
    await v.services.connections.recheck_plan(v.plan.id)
    v.audit(
        request,
        "koordinator_handover",
        details={"from_user_id": v.user.id, "to_user_id": to_user_id, "old_role": then},
    )
    # A deltaker or leser sees the plan only with consent (DESIGN §3): the handover grants
    # none, so the old koordinator may be shut out until the planeier consents.
    after = await v.services.consents.member_access(v.plan.id, v.user.id)
    if not sees_plan(after, v.today):
        return RedirectResponse("/plans", status_code=303)
    return _back(v)
