"""The Starlette application: routes plus a lifespan that owns every resource."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route, WebSocketRoute

from server.services import Services
from server.settings import Settings
from server.ws import ws_endpoint


async def healthz(request: Request) -> JSONResponse:
    services: Services = request.app.state.services
    return JSONResponse(
        {
            "status": "ok",
            "rooms": len(services.registry.rooms),
            "connections": len(services.connections),
        }
    )


def create_app(settings: Settings | None = None) -> Starlette:
    settings = settings or Settings()

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        services = await Services.start(settings)
        app.state.services = services
        try:
            yield
        finally:
            await services.stop()

    routes = [
        Route("/healthz", healthz),
        WebSocketRoute("/ws/{room:path}", ws_endpoint),
    ]
    return Starlette(routes=routes, lifespan=lifespan)
