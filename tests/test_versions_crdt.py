"""crdt/versions.py without a server: canonical minutes, changes by id, restore by whole values."""

from __future__ import annotations

from typing import Any

from pycrdt import Doc

from crdt.richtext import set_rich_text
from crdt.schema import (
    CONTRIBUTIONS,
    GOALS,
    META,
    append_item,
    find_item,
    get_root,
    new_zone_doc,
    read_zone,
    remove_item,
    set_fields,
    write_zone,
)
from crdt.versions import canonical_json, content_hash, minutes_content, restore_zone, zone_changes

CONTENT = {
    "meta": {"planPeriodStart": "2026-01-01", "status": "aktiv"},
    "aboutMe": ["Jeg heter Jonas og liker blåbær 🫐", ("bullet", ["Fotball ⚽", "Tegning"])],
    "contributions": [
        {"id": "c1", "name": "Åse Ødegård", "text": "Leksehjelp"},
        {"id": "c2", "name": "Kari Nilsen", "text": "Koordinerer"},
        {"id": "c3", "name": "Per Lund", "text": "Observerer"},
    ],
}


def _copy(doc: Doc[Any]) -> Doc[Any]:
    other: Doc[Any] = Doc()
    other.apply_update(doc.get_update())
    return other


def test_restore_content_zone_puts_back_maps_rich_text_and_item_order() -> None:
    doc = new_zone_doc("content")
    write_zone(doc, "content", CONTENT)
    old = read_zone(doc, "content")
    peer = _copy(doc)  # an open editor elsewhere, kept in sync below

    meta = get_root(doc, "content", META)
    with doc.transaction():
        meta["status"] = "avsluttet"
        meta["nextRevision"] = "2026-06-01"
        contributions = get_root(doc, "content", CONTRIBUTIONS)
        remove_item(contributions, "c2")
        item = find_item(contributions, "c1")
        assert item is not None
        set_fields(item, {"text": "Leksehjelp og svømming 🏊"})
    set_rich_text(get_root(doc, "content", "aboutMe"), "Helt ny tekst æøå")
    changes = zone_changes(old, read_zone(doc, "content"))
    kinds = {(c["root"], c["change"], c["id"]) for c in changes}
    assert ("contributions", "changed", "c1") in kinds
    assert ("contributions", "removed", "c2") in kinds
    assert ("meta", "changed", None) in kinds and ("aboutMe", "changed", None) in kinds
    meta_change = next(c for c in changes if c["root"] == "meta")
    assert meta_change["fields"] == ["nextRevision", "status"]

    before = doc.get_state()
    written = restore_zone(doc, "content", old)
    assert written > 0
    restored = read_zone(doc, "content")
    assert restored["meta"] == old["meta"] and restored["aboutMe"] == old["aboutMe"]
    assert [c["id"] for c in restored["contributions"]] == ["c1", "c2", "c3"]  # c2 in its place
    assert restored["contributions"][0]["text"] == "Leksehjelp"
    assert zone_changes(old, restored) == []
    # A new change on top: a peer that had the edited state converges on the restored one.
    peer.apply_update(doc.get_update(peer.get_state()))
    assert read_zone(peer, "content") == restored
    assert doc.get_state() != before
    assert restore_zone(doc, "content", old) == 0  # nothing left to write


def test_restore_removes_goals_added_since_and_never_writes_stamps() -> None:
    """The legacy stamps (crdt/schema.py) are never read: a restore neither puts old ones
    back nor stamps anything (the record of its update says who restored)."""
    doc = new_zone_doc("area")
    goals = get_root(doc, "area", GOALS)
    append_item(goals, {"id": "g1", "label": "1", "title": "Lese 📚", "updatedBy": "3"})
    old = read_zone(doc, "area")
    append_item(goals, {"id": "g2", "label": "2", "title": "Ny æøå"})
    item = find_item(goals, "g1")
    assert item is not None
    set_fields(item, {"updatedBy": "5"})  # only a stamp changed: no change worth listing
    assert [c["id"] for c in zone_changes(old, read_zone(doc, "area"))] == ["g2"]
    set_fields(item, {"title": "Lese mer 📚 æøå"})
    restore_zone(doc, "area", old)
    data = read_zone(doc, "area")
    assert [g["id"] for g in data["goals"]] == ["g1"]
    assert data["goals"][0]["title"] == "Lese 📚"
    assert data["goals"][0]["updatedBy"] == "5"  # neither the old stamp nor a new one
    assert "updatedAt" not in data["goals"][0]


def test_canonical_minutes_hash_is_stable_and_unicode() -> None:
    doc = new_zone_doc("minutes")
    write_zone(
        doc,
        "minutes",
        {
            "attendees": [{"id": "a1", "name": "Åse Ødegård", "present": True}],
            "agenda": [{"id": "s1", "title": "Skole 📚", "body": "Tekst", "decision": "Ja ✅"}],
        },
    )
    content = minutes_content(doc)
    text = canonical_json(content)
    assert "Åse Ødegård" in text and "\\u" not in text
    assert content_hash(text) == content_hash(canonical_json(minutes_content(_copy(doc))))
    assert content["decisions"] == [{"agendaId": "s1", "title": "Skole 📚", "decision": "Ja ✅"}]
    assert content["agenda"][0]["body"] == "Tekst"
