"""The "Min konto" page (`/account`): change my name, my password, or deactivate my account;
and the koordinator's deactivation of a member from the plan page.

Deactivating ends the account's sessions and closes every socket it has open (session or
token) at once, here; the database change also bumps `access_version` on each of its plans,
so a web server that did not do it (the command line did) closes them at its next poll.
What the person wrote keeps their name. Every action is an audit row, without the name,
the password or anything typed.
"""

from __future__ import annotations

import logging
from typing import Any

from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from crdt.protocol import CloseCode
from server.core.access import Role
from server.core.audit import client_address
from server.core.passwords import hash_password, password_problem, verify_password
from server.core.sessions import SESSION_COOKIE
from server.services import Services
from server.web.errors import Forbidden, LoginRequired, NotFound
from server.web.i18n import language_of, translator
from server.web.security import CSRF_FIELD, csrf_valid
from server.web.session import current_user
from server.web.templating import render
from server.web.visit import visit
from storage.errors import InvalidValue
from storage.repositories.sessions import token_id

log = logging.getLogger("samplan.accounts")

ACCOUNT_DEACTIVATED = "account deactivated"


def _services(request: Request) -> Services:
    services: Services = request.app.state.services
    return services


async def deactivate_account(
    services: Services, user_id: int, *, by: int | None, via: str, request: Request | None
) -> bool:
    """Deactivate `user_id` and close everything it has open now. `via`: "self",
    "koordinator" or "operator" (for the audit row). False when it was deactivated already."""
    ended = await services.repos.accounts.deactivate(user_id, by)
    if ended is None:
        return False
    closed = services.session_sockets.end_sessions(ended, user_id=user_id)
    closed += services.connections.close_user(
        user_id, CloseCode.UNAUTHENTICATED, ACCOUNT_DEACTIVATED
    )
    services.audit.record(
        "account_deactivate",
        actor_user_id=by,
        client_address=client_address(request) if request is not None else None,
        details={"user_id": user_id, "via": via, "sessions": len(ended)},
    )
    log.info("account %s deactivated (%s): %d sockets closed", user_id, via, closed)
    return True


async def _signed_in(request: Request) -> tuple[Any, Services]:
    user = await current_user(request)
    if user is None:
        raise LoginRequired("/account")
    return user, _services(request)


async def _posted(request: Request) -> tuple[Any, Services, FormData]:
    user, services = await _signed_in(request)
    form = await request.form()
    if not csrf_valid(request, services.secret_key, form.get(CSRF_FIELD)):
        raise Forbidden("account.error.expired_form")
    return user, services, form


def _page(
    request: Request,
    user: Any,
    *,
    saved: str | None = None,
    error: str | None = None,
    error_form: str | None = None,
    name: str | None = None,
    status: int = 200,
) -> Response:
    t = translator(language_of(request))
    context = {
        "account": {"name": user.name if name is None else name, "email": user.email},
        "has_password": bool(user.password_hash),
        "saved": saved,
        "error": t(error) if error else None,
        "error_form": error_form,
    }
    return render(request, "account.html", context, status_code=status, user=user)


async def account_page(request: Request) -> Response:
    user, _ = await _signed_in(request)
    saved = request.query_params.get("saved")
    return _page(request, user, saved=saved if saved in ("name", "password") else None)


async def account_name(request: Request) -> Response:
    user, services, form = await _posted(request)
    name = str(form.get("name") or "")
    try:
        await services.repos.users.set_name(user.id, name)
    except InvalidValue:
        key = "account.error.name_long" if name.strip() else "account.error.name_empty"
        return _page(request, user, error=key, error_form="name", name=name, status=400)
    services.audit.record(
        "account_name_change", actor_user_id=user.id, client_address=client_address(request)
    )
    return RedirectResponse("/account?saved=name", status_code=303)


async def account_password(request: Request) -> Response:
    user, services, form = await _posted(request)
    current = str(form.get("current") or "")
    new = str(form.get("password") or "")
    again = str(form.get("password2") or "")
    address = client_address(request) or "?"

    def refuse(key: str, status: int = 400) -> Response:
        return _page(request, user, error=key, error_form="password", status=status)

    # Guessing the current password from a session left open is throttled like the log-in.
    if services.login_throttle.wait_seconds(user.email, address) > 0:
        return refuse("account.error.wait", 429)
    if not user.password_hash or not verify_password(user.password_hash, current):
        services.login_throttle.failed(user.email, address)
        services.audit.record(
            "account_password_change_failed",
            actor_user_id=user.id,
            client_address=client_address(request),
            details={"reason": "current"},
        )
        return refuse("account.error.current_wrong")
    if new != again:
        return refuse("password.error.mismatch")
    problem = password_problem(new, email=user.email, name=user.name)
    if problem is not None:
        return refuse(problem)
    raw = request.cookies.get(SESSION_COOKIE)
    keep = token_id(raw) if raw else None
    ended = await services.repos.accounts.change_password(user.id, hash_password(new), keep)
    services.session_sockets.end_sessions(ended, user_id=user.id, keep=keep)
    services.login_throttle.succeeded(user.email)
    services.audit.record(
        "account_password_change",
        actor_user_id=user.id,
        client_address=client_address(request),
        details={"other_sessions_ended": len(ended)},
    )
    return RedirectResponse("/account?saved=password", status_code=303)


async def account_deactivate(request: Request) -> Response:
    user, services, form = await _posted(request)
    if form.get("confirm") != "1":
        return _page(
            request, user, error="account.error.confirm", error_form="deactivate", status=400
        )
    await deactivate_account(services, user.id, by=user.id, via="self", request=request)
    response = render(request, "account_closed.html", {})
    response.delete_cookie(SESSION_COOKIE, path="/")
    return response


async def member_deactivate(request: Request) -> Response:
    """`POST /plans/{plan_id}/members/{user_id}/deactivate`: the koordinator deactivates a
    member's account, which is allowed only when they coordinate every plan that member is
    in (an account in someone else's plan is not theirs to end)."""
    v = await visit(request)
    services = v.services
    form = await request.form()
    if not csrf_valid(request, services.secret_key, form.get(CSRF_FIELD)):
        raise Forbidden("account.error.expired_form")
    if v.role != Role.KOORDINATOR:
        raise Forbidden("account.error.not_koordinator")
    target = int(request.path_params["user_id"])
    if target == v.user.id or await services.plans.get_membership(v.plan.id, target) is None:
        raise NotFound()
    if target not in await services.repos.accounts.coordinated_entirely_by(v.user.id, [target]):
        raise Forbidden("account.error.not_all_plans")
    await deactivate_account(services, target, by=v.user.id, via="koordinator", request=request)
    v.audit(request, "member_account_deactivate", details={"user_id": target})
    return RedirectResponse(f"/plans/{v.plan.id}?deactivated={target}#plan-members", 303)
