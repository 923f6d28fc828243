"""Log-in through OpenID Connect (ID-porten, HelseID): authorization code with PKCE.

Off unless `SAMPLAN_OIDC_ISSUER` is set. The provider only vouches for an identity: the
user must already exist here (the municipality provisions users), matched by the ID-token
claim `SAMPLAN_OIDC_USER_CLAIM` against users.email. The one exception is an invitation
(server.auth.invitations): a flow started from an invitation link links the identity to the
plan, creating the account for a newcomer.

Between the redirect to the provider and the callback, state, nonce, PKCE verifier and the
`next` path live in a short-lived signed cookie (not the session cookie). Authlib's
`AsyncOAuth2Client` builds the authorization URL and exchanges the code; joserfc (Authlib's
own JOSE library) verifies the ID token against the provider's JWKS. Tokens and claims are
never logged.
"""

from __future__ import annotations

import hmac
import logging
import secrets
from typing import Any

from itsdangerous import BadSignature, URLSafeTimedSerializer
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from server.auth.invitations import accept_with_identity, invitation_for_oidc
from server.auth.pages import safe_next, start_session
from server.services import Services
from server.settings import Settings
from server.web.i18n import language_of, translator
from server.web.templating import render

log = logging.getLogger("samplan.auth.oidc")

FLOW_COOKIE = "samplan_oidc"
FLOW_PATH = "/login/oidc"
FLOW_MAX_AGE = 600
ALGORITHMS = ["RS256"]
HTTP_TIMEOUT = 10.0
LEEWAY_SECONDS = 60


class OidcFailure(Exception):
    """A refused log-in: a translation key and an HTTP status for the log-in page."""

    def __init__(self, key: str, status: int, reason: str) -> None:
        super().__init__(reason)
        self.key = key
        self.status = status
        self.reason = reason


def _services(request: Request) -> Services:
    services: Services = request.app.state.services
    return services


def _settings(request: Request) -> Settings:
    settings = _services(request).settings
    if not settings.oidc_issuer:
        raise HTTPException(404)
    return settings


def _serializer(secret: str) -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(secret, salt="samplan.oidc.v1")


def _client(settings: Settings, redirect_uri: str) -> Any:
    # Imported here: httpx is only needed when OIDC is configured.
    from authlib.integrations.httpx_client import (  # type: ignore[import-untyped]
        AsyncOAuth2Client,
    )

    return AsyncOAuth2Client(
        client_id=settings.oidc_client_id,
        client_secret=settings.oidc_client_secret,
        scope=settings.oidc_scopes,
        redirect_uri=redirect_uri,
        code_challenge_method="S256",
        timeout=HTTP_TIMEOUT,
    )


async def _get_json(client: Any, url: str) -> dict[str, Any]:
    response = await client.request("GET", url, withhold_token=True)
    response.raise_for_status()
    data = response.json()
    if not isinstance(data, dict):
        raise ValueError("expected a JSON object")
    return data


async def _discover(client: Any, issuer: str) -> dict[str, Any]:
    metadata = await _get_json(client, issuer.rstrip("/") + "/.well-known/openid-configuration")
    if metadata.get("issuer") != issuer:
        raise ValueError("discovery document names another issuer")
    return metadata


def _redirect_uri(request: Request) -> str:
    """The callback on SAMPLAN_PUBLIC_URL (the address registered with the provider), never
    built from the request's Host header."""
    return _settings(request).public_link(request.app.url_path_for("oidc_callback"))


def _failure_page(request: Request, failure: OidcFailure, next_url: str) -> Response:
    t = translator(language_of(request))
    context = {"error": t(failure.key), "email": "", "next": next_url}
    response = render(request, "login.html", context, status_code=failure.status)
    response.delete_cookie(FLOW_COOKIE, path=FLOW_PATH)
    return response


async def oidc_login(request: Request) -> Response:
    """Send the browser to the provider, remembering state, nonce and verifier."""
    _settings(request)
    return await _begin(request, safe_next(request.query_params.get("next")), None)


async def invitation_oidc(request: Request) -> Response:
    """GET /invitation/{token}/oidc: the same, for accepting an invitation; the callback
    links the identity to it. A link that no longer works is refused here already."""
    _settings(request)
    token, refusal = await invitation_for_oidc(request)
    if refusal is not None:
        return refusal
    return await _begin(request, f"/invitation/{token}", token)


async def _begin(request: Request, next_url: str, invitation: str | None) -> Response:
    settings = _settings(request)
    services = _services(request)
    state = secrets.token_urlsafe(32)
    nonce = secrets.token_urlsafe(32)
    verifier = secrets.token_urlsafe(64)
    try:
        async with _client(settings, _redirect_uri(request)) as client:
            metadata = await _discover(client, settings.oidc_issuer)
            url, _ = client.create_authorization_url(
                metadata["authorization_endpoint"],
                state=state,
                nonce=nonce,
                code_verifier=verifier,
            )
    except Exception as exc:  # the provider is down or misconfigured
        log.warning("oidc: discovery failed (%s)", type(exc).__name__, exc_info=exc)
        failure = OidcFailure("login.error.oidc_failed", 502, "discovery")
        return _failure_page(request, failure, next_url)
    flow = {"state": state, "nonce": nonce, "verifier": verifier, "next": next_url}
    if invitation is not None:
        flow["invitation"] = invitation
    response = RedirectResponse(url, status_code=303)
    response.set_cookie(
        FLOW_COOKIE,
        _serializer(services.secret_key).dumps(flow),
        max_age=FLOW_MAX_AGE,
        httponly=True,
        samesite="lax",
        secure=request.url.scheme == "https",
        path=FLOW_PATH,
    )
    response.headers["cache-control"] = "no-store"
    return response


