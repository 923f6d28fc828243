"""A browser that has signed in to an account before: its log-ins skip that account's back-off.

The back-off alone lets anyone who knows an e-mail address keep its owner waiting, by failing
again the moment each wait ends. The owner's own browser is not that stranger: after a
successful log-in it gets a signed cookie naming the account (a hash of the e-mail, never the
address) and a random device id. A log-in from that browser for that account is throttled on
its own key only, so a stranger's failures never make the owner wait, while guesses made from
a browser that once signed in still slow down like any other.
"""

from __future__ import annotations

import hashlib
import secrets

from itsdangerous import BadSignature, URLSafeTimedSerializer
from starlette.requests import Request
from starlette.responses import Response

DEVICE_COOKIE = "samplan_device"
DEVICE_MAX_AGE = 365 * 24 * 3600
_SALT = "samplan.known-device.v1"


def _account(email: str) -> str:
    return hashlib.sha256(email.encode()).hexdigest()[:32]


def known_device(request: Request, secret: str, email: str) -> str | None:
    """This browser's device id when it signed in to `email` before, else None."""
    raw = request.cookies.get(DEVICE_COOKIE)
    if not raw:
        return None
    try:
        data = URLSafeTimedSerializer(secret, salt=_SALT).loads(raw, max_age=DEVICE_MAX_AGE)
    except BadSignature:
        return None
    if not isinstance(data, dict) or data.get("a") != _account(email):
        return None
    device = data.get("d")
    return device if isinstance(device, str) else None


def remember_device(response: Response, request: Request, secret: str, email: str) -> None:
    """After a successful log-in: this browser is known for this account from now on."""
    device = known_device(request, secret, email) or secrets.token_urlsafe(12)
    value = URLSafeTimedSerializer(secret, salt=_SALT).dumps({"a": _account(email), "d": device})
    response.set_cookie(
        DEVICE_COOKIE,
        value,
        max_age=DEVICE_MAX_AGE,
        httponly=True,
        samesite="lax",
        secure=request.url.scheme == "https",
        path="/login",
    )
