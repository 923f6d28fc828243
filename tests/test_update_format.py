from __future__ import annotations

import asyncio
import random
from collections import Counter

import pytest
from pycrdt import Array, Doc, Map, Text

from crdt.lib0 import MalformedFrame, write_var_uint
from crdt.update_format import (
    _check_struct_group_count,
    apply_update_safely,
    delete_set_covered,
    delete_set_of,
)

BLABAER = "Blåbær 😀"

# Found by fuzzing pycrdt 0.14.13 (yrs 0.28): one struct of client 1 at clock 1 whose Any
# content is empty. Applied to a doc already holding client 1's text, yrs panics in
# BlockSet::exclude (`Option::unwrap()` on None), and pyo3 raises PanicException, which
# derives from BaseException, not Exception.
PANIC_UPDATE = bytes.fromhex("01 01 01 01 28 01 01 3f 80 00 00 00")


def _doc_with_deletions() -> tuple[Doc, bytes]:
    """Return a doc holding deletions, and its full update from before it deleted anything.

    Deletes only at an ASCII prefix: pycrdt 0.14 counts Text positions in UTF-8 bytes once
    the text holds non-ASCII (DESIGN §9), and deleting "past the end" that way panics.
    """
    doc: Doc = Doc(client_id=1)
    text = doc.get("t", type=Text)
    text += "Bl"
    text += "åbær 😀"
    names = doc.get("m", type=Map)
    names["navn"] = "Åse"
    before = doc.get_update()
    del text[0:2]
    names["navn"] = "Åse Ødegård"  # replacing a value deletes the old one
    return doc, before


def test_empty_yjs_reply_has_empty_delete_set() -> None:
    # What a Yjs client answers to sync step 1 when it has nothing the server lacks.
    assert delete_set_of(b"\x00\x00") == {}


def test_fresh_pycrdt_doc_diff_is_the_empty_reply() -> None:
    doc: Doc = Doc()
    assert doc.get_update(doc.get_state()) == b"\x00\x00"


def test_doc_diff_against_own_state_is_exactly_its_delete_set() -> None:
    doc, before = _doc_with_deletions()
    diff = doc.get_update(doc.get_state())
    ds = delete_set_of(diff)
    assert ds is not None, "pycrdt put structs into a diff against the doc's own state"
    assert set(ds) == {1}
    assert sum(length for _, length in ds[1]) == 3  # "Bl" and the replaced "Åse"

    # The delete set is all of it: applied to a replica from before the deletions, the
    # diff removes exactly the same text.
    replica: Doc = Doc()
    replica.apply_update(before)
    replica.apply_update(diff)
    assert str(replica.get("t", type=Text)) == str(doc.get("t", type=Text)) == "åbær 😀"


def test_update_with_structs_returns_none() -> None:
    doc, _ = _doc_with_deletions()
    assert delete_set_of(doc.get_update()) is None


def test_hand_built_delete_set() -> None:
    # 0 struct groups; 2 clients: client 5 deletes [3,5) and [10,11); client 300 deletes [0,7).
    update = bytes.fromhex("00 02 05 02 0302 0a01 ac02 01 0007")
    assert delete_set_of(update) == {5: [(3, 2), (10, 1)], 300: [(0, 7)]}


def test_repeated_client_entries_are_merged() -> None:
    assert delete_set_of(bytes.fromhex("00 02 01010001 01010501")) == {1: [(0, 1), (5, 1)]}


@pytest.mark.parametrize(
    "update",
    [
        b"",
        b"\x00",
        b"\x00\x01",
        b"\x00\x01\x05",
        b"\x00\x01\x05\x01\x03",
        b"\x00\x00\x00",  # trailing byte
        b"\x00\x01\x05\x00\x00",  # trailing byte after a client with no ranges
        b"\x00" + b"\xff" * 9,
    ],
)
def test_malformed_delete_sets(update: bytes) -> None:
    with pytest.raises(MalformedFrame):
        delete_set_of(update)


