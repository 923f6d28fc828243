"""The floor: a bare Starlette/uvicorn WebSocket relay that does no CRDT work and stores nothing.

It answers a client's sync step 1 with an empty document and forwards every other frame to the
room's other connections, as fast as this stack (Python, asyncio, uvicorn's websockets) can. A
real server's latency above the floor's is what its own work costs (CRDT, checks, storage);
the floor itself is what no server written on this stack can go below. The benchmark starts
this as its own process, like the peer: `python bench/relay_floor.py --port N`. It imports
nothing from Samplan.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
from collections import defaultdict

import uvicorn
from starlette.applications import Starlette
from starlette.routing import WebSocketRoute
from starlette.websockets import WebSocket, WebSocketDisconnect

# y-protocols: [messageSync=0, syncStep1=0] from the client; we reply
# [messageSync=0, syncStep2=1, length 2, the empty Yjs update (no structs, no deletions)].
_SYNC_STEP1 = b"\x00\x00"
_EMPTY_STEP2 = b"\x00\x01\x02\x00\x00"

rooms: defaultdict[str, set[WebSocket]] = defaultdict(set)


async def relay(websocket: WebSocket) -> None:
    await websocket.accept()
    room = rooms[websocket.path_params["room"]]
    room.add(websocket)
    try:
        while True:
            frame = await websocket.receive_bytes()
            if frame.startswith(_SYNC_STEP1):
                await websocket.send_bytes(_EMPTY_STEP2)
                continue
            for other in list(room):
                if other is not websocket:
                    try:
                        await other.send_bytes(frame)
                    except (WebSocketDisconnect, RuntimeError):
                        room.discard(other)
    except WebSocketDisconnect:
        pass
    finally:
        room.discard(websocket)


app = Starlette(routes=[WebSocketRoute("/ws/{room:path}", relay)])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    config = uvicorn.Config(
        app, host=args.host, port=args.port, ws_per_message_deflate=False, log_level="warning"
    )
    # uvicorn's default loop (uvloop where installed) and HTTP parser (httptools), as Samplan
    # and the pycrdt-websocket peer run: the same stack under all three Python servers.
    with asyncio.Runner(loop_factory=config.get_loop_factory()) as runner:
        runner.run(uvicorn.Server(config).serve())


if __name__ == "__main__":
    main()
