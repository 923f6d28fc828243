"""`samplan export` / `samplan import` through the real command line and real SQLite files:
the round trip is exact, people are matched by e-mail (renumbering the documents' user ids
where needed), the imported plan is served to a WebSocket client, and every bad file is refused
with exit 1 and changes nothing."""

from __future__ import annotations

import base64
import copy
import json
import os
import sqlite3
import stat
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest

from crdt.schema import USER_REF_FIELDS, USER_REF_LISTS, append_item, get_root, read_zone
from crdt.zone_state import doc_from_stored
from server.auth.tokens import issue_plan_token
from server.demo import load_demo
from server.services import Repositories
from server.settings import Settings
from tests.conftest import make_settings
from tests.support.clients import connected
from tests.support.live import live_server

EMOJI_GOAL = "Lære å lage blåbærsyltetøy 🫐 på egen hånd"
EMOJI_PARTNER = "Ødegård Ørnerede 🦅 fritidsklubb"


def env_of(settings: Settings) -> dict[str, str]:
    return {
        **os.environ,
        "SAMPLAN_VAR_DIR": str(settings.var_dir),
        "SAMPLAN_DATABASE_URL": settings.resolved_database_url(),
        "SAMPLAN_SECRET_KEY": "test-secret-ikke-hemmelig",
    }


def samplan(settings: Settings, *args: str, stdin: bytes = b"") -> subprocess.CompletedProcess[str]:
    settings.var_dir.parent.mkdir(parents=True, exist_ok=True)
    result = subprocess.run(
        [sys.executable, "-m", "server.cli", *args],
        env=env_of(settings),
        input=stdin.decode() if stdin else None,
        capture_output=True,
        text=True,
        timeout=120,
        cwd=settings.var_dir.parent,
    )
    assert "Traceback" not in result.stderr, result.stderr
    return result


def db_path(settings: Settings) -> Path:
    return Path(settings.resolved_database_url().split(":///", 1)[1])


def row_counts(settings: Settings) -> dict[str, int]:
    tables = (
        "municipalities users plans zones memberships consents meetings zone_updates "
        "zone_snapshots zone_summaries audit_log"
    ).split()
    with sqlite3.connect(db_path(settings)) as db:
        return {t: db.execute(f"SELECT count(*) FROM {t}").fetchone()[0] for t in tables}


