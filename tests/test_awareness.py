from __future__ import annotations

from crdt.awareness import MAX_CLIENT_IDS_PER_OWNER, AwarenessEntry, AwarenessStates
from crdt.lib0 import MAX_SAFE_INTEGER

ASE = '{"user":{"name":"Åse Ødegård"}}'
BJORN = '{"user":{"name":"Bjørn Blåbær 😀"}}'


class Peer:
    """Stands in for a connection: ownership is by identity."""


def entry(client_id: int, clock: int, state: str = ASE) -> AwarenessEntry:
    return AwarenessEntry(client_id, clock, state)


def test_removed_property() -> None:
    assert entry(1, 1, "null").removed
    assert not entry(1, 1, "{}").removed


def test_accept_new_and_newer_states() -> None:
    states, alice = AwarenessStates(), Peer()
    assert states.apply(alice, [entry(1, 1)]) == ([entry(1, 1)], [])
    assert states.owner_of(1) is alice
    assert states.apply(alice, [entry(1, 2, BJORN)]) == ([entry(1, 2, BJORN)], [])
    assert states.snapshot() == [entry(1, 2, BJORN)]
    assert len(states) == 1


def test_stale_entries_are_ignored_silently() -> None:
    states, alice = AwarenessStates(), Peer()
    states.apply(alice, [entry(1, 5)])
    assert states.apply(alice, [entry(1, 4, BJORN)]) == ([], [])
    assert states.apply(alice, [entry(1, 5, BJORN)]) == ([], [])  # same clock, not a removal
    assert states.snapshot() == [entry(1, 5)]


def test_unknown_client_at_clock_zero_is_stale() -> None:
    # y-protocols treats an unknown client as clock 0, so its first `{}` at clock 0 is ignored.
    states, alice = AwarenessStates(), Peer()
    assert states.apply(alice, [entry(1, 0, "{}")]) == ([], [])
    assert states.owner_of(1) is None
    assert len(states) == 0


def test_removal_at_same_clock_is_accepted_once() -> None:
    states, alice = AwarenessStates(), Peer()
    states.apply(alice, [entry(1, 3)])
    assert states.apply(alice, [entry(1, 3, "null")]) == ([entry(1, 3, "null")], [])
    assert states.apply(alice, [entry(1, 3, "null")]) == ([], [])
    assert states.snapshot() == []
    # The removal keeps the clock: an older state arriving late cannot resurrect the client.
    assert states.apply(alice, [entry(1, 2)]) == ([], [])
    # The id stays owned after removal, and its owner may set it again with a newer clock.
    assert states.owner_of(1) is alice
    assert states.apply(alice, [entry(1, 4)]) == ([entry(1, 4)], [])


def test_other_owners_ids_are_refused_even_removals() -> None:
    states, alice, mallory = AwarenessStates(), Peer(), Peer()
    states.apply(alice, [entry(1, 1)])
    spoof, erase = entry(1, 99, BJORN), entry(1, 99, "null")
    assert states.apply(mallory, [spoof, erase, entry(2, 1, BJORN)]) == (
        [entry(2, 1, BJORN)],
        [spoof, erase],
    )
    assert states.owner_of(1) is alice
    assert states.owner_of(2) is mallory
    assert sorted(states.snapshot(), key=lambda e: e.client_id) == [entry(1, 1), entry(2, 1, BJORN)]
    # A stale entry for another owner's id is refused, not ignored: it is still a spoof attempt.
    assert states.apply(mallory, [entry(1, 0)]) == ([], [entry(1, 0)])


def test_removed_id_stays_owned_until_owner_leaves() -> None:
    states, alice, bob = AwarenessStates(), Peer(), Peer()
    states.apply(alice, [entry(1, 1), entry(1, 2, "null")])
    assert states.apply(bob, [entry(1, 3, BJORN)]) == ([], [entry(1, 3, BJORN)])
    assert states.remove_owner(alice) == []  # already removed: nothing to broadcast
    assert states.apply(bob, [entry(1, 3, BJORN)]) == ([entry(1, 3, BJORN)], [])


def test_remove_owner_returns_removals_to_broadcast() -> None:
    states, alice, bob = AwarenessStates(), Peer(), Peer()
    states.apply(alice, [entry(1, 4), entry(2, 7, BJORN), entry(3, 1), entry(3, 2, "null")])
    states.apply(bob, [entry(10, 1)])
    removals = states.remove_owner(alice)
    assert removals == [entry(1, 5, "null"), entry(2, 8, "null")]
    assert all(r.removed for r in removals)
    assert states.owner_of(1) is None and states.owner_of(3) is None
    assert states.snapshot() == [entry(10, 1)]
    assert len(states) == 1
    assert states.remove_owner(alice) == []
    assert states.remove_owner(Peer()) == []


def test_removal_clock_stays_within_53_bits() -> None:
    states, alice = AwarenessStates(), Peer()
    states.apply(alice, [entry(1, MAX_SAFE_INTEGER)])
    assert states.remove_owner(alice) == [entry(1, MAX_SAFE_INTEGER, "null")]


def test_cap_on_client_ids_per_owner() -> None:
    states, alice, bob = AwarenessStates(), Peer(), Peer()
    assert MAX_CLIENT_IDS_PER_OWNER == 8
    first = [entry(i, 1) for i in range(1, 9)]
    assert states.apply(alice, first) == (first, [])
    assert states.apply(alice, [entry(9, 1)]) == ([], [entry(9, 1)])
    # Own ids can still be updated at the cap, and other owners are unaffected.
    assert states.apply(alice, [entry(1, 2)]) == ([entry(1, 2)], [])
    assert states.apply(bob, [entry(9, 1)]) == ([entry(9, 1)], [])
    # Removed ids still count: they stay owned until the owner leaves.
    states.apply(alice, [entry(2, 2, "null")])
    assert states.apply(alice, [entry(20, 1)]) == ([], [entry(20, 1)])
    assert len(states.remove_owner(alice)) == 7
    assert states.apply(alice, [entry(20, 1)]) == ([entry(20, 1)], [])


def test_cap_is_configurable() -> None:
    states, alice = AwarenessStates(max_client_ids_per_owner=1), Peer()
    assert states.apply(alice, [entry(1, 1), entry(2, 1)]) == ([entry(1, 1)], [entry(2, 1)])


def test_duplicate_ids_in_one_message_apply_in_order() -> None:
    states, alice = AwarenessStates(), Peer()
    accepted, refused = states.apply(alice, [entry(1, 1), entry(1, 3, BJORN), entry(1, 2)])
    assert accepted == [entry(1, 1), entry(1, 3, BJORN)]
    assert refused == []
    assert states.snapshot() == [entry(1, 3, BJORN)]
