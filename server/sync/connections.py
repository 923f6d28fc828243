"""Open connections by plan, so a change of access takes effect on them at once.

Roles live in SQL and may be changed by this process (web pages) or another one (the CLI,
another node). In-process changes call `recheck_plan` directly, which another node of a
cluster repeats at once (server/cluster/events.py); the watcher notices the rest through
`plans.access_version` and rechecks those plans.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field

from crdt.hooks import Hook
from crdt.peer import Peer
from crdt.protocol import CloseCode, encode_permission_denied
from crdt.registry import RoomRegistry
from server.core import clock
from server.core.access import effective_access
from server.core.background import Periodic
from storage.repositories.consents import MemberAccess

log = logging.getLogger("samplan.access")

# (plan, user) -> role and current consent, None for a non-member
MembershipLookup = Callable[[str, int], Awaitable[MemberAccess | None]]
VersionLookup = Callable[[list[str]], Awaitable[dict[str, int]]]
# Called with the id of a plan that has open connections but no longer exists (deleted by
# another process): close them and drop the plan's rooms (`forget_plan`).
GoneHandler = Callable[[str], None]


@dataclass(eq=False)
class Connection:
    peer: Peer
    user_id: int
    plan_id: str
    zone_kind: str
    role: str
    zone: str = ""  # the room suffix: 'content', 'area/skole', ...
    edits: int = field(default=0)
    zone_id: int = 0
    session_id: str | None = None  # the log-in session that opened it; None for a token


class ConnectionIndex:
    def __init__(self, lookup_role: MembershipLookup) -> None:
        self._lookup_role = lookup_role
        self._by_plan: dict[str, set[Connection]] = {}
        # What this node changed, for the other nodes to do the same (server/cluster/events.py):
        # a plan's access re-checked, a user's sockets closed (user, code, reason), a plan
        # deleted (plan, its zone ids).
        self.rechecked: Hook[str] = Hook("access re-checked")
        self.user_closed: Hook[tuple[int, int, str]] = Hook("user's sockets closed")
        self.plan_forgotten: Hook[tuple[str, list[int]]] = Hook("plan forgotten")

    def add(self, conn: Connection) -> None:
        self._by_plan.setdefault(conn.plan_id, set()).add(conn)

    def discard(self, conn: Connection) -> None:
        conns = self._by_plan.get(conn.plan_id)
        if conns is not None:
            conns.discard(conn)
            if not conns:
                del self._by_plan[conn.plan_id]

    def plans(self) -> list[str]:
        return list(self._by_plan)

    def of_plan(self, plan_id: str) -> list[Connection]:
        return list(self._by_plan.get(plan_id, ()))

    def __len__(self) -> int:
        return sum(len(c) for c in self._by_plan.values())

    def present_by_plan(self) -> dict[str, list[str]]:
        """Names of the people connected to each plan now (for "Mine planer")."""
        present: dict[str, list[str]] = {}
        for plan_id, conns in self._by_plan.items():
            names = {str((c.peer.identity or {}).get("name", "")) for c in conns}
            present[plan_id] = sorted(name for name in names if name)
        return present

    def close_user(self, user_id: int, code: int, reason: str, *, announce: bool = True) -> int:
        """Close every open socket of this user, whoever authenticated it (session or token):
        a deactivated account's sockets end at once, on every node (`announce`). Returns how
        many were closed here."""
        if announce:
            self.user_closed((user_id, code, reason))
        closed = 0
        for conns in list(self._by_plan.values()):
            for conn in [c for c in conns if c.user_id == user_id]:
                conn.peer.close(code, reason)
                self.discard(conn)
                closed += 1
        if closed:
            log.info("user %s: %d sockets closed", user_id, closed)
        return closed

    async def recheck_plan(self, plan_id: str, *, announce: bool = True) -> None:
        """Apply the plan's current roles and consents to its open connections, and (with
        `announce`) have every other node do the same at once."""
        if announce:
            self.rechecked(plan_id)
        members: dict[int, MemberAccess | None] = {}
        for conn in self.of_plan(plan_id):
            if conn.user_id not in members:
                members[conn.user_id] = await self._lookup_role(plan_id, conn.user_id)
            member = members[conn.user_id]
            role = member.role if member else None
            zone = conn.zone or conn.zone_kind
            consent = member.consent if member else None
            closed = member.plan_closed if member else False
            access = effective_access(role, conn.zone_kind, zone, consent, closed=closed)
            if access is None:
                log.info("plan %s: access withdrawn for user %s; closing", plan_id, conn.user_id)
                conn.peer.close(CloseCode.FORBIDDEN, "access withdrawn")
                self.discard(conn)
                continue
            conn.role = role or conn.role
            if conn.peer.can_write and access != "rw":
                # Tell the client now, not at its next refused edit: the browser stops saying
                # "saved" and asks for a reload (client/src/plan/zones.js).
                conn.peer.send(encode_permission_denied("read-only"))
            conn.peer.can_write = access == "rw"


PLAN_DELETED = "plan deleted"


def forget_plan(
    registry: RoomRegistry,
    index: ConnectionIndex,
    plan_id: str,
    zone_ids: Iterable[int] = (),
    *,
    announce: bool = True,
) -> int:
    """Close every open socket of a deleted plan (4404) and drop its rooms WITHOUT compacting
    them: a snapshot taken after the delete would write deleted health data back (or fail).

    `zone_ids` names rooms that may be in memory without a connection (in their grace period);
    the rooms of open connections are found from the connections. Returns the rooms dropped.
    """
    zones = set(zone_ids) | {conn.zone_id for conn in index.of_plan(plan_id)}
    if announce:
        index.plan_forgotten((plan_id, sorted(zones)))
    dropped = sum(registry.drop(zone_id, CloseCode.NOT_FOUND, PLAN_DELETED) for zone_id in zones)
    for conn in index.of_plan(plan_id):  # a socket whose room was not loaded (yet)
        conn.peer.close(CloseCode.NOT_FOUND, PLAN_DELETED)
        index.discard(conn)
    log.info("plan %s deleted: %d rooms dropped without compaction", plan_id, dropped)
    return dropped


class AccessWatcher:
    """Polls access versions of plans with open connections (cheap: one indexed query), and
    re-checks every open connection when the date changes in Oslo: consent ends at a date."""

    def __init__(
        self,
        index: ConnectionIndex,
        versions: VersionLookup,
        interval: float,
        on_gone: GoneHandler | None = None,
    ) -> None:
        self.index = index
        self.versions = versions
        self.interval = interval
        self.on_gone = on_gone
        self._known: dict[str, int] = {}
        self._day = clock.today_oslo()
        self._loop = Periodic("access-watcher", interval, self.check_once)

    def start(self) -> None:
        self._loop.start()

    async def stop(self) -> None:
        await self._loop.stop()

    def remember(self, plan_id: str, version: int) -> None:
        """The access version a new connection was checked at. The oldest one known wins: if
        access changed after this connection was checked, the next tick sees a newer version
        and re-checks the plan's connections, this one included."""
        self._known[plan_id] = min(self._known.get(plan_id, version), version)

    async def check_once(self) -> None:
        plans = self.index.plans()
        for gone in set(self._known) - set(plans):
            del self._known[gone]
        if not plans:
            return
        today = clock.today_oslo()
        if today != self._day:
            self._day = today
            log.info("a new day: re-checking %d plans for ended consent", len(plans))
            for plan_id in plans:
                await self.index.recheck_plan(plan_id)
        current = await self.versions(plans)
        for plan_id in plans:
            if plan_id not in current and self.on_gone is not None:
                log.info("plan %s was deleted: closing its connections", plan_id)
                self.on_gone(plan_id)
        for plan_id, version in current.items():
            if self._known.get(plan_id, version) != version:
                await self.index.recheck_plan(plan_id)
            self._known[plan_id] = version