def without_time(document: Mapping[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in document.items() if k != "exported_at"}


def by_email(document: Mapping[str, Any]) -> dict[str, Any]:
    """The document with every user id replaced by that person's e-mail, and no CRDT bytes:
    what must survive a move to a database where people have other ids."""
    emails = {str(p["id"]): p["email"] for p in document["people"]}

    def swap(value: Any, key: str = "") -> Any:
        if isinstance(value, dict):
            return {k: swap(v, k) for k, v in value.items()}
        if isinstance(value, list):
            if key in USER_REF_LISTS:
                return [emails.get(str(v), v) for v in value]
            return [swap(v) for v in value]
        if key in USER_REF_FIELDS or key.endswith("user_id"):
            return emails.get(str(value), value) if value is not None else None
        return value

    result = swap(without_time(document))
    result.pop("people")
    for zone in result["zones"]:
        zone.pop("state")
    return result


async def make_source(settings: Settings) -> str:
    """The demo plan, plus history an archive must keep: an emoji edit in two zones, a consent
    refused and given again, and a member removed who still wrote a measure."""
    repos = await Repositories.open(settings)
    try:
        plan_id = (await load_demo(repos)).plan_id
        for kind, key, root, values in (
            ("area", "skole", "goals", {"id": "m9", "label": "M9", "title": EMOJI_GOAL}),
            ("content", "", "collaboration", {"id": "c9", "name": EMOJI_PARTNER}),
        ):
            zone = await repos.plans.get_zone(plan_id, kind, key)
            assert zone is not None
            doc = doc_from_stored(await repos.zone_log.load(zone.id))
            before = doc.get_state()
            append_item(get_root(doc, kind, root), {**values, "parentId": None})
            await repos.zone_log.append_batch([(zone.id, doc.get_update(before))])
        erik = await repos.users.get_by_email("erik.berg@eksempelvik.demo")
        jonas = await repos.users.get_by_email("jonas.berg@eksempelvik.demo")
        assert erik and jonas
        await repos.consents.refuse(plan_id, erik.id, jonas.id)
        await repos.consents.give(plan_id, erik.id, ["content", "area/skole"], None, jonas.id)
        tor = await repos.users.get_by_email("tor.eriksen@eksempelvik.demo")
        assert tor
        await repos.plans.remove_member(plan_id, tor.id)  # named in measure t4-1
        return plan_id
    finally:
        await repos.close()


@pytest.fixture
def source(tmp_path: Path) -> Settings:
    return make_settings(tmp_path / "a")


@pytest.fixture
async def exported(source: Settings, tmp_path: Path) -> tuple[str, Path]:
    plan_id = await make_source(source)
    out = tmp_path / "plan.json"
    result = samplan(source, "export", plan_id, "--out", str(out))
    assert result.returncode == 0, result.stderr
    return plan_id, out


async def test_round_trip_is_exact_and_served(
    exported: tuple[str, Path], source: Settings, tmp_path: Path
) -> None:
    plan_id, path = exported
    first = json.loads(path.read_text(encoding="utf-8"))
    assert stat.S_IMODE(path.stat().st_mode) == 0o600  # health data: owner only
    assert first["format"] == "samplan-plan" and first["version"] == 1
    assert first["published_minutes"] == []
    assert "password" not in path.read_text() and "argon2" not in path.read_text()
    skole = next(z for z in first["zones"] if z["zone"] == "area/skole")
    assert any(g["title"] == EMOJI_GOAL for g in skole["content"]["goals"])
    assert [c["status"] for c in first["consents"] if c["user_id"] == 8][-2:] == [
        "refused",
        "given",
    ]
    tor = next(p for p in first["people"] if p["name"] == "Tor Eriksen")
    assert all(m["user_id"] != tor["id"] for m in first["members"])  # removed, still named

    target = make_settings(tmp_path / "b")
    result = samplan(target, "import", str(path))
    assert result.returncode == 0, result.stderr
    assert "9 users created, 0 found by e-mail" in result.stdout
    again = samplan(target, "export", plan_id)
    assert again.returncode == 0, again.stderr
    second = json.loads(again.stdout)
    assert without_time(second) == without_time(first)
    with sqlite3.connect(db_path(target)) as db:
        logged = db.execute("SELECT action, actor_user_id, plan_id, details FROM audit_log")
        assert [row[:3] for row in logged] == [("import", None, plan_id), ("export", None, plan_id)]

    # The imported plan, served: a WebSocket client gets the same documents.
    kari = next(m for m in second["members"] if m["role"] == "koordinator")
    token = issue_plan_token(target.resolved_secret_key(), kari["user_id"], plan_id, 600)
    async with live_server(target) as server:
        for zone in second["zones"]:
            url = server.ws_url(f"plan/{plan_id}/{zone['zone']}", token)
            async with connected(url) as client:
                assert read_zone(client.doc, zone["kind"]) == zone["content"], zone["zone"]
                assert client.doc.get_update() == base64.b64decode(zone["state"])


async def test_import_finds_people_by_email_and_renumbers_the_documents(
    exported: tuple[str, Path], tmp_path: Path
) -> None:
    plan_id, path = exported
    target = make_settings(tmp_path / "c")
    repos = await Repositories.open(target)
    try:  # id 1 taken by someone else; Kari exists under another id, with her own name
        await repos.users.create("aase.odegard@eksempelvik.test", "Åse Ødegård")
        kari = await repos.users.create("Kari.Nilsen@eksempelvik.demo", "Kari Nilsen (NAV)")
    finally:
        await repos.close()
    result = samplan(target, "import", str(path))
    assert result.returncode == 0, result.stderr
    assert "8 users created, 1 found by e-mail" in result.stdout
    moved = json.loads(samplan(target, "export", plan_id).stdout)
    first = json.loads(path.read_text(encoding="utf-8"))
    koordinator = next(m for m in moved["members"] if m["role"] == "koordinator")
    assert koordinator["user_id"] == kari.id and koordinator["name"] == "Kari Nilsen (NAV)"
    # Who wrote, who is responsible, who consented: the same people, by e-mail.
    expected = by_email(first)
    for member in expected["members"]:
        if member["email"] == "kari.nilsen@eksempelvik.demo":
            member["name"] = "Kari Nilsen (NAV)"
    assert by_email(moved) == expected
    with sqlite3.connect(db_path(target)) as db:
        hashes = db.execute("SELECT count(*) FROM users WHERE password_hash IS NOT NULL")
        assert hashes.fetchone()[0] == 0  # created without a password


async def test_bad_files_exit_1_and_change_nothing(
    exported: tuple[str, Path], tmp_path: Path
) -> None:
    plan_id, path = exported
    good = json.loads(path.read_text(encoding="utf-8"))
    target = make_settings(tmp_path / "d")
    assert samplan(target, "user", "add", "--email", "a@b.no", "--name", "Å", "--no-password")
    before = row_counts(target)

    def mutated(change: Any) -> str:
        document = copy.deepcopy(good)
        change(document)
        return json.dumps(document, ensure_ascii=False)

    def zone(document: dict[str, Any], name: str) -> dict[str, Any]:
        return next(z for z in document["zones"] if z["zone"] == name)

    garbage = base64.b64encode(b"\x01\xff\xff\xff\xff\x0f\x00" * 3).decode()
    cases: dict[str, tuple[str, str]] = {
        "not JSON": ('{"format": "samplan-plan", ', "not valid JSON"),
        "not an object": ("[1, 2]", "must be a JSON object"),
        "wrong format": (mutated(lambda d: d.update(format="noe-annet")), "format"),
        "wrong version": (mutated(lambda d: d.update(version=2)), "version 2"),
        "missing title": (mutated(lambda d: d["plan"].pop("title")), "plan.title: missing"),
        "bad plan id": (mutated(lambda d: d["plan"].update(id="x")), "plan.id"),
        "bad role": (mutated(lambda d: d["members"][0].update(role="sjef")), "members[0].role"),
        "unknown person": (
            mutated(lambda d: d["consents"][0].update(given_by_user_id=999)),
            "not among people",
        ),
        "two koordinators": (
            mutated(lambda d: d["members"][1].update(role="koordinator")),
            "at most one koordinator",
        ),
        "state not base64": (
            mutated(lambda d: zone(d, "content").update(state="æøå 🫐")),
            "must be base64",
        ),
        "state not a Yjs update": (
            mutated(lambda d: zone(d, "area/skole").update(state=garbage)),
            "not a valid Yjs update",
        ),
        "content edited by hand": (
            mutated(lambda d: zone(d, "area/skole")["content"]["goals"][0].update(title="Nytt")),
            "differs from the zone's state",
        ),
        "published minutes": (
            mutated(lambda d: d.update(published_minutes=[{"id": "x"}])),
            "published_minutes",
        ),
        "no such file": ("", "cannot read"),
    }
    for number, (name, (text, message)) in enumerate(cases.items()):
        file = tmp_path / f"bad-{number}.json"
        if name != "no such file":
            file.write_text(text, encoding="utf-8")
        result = samplan(target, "import", str(file))
        assert result.returncode == 1, (name, result.stdout, result.stderr)
        assert message in result.stderr and result.stderr.startswith("samplan import: "), name
        assert row_counts(target) == before, name

    # Importing the same plan twice: the second is refused, nothing written.
    assert samplan(target, "import", str(path)).returncode == 0
    before = row_counts(target)
    twice = samplan(target, "import", str(path))
    assert twice.returncode == 1 and f"plan with id {plan_id} already exists" in twice.stderr
    assert row_counts(target) == before
    # ... and from stdin too.
    stdin = samplan(target, "import", "-", stdin=path.read_bytes())
    assert stdin.returncode == 1 and "already exists" in stdin.stderr


async def test_cli_export_is_logged_and_unknown_plans_refused(
    exported: tuple[str, Path], source: Settings
) -> None:
    plan_id, _ = exported
    with sqlite3.connect(db_path(source)) as db:
        rows = db.execute(
            "SELECT actor_user_id, plan_id, details FROM audit_log WHERE action = 'export'"
        ).fetchall()
    assert rows == [(None, plan_id, json.dumps({"format": "json", "via": "cli"}).replace(" ", ""))]
    missing = samplan(source, "export", "00000000-0000-4000-8000-000000000000")
    assert missing.returncode == 2 and "no plan" in missing.stderr and not missing.stdout
    assert samplan(source, "audit", "verify").stdout.startswith("OK")
