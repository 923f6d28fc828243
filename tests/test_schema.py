from __future__ import annotations

import json
from typing import Any

import pytest
from pycrdt import Array, Doc, Map, Text, XmlElement, XmlFragment, XmlText

from crdt import schema
from crdt.richtext import blocks_to_nodes, rich_text_nodes, rich_text_plain, set_rich_text
from crdt.schema import (
    AREA,
    COMMENTS,
    CONTENT,
    MINUTES,
    ZONE_ROOTS,
    append_item,
    find_item,
    get_root,
    new_zone_doc,
    read_zone,
    remove_item,
    set_fields,
    set_text,
    write_zone,
)

GOAL = "Jeg vil fullføre vg1 IKT 💻"
NAME = "Åse Ødegård"


def _rich(*blocks: Any) -> list[dict[str, Any]]:
    return blocks_to_nodes(list(blocks))


SAMPLES: dict[str, dict[str, Any]] = {
    CONTENT: {
        "meta": {
            "planPeriodStart": "2025-09-01",
            "planPeriodEnd": "2026-08-31",
            "nextRevision": "2026-01-15",
            "status": "aktiv",
        },
        "aboutMe": _rich(("heading2", "Om meg"), GOAL, ("bullet", ["data", "e-sport 🎮"])),
        "resources": [
            {
                "type": "paragraph",
                "content": [
                    {"type": "text", "text": "Jeg er "},
                    {"type": "text", "text": "god med data", "marks": [{"type": "bold"}]},
                    {
                        "type": "text",
                        "text": " 💻",
                        "marks": [{"type": "bold"}, {"type": "italic"}],
                    },
                ],
            }
        ],
        "needs": _rich(("ordered", ["Planlegge skoledagen", "Tilrettelagt transport"]), ""),
        "contributions": [{"id": "c1", "userId": "3", "name": NAME, "text": "Kjører 🚗"}],
        "collaboration": [
            {
                "id": "s1",
                "name": "Dr. Per Lund",
                "role": "Fastlege",
                "organisation": "Legekontoret",
                "purpose": "Medisinsk koordinering",
            },
        ],
        "otherPlans": [
            {
                "id": "p1",
                "kind": "IOP",
                "title": "IOP vg1",
                "holder": "Eksempelvik vgs.",
                "link": None,
            },
        ],
    },
    AREA: {
        "goals": [
            {
                "id": "m1",
                "parentId": None,
                "label": "M1",
                "title": GOAL,
                "description": _rich(NAME),
                "updatedBy": "1",
                "updatedAt": "2026-01-15T15:00:00Z",
            },
            {
                "id": "m1-1",
                "parentId": "m1",
                "label": "1.1",
                "title": "Levere 90 % i tide",
                "description": [],
                "updatedBy": "1",
                "updatedAt": "2026-01-15T15:00:00Z",
            },
        ],
        "measures": [
            {
                "id": "t1",
                "goalId": "m1-1",
                "title": "Ukentlig planleggingsmøte",
                "description": _rich("20 minutter med kontaktlærer 🗓️"),
                "responsible": ["4", "1"],
                "externalParty": "",
                "scope": "20 min per uke",
                "start": "2025-09-01",
                "end": None,
                "status": "pagar",
                "meetingId": None,
                "updatedBy": "2",
                "updatedAt": "2026-01-15T15:00:00Z",
            },
        ],
        "evaluations": [
            {
                "id": "e1",
                "goalId": "m1-1",
                "date": "2026-01-15",
                "attainment": "delvis",
                "result": "78 %",
                "worked": "Faste møter",
                "change": "Mer på mandager",
                "next": "Påminnelse på mobil 📱",
                "responsible": ["4"],
                "nextReview": "2026-04-15",
                "ownerComment": "Det hjelper å ha en fast dag med Ahmed.",
            },
        ],
    },
    COMMENTS: {
        "comments": [
            {
                "id": "k1",
                "anchorId": "t1",
                "authorId": "2",
                "authorName": NAME,
                "text": "Bra jobba 👍",
                "createdAt": "2026-01-16T08:00:00Z",
                "resolved": False,
            },
        ],
        "messages": [
            {
                "id": "g1",
                "authorId": "1",
                "authorName": "Jonas Berg",
                "text": "Hei alle sammen ✌️",
                "createdAt": "2026-01-16T09:00:00Z",
            },
        ],
    },
    MINUTES: {
        "meeting": {
            "meetingId": "mote-2026-01-15",
            "nextMeeting": "2026-04-15T14:00",
            "referentUserId": "3",
        },
        "attendees": [
            {
                "id": "a1",
                "userId": "1",
                "name": "Jonas Berg",
                "role": "Planeier",
                "present": True,
                "apology": False,
                "note": "",
            },
            {
                "id": "a2",
                "userId": None,
                "name": "Dr. Maria Olsen",
                "role": "Lege",
                "present": False,
                "apology": True,
                "note": "Sendte skriftlig oppdatering",
            },
        ],
        "agenda": [
            {
                "id": "s1",
                "title": "Sak 1 – Jonas' situasjon",
                "body": _rich(GOAL),
                "decision": "Fortsette 💪",
            },
        ],
        "actionItems": [
            {
                "id": "h1",
                "agendaId": "s1",
                "what": "Purre på søknaden",
                "responsibleUserId": "3",
                "due": "2026-02-01",
                "areaId": "skole",
                "goalId": "m1",
                "measureId": None,
            },
        ],
    },
}


