"""Just enough of the Yjs update v1 format to vet a read-only peer's update without applying it.

A Yjs client answers sync step 1 with a step 2 even when it has nothing new, and that reply
usually carries the delete set it already shares with the server. Refusing every step 2 from a
read-only peer would make it look broken; applying it would let it write. So the room accepts
exactly the updates that carry no structs and delete nothing the room has not deleted already.
"""

from __future__ import annotations

import asyncio
from bisect import bisect_right
from typing import Protocol

from crdt.lib0 import Decoder, MalformedFrame

DeleteSet = dict[int, list[tuple[int, int]]]
"""client id -> [(clock, length), ...] as the update lists them."""


def delete_set_of(update: bytes) -> DeleteSet | None:
    """Return the delete set of a struct-free update, or None if it carries structs.

    The struct section is not parsed at all: an update with structs is never harmless for a
    read-only peer, so there is nothing to learn from it.
    """
    decoder = Decoder(update)
    if decoder.read_var_uint() != 0:
        return None
    delete_set: DeleteSet = {}
    for _ in range(decoder.read_var_uint()):
        client = decoder.read_var_uint()
        ranges = delete_set.setdefault(client, [])
        for _ in range(decoder.read_var_uint()):
            clock = decoder.read_var_uint()
            ranges.append((clock, decoder.read_var_uint()))
    decoder.expect_end()
    return delete_set


def _merged(ranges: list[tuple[int, int]]) -> tuple[list[int], list[int]]:
    """Sorted, coalesced [start, end) intervals as two parallel lists for bisect."""
    starts: list[int] = []
    ends: list[int] = []
    for clock, length in sorted(ranges):
        if length <= 0:
            continue
        end = clock + length
        if ends and clock <= ends[-1]:
            ends[-1] = max(ends[-1], end)
        else:
            starts.append(clock)
            ends.append(end)
    return starts, ends


def delete_set_covered(ds: DeleteSet, by: DeleteSet) -> bool:
    """True iff every range deleted in `ds` is already deleted in `by`."""
    for client, ranges in ds.items():
        starts: list[int] | None = None
        ends: list[int] = []
        for clock, length in ranges:
            if length <= 0:
                continue
            if starts is None:
                starts, ends = _merged(by.get(client, []))
            i = bisect_right(starts, clock) - 1
            if i < 0 or clock + length > ends[i]:
                return False
    return True


class _UpdatableDoc(Protocol):
    def apply_update(self, update: bytes) -> None: ...


def _check_struct_group_count(update: bytes) -> None:
    """Refuse an update whose header claims more struct groups than its bytes could hold.

    yrs sizes a hash map from that count before reading further: a 5-byte update claiming
    4*10**8 groups made pycrdt 0.14.13 allocate ~540 MB and block for ~0.35 s before failing.
    Each group takes at least 3 bytes (struct count, client, clock).
    """
    decoder = Decoder(update)
    if decoder.read_var_uint() > decoder.remaining() // 3:
        raise MalformedFrame("update claims more struct groups than it holds")


def apply_update_safely(doc: _UpdatableDoc, update: bytes) -> None:
    """Apply a peer's update; any failure of the CRDT becomes `MalformedFrame`.

    pycrdt's Rust core can panic on crafted input; pyo3 raises that as `PanicException`, a
    `BaseException`, which `except Exception` in the room would not catch and which would end the
    whole server. Interrupts and cancellation still propagate.
    """
    _check_struct_group_count(update)
    try:
        doc.apply_update(update)
    except (KeyboardInterrupt, SystemExit, asyncio.CancelledError):
        raise
    except BaseException:
        # `from None`: the Rust error text may quote the update's content.
        raise MalformedFrame("update rejected by the CRDT") from None
