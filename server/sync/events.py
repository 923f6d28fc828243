"""`/events`: per-user live events for what happens outside a zone document (minutes
published, a new notification, a plan closed). A WebSocket, not server-sent events, because
uvicorn ends open sockets with 1012 on shutdown, while an endless HTTP response would hold
the shutdown up until its timeout. The hub is server/core/event_hub.py.
"""

from __future__ import annotations

import asyncio

from starlette.websockets import WebSocket, WebSocketDisconnect

from crdt.protocol import CloseCode
from server.core.event_hub import CLOSED
from server.core.sessions import SESSION_COOKIE
from server.services import Services
from server.sync.sessions import SESSION_ENDED
from storage.repositories.sessions import token_id


async def events_endpoint(ws: WebSocket) -> None:
    """`/events`: the logged-in user's live events as JSON text frames."""
    services: Services = ws.app.state.services
    await ws.accept()
    cookie = ws.cookies.get(SESSION_COOKIE)
    user_id = None
    if cookie and services.origin_allowed(ws.headers.get("origin"), ws.headers.get("host")):
        user_id = await services.sessions.user_for(cookie, services.settings.session_idle_seconds)
    if cookie is None or user_id is None:
        await ws.close(CloseCode.UNAUTHENTICATED, "not authenticated")
        return
    # Log-out or expiry of the session that opened this stream ends it (server/sync/sessions.py).
    session_id = token_id(cookie)
    ended = asyncio.Event()
    sockets = services.session_sockets
    session_key = sockets.add(session_id, user_id, ended.set)
    with services.events.subscribe(user_id) as queue:
        reader = asyncio.ensure_future(_until_disconnect(ws))
        stop = asyncio.ensure_future(ended.wait())
        try:
            while True:
                getter = asyncio.ensure_future(queue.get())
                done, _ = await asyncio.wait(
                    {getter, reader, stop}, return_when=asyncio.FIRST_COMPLETED
                )
                if reader in done:
                    getter.cancel()
                    return
                if stop in done:
                    getter.cancel()
                    await ws.close(CloseCode.UNAUTHENTICATED, SESSION_ENDED)
                    return
                event = getter.result()
                if event is CLOSED:
                    await ws.close(CloseCode.TRY_AGAIN_LATER, "too slow or shutting down")
                    return
                await ws.send_json(event)
        except (WebSocketDisconnect, RuntimeError):
            return  # the page went away mid-send
        finally:
            reader.cancel()
            stop.cancel()
            sockets.discard(session_id, session_key)


async def _until_disconnect(ws: WebSocket) -> None:
    """The page sends nothing; reading is how we learn it left."""
    while True:
        message = await ws.receive()
        if message["type"] == "websocket.disconnect":
            return
