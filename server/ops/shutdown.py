"""A graceful stop in the promised order: stop accepting, make pending writes durable, then
close every socket with 1012 (service restart) and exit.

uvicorn, on SIGTERM or SIGINT, closes its listening sockets and at once closes every open
WebSocket with 1012; only after that does the application's lifespan shutdown run (which makes
every pending write durable and compacts the rooms: `Services.stop`). An edit applied just
before the signal would then be stored but never relayed: its writer's peers would get it only
when they reconnect and resync. So between "stop accepting" and "close the sockets" the node
first waits for the writes it has queued, whose relays go out as they commit; then uvicorn
closes the sockets, after what was sent (the transport flushes before it closes).
"""

from __future__ import annotations

import asyncio
import logging
import socket

import uvicorn

from server.services import Services

log = logging.getLogger("samplan.shutdown")

DRAIN_SECONDS = 10.0  # a database that hangs must not hold the stop for ever: the lifespan retries


class GracefulServer(uvicorn.Server):
    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        # Which loop and HTTP parser serve (uvloop and httptools by default, SAMPLAN_EVENT_LOOP):
        # an operator reading a profile or a bug report needs to know; the tests check it.
        log.info(
            "event loop: %s, HTTP: %s",
            type(asyncio.get_running_loop()).__module__.split(".")[0],
            getattr(self.config, "http_protocol_class", type).__name__,
        )
        await super().startup(sockets)

    async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
        for server in self.servers:
            server.close()  # stop accepting (uvicorn repeats this harmlessly)
        services = _services_of(self.config.loaded_app)
        if services is not None:
            try:
                async with asyncio.timeout(DRAIN_SECONDS):
                    await services.committer.flush()
                log.info("stopping: pending writes durable and relayed; closing sockets (1012)")
            except TimeoutError:
                log.error("stopping: pending writes not durable after %.0f s", DRAIN_SECONDS)
        await super().shutdown(sockets)


def _services_of(app: object) -> Services | None:
    """The app's services, under whatever middleware uvicorn wrapped around it."""
    for _ in range(10):
        state = getattr(app, "state", None)
        services = getattr(state, "services", None) if state is not None else None
        if isinstance(services, Services):
            return services
        app = getattr(app, "app", None)
        if app is None:
            return None
    return None
