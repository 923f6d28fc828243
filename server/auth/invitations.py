"""Inviting someone into a plan by e-mail, and accepting (issue 12).

The koordinator invites from the plan page (the "Inviter" form and the "Ventende invitasjoner"
list in the Ansvarsgruppe section, `invitations_section`); the e-mail holds a one-time link
that expires after INVITATION_DAYS and no plan content: the initials of the person the plan
is for, the link and when it stops working. Only the token's SHA-256 is stored.

Following the link (`/invitation/{token}`): someone without an account chooses a name and a
password (server.core.passwords.password_problem) and is signed in to the plan; someone with
an account signs in as that account and joins; anyone else signed in is refused. With OIDC
on, a newcomer signs in with the provider instead and that identity becomes the account
(server.auth.oidc). Each refusal says why and changes nothing; the repository does each step
in one transaction (storage.repositories.invitations).
"""

from __future__ import annotations

import hashlib
import logging
import re
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from server.auth.pages import start_session
from server.core.access import Role, sees_plan
from server.core.audit import client_address
from server.core.clock import OSLO, today_oslo
from server.core.identity import dotted_initials
from server.core.passwords import hash_password, password_problem
from server.services import Services
from server.web.errors import Conflict, Forbidden, LoginRequired, NotFound, PlanClosed
from server.web.i18n import language_of, translator
from server.web.security import CSRF_FIELD, csrf_valid
from server.web.session import current_user
from server.web.templating import render
from server.web.visit import PlanVisit, is_uuid
from storage.errors import AlreadyExists
from storage.errors import NotFound as StorageNotFound
from storage.models import INVITABLE_ROLES, Plan, utcnow
from storage.repositories.invitations import (
    AlreadyInvited,
    AlreadyMember,
    InvitationGone,
    InvitationRecord,
    NewAccount,
)
from storage.repositories.notifications import EmailDraft

log = logging.getLogger("samplan.invitations")

INVITATION_DAYS = 7
# What secrets.token_urlsafe(32) gives: 43 characters of URL-safe base64.
TOKEN_PATTERN = re.compile(r"[\w-]{43}", re.ASCII)
# Something, an @, something with a dot: enough to refuse what is plainly not an address
# (the e-mail itself is the real test).
EMAIL_PATTERN = re.compile(r"[^@\s<>\"',;]+@[^@\s<>\"',;]+\.[^@\s<>\"',;.]{2,}")
MAX_NAME, MAX_UNIT, MAX_CONTRIBUTION = 200, 200, 2000


def _services(request: Request) -> Services:
    services: Services = request.app.state.services
    return services


def new_token() -> tuple[str, str]:
    """A link token (256 bits) and the hash that is stored."""
    token = secrets.token_urlsafe(32)
    return token, token_hash(token)


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def _oslo(value: datetime) -> datetime:
    return value.astimezone(OSLO)


# -- the e-mail ------------------------------------------------------------------------------


def invitation_email(
    services: Services, plan: Plan, to: str, token: str, expires_at: datetime, lang: str
) -> EmailDraft:
    """No plan content: the initials of the person the plan is for, the link, the expiry."""
    t = translator(lang)
    when = _oslo(expires_at)
    link = services.settings.public_link(f"/invitation/{token}")
    lines = (
        t("invite.email.body").replace("{who}", dotted_initials(plan.person_name)),
        "",
        f"{t('invite.email.open')}: {link}",
        "",
        t("invite.email.expires")
        .replace("{date}", when.strftime("%d.%m.%Y"))
        .replace("{time}", when.strftime("%H:%M"))
        .replace("{days}", str(INVITATION_DAYS)),
        t("invite.email.ignore"),
    )
    return EmailDraft(to, f"{t('app.name')}: {t('invite.email.subject')}", "\n".join(lines) + "\n")


# -- the koordinator's side ------------------------------------------------------------------


async def invitations_section(visit: PlanVisit) -> dict[str, Any]:
    """The "Inviter" form and "Ventende invitasjoner" list: the koordinator's alone."""
    if visit.role != Role.KOORDINATOR:
        return {"may_invite": False, "pending": []}
    now = utcnow()
    pending = await visit.services.repos.invitations.pending(visit.plan.id)
    return {
        "may_invite": not visit.closed,
        "closed": visit.closed,
        "roles": list(INVITABLE_ROLES),
        "pending": [_pending_row(record, now) for record in pending],
        "suggested": await _guardian_to_invite(visit, pending),
    }


