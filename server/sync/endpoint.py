"""`/ws/{room:path}`: authenticate, authorise, then speak y-websocket through a Room.

The socket is accepted before any check so a refusal reaches the client as a close code
(a browser sees only 1006 when the handshake itself is refused). Codes: crdt.protocol.
"""

from __future__ import annotations

import contextlib
import itertools
import logging
import re
import secrets
import time
from dataclasses import dataclass
from typing import Any

from starlette.types import Receive, Scope, Send
from starlette.websockets import WebSocket

from crdt.lib0 import MalformedFrame
from crdt.peer import Peer
from crdt.protocol import CloseCode
from server.core.access import effective_access, needs_consent
from server.core.identity import identity_of
from server.core.sessions import SESSION_COOKIE
from server.core.tokens import TokenError, verify_plan_token
from server.services import Services
from server.sync.connections import Connection
from server.sync.fast_send import transport_for
from server.sync.room_path import BadRoomPath, parse_room_path
from server.sync.sessions import SESSION_ENDED
from storage.errors import database_unavailable
from storage.repositories.sessions import token_id

log = logging.getLogger("samplan.ws")

_peer_ids = itertools.count(1)
# A sync step 2 or update whose update is empty (a fresh client answering the server's step 1)
# is not an edit: y-websocket frames [SYNC=0, STEP2=1 | UPDATE=2, len=2, 0, 0].
_EDIT_TYPES = (1, 2)
# The close reason when the database is gone, the same a room's failed log write gives.
STORAGE_UNAVAILABLE = "storage unavailable"
_EMPTY_UPDATE_TAIL = b"\x02\x00\x00"
# The plan page's load id (server.plans.pages.plan_page), sent back as ?visit= by its sockets.
_VISIT_ID = re.compile(r"^[0-9a-f]{16,32}$")


def _is_edit(data: bytes) -> bool:
    # Compared by length and suffix: slicing would copy every frame on the hot path.
    empty = len(data) == 2 + len(_EMPTY_UPDATE_TAIL) and data.endswith(_EMPTY_UPDATE_TAIL)
    return len(data) > 2 and data[0] == 0 and data[1] in _EDIT_TYPES and not empty


class Refused(Exception):
    def __init__(self, code: int, reason: str) -> None:
        super().__init__(reason)
        self.code = code
        self.reason = reason


@dataclass(slots=True)
class RateLimit:
    """Token bucket: `rate` messages per second with bursts of `burst`."""

    rate: float
    burst: float
    tokens: float
    stamp: float

    def allow(self, now: float) -> bool:
        self.tokens = min(self.burst, self.tokens + (now - self.stamp) * self.rate)
        self.stamp = now
        if self.tokens < 1.0:
            return False
        self.tokens -= 1.0
        return True


@dataclass(frozen=True, slots=True)
class Caller:
    user_id: int
    session_id: str | None  # None for a token: only sessions are ended by log-out or expiry


async def _authenticate(ws: WebSocket, services: Services, plan_id: str) -> Caller:
    token = ws.query_params.get("token")
    if token:
        try:
            grant = verify_plan_token(services.secret_key, token)
        except TokenError as exc:
            raise Refused(CloseCode.UNAUTHENTICATED, str(exc)) from exc
        if grant.plan_id != plan_id:
            raise Refused(CloseCode.FORBIDDEN, "token is for another plan")
        # Whether the account is still active is read with the join's access check (one
        # statement, `PlanRepo.join_check`), before anything of the plan is sent.
        return Caller(grant.user_id, None)
    cookie = ws.cookies.get(SESSION_COOKIE)
    if cookie:
        if not services.origin_allowed(ws.headers.get("origin"), ws.headers.get("host")):
            raise Refused(CloseCode.FORBIDDEN, "origin not allowed")
        user_id = await services.registry.committer.bound(
            services.sessions.user_for(cookie, services.settings.session_idle_seconds),
            "join",
            "a join's session check",
        )
        if user_id is not None:
            return Caller(user_id, token_id(cookie))
    raise Refused(CloseCode.UNAUTHENTICATED, "not authenticated")


class SyncEndpoint:
    """The route's ASGI app: an object, not a function, so Starlette's WebSocketRoute hands
    it the raw scope, receive and send (the data path uses them directly)."""

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await _session(scope, receive, send)


