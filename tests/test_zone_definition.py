"""One definition of a zone (crdt/schema.py): its kinds, which are keyed, the key rule and the
room suffix. storage/ keeps the one copy it may (it cannot import crdt), pinned here; nothing
else in the source spells the rule or the suffix. A key the socket would refuse is refused
where zones are created (CLI, storage) and reported by `samplan migrate` when already stored.

A keyed zone with a valid key still opens: tests/test_cli.py
test_user_plan_member_token_commands creates `skole` with the CLI and opens `area/skole`.
"""

from __future__ import annotations

import ast
import re
import sqlite3
import uuid
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

import pytest

from crdt import schema
from server.core import access
from server.services import Repositories
from server.sync.room_path import BadRoomPath, parse_room_path
from storage import models
from storage.errors import InvalidValue
from storage.repositories.transfer import MeetingRow, PlanTransfer, ZoneRow
from tests.conftest import make_settings
from tests.test_cli import samplan

ROOT = Path(__file__).resolve().parent.parent
OWNERS = {ROOT / "crdt" / "schema.py", ROOT / "storage" / "models.py"}
KEYS = {
    "skole": True,
    "mote-2026-01-15": True,
    "0": True,
    "a" * 64: True,
    "a" * 65: False,
    "": False,
    "Skole_1": False,
    "skole_1": False,
    "SKOLE": False,
    "-skole": False,
    "skole\n": False,
    "skole/x": False,
    "læring": False,
    "mål-🎯": False,
}


def test_storage_keeps_crdts_definition() -> None:
    assert models.ZONE_KEY_PATTERN == schema.ZONE_KEY_PATTERN
    assert models.ZONE_KEY_RULE == schema.ZONE_KEY_RULE
    assert models.ZONE_KINDS == schema.ZONE_KINDS
    assert set(models.KEYLESS_ZONE_KINDS) == set(schema.ZONE_KINDS) - schema.KEYED_KINDS
    for key, valid in KEYS.items():
        assert schema.is_zone_key(key) is valid, key
        assert models.is_zone_key(key) is valid, key


def test_the_server_asks_crdt() -> None:
    assert access.ZoneKind is schema.ZoneKind
    assert tuple(schema.ZoneKind) == schema.ZONE_KINDS
    assert sorted(schema.ZONE_ORDER, key=schema.ZONE_ORDER.__getitem__) == list(schema.ZONE_KINDS)
    assert set(schema.VERSIONED_KINDS) <= set(schema.ZONE_KINDS)


def _sources() -> list[Path]:
    return sorted(p for d in ("server", "crdt", "storage") for p in (ROOT / d).rglob("*.py"))


def test_one_owner_of_the_key_rule_and_the_suffix() -> None:
    """A character class of a zone key anywhere but the two owners is a second rule (the
    bug this guards against: three loose copies let `Skole_1` in); an f-string that writes
    `area/` or `minutes/` is a second spelling of the suffix (use `zone_name`)."""
    key_class = re.compile(r"a-z0-9|A-Za-z0-9|a-zA-Z0-9")
    found: list[str] = []
    owned: dict[Path, int] = {}
    for path in _sources():
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            where = f"{path.relative_to(ROOT)}:{getattr(node, 'lineno', '?')}"
            if isinstance(node, ast.Constant) and isinstance(node.value, str):
                if key_class.search(node.value):
                    if path in OWNERS:
                        owned[path] = owned.get(path, 0) + 1
                    else:
                        found.append(f"{where} key rule {node.value!r}")
            if isinstance(node, ast.JoinedStr):
                for part in node.values:
                    text = part.value if isinstance(part, ast.Constant) else ""
                    if isinstance(text, str) and re.search(r"(^|/)(area|minutes)/", text):
                        found.append(f"{where} suffix spelled {text!r}")
    assert found == []
    assert owned == dict.fromkeys(OWNERS, 1), "each owner defines the pattern exactly once"


def test_room_paths_follow_the_rule() -> None:
    plan_id = str(uuid.uuid4())
    for key, valid in KEYS.items():
        for kind in ("area", "minutes"):
            path = f"plan/{plan_id}/{kind}/{key}"
            if valid:
                parsed = parse_room_path(path)
                assert (parsed.kind, parsed.key, parsed.zone, str(parsed)) == (
                    kind,
                    key,
                    schema.zone_name(kind, key),
                    path,
                )
            else:
                with pytest.raises(BadRoomPath):
                    parse_room_path(path)
    assert parse_room_path(f"plan/{plan_id}/content").zone == "content"
    for bad in ("content/x", "comments/", "area", "notes/skole", "area/skole/x"):
        with pytest.raises(BadRoomPath):
            parse_room_path(f"plan/{plan_id}/{bad}")


