"""pycrdt-websocket as it is commonly deployed: `ASGIServer(WebsocketServer())` under uvicorn.

In memory (no YStore), rooms keyed by URL path, uvicorn's default WebSocket implementation
with permessage-deflate off, as Samplan runs. The benchmark starts this as its own process:
`python bench/peer_pycrdt.py --port N`. It imports nothing from Samplan.
"""

from __future__ import annotations

import argparse
import asyncio
import logging

import uvicorn
from pycrdt.websocket import ASGIServer, WebsocketServer, exception_logger


async def serve(host: str, port: int) -> None:
    log = logging.getLogger("pycrdt-websocket")
    # exception_logger: without a handler, one client's failure propagates and can end the
    # server (DESIGN §9); the peer should be measured running, not crashing.
    websocket_server = WebsocketServer(exception_handler=exception_logger, log=log)
    app = ASGIServer(websocket_server)
    config = uvicorn.Config(
        app,
        host=host,
        port=port,
        ws_per_message_deflate=False,
        log_level="warning",
        lifespan="on",
    )
    async with websocket_server:
        await uvicorn.Server(config).serve()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    # uvicorn's default loop (uvloop where installed), as Samplan runs and as
    # `pip install uvicorn[standard]` gives a pycrdt-websocket deployment; httptools likewise.
    loop_factory = uvicorn.Config(None).get_loop_factory()  # type: ignore[arg-type]
    with asyncio.Runner(loop_factory=loop_factory) as runner:
        runner.run(serve(args.host, args.port))


if __name__ == "__main__":
    main()
