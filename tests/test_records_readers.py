"""Readers take who wrote what from the server's records, never from a client's stamps
(issue 11): a crafted client that forges `updatedBy`/`updatedAt` and writes an evaluation's
`ownerComment` as a deltaker is shown nowhere as someone else, nor as the planeier; the demo
is stored so its records name the demo's people."""

from __future__ import annotations

import io
import json
import re
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from pycrdt import Array, Doc, Map
from pypdf import PdfReader

from crdt.schema import EVALUATIONS, GOALS, append_item, find_item, get_root, set_fields
from server.core.authors import last_changes, last_field_changes, zone_changes
from server.demo import content as demo
from server.demo.loader import load_demo
from server.services import Repositories
from server.transfer.export import build_export, dumps
from server.transfer.importer import import_plan, parse_export
from server.transfer.print_view import print_context
from tests.conftest import make_settings
from tests.support.clients import connected
from tests.support.live import LiveServer
from tests.support.waiting import wait_for
from tests.support.web import csrf_of, signed_in
from tests.support.world import ROLE_USERS, World

pytestmark = pytest.mark.both_databases

GOAL = "Lese en bok i måneden 📚 æøå"
FORGED_AT = "2020-02-29T23:59:00Z"  # a time nobody wrote anything at
FORGED_SHOWN = ("2020-02-29", "29.02.2020", "01.03.2020")  # UTC, and Oslo's next day
DELTAKER_SAYS = "Jeg, Åse Ødegård, synes det går bra 🫐"
PLANEIER_SAYS = "Jonas: dette er min egen kommentar 🙂"
SERVER_SAYS = "Skrevet av serveren uten forfatter ✅"
OWNER_LABEL = "Planeiers kommentar"


def _plain(text: str) -> str:
    """Text before its emoji (PDF text extraction may drop or split them), spaces joined."""
    return " ".join(re.split(r" [^\w\s,.:]", text)[0].split())


async def _evaluation(client: Any, goal_id: str, values: dict[str, Any]) -> str:
    evaluations = client.doc.get(EVALUATIONS, type=Array)
    with client.doc.transaction():
        return append_item(evaluations, {"goalId": goal_id, "date": "2026-01-15", **values})


