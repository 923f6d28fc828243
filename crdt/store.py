"""The small storage interface a room needs, defined here so `crdt` never imports `storage`.

`storage.repositories.updates.ZoneLog` satisfies it structurally; `server` wires the two.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Protocol


class LoadedZoneLike(Protocol):
    """What a zone looks like on disk: one snapshot (maybe none) plus every logged update not
    folded into it, by seq (with several writers, some may have a lower seq than the
    snapshot's: `snapshot_seq` names the snapshot, it does not split the log)."""

    @property
    def snapshot(self) -> bytes | None: ...

    @property
    def snapshot_seq(self) -> int: ...

    @property
    def updates(self) -> Sequence[tuple[int, bytes]]: ...


class ZoneStore(Protocol):
    async def load(self, zone_id: int) -> LoadedZoneLike:
        """Return the zone's snapshot and every update not folded into it, by seq."""
        ...

    async def append_batch(
        self, items: Sequence[tuple[int, bytes]], authors: Sequence[int | None] | None = None
    ) -> list[int]:
        """Append (zone_id, update) pairs, each with its author (a user id, None for the server
        itself), in ONE transaction; return their sequence numbers.

        Returns only once the transaction is durable (committed with the configured fsync).
        """
        ...

    async def compact(
        self,
        zone_id: int,
        folded: Iterable[int],
        snapshot: bytes,
        items: Mapping[int, str] | None = None,
        *,
        based_on: int | None = None,
        merge: Callable[[bytes], bytes] | None = None,
    ) -> int | None:
        """Fold exactly the updates `folded` (seqs; `snapshot` holds them all) into the zone's
        snapshot, in one transaction, keeping each folded update's author record (who and when
        from its row, which items from `items` by seq: crdt/authorship.py). Updates not named
        (another writer's) stay; seqs already folded are skipped. Unless the stored snapshot is
        `based_on` (the seq this caller's snapshot holds), it becomes `merge(stored)`.
        Returns the new snapshot's seq when the stored one is now exactly `snapshot`
        (the next `based_on`), else None."""
        ...
