"""Log-in and log-out for the web pages: local accounts, server-side sessions.

The session cookie is HttpOnly, SameSite=Lax and Secure behind TLS; the session itself
expires after an idle period server-side (shared PCs in an office or at school).
"""

from __future__ import annotations

import logging
from functools import cache

from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response

from server.auth.devices import known_device, remember_device
from server.auth.throttle import whole_seconds
from server.core.audit import client_address
from server.core.passwords import hash_password, verify_password
from server.core.sessions import SESSION_COOKIE
from server.services import Services
from server.web.i18n import (
    browser_language,
    language_of,
    translator,
)
from server.web.security import CSRF_FIELD, csrf_valid, forget_pre_session
from server.web.session import current_user
from server.web.templating import render
from storage.repositories.sessions import token_id

log = logging.getLogger("samplan.auth")


@cache
def _dummy_hash() -> str:
    """Verifying against a real hash when the user does not exist keeps the time the same,
    so response times do not reveal which e-mail addresses have accounts."""
    return hash_password("samplan-ingen-bruker")


def _services(request: Request) -> Services:
    services: Services = request.app.state.services
    return services


def safe_next(value: object) -> str:
    """Only same-site paths: never an open redirect to another host. Without one, "/" decides
    where this user lands (server.plans.pages.home: Min plan for the person with one plan)."""
    if isinstance(value, str) and value.startswith("/") and not value.startswith(("//", "/\\")):
        return value
    return "/"


async def login_page(request: Request) -> Response:
    if await current_user(request) is not None:
        return RedirectResponse(safe_next(request.query_params.get("next")), status_code=303)
    context = {"error": None, "email": "", "next": safe_next(request.query_params.get("next"))}
    return render(request, "login.html", context)


async def login_submit(request: Request) -> Response:
    services = _services(request)
    t = translator(language_of(request))
    form = await request.form()
    email = str(form.get("email") or "").strip().lower()
    password = str(form.get("password") or "")
    next_url = safe_next(form.get("next"))
    address = request.client.host if request.client else "?"

    def again(error_key: str, status: int) -> Response:
        context = {"error": t(error_key), "email": email, "next": next_url}
        return render(request, "login.html", context, status_code=status)

    def wait(seconds: int) -> Response:
        message = t("login.error.throttledOne" if seconds == 1 else "login.error.throttled")
        context = {"error": message.replace("{n}", str(seconds)), "email": email, "next": next_url}
        response = render(request, "login.html", context, status_code=429)
        response.headers["retry-after"] = str(seconds)
        return response

    if not csrf_valid(request, services.secret_key, form.get(CSRF_FIELD)):
        return again("login.error.expired_form", 403)
    user = await services.repos.users.get_by_email(email) if email else None
    # No await from here to `failed`: concurrent guesses are counted one after another.
    device = known_device(request, services.secret_key, email) if email else None
    waiting = services.login_throttle.wait_seconds(email, address, device)
    if waiting > 0:
        # The password is not checked while waiting: the attempt neither counts nor tells.
        log.warning("log-in throttled")
        _record_failure(services, request, user.id if user else None, "throttled")
        return wait(whole_seconds(waiting))
    if user is None or not user.password_hash:
        verify_password(_dummy_hash(), password)
        ok = False
    else:
        ok = verify_password(user.password_hash, password)
    if not ok or user is None:
        services.login_throttle.failed(email, address, device)
        log.info("log-in failed")
        # The actor only when the account exists: never the typed e-mail address.
        _record_failure(services, request, user.id if user else None, "invalid")
        return again("login.error.invalid", 401)
    services.login_throttle.succeeded(email, device)
    if user.deactivated_at is not None:  # said only to someone who knows the password
        log.info("log-in refused: account deactivated")
        _record_failure(services, request, user.id, "deactivated")
        return again("login.error.deactivated", 403)
    log.info("user %s logged in", user.id)
    response = await start_session(request, user.id, next_url)
    remember_device(response, request, services.secret_key, email)
    return response


def _record_failure(services: Services, request: Request, user_id: int | None, why: str) -> None:
    services.audit.record(
        "login_failed",
        actor_user_id=user_id,
        client_address=client_address(request),
        details={"method": "password", "reason": why},
    )


async def start_session(
    request: Request, user_id: int, next_url: str, *, method: str = "password"
) -> Response:
    """Create the server-side session and send the browser on with its cookie. A language
    this browser chose before signing in becomes the account's, unless it has one already
    (so someone who reads Samplan in English also gets English e-mail)."""
    services = _services(request)
    chosen = browser_language(request)
    if chosen is not None:
        user = await services.repos.users.get(user_id)
        if user is not None and user.language is None:
            await services.repos.users.set_language(user_id, chosen)
    raw = await services.sessions.create(user_id, services.settings.session_ttl_seconds)
    services.audit.record(
        "login",
        actor_user_id=user_id,
        client_address=client_address(request),
        details={"method": method},
    )
    response = RedirectResponse(next_url, status_code=303)
    response.set_cookie(
        SESSION_COOKIE,
        raw,
        httponly=True,
        samesite="lax",
        secure=request.url.scheme == "https",
        path="/",
    )
    forget_pre_session(response)  # the form tokens rotate: only the new session's work now
    return response


async def logout(request: Request) -> Response:
    services = _services(request)
    form = await request.form()
    if not csrf_valid(request, services.secret_key, form.get(CSRF_FIELD)):
        return render(request, "error.html", {"status": 403, "message": ""}, status_code=403)
    raw = request.cookies.get(SESSION_COOKIE)
    if raw:
        user_id = await services.sessions.user_for(raw, services.settings.session_idle_seconds)
        await services.sessions.delete(raw)
        # Every socket and event stream this session opened closes now (4401), not later.
        services.session_sockets.end_sessions([token_id(raw)])
        if user_id is not None:
            services.audit.record(
                "logout", actor_user_id=user_id, client_address=client_address(request)
            )
    response = RedirectResponse("/login", status_code=303)
    response.delete_cookie(SESSION_COOKIE, path="/")
    return response


async def _session_state(services: Services, raw: str | None) -> Response:
    settings = services.settings
    state = await services.sessions.remaining(raw, settings.session_idle_seconds) if raw else None
    if state is None:
        return JSONResponse({"secondsLeft": 0}, status_code=401)
    user_id, left = state
    body = {"userId": user_id, "secondsLeft": left, "warnSeconds": settings.session_warn_seconds}
    return JSONResponse(body, headers={"Cache-Control": "no-store"})


async def session_status(request: Request) -> Response:
    """`GET /session`: when this session ends if nobody does anything, so the page can warn
    before it does (client/src/session.js). Asking is not activity: it never extends it."""
    return await _session_state(_services(request), request.cookies.get(SESSION_COOKIE))


async def session_continue(request: Request) -> Response:
    """`POST /session`: "Continue" on the page's warning; the session's idle time starts again."""
    services = _services(request)
    form = await request.form()
    if not csrf_valid(request, services.secret_key, form.get(CSRF_FIELD)):
        return JSONResponse({"error": "expired form"}, status_code=403)
    raw = request.cookies.get(SESSION_COOKIE)
    idle = services.settings.session_idle_seconds
    if raw and await services.sessions.user_for(raw, idle) is not None:
        await services.sessions.touch([token_id(raw)], idle)
    return await _session_state(services, raw)