async def test_forged_stamps_and_a_deltakers_owner_comment_are_never_credited(
    web: LiveServer, world: World
) -> None:
    zone_id = world.zones["area/skole"]
    users = world.users
    planeier, koordinator = str(users["planeier"]), str(users["koordinator"])
    room = world.room("area/skole")
    # A named version first: the version page then shows what changed since.
    async with signed_in(web.http, ROLE_USERS["koordinator"][0]) as kari:
        csrf = csrf_of((await kari.get("/plans")).text)
        made = await kari.post(
            f"/plans/{world.plan_id}/versions",
            data={"csrf_token": csrf, "name": "Før Åse skrev 📝"},
        )
        assert made.status_code == 303, made.text
        version_url = made.headers["location"]

    async with (
        connected(web.ws_url(room, world.token("deltaker"))) as ase,
        connected(web.ws_url(room, world.token("planeier"))) as jonas,
    ):
        goals = ase.doc.get(GOALS, type=Array)
        with ase.doc.transaction():
            goal_id = append_item(
                goals,
                {
                    "label": "M7",
                    "title": GOAL,
                    "updatedBy": koordinator,  # forged: Kari never wrote this
                    "updatedAt": FORGED_AT,
                },
            )
        # Åse writes an ownerComment and stamps it as the planeier's.
        by_ase = await _evaluation(
            ase,
            goal_id,
            {
                "result": "Fire bøker 📖",
                "ownerComment": DELTAKER_SAYS,
                "updatedBy": planeier,
                "updatedAt": FORGED_AT,
            },
        )
        # Åse creates a second evaluation; Jonas, the planeier, writes its ownerComment.
        by_jonas = await _evaluation(ase, goal_id, {"result": "Tre bøker", "ownerComment": ""})

        def jonas_has_it() -> bool:
            return find_item(jonas.doc.get(EVALUATIONS, type=Array), by_jonas) is not None

        await jonas.wait_for(jonas_has_it)
        item = find_item(jonas.doc.get(EVALUATIONS, type=Array), by_jonas)
        assert isinstance(item, Map)
        set_fields(item, {"ownerComment": PLANEIER_SAYS})

        def ase_sees_jonas() -> bool:
            seen = find_item(ase.doc.get(EVALUATIONS, type=Array), by_jonas)
            return seen is not None and str(seen.get("ownerComment")) == PLANEIER_SAYS

        await ase.wait_for(ase_sees_jonas)

    # One written by the server with no one to name (as before records existed).
    def server_writes(doc: Doc[Any]) -> str:
        return append_item(
            get_root(doc, "area", EVALUATIONS),
            {"goalId": goal_id, "date": "2026-01-16", "ownerComment": SERVER_SAYS},
        )

    by_server = await web.services.registry.edit(zone_id, server_writes, "area", actor=None)

    async def recorded() -> bool:
        changes = await zone_changes(web.services.repos.zone_log, zone_id, "area")
        return by_jonas in last_field_changes(changes, "ownerComment")

    await wait_for(recorded, what="the planeier's change recorded")
    changes = await zone_changes(web.services.repos.zone_log, zone_id, "area")
    writers = last_field_changes(changes, "ownerComment")
    assert writers[by_ase].user_id == users["deltaker"]
    assert writers[by_jonas].user_id == users["planeier"]
    assert writers[by_server].user_id is None
    assert last_changes(changes)[goal_id].user_id == users["deltaker"]

    async with signed_in(web.http, ROLE_USERS["koordinator"][0]) as kari:
        printed = (await kari.get(f"/plans/{world.plan_id}/print")).text
        pdf = await kari.get(f"/plans/{world.plan_id}/export.pdf")
        exported = await kari.get(f"/plans/{world.plan_id}/export.json")
        version = (await kari.get(version_url)).text
        csrf = csrf_of((await kari.get("/plans")).text)
        made = await kari.post(
            f"/plans/{world.plan_id}/versions",
            data={"csrf_token": csrf, "name": "Etter at alle skrev ✍️"},
        )
        assert made.status_code == 303, made.text
        later_version = (await kari.get(made.headers["location"])).text
    assert pdf.status_code == 200 and exported.status_code == 200

    # The print page: each comment credited to whoever the server saw write it.
    def label_of(text: str, html: str) -> str:
        found = re.search(r"<dt>([^<]*)</dt><dd>" + re.escape(text) + "</dd>", html)
        assert found, html[-3000:]
        return found.group(1)

    assert label_of(DELTAKER_SAYS, printed) == "Kommentar fra Åse Ødegård"
    assert label_of(PLANEIER_SAYS, printed) == OWNER_LABEL
    assert label_of(SERVER_SAYS, printed) == "Kommentar"
    assert printed.count(OWNER_LABEL) == 1
    assert GOAL in printed
    for forged in FORGED_SHOWN:
        assert forged not in printed

    # The PDF says the same.
    text = " ".join(
        " ".join(p.extract_text().split()) for p in PdfReader(io.BytesIO(pdf.content)).pages
    )
    assert _plain(GOAL) in text and _plain(DELTAKER_SAYS) in text
    assert "Kommentar fra Åse Ødegård" in text
    assert text.count(OWNER_LABEL) == 1
    owner_at = text.index(OWNER_LABEL)
    assert text[owner_at:].startswith(f"{OWNER_LABEL} {_plain(PLANEIER_SAYS)}")
    for forged in FORGED_SHOWN:
        assert forged not in text

    # The readable export: no stamp in the content; the records name the deltaker.
    document = exported.json()
    zone = next(z for z in document["zones"] if z["zone"] == "area/skole")
    for root in (GOALS, EVALUATIONS):
        for entry in zone["content"][root]:
            assert "updatedBy" not in entry and "updatedAt" not in entry
    for forged in FORGED_SHOWN:
        assert forged not in exported.text
    people = {p["id"]: p["name"] for p in document["people"]}
    wrote_goal = [c["user_id"] for c in zone["changes"] if goal_id in (c["items"] or {})]
    assert [people[u] for u in wrote_goal] == ["Åse Ødegård"]

    # The version diff: what changed since, by whom the records say; never a stamp.
    changes_html = version.split('data-testid="changes"')[1].split("</section>")[0]

    def change_of(item_id: str) -> str:
        found = re.search(rf'data-item="{item_id}">(.*?)</li>', changes_html, re.S)
        assert found, changes_html
        return found.group(1)

    def by_of(item_id: str) -> str | None:
        found = re.search(r'data-testid="changed-by"> ([^<]*)<', change_of(item_id))
        return found.group(1) if found else None

    assert 'data-change="added"' in changes_html
    assert by_of(goal_id) == "av Åse Ødegård"
    assert by_of(by_ase) == "av Åse Ødegård"
    assert by_of(by_jonas) == "av Åse Ødegård, Jonas Berg"
    assert by_of(by_server) is None  # the server wrote it for no one
    for forged in FORGED_SHOWN:
        assert forged not in version and forged not in later_version
    assert "Kari Nilsen" not in changes_html  # the forged stamp named her
    # A version holding the evaluations labels each comment as the print does.
    assert label_of(DELTAKER_SAYS, later_version) == "Kommentar fra Åse Ødegård"
    assert label_of(PLANEIER_SAYS, later_version) == OWNER_LABEL
    assert label_of(SERVER_SAYS, later_version) == "Kommentar"


