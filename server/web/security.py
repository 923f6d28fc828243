"""Page security: response headers (CSP without inline script, no framing) and CSRF tokens.

Every form (and the bundle's POSTs) carries a form token bound to the session: a MAC of the
session cookie's value under the secret key, so a token taken from another session is
refused, and logging in (a new session) makes every earlier token stale. Before log-in the
token is bound the same way to a random pre-session value in a signed cookie (the signature
stops a sibling subdomain from planting its own); log-in deletes that cookie.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets

from itsdangerous import BadSignature, URLSafeSerializer
from starlette.datastructures import MutableHeaders
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from server.core.sessions import SESSION_COOKIE

CSRF_COOKIE = "samplan_csrf"
CSRF_FIELD = "csrf_token"
CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; connect-src 'self' ws: wss:; "
    "img-src 'self' data:; frame-ancestors 'none'; base-uri 'none'; form-action 'self'"
)
HEADERS = {
    "content-security-policy": CSP,
    "x-frame-options": "DENY",
    "x-content-type-options": "nosniff",
    "referrer-policy": "same-origin",
    "permissions-policy": "camera=(), microphone=(), geolocation=()",
}


class SecurityHeaders:
    """Adds HEADERS to every HTTP response."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                for name, value in HEADERS.items():
                    headers.setdefault(name, value)
            await send(message)

        await self.app(scope, receive, send_with_headers)


def _serializer(secret: str) -> URLSafeSerializer:
    return URLSafeSerializer(secret, salt="samplan.csrf.v1")


def _bound(secret: str, binding: str) -> str:
    """The form token for one binding: a MAC, so it reveals nothing of the session it names."""
    mac = hmac.new(secret.encode(), f"samplan.form.v2\x00{binding}".encode(), hashlib.sha256)
    return base64.urlsafe_b64encode(mac.digest()).decode().rstrip("=")


def _pre_session(request: Request, secret: str) -> str | None:
    cookie = request.cookies.get(CSRF_COOKIE)
    if cookie:
        try:
            return str(_serializer(secret).loads(cookie))
        except BadSignature:
            pass
    value: str | None = request.scope.get("samplan.csrf")
    return value


def csrf_token(request: Request, secret: str) -> str:
    """The form token for this request's session, or before log-in for this browser's
    pre-session value (a new one is set on the response by `set_csrf_cookie`)."""
    session = request.cookies.get(SESSION_COOKIE)
    if session:
        return _bound(secret, "session:" + session)
    value = _pre_session(request, secret)
    if value is None:
        value = secrets.token_urlsafe(24)
        request.scope["samplan.csrf"] = value
    return _bound(secret, "pre:" + value)


def set_csrf_cookie(response: Response, request: Request, secret: str) -> None:
    value = request.scope.get("samplan.csrf")
    if value is not None:
        response.set_cookie(
            CSRF_COOKIE,
            _serializer(secret).dumps(value),
            httponly=True,
            samesite="strict",
            secure=request.url.scheme == "https",
        )


def forget_pre_session(response: Response) -> None:
    """At log-in: the pre-session value goes, so no form token from before log-in works
    again (the session's tokens name the new session anyway)."""
    response.delete_cookie(CSRF_COOKIE)


def csrf_valid(request: Request, secret: str, submitted: object) -> bool:
    """The submitted token must be the one for the session cookie this request carries
    (or, without one, for this browser's pre-session value): a token from another session,
    or from before log-in, is refused."""
    if not isinstance(submitted, str) or not submitted:
        return False
    session = request.cookies.get(SESSION_COOKIE)
    if session:
        expected = _bound(secret, "session:" + session)
    else:
        value = _pre_session(request, secret) if request.cookies.get(CSRF_COOKIE) else None
        if value is None:
            return False
        expected = _bound(secret, "pre:" + value)
    return hmac.compare_digest(expected, submitted)