async def _guardian_to_invite(
    visit: PlanVisit, pending: list[InvitationRecord]
) -> dict[str, str] | None:
    """The guardian named when the plan was started, filled into the form as a verge until
    they are invited or a member: the koordinator sends it with one press."""
    plan = visit.plan
    email = (plan.guardian_email or "").lower()
    if not email or not plan.guardian_name or any(r.email == email for r in pending):
        return None
    members = await visit.services.plans.list_members_with_names(plan.id)
    if any(member_email == email for _, _, member_email in members):
        return None
    return {"email": email, "name": plan.guardian_name, "role": "verge"}


def _pending_row(record: InvitationRecord, now: datetime) -> dict[str, Any]:
    return {
        "id": record.id,
        "name": record.name,
        "email": record.email,
        "role": record.role,
        "expired": record.state(now) == "expired",
        "sent": _oslo(record.created_at).strftime("%d.%m.%Y"),
        "expires": _oslo(record.expires_at).strftime("%d.%m.%Y %H:%M"),
        "resent": record.resent_count,
    }


@dataclass(frozen=True, slots=True)
class _Koordinator:
    user: Any
    plan: Plan
    form: Any


async def _koordinator(request: Request, *, closed_too: bool = False) -> _Koordinator:
    """The signed-in koordinator of the plan, with a valid form token; a PageError if not
    (a member in another role gets 403, anyone else the plan's 404). A closed plan takes no
    new invitations (nor resent ones) until it is reopened; withdrawing is `closed_too`."""
    plan_id = request.path_params["plan_id"]
    user = await current_user(request)
    if user is None:
        raise LoginRequired(f"/plans/{plan_id}")
    services = _services(request)
    form = await request.form()
    me = await services.plans.get_membership(plan_id, user.id) if is_uuid(plan_id) else None
    plan = await services.plans.get_plan(plan_id) if me else None
    member = await services.consents.member_access(plan_id, user.id) if plan else None
    if me is None or plan is None or not sees_plan(member, today_oslo()):
        raise NotFound()
    if not csrf_valid(request, services.secret_key, form.get(CSRF_FIELD)):
        raise Forbidden("invite.error.expired_form")
    if me.role != Role.KOORDINATOR:
        raise Forbidden("invite.error.not_koordinator")
    if plan.status == "closed" and not closed_too:
        raise PlanClosed()
    return _Koordinator(user, plan, form)


def _audit(request: Request, who: _Koordinator, action: str, details: dict[str, Any]) -> None:
    _services(request).audit.record(
        action,
        actor_user_id=who.user.id,
        role=Role.KOORDINATOR.value,
        plan_id=who.plan.id,
        client_address=client_address(request),
        details=details,
    )


def _field(form: Any, name: str) -> str:
    value = form.get(name)
    return value.strip() if isinstance(value, str) else ""


def _invite_errors(values: dict[str, str]) -> list[str]:
    errors = []
    if not EMAIL_PATTERN.fullmatch(values["email"]) or len(values["email"]) > 320:
        errors.append("invite.error.email")
    if not values["name"]:
        errors.append("invite.error.name")
    elif len(values["name"]) > MAX_NAME:
        errors.append("invite.error.name_long")
    if values["role"] == Role.KOORDINATOR:
        errors.append("invite.error.koordinator")
    elif values["role"] not in INVITABLE_ROLES:
        errors.append("invite.error.role")
    if len(values["unit"]) > MAX_UNIT:
        errors.append("invite.error.unit_long")
    if len(values["contribution"]) > MAX_CONTRIBUTION:
        errors.append("invite.error.contribution_long")
    return errors


def _invite_page(
    request: Request, who: _Koordinator, values: dict[str, str], errors: list[str], status: int
) -> Response:
    context = {
        "plan": {"id": who.plan.id, "title": who.plan.title},
        "values": values,
        "errors": errors,
        "roles": list(INVITABLE_ROLES),
    }
    return render(request, "invite.html", context, status_code=status, user=who.user)


async def invite_submit(request: Request) -> Response:
    """POST /plans/{plan_id}/invitations: store the invitation and send its e-mail."""
    who = await _koordinator(request)
    services = _services(request)
    values = {
        name: _field(who.form, name) for name in ("email", "name", "role", "unit", "contribution")
    }
    values["email"] = values["email"].lower()
    errors = _invite_errors(values)
    if errors:
        return _invite_page(request, who, values, errors, 400)
    token, hashed = new_token()
    expires_at = utcnow() + timedelta(days=INVITATION_DAYS)
    draft = invitation_email(
        services, who.plan, values["email"], token, expires_at, language_of(request)
    )
    try:
        record = await services.repos.invitations.create(
            plan_id=who.plan.id,
            email=values["email"],
            name=values["name"],
            role=values["role"],
            unit=values["unit"] or None,
            contribution=values["contribution"] or None,
            invited_by_user_id=who.user.id,
            token_hash=hashed,
            expires_at=expires_at,
            draft=draft,
        )
    except AlreadyMember:
        return _invite_page(request, who, values, ["invite.error.member"], 409)
    except AlreadyInvited:
        return _invite_page(request, who, values, ["invite.error.pending"], 409)
    services.mailer.wake()
    _audit(request, who, "invitation_create", {"invitation": record.id, "role": record.role})
    return RedirectResponse(f"/plans/{who.plan.id}?invited=1#plan-invitations", status_code=303)