def test_delete_set_of_every_prefix_of_a_real_diff() -> None:
    doc, _ = _doc_with_deletions()
    diff = doc.get_update(doc.get_state())
    for cut in range(len(diff)):
        with pytest.raises(MalformedFrame):
            delete_set_of(diff[:cut])


def test_delete_set_covered() -> None:
    by = {1: [(10, 5), (0, 3), (3, 2), (20, 1)], 2: [(0, 1)]}  # unsorted and adjacent
    assert delete_set_covered({}, by)
    assert delete_set_covered({1: []}, by)
    assert delete_set_covered({1: [(0, 5)]}, by)  # spans the adjacent [0,3)+[3,5)
    assert delete_set_covered({1: [(11, 4), (20, 1), (1, 1)], 2: [(0, 1)]}, by)
    assert not delete_set_covered({1: [(0, 6)]}, by)
    assert not delete_set_covered({1: [(5, 1)]}, by)  # the gap
    assert not delete_set_covered({1: [(14, 2)]}, by)  # runs past the end
    assert not delete_set_covered({1: [(9, 1)]}, by)  # before a range
    assert not delete_set_covered({3: [(0, 1)]}, by)  # unknown client
    assert delete_set_covered({3: [(4, 0)]}, by)  # empty range deletes nothing
    assert delete_set_covered({1: [(2, 3)]}, {1: [(0, 10), (2, 1)]})  # overlapping in `by`


def test_read_only_reply_check_against_a_real_doc() -> None:
    room, _ = _doc_with_deletions()
    room_ds = delete_set_of(room.get_update(room.get_state()))
    assert room_ds is not None

    # A client that already shares the room's state replies with the same delete set.
    client: Doc = Doc()
    client.apply_update(room.get_update())
    reply = client.get_update(room.get_state())
    reply_ds = delete_set_of(reply)
    assert reply_ds is not None and delete_set_covered(reply_ds, room_ds)

    # A read-only client that deletes text sends a struct-free update the check refuses.
    updates: list[bytes] = []
    client.observe(lambda event: updates.append(event.update))
    del client.get("t", type=Text)[0:1]
    deletion_ds = delete_set_of(updates[-1])
    assert deletion_ds is not None
    assert not delete_set_covered(deletion_ds, room_ds)

    # One that inserts sends structs.
    client.get("t", type=Text).insert(0, "æ")
    assert delete_set_of(updates[-1]) is None


def _sample_updates() -> list[bytes]:
    doc: Doc = Doc(client_id=1)
    updates: list[bytes] = []
    doc.observe(lambda event: updates.append(event.update))
    text = doc.get("t", type=Text)
    text += BLABAER
    doc.get("m", type=Map)["navn"] = "Åse Ødegård"
    array = doc.get("a", type=Array)
    array.append(1)
    array.append({"x": [1, 2]})
    with doc.transaction():
        del text[0:2]
    text.insert(0, "hei ")
    updates.append(doc.get_update())
    updates.append(doc.get_update(doc.get_state()))
    return updates


def _mutations(rng: random.Random, samples: list[bytes], count: int) -> list[bytes]:
    out = []
    for i in range(count):
        if i % 5 == 0:
            out.append(bytes(rng.randrange(256) for _ in range(rng.randrange(40))))
            continue
        data = bytearray(rng.choice(samples))
        if i % 5 == 1:
            out.append(bytes(data[: rng.randrange(len(data) + 1)]))
            continue
        for _ in range(rng.randrange(1, 5)):
            op = rng.randrange(3)
            if op == 0 and data:
                data[rng.randrange(len(data))] = rng.randrange(256)
            elif op == 1 and data:
                data[rng.randrange(len(data))] ^= 1 << rng.randrange(8)
            else:
                at = rng.randrange(len(data) + 1)
                data[at:at] = rng.choice([b"\x00", b"\x01", b"\x7f", b"\xff\xff\xff\xff\x0f"])
        out.append(bytes(data))
    return out