async def test_an_export_file_with_stamps_in_its_content_still_imports(
    server: LiveServer, world: World, tmp_path: Path
) -> None:
    """Files written before the stamps were left out of `content` still import."""
    room = world.room("area/skole")
    async with connected(server.ws_url(room, world.token("deltaker"))) as ase:
        with ase.doc.transaction():
            goal_id = append_item(
                ase.doc.get(GOALS, type=Array),
                {"title": GOAL, "updatedBy": str(world.users["planeier"]), "updatedAt": FORGED_AT},
            )
    await server.services.registry.rooms[world.zones["area/skole"]].settle()
    document = await build_export(server.services.repos, world.plan_id)
    assert document is not None
    zone = next(z for z in document["zones"] if z["zone"] == "area/skole")
    goal = next(g for g in zone["content"][GOALS] if g["id"] == goal_id)
    assert "updatedBy" not in goal
    goal |= {"updatedBy": str(world.users["planeier"]), "updatedAt": FORGED_AT}  # as it was
    repos = await Repositories.open(make_settings(tmp_path / "other"))
    try:
        await import_plan(repos, parse_export(dumps(document)), "another-secret")
        assert await repos.plans.get_zone(world.plan_id, "area", "skole") is not None
    finally:
        await repos.close()


async def test_the_demo_records_name_the_demo_people(tmp_path: Path) -> None:
    repos = await Repositories.open(make_settings(tmp_path))
    try:
        first = await load_demo(repos)
        again = await load_demo(repos)  # idempotent: nothing recorded twice
        assert first.created and not again.created and again.plan_id == first.plan_id
        ids = {name: user_id for name, _, _, user_id in first.users}
        names = {user_id: name for name, user_id in ids.items()}
        zone = await repos.plans.get_zone(first.plan_id, "area", "skole")
        assert zone is not None
        changes = await zone_changes(repos.zone_log, zone.id, "area")
        assert all(c.user_id is not None for c in changes)
        last = last_changes(changes)
        assert names[last["m1"].user_id] == "Jonas Berg"
        assert names[last["m1-1"].user_id] == "Ahmed Rahimi"
        assert names[last["t1-2"].user_id] == "Kari Nilsen"
        assert last["t1-2"].at == datetime(2025, 9, 5, 8, 30, tzinfo=UTC)
        evaluation = "ev-m1-1-2026-01-15"
        created = next(c for c in changes if c.items.get(evaluation, {}).get("created"))
        assert names[created.user_id] == "Kari Nilsen"  # written at the meeting
        assert names[last[evaluation].user_id] == "Jonas Berg"  # his own comment, after
        assert last[evaluation].items[evaluation]["fields"] == {
            "ownerComment": ["", "Det hjelper å ha en fast dag med Ahmed."]
        }
        assert len(await zone_changes(repos.zone_log, zone.id, "area")) == len(changes)
        # Every area item of the demo has a writer on record, a member of the plan.
        for area in demo.AREAS:
            area_zone = await repos.plans.get_zone(first.plan_id, "area", area.id)
            assert area_zone is not None
            recorded = last_changes(await zone_changes(repos.zone_log, area_zone.id, "area"))
            data = demo.zone_data({m.email: ids[m.name] for m in demo.MEMBERS if m.name in ids})[
                ("area", area.id)
            ]
            items = [i["id"] for root in (GOALS, "measures", EVALUATIONS) for i in data[root]]
            assert items and set(items) <= set(recorded)
            assert {recorded[i].user_id for i in items} <= set(ids.values())
        # The print of the demo credits Jonas's comment to him as the planeier.
        document = await build_export(repos, first.plan_id)
        assert document is not None
        assert "updatedBy" not in json.dumps(document["zones"][1]["content"])
        context = print_context(document, lambda key: key, datetime.now(UTC).date())
        labels = [
            (e["owner_comment_label"], e["owner_comment"])
            for area in context["areas"]
            for goal in _goals(area["goals"])
            for e in goal["evaluations"]
            if e["owner_comment"]
        ]
        assert labels == [("evaluation.ownerComment", "Det hjelper å ha en fast dag med Ahmed.")]
    finally:
        await repos.close()


