"""What one relay send costs the server, the ASGI way and the direct way (issue 16).

One real uvicorn WebSocket protocol (the one `samplan serve` gets) on a real socket pair,
its far end drained by a thread; `Peer.send` of one payload N times through each transport,
`time.thread_time` per send (the event loop thread's CPU: the drain thread's is not
counted). Rounds interleave the two paths and, as the floor of any send, the framed bytes
handed to the socket transport with nothing else (`write`).
`python bench/send_cost.py [--sends 20000] [--rounds 5]`.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import os
import socket
import statistics
import threading
import time
from typing import Any

import uvicorn
from uvicorn.protocols.websockets.auto import AutoWebSocketsProtocol
from uvicorn.server import ServerState

from crdt.peer import Peer
from server.sync.fast_send import AsgiTransport, DirectTransport, frame_binary, transport_for

PAYLOAD = ("Åse Ødegård æøå 😀 " * 6).encode()  # ~150 bytes, a typical sync update frame


def _drain(sock: socket.socket, stop: threading.Event) -> None:
    sock.settimeout(0.2)
    while not stop.is_set():
        try:
            if not sock.recv(1 << 20):
                return
        except TimeoutError:
            continue
        except OSError:
            return


async def measure(sends: int, rounds: int) -> dict[str, list[float]]:
    results: dict[str, list[float]] = {"asgi": [], "direct": [], "write": []}
    done = asyncio.get_running_loop().create_future()

    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        await receive()
        await send({"type": "websocket.accept"})
        direct = transport_for(send)
        assert isinstance(direct, DirectTransport), "not uvicorn's sans-I/O protocol"
        transports = {"asgi": AsgiTransport(send), "direct": direct}
        for _ in range(rounds):
            for name, transport in transports.items():
                peer = Peer(transport, peer_id=name, can_write=False, max_queued_frames=10**9)
                started = time.thread_time()
                for _ in range(sends):
                    peer.send(PAYLOAD)
                    if peer.queued:  # the socket filled: let the drain catch up
                        while peer.queued:  # noqa: ASYNC110 (a thread drains; no event)
                            await asyncio.sleep(0)
                results[name].append((time.thread_time() - started) / sends * 1e6)
                await asyncio.sleep(0.05)
            # the floor of any send: the framed bytes handed to the socket, nothing else
            socket_transport = direct._socket
            wire = frame_binary(PAYLOAD)
            started = time.thread_time()
            for _ in range(sends):
                socket_transport.write(wire)
                if socket_transport.get_write_buffer_size() > 1 << 16:
                    while socket_transport.get_write_buffer_size():  # noqa: ASYNC110
                        await asyncio.sleep(0)
            results["write"].append((time.thread_time() - started) / sends * 1e6)
            await asyncio.sleep(0.05)
        done.set_result(None)

    config = uvicorn.Config(app, ws_per_message_deflate=False, log_level="warning")
    config.load()
    server_side, client_side = socket.socketpair()
    stop = threading.Event()
    drain = threading.Thread(target=_drain, args=(client_side, stop), daemon=True)
    assert AutoWebSocketsProtocol is not None
    loop = asyncio.get_running_loop()
    await loop.connect_accepted_socket(
        lambda: AutoWebSocketsProtocol(config=config, server_state=ServerState(), app_state={}),
        server_side,
    )
    key = base64.b64encode(os.urandom(16)).decode()
    client_side.sendall(
        (
            "GET /ws/x HTTP/1.1\r\nHost: localhost\r\nUpgrade: websocket\r\n"
            f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\n"
            "Sec-WebSocket-Version: 13\r\n\r\n"
        ).encode()
    )
    drain.start()
    await done
    stop.set()
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--sends", type=int, default=20000)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    results = asyncio.run(measure(args.sends, args.rounds))
    for name, values in results.items():
        shown = " ".join(f"{v:.2f}" for v in values)
        print(f"{name:6s} µs/send: median {statistics.median(values):.2f}  ({shown})")
    print(f"load average: {os.getloadavg()}")


if __name__ == "__main__":
    main()