async def resend_submit(request: Request) -> Response:
    """POST .../invitations/{invitation_id}/resend: a new link (the old one dies), a new
    expiry, the e-mail again."""
    who = await _koordinator(request)
    services = _services(request)
    invitation_id = int(request.path_params["invitation_id"])
    found = await services.repos.invitations.get(who.plan.id, invitation_id)
    if found is None:
        raise Conflict("invite.error.not_pending")
    token, hashed = new_token()
    expires_at = utcnow() + timedelta(days=INVITATION_DAYS)
    draft = invitation_email(
        services, who.plan, found.email, token, expires_at, language_of(request)
    )
    try:
        record = await services.repos.invitations.resend(
            who.plan.id, invitation_id, token_hash=hashed, expires_at=expires_at, draft=draft
        )
    except StorageNotFound:
        raise Conflict("invite.error.not_pending") from None
    services.mailer.wake()
    _audit(request, who, "invitation_resend", {"invitation": record.id})
    return RedirectResponse(f"/plans/{who.plan.id}?resent=1#plan-invitations", status_code=303)


async def withdraw_submit(request: Request) -> Response:
    """POST .../invitations/{invitation_id}/withdraw: the link stops working."""
    who = await _koordinator(request, closed_too=True)
    services = _services(request)
    invitation_id = int(request.path_params["invitation_id"])
    try:
        record = await services.repos.invitations.withdraw(who.plan.id, invitation_id)
    except StorageNotFound:
        raise Conflict("invite.error.not_pending") from None
    _audit(request, who, "invitation_withdraw", {"invitation": record.id})
    return RedirectResponse(f"/plans/{who.plan.id}?withdrawn=1#plan-invitations", status_code=303)


# -- following the link ----------------------------------------------------------------------

GONE_KEYS = {
    "unknown": "invitation.error.unknown",
    "accepted": "invitation.error.used",
    "withdrawn": "invitation.error.withdrawn",
    "expired": "invitation.error.expired",
}


class _Refused(Exception):
    def __init__(self, key: str, status: int) -> None:
        super().__init__(key)
        self.key = key
        self.status = status


@dataclass(frozen=True, slots=True)
class _Link:
    token: str
    invitation: InvitationRecord
    plan: Plan
    user: Any  # the signed-in user, or None


async def _link(request: Request, token: str | None = None) -> _Link:
    """The open invitation behind this link and who is asking; _Refused if the link no
    longer works or a different person is signed in."""
    services = _services(request)
    token = request.path_params["token"] if token is None else token
    record = (
        await services.repos.invitations.by_token_hash(token_hash(token))
        if TOKEN_PATTERN.fullmatch(token)
        else None
    )
    state = record.state(utcnow()) if record is not None else "unknown"
    plan = await services.plans.get_plan(record.plan_id) if record is not None else None
    if record is None or plan is None or state != "open":
        raise _Refused(GONE_KEYS[state if plan is not None else "unknown"], 410)
    user = await current_user(request)
    if user is not None and user.email != record.email:
        raise _Refused("invitation.error.other_person", 403)
    if user is not None and await services.plans.get_membership(plan.id, user.id) is not None:
        raise _Refused("invitation.error.member", 409)
    return _Link(token, record, plan, user)


async def _page(
    request: Request,
    link: _Link,
    *,
    error: str | None = None,
    status: int = 200,
    name: str | None = None,
) -> Response:
    services = _services(request)
    if link.user is not None:
        mode = "join"
    elif services.settings.oidc_issuer:
        mode = "oidc"
    elif await services.repos.users.get_by_email(link.invitation.email) is not None:
        mode = "signin"
    else:
        mode = "create"
    context = {
        "mode": mode,
        "token": link.token,
        "role": link.invitation.role,
        "who": dotted_initials(link.plan.person_name),
        "email": link.invitation.email,
        "name": link.invitation.name if name is None else name,
        "error": error,
        "oidc_label": services.settings.oidc_label,
    }
    return render(request, "invitation.html", context, status_code=status, user=link.user)


def _refused_page(request: Request, refused: _Refused, user: Any) -> Response:
    context = {"mode": "refused", "error": refused.key}
    return render(request, "invitation.html", context, status_code=refused.status, user=user)


async def invitation_page(request: Request) -> Response:
    """GET /invitation/{token}."""
    try:
        link = await _link(request)
    except _Refused as refused:
        return _refused_page(request, refused, await current_user(request))
    return await _page(request, link)


