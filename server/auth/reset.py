"""The "Glemt passord" pages: ask for a link by e-mail, then set a new password with it.

The answer to asking is the same page whether or not the address has an account (no oracle
on which addresses exist). Only an active account gets an e-mail: a one-time link that works
for SAMPLAN_PASSWORD_RESET_TTL_SECONDS (an hour), written to the e-mail outbox, whose copy of
the body is emptied once sent; the database keeps only the token's sha256. Asking is limited
per typed address and per account (silently: the page stays the same) and per client address
(said: that tells nothing about any account). Using the link sets the password, logs out
every other browser of the account and closes their sockets, then logs this browser in.
"""

from __future__ import annotations

import logging
from datetime import timedelta

from starlette.background import BackgroundTask
from starlette.requests import Request
from starlette.responses import Response

from server.auth.pages import start_session
from server.core.audit import client_address
from server.core.passwords import hash_password, password_problem
from server.services import Services
from server.web.i18n import DEFAULT_LANGUAGE, LANGUAGES, language_of, translator
from server.web.security import CSRF_FIELD, csrf_valid
from server.web.templating import render
from storage.errors import InvalidValue
from storage.models import User, utcnow
from storage.repositories.notifications import EmailDraft
from storage.repositories.users import normalize_email

log = logging.getLogger("samplan.reset")

FORGOT_PATH = "/login/forgot"
RESET_PATH = "/login/reset"


def _services(request: Request) -> Services:
    services: Services = request.app.state.services
    return services


async def forgot_page(request: Request) -> Response:
    return render(request, "forgot.html", {"sent": False, "error": None, "email": ""})


async def forgot_submit(request: Request) -> Response:
    services = _services(request)
    t = translator(language_of(request))
    form = await request.form()
    typed = str(form.get("email") or "").strip()

    def again(key: str, status: int) -> Response:
        context = {"sent": False, "error": t(key), "email": typed}
        return render(request, "forgot.html", context, status_code=status)

    if not csrf_valid(request, services.secret_key, form.get(CSRF_FIELD)):
        return again("login.error.expired_form", 403)
    try:
        email = normalize_email(typed)
    except InvalidValue:
        return again("reset.error.email", 400)
    if not services.reset_by_address.allow(client_address(request) or "?"):
        log.warning("password reset requests throttled for a client address")
        return again("reset.error.throttled", 429)
    page = render(request, "forgot.html", {"sent": True, "error": None, "email": ""})
    # Looked up and sent after the page has gone out: how long the answer takes does not
    # tell whether the address has an account either.
    page.background = BackgroundTask(_maybe_send, request, services, email)
    return page


async def _maybe_send(request: Request, services: Services, email: str) -> None:
    sent = False
    user = await services.repos.users.get_by_email(email)
    # The typed address is limited whether or not it has an account: the same for both.
    if services.reset_by_email.allow(email) and user is not None and user.deactivated_at is None:
        since = utcnow() - timedelta(hours=1)
        if await services.repos.accounts.resets_since(user.id, since) < (
            services.settings.password_reset_per_account_hour
        ):
            await _send_link(request, services, user)
            sent = True
    services.audit.record(  # the actor only when the account exists: never the typed address
        "password_reset_request",
        actor_user_id=user.id if user is not None else None,
        client_address=client_address(request),
        details={"sent": sent},
    )


async def _send_link(request: Request, services: Services, user: User) -> None:
    settings = services.settings
    ttl = settings.password_reset_ttl_seconds
    raw = await services.repos.accounts.issue_reset(user.id, ttl)
    language = user.language or language_of(request)
    t = translator(language if language in LANGUAGES else DEFAULT_LANGUAGE)
    link = settings.public_link(f"{RESET_PATH}?token={raw}")
    minutes = str(max(1, ttl // 60))
    body = (
        t("reset.email.body")
        .replace("{name}", user.name)
        .replace("{minutes}", minutes)
        .replace("{link}", link)
    )
    draft = EmailDraft(user.email, t("reset.email.subject"), body)
    await services.repos.notifications.queue_email(draft, erase_after_send=True)
    services.mailer.wake()


def _invalid(request: Request, state: str) -> Response:
    """A link used before, expired, or never issued: a page that says so and offers a new one."""
    context = {"invalid": state, "token": "", "error": None}
    return render(request, "reset.html", context, status_code=410)


async def reset_page(request: Request) -> Response:
    services = _services(request)
    token = request.query_params.get("token", "")
    check = await services.repos.accounts.check_reset(token) if token else None
    if check is None or check.state != "ok":
        return _invalid(request, check.state if check is not None else "expired")
    return render(request, "reset.html", {"invalid": None, "token": token, "error": None})


async def reset_submit(request: Request) -> Response:
    services = _services(request)
    t = translator(language_of(request))
    form = await request.form()
    token = str(form.get("token") or "")
    password = str(form.get("password") or "")
    again = str(form.get("password2") or "")

    def refuse(key: str, status: int = 400) -> Response:
        context = {"invalid": None, "token": token, "error": t(key)}
        return render(request, "reset.html", context, status_code=status)

    if not csrf_valid(request, services.secret_key, form.get(CSRF_FIELD)):
        return refuse("login.error.expired_form", 403)
    check = await services.repos.accounts.check_reset(token) if token else None
    if check is None or check.state != "ok" or check.user_id is None:
        return _invalid(request, check.state if check is not None else "expired")
    user = await services.repos.users.get(check.user_id)
    if user is None:
        return _invalid(request, "expired")
    if password != again:
        return refuse("password.error.mismatch")
    problem = password_problem(password, email=user.email, name=user.name)
    if problem is not None:
        return refuse(problem)
    used = await services.repos.accounts.use_reset(token, hash_password(password))
    if used.state != "ok":  # another request spent it a moment ago
        return _invalid(request, used.state)
    closed = services.session_sockets.end_sessions(user_id=user.id)
    services.login_throttle.succeeded(user.email)
    services.audit.record(
        "password_reset",
        actor_user_id=user.id,
        client_address=client_address(request),
        details={"sockets_closed": closed},
    )
    return await start_session(request, user.id, "/plans", method="password_reset")
