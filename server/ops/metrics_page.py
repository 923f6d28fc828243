"""The `/metrics` route: the operator's bearer token, or nothing (server/ops/metrics.py)."""

from __future__ import annotations

from prometheus_client import CONTENT_TYPE_LATEST
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response

from server.services import Services


async def metrics_endpoint(request: Request) -> Response:
    services: Services = request.app.state.services
    metrics = services.metrics
    if not metrics.enabled:
        raise HTTPException(404)
    if not metrics.authorised(request.headers.get("authorization")):
        return Response(
            "metrics need a bearer token\n",
            status_code=401,
            headers={"WWW-Authenticate": 'Bearer realm="samplan-metrics"'},
            media_type="text/plain",
        )
    return Response(metrics.exposition(), media_type=CONTENT_TYPE_LATEST)