def _fresh(update: bytes) -> Doc[Any]:
    doc: Doc[Any] = Doc()
    doc.apply_update(update)
    return doc


def test_zone_names_round_trip_and_refuse_the_rest() -> None:
    assert schema.zone_name(AREA, "skole") == "area/skole"
    assert schema.split_zone_name("minutes/mote-2026-01-15") == (MINUTES, "mote-2026-01-15")
    assert schema.split_zone_name("content") == (CONTENT, "")
    for bad in ("area", "area/", "area/Skole", "area/a/b", "content/x", "nope", "area/../x"):
        with pytest.raises(ValueError):
            schema.split_zone_name(bad)


def test_contract_tables_are_consistent() -> None:
    names = [name for roots in ZONE_ROOTS.values() for name in roots]
    assert len(names) == len(set(names)), "root names are unique across zone kinds"
    for roots in ZONE_ROOTS.values():
        for name, root_type in roots.items():
            if root_type is Array:
                assert name in schema.ITEM_FIELDS
            if root_type is Map:
                assert name in schema.MAP_KEYS
    assert all(fields[0] == "id" for fields in schema.ITEM_FIELDS.values())


@pytest.mark.parametrize("kind", list(ZONE_ROOTS))
def test_new_zone_doc_has_typed_roots(kind: str) -> None:
    doc = new_zone_doc(kind)
    for name, root_type in ZONE_ROOTS[kind].items():
        assert isinstance(get_root(doc, kind, name), root_type)


@pytest.mark.parametrize("kind", list(ZONE_ROOTS))
def test_write_then_read_is_identity_also_in_a_fresh_doc(kind: str) -> None:
    doc = new_zone_doc(kind)
    write_zone(doc, kind, SAMPLES[kind])
    assert read_zone(doc, kind) == SAMPLES[kind]
    # An applied update leaves roots untyped in pycrdt; read_zone must still see them.
    assert read_zone(_fresh(doc.get_update()), kind) == SAMPLES[kind]
    json.dumps(read_zone(doc, kind))


def test_write_zone_replaces_everything() -> None:
    doc = new_zone_doc(AREA)
    write_zone(doc, AREA, SAMPLES[AREA])
    write_zone(doc, AREA, {"goals": [{"id": "x", "title": NAME}]})
    assert read_zone(doc, AREA) == {
        "goals": [{"id": "x", "title": NAME}],
        "measures": [],
        "evaluations": [],
    }


def test_set_text_replaces_whole_value_with_non_ascii() -> None:
    doc: Doc[Any] = Doc()
    text = doc.get("t", type=Text)
    set_text(text, "Blåbær 💻 " + NAME)
    set_text(text, GOAL)
    assert str(text) == GOAL
    assert str(_fresh(doc.get_update()).get("t", type=Text)) == GOAL
    set_text(text, "")
    assert str(text) == ""


def test_rich_text_has_the_shape_y_prosemirror_writes() -> None:
    doc: Doc[Any] = Doc()
    fragment = doc.get("f", type=XmlFragment)
    set_rich_text(fragment, [GOAL, ("heading2", NAME), ("bullet", ["a", "b"]), ""])
    children = list(_fresh(doc.get_update()).get("f", type=XmlFragment).children)
    paragraph, heading, bullets, empty = children
    assert isinstance(paragraph, XmlElement) and paragraph.tag == "paragraph"
    (text,) = list(paragraph.children)
    assert isinstance(text, XmlText) and str(text) == GOAL
    assert isinstance(heading, XmlElement) and heading.tag == "heading"
    assert heading.attributes["level"] == 2  # a number, as Tiptap compares it
    assert isinstance(bullets, XmlElement) and bullets.tag == "bulletList"
    item = list(bullets.children)[0]
    assert isinstance(item, XmlElement) and item.tag == "listItem"
    assert [c.tag for c in item.children if isinstance(c, XmlElement)] == ["paragraph"]
    assert isinstance(empty, XmlElement) and len(empty.children) == 0
    assert rich_text_plain(fragment) == f"{GOAL}\n{NAME}\n- a\n- b\n"


def test_marks_are_formatting_attributes_in_one_text() -> None:
    doc: Doc[Any] = Doc()
    fragment = doc.get("f", type=XmlFragment)
    set_rich_text(fragment, SAMPLES[CONTENT]["resources"])
    (paragraph,) = list(fragment.children)
    assert isinstance(paragraph, XmlElement)
    (text,) = list(paragraph.children)
    assert isinstance(text, XmlText)
    assert text.diff() == [
        ("Jeg er ", None),
        ("god med data", {"bold": {}}),
        (" 💻", {"bold": {}, "italic": {}}),
    ]


