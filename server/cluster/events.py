"""Access and events across nodes: what one node changes, every node acts on at once.

Consent withdrawn, a member removed or deactivated, a plan closed (`recheck_plan`), an
account's sockets closed, a plan deleted, sessions ended, the pages' live events (minutes
published, notifications), log-in failures, and "an e-mail is queued" (wakes the leader's
sender). Each owner announces through its hook what it did here; this module sends it on
the events channel, and every other node does the same thing locally without announcing it
again. The messages carry ids, codes and counts, never plan content (the events themselves
carry none: server/core/event_hub.py). The access-version poll stays as the safety net for a
message Redis lost.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Callable
from typing import Any, Protocol

from crdt.hooks import Hook
from crdt.registry import RoomRegistry
from server.cluster.bus import Bus
from server.core.event_hub import EventHub
from server.sync.connections import ConnectionIndex, forget_plan
from server.sync.sessions import SessionSockets

log = logging.getLogger("samplan.cluster.events")


class Throttle(Protocol):
    """What this needs of server.auth.throttle.LoginThrottle (a capability of its own)."""

    recorded: Hook[tuple[str, str, str, str | None]]

    def failed(
        self, email: str, address: str, device: str | None = None, *, announce: bool = True
    ) -> None: ...

    def succeeded(
        self, email: str, device: str | None = None, *, announce: bool = True
    ) -> None: ...


class EventFanout:
    def __init__(
        self,
        bus: Bus,
        *,
        registry: RoomRegistry,
        connections: ConnectionIndex,
        hub: EventHub,
        sessions: SessionSockets,
        throttle: Throttle,
        wake_mailer: Callable[[], None],
    ) -> None:
        self.bus = bus
        self.registry = registry
        self.connections = connections
        self.hub = hub
        self.sessions = sessions
        self.throttle = throttle
        self.wake_mailer = wake_mailer
        self.channel = bus.channel("events")
        self.received = 0
        connections.rechecked.subscribe(lambda plan: self._send("recheck", plan=plan))
        connections.user_closed.subscribe(
            lambda c: self._send("close-user", user=c[0], code=c[1], reason=c[2])
        )
        connections.plan_forgotten.subscribe(
            lambda p: self._send("plan-gone", plan=p[0], zones=p[1])
        )
        hub.published.subscribe(lambda e: self._send("events", users=e[0], event=e[1]))
        hub.clustered = True
        sessions.ended.subscribe(
            lambda e: self._send("sessions-ended", sessions=e[0], user=e[1], keep=e[2])
        )
        throttle.recorded.subscribe(
            lambda r: self._send("login", outcome=r[0], email=r[1], address=r[2], device=r[3])
        )

    async def start(self) -> None:
        await self.bus.subscribe(self.channel, self._received)

    def email_queued(self) -> None:
        """notifier.on_email_queued on a cluster node: the leader sends it now."""
        self.wake_mailer()
        self._send("mail")

    def _send(self, kind: str, **fields: Any) -> None:
        message = {"node": self.bus.node_id, "t": kind, **fields}
        self.bus.publish(self.channel, json.dumps(message, ensure_ascii=False).encode())

    def _received(self, data: bytes) -> None:
        message: dict[str, Any] = json.loads(data)
        if message.get("node") == self.bus.node_id:
            return
        self.received += 1
        kind = message.get("t")
        if kind == "recheck":
            plan = str(message["plan"])
            if self.connections.of_plan(plan):
                asyncio.get_running_loop().create_task(self._recheck(plan))
        elif kind == "close-user":
            self.connections.close_user(
                int(message["user"]), int(message["code"]), str(message["reason"]), announce=False
            )
        elif kind == "plan-gone":
            zones = [int(z) for z in message.get("zones", ())]
            forget_plan(
                self.registry, self.connections, str(message["plan"]), zones, announce=False
            )
        elif kind == "events":
            self.hub.deliver([int(u) for u in message["users"]], dict(message["event"]))
        elif kind == "sessions-ended":
            user = message.get("user")
            self.sessions.end_sessions(
                [str(s) for s in message.get("sessions", ())],
                user_id=int(user) if user is not None else None,
                keep=message.get("keep"),
                announce=False,
            )
        elif kind == "login":
            email, device = str(message["email"]), message.get("device")
            if message.get("outcome") == "failed":
                self.throttle.failed(email, str(message["address"]), device, announce=False)
            else:
                self.throttle.succeeded(email, device, announce=False)
        elif kind == "mail":
            self.wake_mailer()
        else:
            log.warning("cluster: an event of an unknown kind was ignored")

    async def _recheck(self, plan_id: str) -> None:
        try:
            await self.connections.recheck_plan(plan_id, announce=False)
        except Exception:
            log.error("plan %s: re-check from another node failed", plan_id, exc_info=True)
