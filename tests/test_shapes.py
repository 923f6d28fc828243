"""Shapes the server keeps: the typed contract of crdt/schema.py, and readers that stay up on
a malformed stored document (print, PDF, export, Mine planer, versions), rendering every other
item and logging the zone and item by id, never the content."""

from __future__ import annotations

import json
import logging
import re
from pathlib import Path
from typing import Any

import pytest
from pycrdt import Array, Doc, Map, Text

from crdt import schema
from crdt.schema import (
    FIELD_SHAPES,
    ITEM_FIELDS,
    MAP_KEYS,
    Shape,
    ShapeProblem,
    append_item,
    conform_zone,
    get_root,
    new_zone_doc,
    read_zone,
)
from crdt.summary import zone_summary
from server.demo import content as demo_content
from tests.support.live import LiveServer
from tests.support.web import csrf_of, signed_in
from tests.support.world import ROLE_USERS, World

ROOT = Path(__file__).resolve().parent.parent
GOOD_GOAL = "Åse Ødegård leser sammen med Jonas 📚"
GOOD_MEASURE = "Blåbærtur med skolen 🫐"
GOOD_EVALUATION = "Det gikk bra på skolen, sa Åse 😊"
ABOUT_ME = "Jeg heter Jonas og liker å spille fotball ⚽ på Ødegården."
SECRET = "Hemmelig tekst fra Åse 🤫"


# --- the contract ---------------------------------------------------------------------------


def test_every_named_field_has_a_shape() -> None:
    named = {f for fields in ITEM_FIELDS.values() for f in fields}
    named |= {k for keys in MAP_KEYS.values() for k in keys}
    assert named == set(FIELD_SHAPES)
    for key, field_type in schema.FIELD_TYPES.items():
        expected = {Text: Shape.TEXT, Array: Shape.USER_IDS}.get(field_type, Shape.RICH_TEXT)
        assert FIELD_SHAPES[key] is expected
    for (root, key), values in schema.ENUM_FIELDS.items():
        assert FIELD_SHAPES[key] is Shape.ENUM and key in (ITEM_FIELDS | MAP_KEYS)[root]
        assert values


def test_the_enumerations_are_the_bundles() -> None:
    source = (ROOT / "client/src/plan/items.js").read_text(encoding="utf-8")

    def listed(name: str) -> tuple[str, ...]:
        match = re.search(rf"export const {name} = \[([^\]]*)\]", source)
        assert match, name
        return tuple(re.findall(r"'([^']*)'", match.group(1)))

    assert listed("MEASURE_STATUSES") == schema.MEASURE_STATUSES
    assert listed("ATTAINMENTS") == schema.ATTAINMENTS
    assert listed("PLAN_STATUSES") == schema.PLAN_STATUSES


def test_the_demo_plan_keeps_the_contract() -> None:
    """What the demo writes (and so what the bundle shows every day) reads back whole."""
    for kind, data in _demo_zones():
        problems: list[ShapeProblem] = []
        assert conform_zone(kind, data, problems) == data
        assert problems == []


def _demo_zones() -> list[tuple[str, dict[str, Any]]]:
    ids = {m.email: 100 + n for n, m in enumerate(demo_content.MEMBERS)}
    zones = []
    for (kind, _key), update in demo_content.build_zone_docs(ids).items():
        doc: Doc[Any] = Doc()
        doc.apply_update(update)
        zones.append((kind, read_zone(doc, kind)))
    return zones


def test_a_malformed_area_reads_without_what_breaks_it() -> None:
    doc = new_zone_doc("area")
    _poison_area(doc)
    problems: list[ShapeProblem] = []
    data = read_zone(doc, "area", problems)
    assert [g.get("title") for g in data["goals"]] == [GOOD_GOAL, None]
    bad_title = data["goals"][1]
    assert bad_title["id"] == "goal-bad-title" and "title" not in bad_title
    assert bad_title["fromNewerBundle"] == "kept as it is ✨"  # an unknown key is kept
    [measure] = data["measures"]
    assert measure["title"] == GOOD_MEASURE and "end" not in measure and "status" not in measure
    assert measure["responsible"] == ["7"]
    assert [e["result"] for e in data["evaluations"]] == [GOOD_EVALUATION]
    assert set(problems) == {
        ShapeProblem("goals", None, 1, None),  # the string "x"
        ShapeProblem("goals", None, 2, "id"),  # a map without an id
        ShapeProblem("goals", "goal-bad-title", 3, "title"),  # a map where text belongs
        ShapeProblem("measures", "measure-1", 0, "end"),
        ShapeProblem("measures", "measure-1", 0, "status"),
        ShapeProblem("evaluations", "eval-1", 1, "id"),  # the same id twice
    }
    assert SECRET not in repr(problems)