async def invitation_submit(request: Request) -> Response:
    """POST /invitation/{token}: join as the signed-in account, or create the account."""
    services = _services(request)
    form = await request.form()
    try:
        link = await _link(request)
        if not csrf_valid(request, services.secret_key, form.get(CSRF_FIELD)):
            raise _Refused("invitation.error.expired_form", 403)
    except _Refused as refused:
        return _refused_page(request, refused, await current_user(request))
    if link.user is not None:
        return await _accept(request, link, user_id=link.user.id, sign_in=False)
    if services.settings.oidc_issuer:  # the identity is linked through the provider instead
        return await _page(request, link, error="invitation.error.use_oidc", status=400)
    if await services.repos.users.get_by_email(link.invitation.email) is not None:
        return await _page(request, link, error="invitation.error.sign_in", status=409)
    name = _field(form, "name")
    password = form.get("password")
    password = password if isinstance(password, str) else ""
    again = form.get("password_again")
    problem: str | None
    if not name or len(name) > MAX_NAME:
        problem = "invitation.error.name"
    elif password != again:
        problem = "password.error.mismatch"
    else:
        problem = password_problem(password, email=link.invitation.email, name=name)
    if problem is not None:
        return await _page(request, link, error=problem, status=400, name=name)
    account = NewAccount(name, hash_password(password))
    return await _accept(request, link, new_account=account)


async def _accept(
    request: Request,
    link: _Link,
    *,
    user_id: int | None = None,
    new_account: NewAccount | None = None,
    sign_in: bool = True,
    method: str = "password",
) -> Response:
    services = _services(request)
    try:
        record, member_id = await services.repos.invitations.accept(
            token_hash(link.token), user_id=user_id, new_account=new_account
        )
    except InvitationGone as gone:
        return _refused_page(request, _Refused(GONE_KEYS[gone.reason], 410), link.user)
    except AlreadyMember:
        return _refused_page(request, _Refused("invitation.error.member", 409), link.user)
    except AlreadyExists:
        return await _page(request, link, error="invitation.error.sign_in", status=409)
    await services.connections.recheck_plan(record.plan_id)
    # Consent given to the invitation is now the member's (storage InvitationRepo.accept):
    # the audit log says so, with who gave it.
    consent = record.carried_consent
    services.audit.record(
        "invitation_accept",
        actor_user_id=member_id,
        role=record.role,
        plan_id=record.plan_id,
        client_address=client_address(request),
        details={
            "invitation": record.id,
            "new_account": new_account is not None,
            "method": method,
            **(
                {
                    "consent": consent.status,
                    "consent_given_by": consent.given_by_user_id,
                    "consent_given_at": consent.given_at.isoformat(),
                }
                if consent is not None
                else {}
            ),
        },
    )
    landing = await landing_page(services, record.plan_id, member_id)
    if not sign_in:
        return RedirectResponse(landing, status_code=303)
    return await start_session(request, member_id, landing, method=method)


async def invitation_for_oidc(request: Request) -> tuple[str, Response | None]:
    """For GET /invitation/{token}/oidc: the token when its link works for whoever asks,
    else the refusal page to answer with."""
    try:
        link = await _link(request)
    except _Refused as refused:
        return "", _refused_page(request, refused, await current_user(request))
    return link.token, None


async def accept_with_identity(
    request: Request, token: str, identity: str, name: str, identity_is_email: bool
) -> Response:
    """The OIDC callback of a flow started from an invitation: the provider has vouched for
    `identity` (the configured claim). It joins the plan as the account with that identity,
    created now for a newcomer (no password: they sign in with the provider). When the claim
    is the e-mail address it must be the invited one: anyone else is refused."""
    services = _services(request)
    try:
        link = await _link(request, token)
        if identity_is_email and identity != link.invitation.email:
            raise _Refused("invitation.error.other_identity", 403)
        user = await services.repos.users.get_by_email(identity)
        if user is not None and link.user is not None and user.id != link.user.id:
            raise _Refused("invitation.error.other_person", 403)
    except _Refused as refused:
        return _refused_page(request, refused, await current_user(request))
    if user is not None:
        return await _accept(request, link, user_id=user.id, method="oidc")
    account = NewAccount(name.strip() or link.invitation.name, None, email=identity)
    return await _accept(request, link, new_account=account, method="oidc")


async def landing_page(services: Services, plan_id: str, user_id: int) -> str:
    """The plan, for a member who may open it now; otherwise "Mine planer" (a deltaker or
    leser waits for the planeier's consent like any member)."""
    member = await services.consents.member_access(plan_id, user_id)
    return f"/plans/{plan_id}" if sees_plan(member, today_oslo()) else "/plans?joined=1"
