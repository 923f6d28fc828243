"""Page security: response headers (CSP without inline script, no framing) and CSRF tokens.

CSRF uses the double-submit pattern with a signed cookie: the form carries the same random
value as the cookie, and the signature stops a sibling subdomain from planting its own.
"""

from __future__ import annotations

import hmac
import secrets

from itsdangerous import BadSignature, URLSafeSerializer
from starlette.datastructures import MutableHeaders
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

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


def csrf_token(request: Request, secret: str) -> str:
    """The request's CSRF value: from its cookie when valid, else a new one (set it on the
    response with `set_csrf_cookie`)."""
    cookie = request.cookies.get(CSRF_COOKIE)
    if cookie:
        try:
            return str(_serializer(secret).loads(cookie))
        except BadSignature:
            pass
    value: str | None = request.scope.get("samplan.csrf")
    if value is None:
        value = secrets.token_urlsafe(24)
        request.scope["samplan.csrf"] = value
    return value


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


def csrf_valid(request: Request, secret: str, submitted: object) -> bool:
    cookie = request.cookies.get(CSRF_COOKIE)
    if not cookie or not isinstance(submitted, str) or not submitted:
        return False
    try:
        expected = str(_serializer(secret).loads(cookie))
    except BadSignature:
        return False
    return hmac.compare_digest(expected, submitted)