def test_nested_shared_types_inside_maps_inside_arrays() -> None:
    doc = new_zone_doc(AREA)
    measures = get_root(doc, AREA, schema.MEASURES)
    item_id = append_item(measures, {"title": GOAL, "description": NAME, "responsible": ["7"]})
    fresh = _fresh(doc.get_update())
    item = find_item(get_root(fresh, AREA, schema.MEASURES), item_id)
    assert item is not None
    assert isinstance(item["title"], Text) and str(item["title"]) == GOAL
    assert isinstance(item["description"], XmlFragment)
    assert rich_text_nodes(item["description"]) == _rich(NAME)
    assert isinstance(item["responsible"], Array) and item["responsible"].to_py() == ["7"]


def test_set_fields_keeps_the_bound_shared_values() -> None:
    doc = new_zone_doc(AREA)
    goals = get_root(doc, AREA, schema.GOALS)
    append_item(goals, {"id": "m1", "title": "før", "description": ["før"]})
    item = find_item(goals, "m1")
    assert item is not None
    title, description = item["title"], item["description"]
    set_fields(item, {"title": GOAL, "description": [NAME], "label": "M1"})
    # The wrappers held before the write see the new values: the same shared types were reused.
    assert str(title) == GOAL and rich_text_plain(description) == NAME
    assert str(item["title"]) == GOAL


def test_shared_types_are_refused_as_values() -> None:
    # pycrdt 0.14 would silently insert an empty Text for one already integrated.
    doc = new_zone_doc(AREA)
    goals = get_root(doc, AREA, schema.GOALS)
    with pytest.raises(TypeError):
        append_item(goals, {"title": Text(GOAL)})
    with pytest.raises(TypeError):
        append_item(goals, {"title": None})


def test_find_and_remove_item() -> None:
    doc = new_zone_doc(COMMENTS)
    messages = get_root(doc, COMMENTS, schema.MESSAGES)
    first = append_item(messages, {"text": "én"})
    append_item(messages, {"id": "to", "text": "to"})
    assert find_item(messages, "nope") is None
    assert remove_item(messages, first) and not remove_item(messages, first)
    assert [m["id"] for m in read_zone(doc, COMMENTS)["messages"]] == ["to"]


def test_concurrent_appends_to_a_flat_list_both_survive() -> None:
    base = new_zone_doc(AREA)
    left, right = _fresh(base.get_update()), _fresh(base.get_update())
    append_item(get_root(left, AREA, schema.GOALS), {"id": "a", "title": "Å"})
    append_item(get_root(right, AREA, schema.GOALS), {"id": "b", "parentId": "a", "title": "Ø"})
    left.apply_update(right.get_update())
    right.apply_update(left.get_update())
    assert read_zone(left, AREA) == read_zone(right, AREA)
    assert {g["id"] for g in read_zone(left, AREA)["goals"]} == {"a", "b"}


def test_numbers_read_back_as_ints() -> None:
    doc = new_zone_doc(CONTENT)
    write_zone(doc, CONTENT, {"contributions": [{"id": "c", "position": 3, "text": ""}]})
    assert read_zone(doc, CONTENT)["contributions"] == [{"id": "c", "text": "", "position": 3}]


@pytest.mark.parametrize(
    ("kind", "data"),
    [
        (AREA, {"goalz": []}),
        (AREA, {"measures": [{"id": "t", "status": "pågår"}]}),
        (AREA, {"measures": [{"id": "t", "start": "01.09.2025"}]}),
        (AREA, {"evaluations": [{"id": "e", "attainment": "nådd"}]}),
        (AREA, {"goals": [{"id": "a"}, {"id": "a"}]}),
        (AREA, {"goals": [{"title": "uten id"}]}),
        (CONTENT, {"meta": {"status": "ukjent"}}),
        (CONTENT, {"aboutMe": [{"type": "table"}]}),
        (CONTENT, {"aboutMe": [{"type": "listItem", "content": _rich("x")}]}),
        (
            CONTENT,
            {
                "aboutMe": [
                    {
                        "type": "bulletList",
                        "content": [{"type": "listItem", "content": _rich(("bullet", ["x"]))}],
                    }
                ]
            },
        ),
        (CONTENT, {"aboutMe": [{"type": "heading", "content": []}]}),
        (
            CONTENT,
            {
                "aboutMe": [
                    {
                        "type": "paragraph",
                        "content": [{"type": "text", "text": "x", "marks": [{"type": "link"}]}],
                    }
                ]
            },
        ),
        (MINUTES, {"agenda": [{"id": "s", "body": [{"type": "image"}]}]}),
    ],
)
def test_write_zone_refuses_what_breaks_the_contract(kind: str, data: dict[str, Any]) -> None:
    doc = new_zone_doc(kind)
    before = doc.get_update()
    with pytest.raises(ValueError):
        write_zone(doc, kind, data)
    assert doc.get_update() == before, "nothing is written when validation fails"


def test_utc_timestamp_form() -> None:
    from datetime import datetime, timedelta, timezone

    oslo_winter = datetime(2026, 1, 15, 15, 5, 30, 999, tzinfo=timezone(timedelta(hours=1)))
    assert schema.utc_timestamp(oslo_winter) == "2026-01-15T14:05:30Z"
