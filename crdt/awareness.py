"""A room's awareness (presence) table, with an owner per client id.

y-protocols trusts every peer to touch only its own client id; a relay that does the same lets
any connection spoof or erase someone else's cursor and name. So each client id belongs to the
connection that introduced it, and only that connection may change or remove it until the
connection leaves (DESIGN §4).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from crdt.lib0 import MAX_SAFE_INTEGER

MAX_CLIENT_IDS_PER_OWNER = 8
"""A browser tab has one Yjs client id; a handful covers reloads of the doc in one socket,
and the cap keeps one socket from filling the table every newcomer is sent."""

REMOVED_STATE = "null"


@dataclass(frozen=True, slots=True)
class AwarenessEntry:
    """One client's state as y-protocols frames it: the JSON text is kept as received so the
    relay forwards exactly what the client wrote."""

    client_id: int
    clock: int
    state_json: str

    @property
    def removed(self) -> bool:
        return self.state_json == REMOVED_STATE


class RemoteNode:
    """The owner of the states another node's clients set (DESIGN §6): that node polices its
    own peers' ids, so here it has no cap per owner and a removal forgets the id at once. Its
    ids are still its own: no peer here (nor a third node) may change them. A client that
    moves to another node shows again once its old node said it left or timed out."""

    __slots__ = ("node_id",)

    def __init__(self, node_id: str) -> None:
        self.node_id = node_id

    def __repr__(self) -> str:
        return f"RemoteNode({self.node_id!r})"


@dataclass(slots=True)
class _Slot:
    owner: object
    clock: int
    state_json: str


class AwarenessStates:
    """Not thread-safe: one room's event loop owns it."""

    __slots__ = ("_slots", "_owned", "_max_per_owner")

    def __init__(self, max_client_ids_per_owner: int = MAX_CLIENT_IDS_PER_OWNER) -> None:
        self._slots: dict[int, _Slot] = {}
        self._owned: dict[object, set[int]] = {}
        self._max_per_owner = max_client_ids_per_owner

    def apply(
        self, owner: object, entries: Iterable[AwarenessEntry]
    ) -> tuple[list[AwarenessEntry], list[AwarenessEntry]]:
        """Return (accepted, refused); stale entries are in neither, as y-protocols ignores them.

        Refusals are separate from stale entries so the room can tell a peer that is merely
        behind from one that touches ids it does not own.
        """
        accepted: list[AwarenessEntry] = []
        refused: list[AwarenessEntry] = []
        remote = isinstance(owner, RemoteNode)
        for entry in entries:
            slot = self._slots.get(entry.client_id)
            if slot is None:
                # y-protocols treats an unknown client as clock 0, so clock 0 is stale.
                if entry.clock == 0 or (remote and entry.removed):
                    continue
                if not remote and len(self._owned.get(owner, ())) >= self._max_per_owner:
                    refused.append(entry)
                    continue
                self._owned.setdefault(owner, set()).add(entry.client_id)
                self._slots[entry.client_id] = _Slot(owner, entry.clock, entry.state_json)
                accepted.append(entry)
            elif slot.owner is not owner:
                refused.append(entry)
            elif remote and entry.removed:
                if entry.clock >= slot.clock:
                    self._release(owner, entry.client_id)
                    accepted.append(entry)
            elif entry.clock > slot.clock or (
                entry.clock == slot.clock and entry.removed and slot.state_json != REMOVED_STATE
            ):
                # A removal keeps the clock so a late, older state cannot resurrect the client;
                # the id stays owned until the owner leaves.
                slot.clock = entry.clock
                slot.state_json = entry.state_json
                accepted.append(entry)
        return accepted, refused

    def _release(self, owner: object, client_id: int) -> None:
        self._slots.pop(client_id, None)
        owned = self._owned.get(owner)
        if owned is not None:
            owned.discard(client_id)
            if not owned:
                del self._owned[owner]

    def remove_owner(self, owner: object) -> list[AwarenessEntry]:
        """Forget the owner's client ids; return the removals to broadcast.

        Called the moment a socket closes, so presence vanishes at once instead of after the
        30 s awareness timeout.
        """
        removals: list[AwarenessEntry] = []
        for client_id in sorted(self._owned.pop(owner, ())):
            slot = self._slots.pop(client_id)
            if slot.state_json != REMOVED_STATE:
                # Peers accept a removal at clock + 1; at the 53-bit ceiling an equal clock
                # with a null state is also accepted, and lib0 cannot carry more.
                clock = min(slot.clock + 1, MAX_SAFE_INTEGER)
                removals.append(AwarenessEntry(client_id, clock, REMOVED_STATE))
        return removals

    def snapshot(self, *, local_only: bool = False) -> list[AwarenessEntry]:
        """The present states; `local_only`: only those this node's own peers set (what it
        tells another node that asks)."""
        return [
            AwarenessEntry(client_id, slot.clock, slot.state_json)
            for client_id, slot in self._slots.items()
            if slot.state_json != REMOVED_STATE
            and not (local_only and isinstance(slot.owner, RemoteNode))
        ]

    def owner_of(self, client_id: int) -> object | None:
        slot = self._slots.get(client_id)
        return None if slot is None else slot.owner

    def __len__(self) -> int:
        """Client ids tracked, including removed ones still owned by a live connection."""
        return len(self._slots)
