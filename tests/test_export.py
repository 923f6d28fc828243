"""`samplan export` / `samplan import` through the real command line and real SQLite files:
the round trip is exact (meetings with agenda and invitees, published minutes with their hash),
people are matched by e-mail (renumbering the documents' user ids where needed), the imported
plan is served to a WebSocket client and its published minutes still verify over HTTP, a
version-1 file still imports, and every bad file is refused with exit 1 and changes nothing."""

from __future__ import annotations

import base64
import contextlib
import copy
import functools
import hashlib
import json
import os
import sqlite3
import stat
import subprocess
import sys
from collections.abc import AsyncIterator, Mapping
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from pycrdt import Doc

from crdt.schema import (
    ACTION_ITEMS,
    AGENDA,
    USER_REF_FIELDS,
    USER_REF_LISTS,
    ZONE_KEY_RULE,
    append_item,
    find_item,
    get_root,
    read_zone,
    set_fields,
)
from crdt.zone_state import doc_from_stored
from server.core.tokens import issue_plan_token
from server.demo.content import DEMO_PASSWORD
from server.demo.loader import load_demo
from server.meetings.scheduling import seed_minutes
from server.services import Repositories
from server.settings import Settings
from storage.repositories.meetings import AgendaItem, AgendaRef
from tests.conftest import make_settings
from tests.support.clients import connected
from tests.support.live import LiveServer, live_server
from tests.support.passwords import hash_password
from tests.support.web import csrf_of, log_in

EMOJI_GOAL = "Lære å lage blåbærsyltetøy 🫐 på egen hånd"
EMOJI_PARTNER = "Ødegård Ørnerede 🦅 fritidsklubb"
MEETING_ID = "mote-2026-varen"
CANCELLED_ID = "mote-avlyst"
VIDEO_LINK = "https://video.eksempelvik.demo/rom/ansvarsgruppe-%C3%A5se"
DECISION_1 = "Leksehjelp to dager i uka ✅"
DECISION_2 = "Leksehjelp tre dager i uka 🫐 (rettet)"
KARI = "kari.nilsen@eksempelvik.demo"
JONAS = "jonas.berg@eksempelvik.demo"