def _goals(nodes: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [g for node in nodes for g in (node, *_goals(node["children"]))]


def test_owner_comment_labels_follow_the_record_not_the_stamp() -> None:
    """Pure: the print context from an export document. The stamps say the planeier wrote
    every comment; only the records count. A verge's words count as the planeier's side; a
    former member's are credited to her by name; a file without records credits no one."""
    changes = [
        {"user_id": who, "at": "2026-01-16T08:00:00+00:00", "items": {item: entry}}
        for who, item, entry in (
            (
                4,
                "e-ase",
                {"root": EVALUATIONS, "created": True, "fields": {"ownerComment": [None, "a"]}},
            ),
            (2, "e-line", {"root": EVALUATIONS, "fields": {"ownerComment": ["", "b"]}}),
            (9, "e-former", {"root": EVALUATIONS, "fields": {"ownerComment": ["", "c"]}}),
            (1, "e-gone", {"root": EVALUATIONS, "deleted": True, "fields": {}}),
        )
    ]
    stamp = {"updatedBy": "1", "updatedAt": FORGED_AT}
    evaluations = [
        {"id": i, "goalId": None, "date": "2026-01-15", "ownerComment": text, **stamp}
        for i, text in (
            ("e-ase", "a 🫐"),
            ("e-line", "b"),
            ("e-former", "c"),
            ("e-none", "d"),
            ("e-gone", "e"),
        )
    ]
    area = {"goals": [], "measures": [], "evaluations": evaluations}
    document = {
        "plan": {"id": "p", "title": "T", "person_name": "Å", "municipality": "K", "status": "x"},
        "exported_at": "2026-02-01T10:00:00+00:00",
        "people": [
            {"id": 1, "name": "Jonas Berg"},
            {"id": 2, "name": "Line Berg"},
            {"id": 4, "name": "Åse Ødegård"},
            {"id": 9, "name": "Tor Tidligere"},
        ],
        "members": [
            {"user_id": u, "name": n, "email": "", "role": r, "unit": None, "contribution": ""}
            for u, n, r in (
                (1, "Jonas Berg", "planeier"),
                (2, "Line Berg", "verge"),
                (4, "Åse Ødegård", "deltaker"),
            )
        ],
        "consents": [],
        "zones": [
            {"zone": "content", "kind": "content", "title": "Felles", "content": {}},
            {"zone": "area/a", "kind": "area", "title": "A", "content": area, "changes": changes},
            {"zone": "area/b", "kind": "area", "title": "B", "content": area},  # no records
        ],
        "meetings": [],
        "published_minutes": [],
    }
    t = {
        "evaluation.ownerComment": OWNER_LABEL,
        "evaluation.comment": "Kommentar",
        "evaluation.commentFrom": "Kommentar fra {name}",
    }
    printed = print_context(document, lambda key: t.get(key, key), datetime(2026, 2, 1).date())
    labels = [[e["owner_comment_label"] for e in a["orphan_evaluations"]] for a in printed["areas"]]
    assert labels == [
        [
            "Kommentar fra Åse Ødegård",
            OWNER_LABEL,  # the verge
            "Kommentar fra Tor Tidligere",  # no longer a member: never the planeier's
            "Kommentar",  # no record of who wrote it
            "Kommentar",  # its record ends in a deletion: no writer on record
        ],
        ["Kommentar"] * 5,
    ]


KARI_FORGES = "Jonas synes alt går bra, skriver Kari 🙃 æøå"
KARI_FORGES_WANTS = "Jeg vil det Kari vil 🙃 – æøå"
JONAS_STATUS = "Jeg leste to bøker om fotball ⚽ – blåbærsterkt"
JONAS_WANTS = "Jeg vil lese om Ørnes og fjellene 🏔️"


async def test_a_koordinators_forged_own_words_are_printed_as_hers_never_as_the_persons(
    web: LiveServer, world: World
) -> None:
    """Issue 13's own words and status on paper: Kari, with a crafted client, writes a goal's
    "Jeg vil" and own status and stamps them as Jonas's; the print page and the PDF credit
    them to Kari by the records. Jonas's own, on another goal, are credited to him."""
    zone_id = world.zones["area/skole"]
    room = world.room("area/skole")
    users = world.users
    async with (
        connected(web.ws_url(room, world.token("koordinator"))) as kari,
        connected(web.ws_url(room, world.token("planeier"))) as jonas,
    ):
        goals = kari.doc.get(GOALS, type=Array)
        with kari.doc.transaction():
            by_kari = append_item(goals, {"label": "M8", "title": GOAL, "parentId": None})
            by_jonas = append_item(goals, {"label": "M9", "title": "Trene 🤾", "parentId": None})
        forged = find_item(goals, by_kari)
        assert isinstance(forged, Map)
        set_fields(
            forged,
            {
                "ownWords": KARI_FORGES_WANTS,
                "ownStatus": "bra",
                "ownEmoji": "😊",
                "ownNote": KARI_FORGES,
                "updatedBy": str(users["planeier"]),  # forged: Jonas never wrote this
                "updatedAt": FORGED_AT,
            },
        )
        await jonas.wait_for(
            lambda: find_item(jonas.doc.get(GOALS, type=Array), by_jonas) is not None
        )
        his = find_item(jonas.doc.get(GOALS, type=Array), by_jonas)
        assert isinstance(his, Map)
        set_fields(
            his,
            {
                "ownWords": JONAS_WANTS,
                "ownStatus": "litt",
                "ownEmoji": "💪",
                "ownNote": JONAS_STATUS,
            },
        )

        async def recorded() -> bool:
            changes = await zone_changes(web.services.repos.zone_log, zone_id, "area")
            writers = last_field_changes(changes, "ownNote")
            return by_jonas in writers and by_kari in writers

        await wait_for(recorded, what="both own statuses recorded")

    async with signed_in(web.http, ROLE_USERS["koordinator"][0]) as http:
        printed = (await http.get(f"/plans/{world.plan_id}/print")).text
        pdf = await http.get(f"/plans/{world.plan_id}/export.pdf")
    assert pdf.status_code == 200

    def own_of(text: str) -> tuple[str, str]:
        """The label of the <dd> holding `text`, and the byline after it."""
        found = re.search(
            r"<dt>([^<]*)</dt><dd>(?:<span[^>]*>[^<]*</span> )?[^<]*"
            + re.escape(text)
            + r'</dd><dd class="own-by">([^<]*)</dd>',
            printed,
        )
        assert found, printed[-3000:]
        return found.group(1), found.group(2)

    label, by = own_of(KARI_FORGES)
    assert label == "Egen status" and by.startswith("Skrevet av Kari Nilsen ")
    label, by = own_of(KARI_FORGES_WANTS)
    assert label == "Jeg vil" and by.startswith("Skrevet av Kari Nilsen ")
    assert 'aria-label="glad">😊</span> Går bra. ' + KARI_FORGES in printed
    label, by = own_of(JONAS_STATUS)
    assert label == "Egen status" and by.startswith("Jonas Berg skrev dette ")
    assert own_of(JONAS_WANTS) == ("Jeg vil", by)
    assert 'aria-label="sterk">💪</span> Går litt. ' + JONAS_STATUS in printed
    assert printed.count("Jonas Berg skrev dette") == 2  # his two, never Kari's
    for shown in FORGED_SHOWN:
        assert shown not in printed

    text = " ".join(
        " ".join(p.extract_text().split()) for p in PdfReader(io.BytesIO(pdf.content)).pages
    )
    assert _plain(KARI_FORGES) in text and _plain(JONAS_STATUS) in text
    assert text.count("Skrevet av Kari Nilsen") == 2
    assert text.count("Jonas Berg skrev dette") == 2
    kari_at = text.index(_plain(KARI_FORGES))
    assert "Skrevet av Kari Nilsen" in text[kari_at : kari_at + len(KARI_FORGES) + 60]