async def test_storage_refuses_a_key_the_socket_would(tmp_path: Path) -> None:
    repos = await Repositories.open(make_settings(tmp_path))
    try:
        municipality = await repos.plans.get_or_create_municipality("Eksempelvik kommune")
        plan = await repos.plans.create_plan(municipality, "Plan for Åse 🌱", "Åse Ødegård")
        with pytest.raises(InvalidValue, match="'Skole_1'.*lower-case letters a-z"):
            await repos.plans.add_zone(plan.id, "area", "Skole_1", "Skole og læring 📚", 0)
        when = datetime(2026, 1, 15, 13, 0, tzinfo=UTC)
        with pytest.raises(InvalidValue, match="'Møte_1'.*lower-case letters a-z"):
            await repos.meetings.schedule(
                plan.id,
                title="Ansvarsgruppemøte ✅",
                starts_at=when,
                ends_at=when,
                place=None,
                video_link=None,
                agenda=(),
                invitee_ids=(),
                created_by_user_id=None,
                meeting_id="Møte_1",
            )
        # An import writes through storage.repositories.transfer, which checks too.
        moved = PlanTransfer(
            str(uuid.uuid4()), "Plan for Åse 🌱", "Åse Ødegård", "active", "Eksempelvik", when
        )
        zones = (ZoneRow("content", "", "Felles del", 0), ZoneRow("comments", "", "Kommentarer", 0))
        bad_area = ZoneRow("area", "Skole_1", "Skole og læring 📚", 1)
        with pytest.raises(InvalidValue, match="'Skole_1'.*lower-case letters a-z"):
            await repos.transfer.create(replace(moved, zones=(*zones, bad_area)), lambda _: ())
        bad_meeting = MeetingRow("Møte_1", "Møte ✅", when, None, None, when)
        with pytest.raises(InvalidValue, match="'Møte_1'.*lower-case letters a-z"):
            await repos.transfer.create(
                replace(moved, zones=zones, meetings=(bad_meeting,)), lambda _: ()
            )
        assert [z.key for z in await repos.plans.list_zones(plan.id)] == ["", ""]
        assert await repos.plans.all_zone_keys() == [
            (plan.id, "comments", ""),
            (plan.id, "content", ""),
        ]
    finally:
        await repos.close()


def _plans(tmp_path: Path) -> int:
    with sqlite3.connect(tmp_path / "cli.sqlite3") as db:
        return int(db.execute("SELECT count(*) FROM plans").fetchone()[0])


def test_plan_create_refuses_a_bad_area_key_and_writes_nothing(tmp_path: Path) -> None:
    samplan(tmp_path, "migrate")
    for areas in (
        ["--area", "Skole_1=Skole og læring 📚"],
        ["--area", "fritid=Fritid og venner 🎸", "--area", "Skole_1=Skole og læring 📚"],
    ):
        result = samplan(
            tmp_path,
            "plan",
            "create",
            "--title",
            "Plan for Åse Ødegård",
            "--person",
            "Åse Ødegård",
            *areas,
            ok=False,
        )
        assert result.returncode == 2, result.stderr
        assert "'Skole_1'" in result.stderr and schema.ZONE_KEY_RULE in result.stderr
        assert "Traceback" not in result.stderr and result.stdout == ""
        assert _plans(tmp_path) == 0


def test_migrate_reports_zones_nobody_can_open_and_changes_nothing(tmp_path: Path) -> None:
    clean = samplan(tmp_path, "migrate")
    assert clean.stdout == "database is up to date\n" and clean.stderr == ""
    plan_id = samplan(
        tmp_path,
        "plan",
        "create",
        "--title",
        "Plan for Åse Ødegård",
        "--person",
        "Åse Ødegård",
        "--area",
        "skole=Skole og læring 📚",
        "--area",
        "fritid=Fritid og venner 🎸",
        "--area",
        "helse=Helse og trivsel 💚",
    ).stdout.strip()
    with sqlite3.connect(tmp_path / "cli.sqlite3") as db:  # as an older, looser rule let in
        db.execute("UPDATE zones SET key = 'Skole_1' WHERE key = 'skole'")
        db.execute("UPDATE zones SET key = 'Fritid' WHERE key = 'fritid'")
        before = db.execute("SELECT plan_id, kind, key, title FROM zones ORDER BY id").fetchall()

    result = samplan(tmp_path, "migrate")
    assert result.stdout == "database is up to date\n"
    lines = result.stderr.splitlines()
    assert lines[:2] == [
        f"samplan migrate: plan {plan_id} area/Fritid: the key must be {schema.ZONE_KEY_RULE}, "
        "so its room cannot be opened",
        f"samplan migrate: plan {plan_id} area/Skole_1: the key must be "
        f"{schema.ZONE_KEY_RULE}, so its room cannot be opened",
    ]
    assert len(lines) == 3 and "2 zone(s) above cannot be opened" in lines[2]
    assert "nothing was changed" in lines[2] and "samplan export" in lines[2]
    with sqlite3.connect(tmp_path / "cli.sqlite3") as db:
        after = db.execute("SELECT plan_id, kind, key, title FROM zones ORDER BY id").fetchall()
    assert after == before
    assert ("area", "Skole_1", "Skole og læring 📚") in [row[1:] for row in after]
