"""Signed, expiring tokens that let one user open one plan's rooms (scripts, integrations, tests).

itsdangerous signs and timestamps; the lifetime travels inside the signed payload so each
token can have its own TTL, and the plan id binds it so it opens no other plan.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from itsdangerous import BadSignature, URLSafeTimedSerializer

SALT = "samplan.plan-token.v1"


class TokenError(Exception):
    """The token is missing, forged, malformed or expired (message safe to log)."""


@dataclass(frozen=True, slots=True)
class PlanToken:
    user_id: int
    plan_id: str


def issue_plan_token(secret: str, user_id: int, plan_id: str, ttl_seconds: int) -> str:
    if ttl_seconds <= 0:
        raise ValueError("ttl must be positive")
    serializer = URLSafeTimedSerializer(secret, salt=SALT)
    return serializer.dumps({"u": user_id, "p": plan_id, "t": ttl_seconds})


def verify_plan_token(secret: str, token: str, *, now: float | None = None) -> PlanToken:
    serializer = URLSafeTimedSerializer(secret, salt=SALT)
    try:
        payload, issued = serializer.loads(token, return_timestamp=True)
    except BadSignature as exc:
        raise TokenError("invalid token") from exc
    try:
        user_id, plan_id, ttl = int(payload["u"]), str(payload["p"]), int(payload["t"])
    except (KeyError, TypeError, ValueError) as exc:
        raise TokenError("invalid token payload") from exc
    current = time.time() if now is None else now
    if current > issued.timestamp() + ttl:
        raise TokenError("token expired")
    return PlanToken(user_id=user_id, plan_id=plan_id)
