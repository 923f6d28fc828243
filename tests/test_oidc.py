"""Log-in through OpenID Connect against a small real provider (tests/support/oidc_provider):
the whole redirect dance over HTTP across two servers, and every way it must refuse."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from server.services import Repositories
from tests.conftest import make_settings
from tests.support.live import LiveServer, live_server
from tests.support.oidc_provider import CLIENT_ID, CLIENT_SECRET, OidcProvider, oidc_provider
from tests.support.world import ROLE_USERS, World, build_world


@dataclass
class Setup:
    app: LiveServer
    provider: OidcProvider
    world: World


@pytest.fixture
async def oidc(tmp_path: Path) -> AsyncIterator[Setup]:
    async with oidc_provider() as provider:
        settings = make_settings(
            tmp_path / "oidc",
            oidc_issuer=provider.issuer,
            oidc_client_id=CLIENT_ID,
            oidc_client_secret=CLIENT_SECRET,
            oidc_label="Logg inn med ID-porten",
        )
        repos = await Repositories.open(settings)
        try:
            world = await build_world(repos, settings.resolved_secret_key())
        finally:
            await repos.close()
        async with live_server(settings) as app:
            # The redirect URI is built on SAMPLAN_PUBLIC_URL: here, the free port it got.
            app.services.settings.public_url = app.http
            yield Setup(app, provider, world)


def has_session(http: httpx.AsyncClient) -> bool:
    return any(cookie.name == "samplan_session" for cookie in http.cookies.jar)


async def run_flow(http: httpx.AsyncClient, next_url: str = "/plans") -> httpx.Response:
    """Click the button and follow every redirect, to the provider and back."""
    return await http.get("/login/oidc", params={"next": next_url}, follow_redirects=True)


async def test_known_user_logs_in_and_sees_plans(oidc: Setup) -> None:
    oidc.provider.email = ROLE_USERS["koordinator"][0].upper()  # case does not matter
    async with httpx.AsyncClient(base_url=oidc.app.http) as http:
        response = await run_flow(http)
        assert response.status_code == 200, response.text
        assert response.url.path == "/plans"
        assert "Individuell plan for Jonas Berg" in response.text
        assert [r.status_code for r in response.history] == [303, 302, 303]
        assert has_session(http)
        assert oidc.provider.token_requests == 1
        assert (await http.get("/plans")).status_code == 200


async def test_next_is_kept_and_kept_on_site(oidc: Setup) -> None:
    async with httpx.AsyncClient(base_url=oidc.app.http) as http:
        response = await run_flow(http, f"/plans/{oidc.world.plan_id}")
        assert response.url.path == f"/plans/{oidc.world.plan_id}"
    async with httpx.AsyncClient(base_url=oidc.app.http) as http:
        response = await run_flow(http, "//evil.example/plans")
        assert response.url.host == "127.0.0.1" and response.url.path == "/plans"


async def test_unknown_identity_is_refused_and_nothing_created(oidc: Setup) -> None:
    oidc.provider.email = "åse.ødegård.ukjent@eksempelvik.test"
    oidc.provider.name = "Åse Ødegård"
    async with httpx.AsyncClient(base_url=oidc.app.http, headers={"accept-language": "nb"}) as http:
        response = await run_flow(http)
        assert response.status_code == 403
        assert "Du har ingen bruker i Samplan" in response.text
        assert not has_session(http)
    repos = oidc.app.services.repos
    assert await repos.users.get_by_email("åse.ødegård.ukjent@eksempelvik.test") is None


async def test_access_denied_is_handled(oidc: Setup) -> None:
    oidc.provider.deny = True
    async with httpx.AsyncClient(base_url=oidc.app.http) as http:
        response = await run_flow(http)
        assert response.status_code == 403
        assert 'id="login-error"' in response.text and "Traceback" not in response.text
        assert not has_session(http)
        assert oidc.provider.token_requests == 0


async def test_tampered_state_is_refused(oidc: Setup) -> None:
    oidc.provider.state_override = "forfalsket-tilstand"
    async with httpx.AsyncClient(base_url=oidc.app.http) as http:
        response = await run_flow(http)
        assert response.status_code == 400
        assert not has_session(http)
        assert oidc.provider.token_requests == 0


async def test_callback_without_flow_cookie_is_refused(oidc: Setup) -> None:
    async with httpx.AsyncClient(base_url=oidc.app.http) as http:
        response = await http.get("/login/oidc/callback", params={"code": "x", "state": "y"})
        assert response.status_code == 400
        assert not has_session(http)


async def test_id_token_signed_by_another_key_is_refused(oidc: Setup) -> None:
    oidc.provider.sign_with_other_key = True
    async with httpx.AsyncClient(base_url=oidc.app.http) as http:
        response = await run_flow(http)
        assert response.status_code == 403
        assert not has_session(http)
        assert oidc.provider.token_requests == 1


async def test_wrong_nonce_is_refused(oidc: Setup) -> None:
    oidc.provider.nonce_override = "en-annen-nonce"
    async with httpx.AsyncClient(base_url=oidc.app.http) as http:
        response = await run_flow(http)
        assert response.status_code == 403
        assert not has_session(http)


async def test_expired_id_token_is_refused(oidc: Setup) -> None:
    oidc.provider.token_lifetime = -3600
    async with httpx.AsyncClient(base_url=oidc.app.http) as http:
        response = await run_flow(http)
        assert response.status_code == 403
        assert not has_session(http)


async def test_login_page_shows_button_only_when_configured(
    oidc: Setup, server: LiveServer
) -> None:
    async with httpx.AsyncClient(base_url=oidc.app.http) as http:
        page = await http.get("/login", params={"next": "/plans"})
        assert 'data-testid="login-oidc"' in page.text
        assert "Logg inn med ID-porten" in page.text
        assert 'href="/login/oidc?next=/plans"' in page.text
    async with httpx.AsyncClient(base_url=server.http) as http:
        page = await http.get("/login")
        assert page.status_code == 200 and 'data-testid="login-oidc"' not in page.text
        assert (await http.get("/login/oidc")).status_code == 404
