"""The Starlette application: routes plus a lifespan that owns every resource."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from pathlib import Path

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Mount, Route, WebSocketRoute
from starlette.staticfiles import StaticFiles

from server.auth.oidc import oidc_callback, oidc_login
from server.auth.web import current_user, login_page, login_submit, logout
from server.consent_web import consent_submit
from server.i18n import language_of, translator
from server.lifecycle_web import close_submit, delete_submit, reopen_submit
from server.logs import install_token_scrubber
from server.pages import home, my_plans, plan_page
from server.security import SecurityHeaders
from server.services import Services
from server.settings import Settings
from server.templating import render
from server.ws import SyncEndpoint

CLIENT_DIR = Path(__file__).resolve().parent.parent / "client"


async def healthz(request: Request) -> JSONResponse:
    services: Services = request.app.state.services
    return JSONResponse(
        {
            "status": "ok",
            "rooms": len(services.registry.rooms),
            "connections": len(services.connections),
        }
    )


async def http_error(request: Request, exc: Exception) -> Response:
    status = exc.status_code if isinstance(exc, HTTPException) else 500
    t = translator(language_of(request))
    message = t("error.not_found") if status == 404 else t("error.generic")
    user = await current_user(request) if status != 500 else None
    return render(
        request, "error.html", {"status": status, "message": message}, status_code=status, user=user
    )


def create_app(settings: Settings | None = None) -> Starlette:
    settings = settings or Settings()
    install_token_scrubber()

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        services = await Services.start(settings)
        app.state.services = services
        try:
            yield
        finally:
            await services.stop()

    routes = [
        Route("/", home),
        Route("/login", login_page, methods=["GET"]),
        Route("/login", login_submit, methods=["POST"]),
        Route("/login/oidc", oidc_login, methods=["GET"]),
        Route("/login/oidc/callback", oidc_callback, methods=["GET"], name="oidc_callback"),
        Route("/logout", logout, methods=["POST"]),
        Route("/plans", my_plans),
        Route("/plans/{plan_id}", plan_page),
        Route("/plans/{plan_id}/consent", consent_submit, methods=["POST"]),
        Route("/plans/{plan_id}/close", close_submit, methods=["POST"]),
        Route("/plans/{plan_id}/reopen", reopen_submit, methods=["POST"]),
        Route("/plans/{plan_id}/delete", delete_submit, methods=["POST"]),
        Route("/healthz", healthz),
        WebSocketRoute("/ws/{room:path}", SyncEndpoint()),
        Mount("/static/assets", StaticFiles(directory=CLIENT_DIR / "static", check_dir=False)),
        Mount("/static", StaticFiles(directory=CLIENT_DIR / "dist", check_dir=False)),
    ]
    return Starlette(
        routes=routes,
        lifespan=lifespan,
        middleware=[Middleware(SecurityHeaders)],
        exception_handlers={HTTPException: http_error},
    )
