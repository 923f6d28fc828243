"""A small but real OpenID Connect provider for tests: discovery, /authorize (auto-approves
one configured user), /token (client secret, code, redirect_uri and PKCE S256 checked) and
/jwks, signing RS256 ID tokens with joserfc. Run under uvicorn in the test's event loop.

Knobs for the negative tests: `deny` (answer error=access_denied), `sign_with_other_key`
(the ID token is signed by a key that is not published), `nonce_override`, `state_override`
and `email` (the identity the provider vouches for).
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import hmac
import secrets
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

import uvicorn
from joserfc import jwt
from joserfc.jwk import RSAKey
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response
from starlette.routing import Route

from tests.support.live import serving

CLIENT_ID = "samplan-test"
CLIENT_SECRET = "hemmelig-klientnokkel-for-test"


@dataclass
class Grant:
    client_id: str
    redirect_uri: str
    code_challenge: str
    nonce: str


@dataclass
class OidcProvider:
    email: str = "kari.nilsen@eksempelvik.test"
    name: str = "Kari Nilsen"
    deny: bool = False
    sign_with_other_key: bool = False
    nonce_override: str | None = None
    state_override: str | None = None
    token_lifetime: int = 300
    port: int = 0
    key: RSAKey = field(default_factory=lambda: RSAKey.generate_key(2048, {"kid": "k1"}))
    other_key: RSAKey = field(default_factory=lambda: RSAKey.generate_key(2048, {"kid": "k1"}))
    grants: dict[str, Grant] = field(default_factory=dict)
    token_requests: int = 0

    @property
    def issuer(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def app(self) -> Starlette:
        return Starlette(
            routes=[
                Route("/.well-known/openid-configuration", self.discovery),
                Route("/authorize", self.authorize),
                Route("/token", self.token, methods=["POST"]),
                Route("/jwks", self.jwks),
            ]
        )

    async def discovery(self, request: Request) -> Response:
        return JSONResponse(
            {
                "issuer": self.issuer,
                "authorization_endpoint": f"{self.issuer}/authorize",
                "token_endpoint": f"{self.issuer}/token",
                "jwks_uri": f"{self.issuer}/jwks",
                "response_types_supported": ["code"],
                "subject_types_supported": ["public"],
                "id_token_signing_alg_values_supported": ["RS256"],
                "code_challenge_methods_supported": ["S256"],
                "token_endpoint_auth_methods_supported": [
                    "client_secret_basic",
                    "client_secret_post",
                ],
            }
        )

    async def authorize(self, request: Request) -> Response:
        q = request.query_params
        if q.get("client_id") != CLIENT_ID or q.get("response_type") != "code":
            return JSONResponse({"error": "invalid_request"}, status_code=400)
        if q.get("code_challenge_method") != "S256" or not q.get("code_challenge"):
            return JSONResponse({"error": "invalid_request"}, status_code=400)
        if "openid" not in (q.get("scope") or "").split():
            return JSONResponse({"error": "invalid_scope"}, status_code=400)
        redirect_uri = q["redirect_uri"]
        state = self.state_override if self.state_override is not None else q.get("state", "")
        if self.deny:
            answer = {"error": "access_denied", "state": state}
        else:
            code = secrets.token_urlsafe(24)
            self.grants[code] = Grant(
                CLIENT_ID, redirect_uri, q["code_challenge"], q.get("nonce", "")
            )
            answer = {"code": code, "state": state}
        return RedirectResponse(f"{redirect_uri}?{urlencode(answer)}", status_code=302)

    def _client_ok(self, request: Request, form: Any) -> bool:
        client_id, secret = form.get("client_id"), form.get("client_secret")
        header = request.headers.get("authorization", "")
        if header.startswith("Basic "):
            decoded = base64.b64decode(header[6:]).decode()
            client_id, _, secret = decoded.partition(":")
            from urllib.parse import unquote_plus

            client_id, secret = unquote_plus(client_id), unquote_plus(secret)
        return client_id == CLIENT_ID and hmac.compare_digest(
            str(secret or "").encode(), CLIENT_SECRET.encode()
        )

    async def token(self, request: Request) -> Response:
        self.token_requests += 1
        form = await request.form()
        if not self._client_ok(request, form):
            return JSONResponse({"error": "invalid_client"}, status_code=401)
        if form.get("grant_type") != "authorization_code":
            return JSONResponse({"error": "unsupported_grant_type"}, status_code=400)
        grant = self.grants.pop(str(form.get("code") or ""), None)
        if grant is None or grant.redirect_uri != form.get("redirect_uri"):
            return JSONResponse({"error": "invalid_grant"}, status_code=400)
        verifier = str(form.get("code_verifier") or "")
        digest = hashlib.sha256(verifier.encode()).digest()
        challenge = base64.urlsafe_b64encode(digest).rstrip(b"=").decode()
        if not verifier or challenge != grant.code_challenge:
            return JSONResponse({"error": "invalid_grant"}, status_code=400)
        now = int(time.time())
        claims = {
            "iss": self.issuer,
            "aud": CLIENT_ID,
            "sub": hashlib.sha256(self.email.encode()).hexdigest()[:24],
            "iat": now,
            "exp": now + self.token_lifetime,
            "nonce": self.nonce_override if self.nonce_override is not None else grant.nonce,
            "email": self.email,
            "email_verified": True,
            "name": self.name,
        }
        key = self.other_key if self.sign_with_other_key else self.key
        id_token = jwt.encode({"alg": "RS256", "kid": "k1"}, claims, key)
        return JSONResponse(
            {
                "access_token": secrets.token_urlsafe(32),
                "token_type": "Bearer",
                "expires_in": 300,
                "id_token": id_token,
            },
            headers={"cache-control": "no-store"},
        )

    async def jwks(self, request: Request) -> Response:
        return JSONResponse({"keys": [self.key.as_dict(private=False)]})


@contextlib.asynccontextmanager
async def oidc_provider(**options: Any) -> AsyncIterator[OidcProvider]:
    made: list[OidcProvider] = []

    def config(port: int) -> uvicorn.Config:
        made.append(OidcProvider(port=port, **options))  # its issuer URL needs the port
        return uvicorn.Config(made[0].app(), log_config=None, lifespan="off")

    async with serving(config):
        yield made[0]