def env_of(settings: Settings) -> dict[str, str]:
    return {
        **os.environ,
        "SAMPLAN_VAR_DIR": str(settings.var_dir),
        "SAMPLAN_DATABASE_URL": settings.resolved_database_url(),
        "SAMPLAN_SECRET_KEY": settings.resolved_secret_key(),
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


_ONE_BY_ONE = """
import contextlib, io, json, sys
from server.cli import main
from tests.test_export import row_counts_of
database, files = sys.argv[1], sys.argv[2:]
done = []
for file in files:
    stderr = io.StringIO()
    with contextlib.redirect_stderr(stderr):
        code = main(["import", file])
    done.append([code, stderr.getvalue(), row_counts_of(database)])
print(json.dumps(done))
"""


def import_one_by_one(settings: Settings, files: list[Path]) -> list[tuple[int, str, Any]]:
    """`samplan import FILE` for each file in turn, in one process: the command line's own
    main() (what `samplan` exits with), its stderr, and the row counts right after it."""
    result = subprocess.run(
        [sys.executable, "-c", _ONE_BY_ONE, str(db_path(settings)), *map(str, files)],
        env=env_of(settings) | {"PYTHONPATH": str(Path(__file__).resolve().parents[1])},
        capture_output=True,
        text=True,
        timeout=300,
        cwd=settings.var_dir.parent,
    )
    assert result.returncode == 0 and "Traceback" not in result.stderr, result.stderr
    return [(code, stderr, counts) for code, stderr, counts in json.loads(result.stdout)]


def db_path(settings: Settings) -> Path:
    return Path(settings.resolved_database_url().split(":///", 1)[1])


def row_counts(settings: Settings) -> dict[str, int]:
    return row_counts_of(str(db_path(settings)))


def row_counts_of(database: str) -> dict[str, int]:
    tables = (
        "municipalities users plans zones memberships consents meetings meeting_invitees "
        "published_minutes plan_versions zone_updates zone_snapshots zone_summaries audit_log"
    ).split()
    with contextlib.closing(sqlite3.connect(database)) as db:
        return {t: db.execute(f"SELECT count(*) FROM {t}").fetchone()[0] for t in tables}


def without_time(document: Mapping[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in document.items() if k != "exported_at"}


def resealed(entry: dict[str, Any], **record: Any) -> None:
    """Change what an entry's publication record says, and recompute its hash (as someone
    fabricating a version would): what only a hash covers is then no proof of anything."""
    publication = json.loads(entry["publication"]) | record
    entry["publication"] = json.dumps(
        publication, ensure_ascii=False, sort_keys=True, separators=(",", ":")
    )
    entry["publication_sha256"] = hashlib.sha256(entry["publication"].encode()).hexdigest()
    entry.update({k: v for k, v in (("title", record.get("title")),) if v is not None})


def by_email(document: Mapping[str, Any]) -> dict[str, Any]:
    """The document with every user id replaced by that person's e-mail, and no CRDT bytes:
    what must survive a move to a database where people have other ids."""
    emails = {str(p["id"]): p["email"] for p in document["people"]}

    def swap(value: Any, key: str = "") -> Any:
        if key == "content_user_ids":  # {id inside the frozen content: people id}
            return {k: emails.get(str(v), v) for k, v in value.items()}
        if isinstance(value, dict):
            return {k: swap(v, k) for k, v in value.items()}
        if isinstance(value, list):
            if key == "invitees":  # ordered by id, which differs here
                return sorted(emails.get(str(v), v) for v in value)
            if key in USER_REF_LISTS:  # a list of ids, or a change record's [old, new] of one
                return [
                    swap(v, key) if isinstance(v, list) else emails.get(str(v), v) for v in value
                ]
            if key in USER_REF_FIELDS:  # a change record's [old, new]
                return [None if v is None else emails.get(str(v), v) for v in value]
            return [swap(v) for v in value]
        if key in USER_REF_FIELDS or key.endswith(("user_id", "published_by", "approved_by")):
            return emails.get(str(value), value) if value is not None else None
        return value

    result = swap(without_time(document))
    result.pop("people")
    for entry in result["published_minutes"]:
        # Signed over the file's own people ids, which differ here; present in both.
        assert entry.pop("signature"), entry["number"]
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
        await repos.plans.remove_member(plan_id, tor.id)  # named in measure t4-1; invited
    finally:
        await repos.close()
    async with live_server(settings) as server:
        await publish_minutes_on(server, plan_id)
    return plan_id


def _decide(decision: str, task: str) -> Any:
    def change(doc: Doc[Any]) -> None:
        item = find_item(get_root(doc, "minutes", AGENDA), "sak-1")
        assert item is not None
        set_fields(item, {"decision": decision})
        append_item(
            get_root(doc, "minutes", ACTION_ITEMS),
            {"agendaId": "sak-1", "what": task, "responsibleUserId": None, "due": "2026-04-01"},
        )

    return change


async def publish_minutes_on(server: LiveServer, plan_id: str) -> int:
    """Through the real paths, on a live server with the demo plan: a meeting scheduled with
    agenda, invitees and a video link; its minutes written as the editors would, published
    twice by the koordinator over HTTP (a correction) and the first version approved by the
    planeier; and one more meeting, cancelled. Returns the minutes zone's id."""
    services = server.services
    people = {u: await services.repos.users.get_by_email(u) for u in (KARI, JONAS)}
    kari, jonas = people[KARI], people[JONAS]
    assert kari and jonas
    line = await services.repos.users.get_by_email("line.berg@eksempelvik.demo")
    assert line
    start = datetime(2026, 3, 12, 13, 0, tzinfo=UTC)
    meeting = await services.meetings.schedule(
        plan_id,
        title="Ansvarsgruppemøte våren 2026 🌱",
        starts_at=start,
        ends_at=start + timedelta(hours=1),
        place=None,
        video_link=VIDEO_LINK,
        agenda=[
            AgendaItem("sak-1", "Skole og læring 📚", AgendaRef("measure", "skole", "t1-2")),
            AgendaItem("sak-2", "Eventuelt – Åse Ødegård"),
        ],
        invitee_ids=[jonas.id, line.id, kari.id],
        created_by_user_id=kari.id,
        meeting_id=MEETING_ID,
    )
    assert meeting.zone_id is not None
    attendees = [
        {"userId": str(u.id), "name": u.name, "role": role}
        for u, role in ((jonas, "planeier"), (line, "verge"), (kari, "koordinator"))
    ]
    edit = functools.partial(services.registry.edit, actor=kari.id)
    await edit(meeting.zone_id, seed_minutes(meeting, attendees, kari.id), "minutes")
    await edit(meeting.zone_id, _decide(DECISION_1, "Søke om leksehjelp"), "minutes")
    base = f"/plans/{plan_id}/meetings/{MEETING_ID}"
    async with _user(server, KARI) as (http, csrf):
        first = await http.post(f"{base}/publish", data={"csrf_token": csrf})
        assert first.headers.get("location") == f"{base}/published/1", first.text[:300]
        await edit(meeting.zone_id, _decide(DECISION_2, "Avtale med skolen"), "minutes")
        second = await http.post(f"{base}/publish", data={"csrf_token": csrf})
        assert second.headers.get("location") == f"{base}/published/2", second.text[:300]
    async with _user(server, JONAS) as (http, csrf):
        approved = await http.post(f"{base}/published/1/approve", data={"csrf_token": csrf})
        assert approved.status_code == 303, approved.text[:300]
    await services.meetings.schedule(
        plan_id,
        title="Møte som ble avlyst",
        starts_at=start + timedelta(days=30),
        ends_at=start + timedelta(days=30, hours=1),
        place="Eksempelvik vgs., rom 204",
        video_link=None,
        agenda=[],
        invitee_ids=[kari.id],
        created_by_user_id=kari.id,
        meeting_id=CANCELLED_ID,
    )
    moved = await services.meetings.update(  # rescheduled once: its .ics SEQUENCE is 1
        plan_id,
        CANCELLED_ID,
        title="Møte som ble avlyst",
        starts_at=start + timedelta(days=31),
        ends_at=start + timedelta(days=31, hours=1),
        place="Eksempelvik vgs., rom 204 – flyttet 🚚",
        video_link=None,
        invitee_ids=[kari.id],
    )
    assert moved.sequence == 1
    assert await services.meetings.cancel(CANCELLED_ID)
    return meeting.zone_id


@contextlib.asynccontextmanager
async def _user(
    server: LiveServer, email: str, password: str = DEMO_PASSWORD
) -> AsyncIterator[tuple[httpx.AsyncClient, str]]:
    async with httpx.AsyncClient(base_url=server.http, timeout=60) as http:
        assert (await log_in(http, email, password)).status_code == 303
        yield http, csrf_of((await http.get("/plans")).text)


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
    assert first["format"] == "samplan-plan" and first["version"] == 2
    ids = {p["email"]: p["id"] for p in first["people"]}
    meetings = {m["id"]: m for m in first["meetings"]}
    meeting = meetings[MEETING_ID]
    assert meeting["video_link"] == VIDEO_LINK and meeting["place"] is None
    assert meeting["agenda"] == [
        {
            "id": "sak-1",
            "title": "Skole og læring 📚",
            "ref": {"kind": "measure", "areaKey": "skole", "itemId": "t1-2"},
        },
        {"id": "sak-2", "title": "Eventuelt – Åse Ødegård", "ref": None},
    ]
    assert meeting["invitees"] == sorted(
        ids[e] for e in (KARI, JONAS, "line.berg@eksempelvik.demo")
    )
    assert meeting["created_by_user_id"] == ids[KARI] and meeting["cancelled_at"] is None
    assert meetings[CANCELLED_ID]["cancelled_at"] is not None
    assert meetings[CANCELLED_ID]["sequence"] == 1 and meeting["sequence"] == 0
    demo_invitees = meetings["mote-2026-01-15"]["invitees"]
    assert ids["tor.eriksen@eksempelvik.demo"] in demo_invitees  # removed, still invited
    assert all(uid in {p["id"] for p in first["people"]} for uid in demo_invitees)
    published = first["published_minutes"]
    assert [(p["meeting_id"], p["number"]) for p in published] == [(MEETING_ID, 1), (MEETING_ID, 2)]
    assert [p["approved_role"] for p in published] == ["planeier", None]
    assert published[0]["approved_by"] == ids[JONAS] and published[0]["approved_at"]
    assert all(p["published_by"] == ids[KARI] for p in published)
    for entry, decision in zip(published, (DECISION_1, DECISION_2), strict=True):
        assert hashlib.sha256(entry["content"].encode()).hexdigest() == entry["sha256"]
        # Published here: each id inside the content is that person's id among people.
        assert entry["content_user_ids"] == {
            str(ids[e]): ids[e] for e in (JONAS, "line.berg@eksempelvik.demo", KARI)
        }
        assert json.loads(entry["content"])["decisions"][0]["decision"] == decision
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
    assert "9 users created, 0 found by e-mail), 3 meetings, 2 published minutes" in result.stdout
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
        # The published minutes, served from the imported database, still verify.
        users = server.services.repos.users
        await users.set_password_hash(kari["user_id"], hash_password(DEMO_PASSWORD))
        async with _user(server, KARI) as (http, _):
            for entry in published:
                url = f"/plans/{plan_id}/meetings/{MEETING_ID}/published/{entry['number']}"
                frozen = await http.get(f"{url}.json")
                assert frozen.status_code == 200
                assert hashlib.sha256(frozen.content).hexdigest() == entry["sha256"]
                assert frozen.headers["x-content-sha256"] == entry["sha256"]
                assert frozen.content.decode("utf-8") == entry["content"]
            page = await http.get(f"/plans/{plan_id}/meetings/{MEETING_ID}/published/1")
            assert "Godkjent av planeier" in page.text and DECISION_1 in page.text
        stored = await server.services.repos.versions.list_published(plan_id)
        assert {r.plan_version_id for r in stored} == {None}  # versions are not exported


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

    def meeting(document: dict[str, Any]) -> dict[str, Any]:
        return next(m for m in document["meetings"] if m["id"] == MEETING_ID)

    kari = next(p["id"] for p in good["people"] if p["email"] == KARI)
    someone_else = next(p["id"] for p in good["people"] if p["email"] not in (KARI, JONAS))

    def earlier(index: int) -> str:
        entry = good["published_minutes"][index]
        moment = entry["approved_at"] if index == 0 else entry["published_at"]
        return (datetime.fromisoformat(moment) - timedelta(days=1)).isoformat()

    assert good["published_minutes"][1]["published_by"] == kari
    garbage = base64.b64encode(b"\x01\xff\xff\xff\xff\x0f\x00" * 3).decode()
    content = good["published_minutes"][1]["content"]
    assert DECISION_2 in content
    tampered = content.replace(DECISION_2, "Ingen leksehjelp")  # still valid JSON
    cases: dict[str, tuple[str, str]] = {
        "not JSON": ('{"format": "samplan-plan", ', "not valid JSON"),
        "not an object": ("[1, 2]", "must be a JSON object"),
        "wrong format": (mutated(lambda d: d.update(format="noe-annet")), "format"),
        "wrong version": (mutated(lambda d: d.update(version=3)), "version 3"),
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
        "area key the socket refuses": (
            mutated(lambda d: zone(d, "area/skole").update(key="Skole_1")),
            f".key: 'Skole_1' is not a valid key: use {ZONE_KEY_RULE}",
        ),
        "meeting id the socket refuses": (
            mutated(lambda d: meeting(d).update(id="Møte_1")),
            f".id: 'Møte_1' is not a valid key: use {ZONE_KEY_RULE}",
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
        "minutes changed after publication": (
            mutated(lambda d: d["published_minutes"][1].update(content=tampered)),
            f"published_minutes[1] (meeting {MEETING_ID}, version 2): the content does not "
            "match its sha256",
        ),
        "minutes not JSON": (
            mutated(lambda d: d["published_minutes"][0].update(content="referat")),
            "content must be the published JSON object",
        ),
        "same version twice": (
            mutated(lambda d: d["published_minutes"][1].update(number=1)),
            "published_minutes[1].number: must be a positive number, unique per meeting",
        ),
        "unknown person in published minutes": (
            mutated(lambda d: d["published_minutes"][0]["content_user_ids"].update({"1": 999})),
            "published_minutes[0].content_user_ids.1: user 999 is not among people",
        ),
        "content_user_ids not an object": (
            mutated(lambda d: d["published_minutes"][0].update(content_user_ids=[1])),
            "published_minutes[0].content_user_ids: must be an object",
        ),
        "approval without a role": (
            mutated(lambda d: d["published_minutes"][0].update(approved_role=None)),
            "approved_at and approved_role are set together",
        ),
        "title changed after publication": (
            mutated(lambda d: d["published_minutes"][0].update(title="Et annet møte 🌱")),
            "title does not match what was sealed at publication",
        ),
        "publisher changed": (
            mutated(lambda d: d["published_minutes"][1].update(published_by=someone_else)),
            "published_by does not match what was sealed",
        ),
        "publication time changed": (
            mutated(lambda d: d["published_minutes"][1].update(published_at=earlier(1))),
            "published_at does not match what was sealed",
        ),
        "approver changed": (
            mutated(lambda d: d["published_minutes"][0].update(approved_by=someone_else)),
            "approved_by does not match what was sealed",
        ),
        "approval time changed": (
            mutated(lambda d: d["published_minutes"][0].update(approved_at=earlier(0))),
            "approved_at does not match what was sealed",
        ),
        "approval role changed": (
            mutated(lambda d: d["published_minutes"][0].update(approved_role="verge")),
            "approved_role does not match what was sealed",
        ),
        "publication re-sealed under an approval": (
            mutated(lambda d: resealed(d["published_minutes"][0], title="Et annet møte 🌱")),
            "the approval's publication does not match what was sealed",
        ),
        "seal changed": (
            mutated(lambda d: d["published_minutes"][1].update(publication_sha256="0" * 64)),
            "publication does not match its publication_sha256",
        ),
        "seal taken away": (
            mutated(
                lambda d: d["published_minutes"][1].update(
                    publication=None, publication_sha256=None
                )
            ),
            "published_minutes[1].publication: missing (hash version 2 seals it)",
        ),
        "unknown invitee": (
            mutated(lambda d: meeting(d)["invitees"].append(999)),
            "invitees[3]: user 999 is not among people",
        ),
        "bad agenda reference": (
            mutated(lambda d: meeting(d)["agenda"][0]["ref"].update(kind="ønske")),
            "agenda[0].ref.kind: must be one of measure, goal",
        ),
        "version 1 with published minutes": (
            mutated(lambda d: d.update(version=1)),
            "published_minutes: a version 1 export has no published minutes",
        ),
        "no such file": ("", "cannot read"),
    }
    files = {}
    for number, (name, (text, _)) in enumerate(cases.items()):
        files[name] = tmp_path / f"bad-{number}.json"
        if name != "no such file":
            files[name].write_text(text, encoding="utf-8")
    # The first through a `samplan` process of its own, as an operator runs it; the rest
    # through the same command line's main() in one process (import_one_by_one: the
    # interpreter start, ~1 s each, was most of this test's time).
    first = next(iter(cases))
    result = samplan(target, "import", str(files[first]))
    assert result.returncode == 1, (first, result.stdout, result.stderr)
    assert cases[first][1] in result.stderr and result.stderr.startswith("samplan import: ")
    assert row_counts(target) == before, first
    for name, (code, stderr, counts) in zip(
        cases, import_one_by_one(target, list(files.values())), strict=True
    ):
        assert code == 1, (name, stderr)
        assert cases[name][1] in stderr and stderr.startswith("samplan import: "), name
        assert counts == before, name

    # Importing the same plan twice: the second is refused, nothing written.
    assert samplan(target, "import", str(path)).returncode == 0
    before = row_counts(target)
    twice = samplan(target, "import", str(path))
    assert twice.returncode == 1 and f"plan with id {plan_id} already exists" in twice.stderr
    assert row_counts(target) == before
    # ... and from stdin too.
    stdin = samplan(target, "import", "-", stdin=path.read_bytes())
    assert stdin.returncode == 1 and "already exists" in stdin.stderr


async def _imported_marks(settings: Settings, plan_id: str) -> dict[int, bool]:
    """{version number: shown as imported-not-published-here} on the published page and in
    the print view, which must agree, and as stored."""
    marks: dict[int, bool] = {}
    async with live_server(settings) as server:
        stored = {
            r.number: r.published_here
            for r in await server.services.repos.versions.list_published(plan_id)
        }
        koordinator = await server.services.repos.users.get_by_email(KARI)
        assert koordinator is not None
        await server.services.repos.users.set_password_hash(
            koordinator.id, hash_password(DEMO_PASSWORD)
        )
        async with _user(server, KARI) as (http, _):
            for number in stored:
                url = f"/plans/{plan_id}/meetings/{MEETING_ID}/published/{number}"
                page = await http.get(url)
                assert page.status_code == 200
                marks[number] = 'data-testid="imported"' in page.text
                assert marks[number] == ("Importert, ikke publisert her" in page.text)
            printed = await http.get(f"/plans/{plan_id}/print")
            assert printed.status_code == 200
            newest = max(stored)  # the print holds the newest version of each meeting
            assert ("Importert, ikke publisert her" in printed.text) == marks[newest]
    assert marks == {n: not here for n, here in stored.items()}
    return marks


async def test_a_fabricated_version_is_kept_as_imported_not_published_here(
    exported: tuple[str, Path], tmp_path: Path
) -> None:
    """A hash proves no origin: version 2 rewritten with every hash and seal recomputed gets
    in, but only as "imported, not published here"; version 1, signed by this installation,
    is still published here. From an installation with another key, nothing is."""
    plan_id, path = exported
    forged = json.loads(path.read_text(encoding="utf-8"))
    entry = forged["published_minutes"][1]
    content = entry["content"].replace(DECISION_2, "Ingen leksehjelp, bestemt av Åse Ødegård 🙃")
    entry["content"] = content
    entry["sha256"] = hashlib.sha256(content.encode()).hexdigest()
    resealed(entry, contentSha256=entry["sha256"])
    file = tmp_path / "forged.json"
    file.write_text(json.dumps(forged, ensure_ascii=False), encoding="utf-8")
    target = make_settings(tmp_path / "e")
    result = samplan(target, "import", str(file))
    assert result.returncode == 0, result.stderr
    assert await _imported_marks(target, plan_id) == {1: False, 2: True}
    again = json.loads(samplan(target, "export", plan_id).stdout)["published_minutes"]
    assert [(e["published_here"], bool(e["signature"])) for e in again] == [
        (True, True),
        (False, False),  # never signed as this installation's on the way out
    ]

    elsewhere = make_settings(tmp_path / "f", secret_key="en-annen-installasjon-æøå")
    assert samplan(elsewhere, "import", str(path)).returncode == 0
    assert await _imported_marks(elsewhere, plan_id) == {1: True, 2: True}


async def test_minutes_sealed_by_the_old_rule_still_verify(
    exported: tuple[str, Path], tmp_path: Path
) -> None:
    """Rows published before the seal (hash scheme 1: the content hash only, written here as
    migration 0013 leaves them) export, import and show as published here; their export is
    signed, so a title changed in it is no longer vouched for."""
    plan_id, path = exported
    old = make_settings(tmp_path / "g")
    assert samplan(old, "import", str(path)).returncode == 0
    with sqlite3.connect(db_path(old)) as db:
        db.execute(
            "UPDATE published_minutes SET hash_version = 1, publication = NULL, "
            "publication_sha256 = NULL, approval = NULL, approval_sha256 = NULL"
        )
    exported_old = samplan(old, "export", plan_id)
    assert exported_old.returncode == 0, exported_old.stderr
    document = json.loads(exported_old.stdout)
    for entry in document["published_minutes"]:
        assert entry["hash_version"] == 1 and entry["publication"] is None
        assert entry["signature"] and entry["published_here"]
        assert hashlib.sha256(entry["content"].encode()).hexdigest() == entry["sha256"]
    file = tmp_path / "old.json"
    file.write_text(json.dumps(document, ensure_ascii=False), encoding="utf-8")
    target = make_settings(tmp_path / "h")
    assert samplan(target, "import", str(file)).returncode == 0
    assert await _imported_marks(target, plan_id) == {1: False, 2: False}

    changed = copy.deepcopy(document)
    changed["published_minutes"][0]["title"] = "Et annet møte 🌱"
    file.write_text(json.dumps(changed, ensure_ascii=False), encoding="utf-8")
    third = make_settings(tmp_path / "i")
    assert samplan(third, "import", str(file)).returncode == 0  # the old rule: content only
    assert await _imported_marks(third, plan_id) == {1: True, 2: False}


async def test_a_version_1_file_still_imports(exported: tuple[str, Path], tmp_path: Path) -> None:
    """A file written before meetings had agenda and invitees and before published minutes:
    its meetings come back with none of those, everything else as it was."""
    plan_id, path = exported
    current = json.loads(path.read_text(encoding="utf-8"))
    old = copy.deepcopy(current)
    v1_fields = ("id", "title", "starts_at", "ends_at", "place", "created_at")
    old.update(
        version=1,
        published_minutes=[],
        meetings=[{k: m[k] for k in v1_fields} for m in current["meetings"]],
    )
    file = tmp_path / "v1.json"
    file.write_text(json.dumps(old, ensure_ascii=False, indent=2), encoding="utf-8")
    target = make_settings(tmp_path / "v1")
    result = samplan(target, "import", str(file))
    assert result.returncode == 0, result.stderr
    assert "3 meetings, 0 published minutes" in result.stdout
    back = json.loads(samplan(target, "export", plan_id).stdout)
    assert back["version"] == 2 and back["published_minutes"] == []
    assert [{k: m[k] for k in v1_fields} for m in back["meetings"]] == old["meetings"]
    for m in back["meetings"]:
        added = (m["agenda"], m["invitees"], m["video_link"], m["cancelled_at"])
        assert added == ([], [], None, None)
    assert back["zones"] == current["zones"] and back["consents"] == current["consents"]


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
