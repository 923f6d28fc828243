"""This node's part in a cluster, built by Services when SAMPLAN_REDIS_URL is set: the bus,
the room and event fan-outs wired to the registry and the access owners, and the leader lease
that runs the scheduled jobs on one node only."""

from __future__ import annotations

import logging
import os
import secrets
import socket
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from crdt.registry import RoomRegistry
from server.cluster.bus import Bus
from server.cluster.events import EventFanout, Throttle
from server.cluster.leader import Job, LeaderLease
from server.cluster.zones import RoomFanout
from server.core.event_hub import EventHub
from server.sync.connections import ConnectionIndex
from server.sync.sessions import SessionSockets

log = logging.getLogger("samplan.cluster")


def new_node_id() -> str:
    """Unique per process start (a restarted node is a new node: its old clients are gone)."""
    return f"{socket.gethostname()}-{os.getpid()}-{secrets.token_hex(3)}"


@dataclass
class Cluster:
    bus: Bus
    zones: RoomFanout
    events: EventFanout
    leader: LeaderLease

    @property
    def node_id(self) -> str:
        return self.bus.node_id

    @classmethod
    async def start(
        cls,
        url: str,
        *,
        registry: RoomRegistry,
        connections: ConnectionIndex,
        hub: EventHub,
        sessions: SessionSockets,
        throttle: Throttle,
        wake_mailer: Callable[[], None],
        jobs: Sequence[Job],
        prefix: str = "samplan:",
        forward_edits: bool = False,
    ) -> Cluster:
        """`prefix`: of every channel and key (SAMPLAN_REDIS_PREFIX): nodes with another one
        never hear this one, so two installations can share one Redis."""
        bus = Bus(url, new_node_id(), prefix=prefix)
        zones = RoomFanout(
            bus, registry.committer.store, registry.committer.bound, forward=forward_edits
        )
        registry.link = zones
        registry.committer.late_commit.subscribe(zones.stored_late)
        events = EventFanout(
            bus,
            registry=registry,
            connections=connections,
            hub=hub,
            sessions=sessions,
            throttle=throttle,
            wake_mailer=wake_mailer,
        )
        await bus.start()
        await events.start()
        leader = LeaderLease(bus.redis, bus.node_id, jobs, key=bus.prefix + "leader")
        leader.start()
        log.info(
            "cluster node %s started (Redis %s)", bus.node_id, "up" if bus.connected else "away"
        )
        return cls(bus, zones, events, leader)

    async def stop(self) -> None:
        await self.leader.stop()  # idempotent: Services stops it first
        await self.bus.stop()

    def health(self) -> dict[str, object]:
        return {
            "node": self.node_id,
            "redis": "up" if self.bus.connected else "down",
            "leader": self.leader.leading,
            "nodes": len(self.bus.last_seen) + 1,
            "events": self.events.received,  # from other nodes, since start
            "catch_ups": self.zones.catch_ups,
            "catch_up_failures": self.zones.catch_up_failures,
            "edits_forwarded": self.zones.forwarded,
            "edits_committed_for_others": self.zones.forwards_taken,
            "forwards_unanswered": self.zones.forwards_unanswered,
        }