async def _session(scope: Scope, receive: Receive, send: Send) -> None:
    ws = WebSocket(scope, receive, send)
    services: Services = ws.app.state.services
    await ws.accept()
    peer: Peer | None = None
    try:
        try:
            path = parse_room_path(ws.path_params["room"])
        except BadRoomPath as exc:
            raise Refused(CloseCode.NOT_FOUND, "no such room") from exc
        caller = await _authenticate(ws, services, path.plan_id)
        user_id = caller.user_id
        # The account, the zone, the role and the consent in one statement (issue 16: each
        # query is a round trip to the database thread, and the joiner waits for all of them).
        # Bounded like the zone's load and every commit (crdt/bounded.py): a stalled database
        # held the joiner here, socket open, with no answer.
        check = await services.registry.committer.bound(
            services.plans.join_check(path.plan_id, path.kind, path.key, user_id),
            "join",
            f"a join's access check (plan {path.plan_id})",
        )
        if not check.active:
            raise Refused(CloseCode.UNAUTHENTICATED, "account deactivated")
        context = check.context
        if context is None:
            raise Refused(CloseCode.NOT_FOUND, "no such plan or zone")  # no oracle on which
        zone = path.zone
        consent = None
        if needs_consent(context.role):
            consent = check.member.consent if check.member else None
        access = effective_access(
            context.role, path.kind, zone, consent, closed=context.plan_closed
        )
        if access is None:
            reason = "no consent" if needs_consent(context.role) else "not allowed"
            raise Refused(CloseCode.FORBIDDEN, reason)
        peer = Peer(
            transport_for(send, direct=services.settings.direct_send),
            peer_id=f"{next(_peer_ids)}",
            can_write=access == "rw",
            max_queued_frames=services.settings.send_queue_frames,
            identity=identity_of(user_id, context.user_name, context.role),
            user_id=user_id,
        )
        conn = Connection(
            peer,
            user_id,
            context.plan_id,
            path.kind,
            context.role,
            zone,
            zone_id=context.zone_id,
            session_id=caller.session_id,
        )
        address = ws.client.host if ws.client else None
        visit = ws.query_params.get("visit", "")
        ids = {"conn": secrets.token_hex(8), **({"visit": visit} if _VISIT_ID.match(visit) else {})}
        await _serve(
            receive, services, conn, context.zone_id, path.kind, zone, address, ids,
            access_version=context.access_version,
        )  # fmt: skip
    except Refused as refusal:
        log.info("ws refused: %s (%d)", refusal.reason, refusal.code)
        services.metrics.closed(refusal.code, "refused")
        await ws.close(refusal.code, refusal.reason)
    except Exception as exc:
        if not database_unavailable(exc):
            raise
        # The database is gone or past the store's bound (checking access, loading the zone,
        # a room behind the store: crdt.bounded.StoreTimeout is an OSError): the client's editor
        # keeps its edits and reconnects with backoff; 1013 says "try again later", where an
        # unhandled error would have closed with 1011 and a traceback per attempt.
        log.warning("ws refused: storage unavailable (%s)", type(exc).__name__)
        services.metrics.closed(CloseCode.TRY_AGAIN_LATER, "refused")
        with contextlib.suppress(Exception):
            await ws.close(CloseCode.TRY_AGAIN_LATER, STORAGE_UNAVAILABLE)
    finally:
        if peer is not None:
            await peer.stop()


async def _serve(
    receive: Receive,
    services: Services,
    conn: Connection,
    zone_id: int,
    kind: str,
    zone: str,
    address: str | None,
    ids: dict[str, str],
    *,
    access_version: int,
) -> None:
    """`ids` go on the join and the leave row alike: the connection's own id pairs them, the
    page load's id groups a page's zones into one visit (storage.repositories.access_history)."""
    settings = services.settings
    peer = conn.peer
    room = await services.registry.join(zone_id, peer, kind)
    services.connections.add(conn)
    # Only now, with the connection in the index (no await in between): remembered before
    # the room had loaded, a watcher tick in between dropped the plan as having no
    # connections, and an access change right after the join then went unnoticed.
    services.watcher.remember(conn.plan_id, access_version)
    session_id = conn.session_id
    sockets = services.session_sockets
    session_key = 0
    if session_id is not None:
        session_key = sockets.add(
            session_id,
            conn.user_id,
            lambda: peer.close(CloseCode.UNAUTHENTICATED, SESSION_ENDED),
        )

    def forget(_: Peer) -> None:
        services.connections.discard(conn)
        services.registry.leave(room, peer)
        if session_id is not None:
            sockets.discard(session_id, session_key)

    peer.on_close = forget
    joined = time.monotonic()
    log.info("peer %s joined zone %s (user %s, %s)", peer.peer_id, zone_id, conn.user_id, conn.role)

    def audit(action: str, details: dict[str, Any]) -> None:
        services.audit.record(
            action,
            actor_user_id=conn.user_id,
            role=conn.role,
            plan_id=conn.plan_id,
            zone=zone,
            client_address=address,
            details={**details, **ids},
        )

    audit("ws_join", {"access": "rw" if peer.can_write else "r"})
    limit = RateLimit(
        settings.messages_per_second, settings.message_burst, settings.message_burst, joined
    )
    max_frame = settings.max_frame_bytes
    client_code = CloseCode.GOING_AWAY  # the socket ended without a close frame we saw
    try:
        while not peer.closed:
            message = await receive()
            if message["type"] == "websocket.disconnect":
                client_code = message.get("code", client_code)
                break
            if peer.closed:
                break  # closed while waiting (log-out, access withdrawn): nothing more is read
            data = message.get("bytes")
            if data is None:
                peer.close(CloseCode.MALFORMED, "text frames are not part of the protocol")
            elif len(data) > max_frame:
                peer.close(CloseCode.TOO_LARGE, "frame too large")
            elif not limit.allow(time.monotonic()):
                peer.close(CloseCode.TRY_AGAIN_LATER, "rate limited")
            else:
                try:
                    room.receive(peer, data)
                    # Counted, never kept: the leave row says how many, not what.
                    if peer.can_write and _is_edit(data):
                        conn.edits += 1
                        if session_id is not None:
                            sockets.active.add(session_id)  # typing is activity
                except MalformedFrame as exc:
                    log.info("peer %s sent a malformed frame: %s", peer.peer_id, exc)
                    peer.close(CloseCode.MALFORMED, "malformed frame")
    finally:
        forget(peer)
        if peer.close_code is not None:
            services.metrics.closed(peer.close_code, "server")
        else:
            services.metrics.closed(client_code, "client")
        if peer.closed and peer.close_code != CloseCode.NORMAL:
            await peer.wait_closed()
        seconds = time.monotonic() - joined
        log.info("peer %s left zone %s after %.1f s", peer.peer_id, zone_id, seconds)
        audit("ws_leave", {"seconds": round(seconds, 1), "edits": conn.edits})