def _load_flow(request: Request, secret: str) -> dict[str, str]:
    raw = request.cookies.get(FLOW_COOKIE)
    if not raw:
        raise OidcFailure("login.error.oidc_state", 400, "no flow cookie")
    try:
        flow = _serializer(secret).loads(raw, max_age=FLOW_MAX_AGE)
    except BadSignature as exc:  # includes SignatureExpired
        raise OidcFailure("login.error.oidc_state", 400, "bad or expired flow cookie") from exc
    if not isinstance(flow, dict) or not all(
        isinstance(flow.get(k), str) for k in ("state", "nonce", "verifier", "next")
    ):
        raise OidcFailure("login.error.oidc_state", 400, "malformed flow cookie")
    return flow


async def _verified_claims(
    request: Request, settings: Settings, flow: dict[str, str], code: str
) -> dict[str, Any]:
    try:
        async with _client(settings, _redirect_uri(request)) as client:
            metadata = await _discover(client, settings.oidc_issuer)
            token = await client.fetch_token(
                metadata["token_endpoint"],
                grant_type="authorization_code",
                code=code,
                code_verifier=flow["verifier"],
                redirect_uri=_redirect_uri(request),
            )
            jwks = await _get_json(client, metadata["jwks_uri"])
    except Exception as exc:
        reason = f"token exchange: {type(exc).__name__}"
        raise OidcFailure("login.error.oidc_failed", 400, reason) from exc
    id_token = token.get("id_token")
    if not isinstance(id_token, str):
        raise OidcFailure("login.error.oidc_failed", 400, "no id_token")
    # Imported here, like Authlib: joserfc and the `cryptography` it loads are ~9 MB that a
    # server without OIDC, or one nobody has logged in to through it yet, never needs (issue 16).
    from joserfc import jwt
    from joserfc.errors import JoseError
    from joserfc.jwk import KeySet

    try:
        keys = KeySet.import_key_set(jwks)  # type: ignore[arg-type]
        decoded = jwt.decode(id_token, keys, algorithms=ALGORITHMS)
        registry = jwt.JWTClaimsRegistry(
            leeway=LEEWAY_SECONDS,
            iss={"essential": True, "value": settings.oidc_issuer},
            aud={"essential": True, "value": settings.oidc_client_id},
            exp={"essential": True},
            sub={"essential": True},
            nonce={"essential": True, "value": flow["nonce"]},
        )
        registry.validate(decoded.claims)
    except (JoseError, ValueError) as exc:
        raise OidcFailure("login.error.oidc_invalid", 403, type(exc).__name__) from exc
    claims: dict[str, Any] = decoded.claims
    return claims


async def oidc_callback(request: Request) -> Response:
    """Check the provider's answer and the ID token, then start a local session."""
    settings = _settings(request)
    services = _services(request)
    next_url = "/plans"
    try:
        flow = _load_flow(request, services.secret_key)
        next_url = safe_next(flow["next"])
        state = request.query_params.get("state") or ""
        if not hmac.compare_digest(state.encode(), flow["state"].encode()):
            raise OidcFailure("login.error.oidc_state", 400, "state mismatch")
        error = request.query_params.get("error")
        if error == "access_denied":
            raise OidcFailure("login.error.oidc_denied", 403, "provider: access_denied")
        if error:  # the provider's own text is not logged: it comes from the query string
            raise OidcFailure("login.error.oidc_failed", 400, "provider: error")
        code = request.query_params.get("code")
        if not code:
            raise OidcFailure("login.error.oidc_failed", 400, "no code")
        claims = await _verified_claims(request, settings, flow, code)
        if claims.get("email_verified") is False and settings.oidc_user_claim == "email":
            raise OidcFailure("login.error.oidc_unknown", 403, "email not verified")
        identity = claims.get(settings.oidc_user_claim)
        invitation = flow.get("invitation")
        if isinstance(invitation, str) and isinstance(identity, str) and identity.strip():
            # Nothing of the claims is logged or stored but the identity and the name.
            name = claims.get("name")
            response = await accept_with_identity(
                request,
                invitation,
                identity.strip().lower(),
                name if isinstance(name, str) else "",
                settings.oidc_user_claim == "email",
            )
            response.delete_cookie(FLOW_COOKIE, path=FLOW_PATH)
            return response
        user = (
            await services.repos.users.get_by_email(identity.strip().lower())
            if isinstance(identity, str) and identity.strip()
            else None
        )
        if user is None:
            raise OidcFailure("login.error.oidc_unknown", 403, "no such local user")
        if user.deactivated_at is not None:
            raise OidcFailure("login.error.deactivated", 403, "account deactivated")
    except OidcFailure as failure:
        log.info("oidc log-in refused: %s", failure.reason)
        services.audit.record(  # fixed reasons only: nothing the provider or browser sent
            "login_failed",
            client_address=request.client.host if request.client else None,
            details={"method": "oidc", "reason": failure.reason},
        )
        return _failure_page(request, failure, next_url)
    log.info("user %s logged in via oidc", user.id)
    response = await start_session(request, user.id, next_url, method="oidc")
    response.delete_cookie(FLOW_COOKIE, path=FLOW_PATH)
    return response