def test_summaries_count_only_real_dates() -> None:
    content = new_zone_doc("content")
    _poison_content(content)
    assert zone_summary(content, "content") == {"nextRevision": None, "planPeriodEnd": "2026-12-31"}
    area = new_zone_doc("area")
    _poison_area(area)
    summary = zone_summary(area, "area")
    assert summary["openMeasureEnds"] == [] and summary["lastEvaluation"] == "2026-01-15"


# --- malformed documents ----------------------------------------------------------------------


def _poison_area(doc: Doc[Any]) -> None:
    goals = get_root(doc, "area", "goals")
    measures = get_root(doc, "area", "measures")
    evaluations = get_root(doc, "area", "evaluations")
    with doc.transaction():
        append_item(goals, {"id": "goal-1", "label": "M1", "title": GOOD_GOAL, "parentId": None})
        goals.append("x")
        no_id: Map[Any] = Map()
        goals.append(no_id)
        no_id["title"] = Text(SECRET)
        bad_title: Map[Any] = Map()
        goals.append(bad_title)
        bad_title["id"] = "goal-bad-title"
        bad_title["title"] = Map({"nested": SECRET})
        bad_title["fromNewerBundle"] = "kept as it is ✨"
        append_item(
            measures,
            {"id": "measure-1", "goalId": "goal-1", "title": GOOD_MEASURE, "responsible": ["7"]},
        )
        measure = measures[0]
        measure["end"] = 42.0
        measure["status"] = SECRET
        append_item(
            evaluations,
            {"id": "eval-1", "goalId": "goal-1", "date": "2026-01-15", "result": GOOD_EVALUATION},
        )
        append_item(evaluations, {"id": "eval-1", "goalId": "goal-1", "result": SECRET})


def _poison_content(doc: Doc[Any]) -> None:
    meta = get_root(doc, "content", "meta")
    with doc.transaction():
        schema.set_fields(meta, {"status": "aktiv", "planPeriodEnd": "2026-12-31"})
        meta["nextRevision"] = 42.0
        schema.set_rich_text(get_root(doc, "content", "aboutMe"), [ABOUT_ME])
        get_root(doc, "content", "collaboration").append(SECRET)


def _update(kind: str, poison: Any) -> bytes:
    doc = new_zone_doc(kind)
    poison(doc)
    return doc.get_update()


async def test_readers_stay_up_on_a_malformed_stored_document(
    web: LiveServer, world: World, caplog: pytest.LogCaptureFixture
) -> None:
    area, content = world.zones["area/skole"], world.zones["content"]
    await web.services.repos.zone_log.append_batch(
        [(area, _update("area", _poison_area)), (content, _update("content", _poison_content))]
    )
    plan = world.plan_id
    with caplog.at_level(logging.WARNING, logger="samplan.shapes"):
        async with signed_in(web.http, ROLE_USERS["koordinator"][0]) as http:
            printed = await http.get(f"/plans/{plan}/print")
            assert printed.status_code == 200
            for text in (GOOD_GOAL, GOOD_MEASURE, GOOD_EVALUATION, "Jeg heter Jonas"):
                assert text in printed.text
            assert SECRET not in printed.text
            pdf = await http.get(f"/plans/{plan}/export.pdf")
            assert pdf.status_code == 200 and pdf.content.startswith(b"%PDF-")
            exported = await http.get(f"/plans/{plan}/export.json")
            assert exported.status_code == 200
            zones = {z["zone"]: z["content"] for z in exported.json()["zones"]}
            assert [g["id"] for g in zones["area/skole"]["goals"]] == ["goal-1", "goal-bad-title"]
            assert "nextRevision" not in zones["content"]["meta"]
            assert SECRET not in json.dumps(exported.json(), ensure_ascii=False)
            mine = await http.get("/plans")
            assert mine.status_code == 200
            page = await http.get(f"/plans/{plan}")
            assert page.status_code == 200
            versions = await http.get(f"/plans/{plan}/versions")
            made = await http.post(
                f"/plans/{plan}/versions",
                data={"csrf_token": csrf_of(versions.text), "name": "Før sommeren ☀️ på Ødegården"},
            )
            assert made.status_code == 303
            version = await http.get(made.headers["location"])
            assert version.status_code == 200 and GOOD_GOAL in version.text
    logged = [r.getMessage() for r in caplog.records if r.name == "samplan.shapes"]
    assert any(f"zone_id={area} root=goals item_id=None position=1" in m for m in logged)
    assert any(f"zone_id={area} root=goals item_id=goal-bad-title" in m for m in logged)
    assert any(f"zone_id={content} root=meta" in m and "nextRevision" in m for m in logged)
    assert not any(SECRET in m or "42" in m.split("field=")[-1] for m in logged)