def _base_doc(samples: list[bytes]) -> Doc:
    doc: Doc = Doc(client_id=7)
    doc.apply_update(samples[0])  # hold client 1's text, as a live room would
    return doc


def test_pycrdt_garbage_raises_value_error_or_panics() -> None:
    """Documents what pycrdt 0.14 itself does with hostile updates: mostly ValueError, but
    some updates panic, which is why the room must go through apply_update_safely."""
    samples = _sample_updates()
    rng = random.Random(7)
    seen: Counter[str] = Counter()
    for update in _mutations(rng, samples, 3000):
        try:
            # Skip inflated headers: pycrdt survives them, but each costs up to ~0.4 s.
            _check_struct_group_count(update)
        except MalformedFrame:
            seen["inflated header"] += 1
            continue
        doc = _base_doc(samples) if rng.random() < 0.5 else Doc()
        try:
            doc.apply_update(update)
            seen["applied"] += 1
        except Exception as exc:
            assert isinstance(exc, ValueError)
            seen["ValueError"] += 1
        except BaseException as exc:  # noqa: B036 - this is exactly what we are measuring
            assert type(exc).__name__ == "PanicException"
            seen["PanicException"] += 1
    assert seen["ValueError"] > 1000
    assert seen["applied"] > 100
    assert seen["PanicException"] >= 1, seen


def test_pycrdt_panics_with_a_base_exception() -> None:
    doc = _base_doc(_sample_updates())
    with pytest.raises(BaseException) as info:
        doc.apply_update(PANIC_UPDATE)
    assert type(info.value).__name__ == "PanicException"
    assert not isinstance(info.value, Exception)


def test_apply_update_safely_turns_panics_into_malformed_frame() -> None:
    doc = _base_doc(_sample_updates())
    state = doc.get_state()
    with pytest.raises(MalformedFrame) as info:
        apply_update_safely(doc, PANIC_UPDATE)
    assert info.value.__suppress_context__
    # The doc survives the panic unchanged and still takes updates.
    assert doc.get_state() == state
    text = doc.get("t", type=Text)
    text += " æøå"
    assert str(text).endswith(" æøå")


def test_apply_update_safely_on_garbage_only_ever_raises_malformed_frame() -> None:
    samples = _sample_updates()
    rng = random.Random(11)
    for update in _mutations(rng, samples, 1000) + [PANIC_UPDATE]:
        doc = _base_doc(samples)
        try:
            apply_update_safely(doc, update)
        except MalformedFrame:
            pass


def test_apply_update_safely_applies_good_updates() -> None:
    source, _ = _doc_with_deletions()
    doc: Doc = Doc()
    apply_update_safely(doc, source.get_update())
    assert str(doc.get("t", type=Text)) == str(source.get("t", type=Text))


class _Interrupting:
    def __init__(self, exc: BaseException) -> None:
        self.exc = exc

    def apply_update(self, update: bytes) -> None:
        raise self.exc


@pytest.mark.parametrize("exc", [KeyboardInterrupt(), SystemExit(1), asyncio.CancelledError()])
def test_apply_update_safely_lets_interrupts_through(exc: BaseException) -> None:
    with pytest.raises(type(exc)):
        apply_update_safely(_Interrupting(exc), b"\x00\x00")


@pytest.mark.parametrize("groups", [400_000_000, 2**32 - 1, 2**53 - 1])
def test_apply_update_safely_refuses_an_inflated_struct_group_count(groups: int) -> None:
    # pycrdt would preallocate for this count: ~540 MB for 4*10**8 from a 5-byte update.
    header = bytearray()
    write_var_uint(header, groups)
    with pytest.raises(MalformedFrame, match="struct groups"):
        apply_update_safely(Doc(), bytes(header) + b"\x01\x01\x00\x00")


def test_struct_group_check_accepts_real_updates() -> None:
    for update in _sample_updates():
        apply_update_safely(Doc(), update)
