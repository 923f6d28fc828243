"""What a room registry needs from a cluster fan-out, defined here so `crdt` never knows Redis.

Several nodes serve one plan (DESIGN §6): each room's committed updates and awareness go to
the other nodes that hold the same zone, and theirs come in. `server.cluster.rooms` satisfies
this structurally; with no cluster configured the registry has none and pays nothing.

The order is the promise: `open` returns only once the node listens for the zone, and the
registry calls it BEFORE it reads the zone from the database, so an update another node
commits meanwhile is either in what it reads or arrives afterwards (duplicates are harmless
CRDT updates). `committed` is called only after this node's own durable commit, so nothing
crosses to another node that a crash could take back.

A link may have one node commit a zone's edits (`forward`; server/cluster/zones.py, off by
default): the others send it their peers' edits and relay them when they come back durable.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import TYPE_CHECKING, Protocol

from crdt.awareness import AwarenessEntry

if TYPE_CHECKING:
    from crdt.room import Room

# Which node forwarded an edit, and its number for it there: what the committing node
# names when it tells the others the edit is durable (`RoomLink.committed`).
ForwardRef = tuple[str, int]


class RoomLink(Protocol):
    async def open(self, zone_id: int) -> None:
        """Listen for the zone's messages; return once listening. What arrives before `bind`
        is kept and handed to the room then."""
        ...

    def bind(self, room: Room) -> None:
        """The room is loaded: hand it what arrived since `open`, then everything live."""
        ...

    def close(self, zone_id: int) -> None:
        """Stop listening (the room is gone); its awareness states leave with it."""
        ...

    def committed(
        self, zone_id: int, seq: int, update: bytes, forwarded: ForwardRef | None = None
    ) -> None:
        """An update this node committed is durable as `seq`: tell the other nodes (never
        called for one another node committed). `forwarded`: it was another node's edit,
        forwarded here (`seq` 0 and no update: this node held it already)."""
        ...

    def forward(
        self, zone_id: int, update: bytes, author: int | None
    ) -> asyncio.Future[int] | None:
        """Send a local peer's edit (applied here already) to the node that commits the zone,
        with the author this node's session vouches for. The future is its seq once that
        node made it durable (0: that node held it already); it fails when no answer comes in
        time or that node goes, and then this node commits the edit itself. None: this node
        commits the zone's edits (it is the one, or it is alone, or cut off)."""
        ...

    def awareness(self, zone_id: int, entries: Sequence[AwarenessEntry]) -> None:
        """Local peers' accepted awareness changes (removals included)."""
        ...

    async def claim_compaction(self, zone_id: int) -> bool:
        """Whether this node may compact the zone now. Every node holding a shared zone holds
        all its updates and reaches the threshold at about the same moment; one at a time
        folds them. When unsure (the fan-out is away), yes: compaction is safe with several
        writers, the claim only saves doing the work twice."""
        ...

    def release_compaction(self, zone_id: int) -> None:
        """The compaction `claim_compaction` allowed is over (done or failed)."""
        ...
