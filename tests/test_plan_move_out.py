"""A plan moving to another installation when the person moves (issue 14), through the real
command line and two real SQLite databases: `samplan plan move-out` in the sending one
records the move with the person's consent, closes the plan there and writes the file;
`samplan import --municipality` in the receiving one brings the plan back with its zones'
history and its access log intact, flagged as moved in for the receiving KE."""

from __future__ import annotations

import json
import sqlite3
from datetime import timedelta
from pathlib import Path
from typing import Any

from pycrdt import Doc

from crdt.schema import append_item, get_root, read_zone
from crdt.zone_state import doc_from_stored
from server.core.authors import zone_changes
from server.core.clock import today_oslo
from server.services import Repositories
from server.settings import Settings
from storage.repositories.audit import AuditEvent
from tests.conftest import make_settings
from tests.support.live import live_server
from tests.support.passwords import hash_password
from tests.support.web import PASSWORD, signed_in
from tests.support.world import ROLE_USERS, World, build_world
from tests.test_export import db_path, samplan

RECEIVING = "Bø i Telemark 🏔"
KE = ("ase.ke@eksempelvik.test", "Åse Ødegård")
BO_KE = ("siv.ke@bo.test", "Siv Ærø 🏔")
GOAL = "Trives på skolen 🏫 æøå"


def _rows(settings: Settings, sql: str, *args: object) -> list[tuple[Any, ...]]:
    with sqlite3.connect(db_path(settings)) as db:
        return db.execute(sql, args).fetchall()


async def _sending(settings: Settings) -> World:
    """The world's plan, with an edit by its koordinator and a few openings in its log."""
    repos = await Repositories.open(settings)
    try:
        world = await build_world(repos, settings.resolved_secret_key())
        doc: Doc[Any] = Doc()
        append_item(get_root(doc, "area", "goals"), {"label": "M1", "title": GOAL})
        zone = world.zones["area/skole"]
        await repos.zone_log.append_batch([(zone, doc.get_update())], [world.users["koordinator"]])
        events = [
            AuditEvent(
                "plan_view",
                actor_user_id=world.users[role],
                role=role,
                plan_id=world.plan_id,
                client_address="10.0.0.7",
                details={"page": "Min plan 🌻"},
            )
            for role in ("planeier", "koordinator", "deltaker")
        ]
        await repos.audit.append_many(events)
        municipality = await repos.municipalities.of_plan(world.plan_id)
        assert municipality is not None
        ke = await repos.users.create(*KE)
        await repos.municipalities.add_admin(municipality, ke.id, granted_by=None)
        return world
    finally:
        await repos.close()


async def _content(settings: Settings, plan_id: str) -> dict[str, Any]:
    """Each zone's content and its history (who changed what, when: people by e-mail)."""
    repos = await Repositories.open(settings)
    try:
        emails: dict[int, str] = {}
        out: dict[str, Any] = {}
        for z in await repos.plans.list_zones(plan_id):
            doc = doc_from_stored(await repos.zone_log.load(z.id))
            changes = await zone_changes(repos.zone_log, z.id, z.kind)
            people = {c.user_id for c in changes if c.user_id is not None}
            for uid in people - emails.keys():
                user = await repos.users.get(uid)
                emails[uid] = user.email if user else "?"
            out[f"{z.kind}/{z.key}"] = {
                "content": read_zone(doc, z.kind),
                "history": [(emails.get(c.user_id or 0), c.at, dict(c.items)) for c in changes],
            }
        return out
    finally:
        await repos.close()


def _log(settings: Settings, plan_id: str) -> list[tuple[Any, ...]]:
    """The plan's access log as people read it: when, what, who (by e-mail), the role, the
    zone, the address and the details."""
    return _rows(
        settings,
        "SELECT a.at, a.action, u.email, a.role, a.zone, a.client_address, a.details"
        " FROM audit_log a LEFT JOIN users u ON u.id = a.actor_user_id"
        " WHERE a.plan_id = ? ORDER BY a.id",
        plan_id,
    )


async def test_a_plan_moves_to_another_installation_with_its_history_and_access_log(
    tmp_path: Path,
) -> None:
    sending, receiving = make_settings(tmp_path / "a"), make_settings(tmp_path / "b")
    world = await _sending(sending)
    plan = world.plan_id
    day = (today_oslo() - timedelta(days=3)).isoformat()
    out = tmp_path / "flytting 🚚.json"
    jonas = ROLE_USERS["planeier"][0]

    def move_out(*extra: str) -> Any:
        base = ["plan", "move-out", plan, "--to", RECEIVING, "--out", str(out)]
        return samplan(sending, *base, *extra)

    # Refused, and nothing changed: no consent from someone who may give it, a bad date.
    outsider = ("--consent-giver", ROLE_USERS["leser"][0], "--consent-how", "skriftlig")
    refused = move_out(*outsider, "--consent-date", day)
    assert refused.returncode == 2 and "only the planeier or the verge" in refused.stderr
    future = (today_oslo() + timedelta(days=1)).isoformat()
    refused = move_out(
        "--consent-giver", jonas, "--consent-how", "muntlig", "--consent-date", future
    )
    assert refused.returncode == 2 and "future" in refused.stderr
    refused = move_out(
        "--consent-giver", jonas, "--consent-how", "telepati 🔮", "--consent-date", day
    )
    assert refused.returncode == 2 and "muntlig, skriftlig or nettleser" in refused.stderr
    assert not out.exists()
    assert _rows(sending, "SELECT status FROM plans WHERE id = ?", plan) == [("active",)]
    assert _rows(sending, "SELECT count(*) FROM plan_moves") == [(0,)]

    log_before = _log(sending, plan)
    content_before = await _content(sending, plan)
    [edit] = content_before["area/skole"]["history"]
    assert edit[0] == ROLE_USERS["koordinator"][0] and len(log_before) == 3

    done = move_out(
        "--consent-giver", jonas, "--consent-how", "skriftlig", "--consent-date", day,
        "--by", KE[0],
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    document = json.loads(out.read_text(encoding="utf-8"))
    assert out.stat().st_mode & 0o777 == 0o600
    assert document["plan"]["status"] == "active"
    assert document["move"]["to"] == RECEIVING and document["move"]["from"] == "Eksempelvik kommune"
    assert document["move"]["consent"] == {
        "giver": "planeier",
        "giver_name": "Jonas Berg",
        "method": "written",
        "given_on": day,
    }
    assert [e["details"] for e in document["access_log"]] == [{"page": "Min plan 🌻"}] * 3
    # The sending side: closed, with its record; a second move-out is refused.
    assert _rows(sending, "SELECT status FROM plans WHERE id = ?", plan) == [("closed",)]
    [(kind, to_name, by)] = _rows(
        sending,
        "SELECT m.kind, m.to_name, u.name FROM plan_moves m"
        " JOIN users u ON u.id = m.recorded_by_user_id",
    )
    assert (kind, to_name, by) == ("export", RECEIVING, KE[1])
    assert [a for _at, a, *_ in _log(sending, plan)][-1] == "plan_move_out"
    again = move_out("--consent-giver", jonas, "--consent-how", "skriftlig", "--consent-date", day)
    assert again.returncode == 2 and "closed" in again.stderr

    # The receiving side names its municipality; it must exist there.
    assert samplan(receiving, "municipality", "add", RECEIVING).returncode == 0
    unnamed = samplan(receiving, "import", str(out))
    assert unnamed.returncode == 1 and "--municipality" in unnamed.stderr
    typo = samplan(receiving, "import", "--municipality", "Bø i Telemarkk", str(out))
    assert typo.returncode == 2 and "no municipality named" in typo.stderr
    assert _rows(receiving, "SELECT count(*) FROM plans") == [(0,)]
    imported = samplan(receiving, "import", "--municipality", RECEIVING, str(out))
    assert imported.returncode == 0, imported.stderr

    [(status, municipality)] = _rows(
        receiving,
        "SELECT p.status, m.name FROM plans p JOIN municipalities m ON m.id = p.municipality_id"
        " WHERE p.id = ?",
        plan,
    )
    assert (status, municipality) == ("active", RECEIVING)
    assert await _content(receiving, plan) == content_before
    arrived = _log(receiving, plan)
    assert arrived[: len(log_before)] == log_before  # every row as recorded, the same people
    assert [a for _at, a, *_ in arrived[len(log_before) :]] == ["import"]
    [(kind, from_name, appointed)] = _rows(
        receiving, "SELECT kind, from_name, appointed_at FROM plan_moves WHERE plan_id = ?", plan
    )
    assert (kind, from_name, appointed) == ("import", "Eksempelvik kommune", None)
    verified = samplan(receiving, "audit", "verify")
    assert verified.returncode == 0, verified.stdout + verified.stderr

    # The receiving KE sees where the plan came from beside the flag, in its language.
    repos = await Repositories.open(receiving)
    try:
        bo = await repos.municipalities.by_name(RECEIVING)
        assert bo is not None
        siv = await repos.users.create(*BO_KE)
        await repos.users.set_password_hash(siv.id, hash_password(PASSWORD))
        await repos.municipalities.add_admin(bo.id, siv.id, granted_by=None)
    finally:
        await repos.close()
    day = today_oslo().strftime("%d.%m.%Y")
    texts = {
        "nb": f"Flyttet inn fra Eksempelvik kommune {day}",
        "en": f"Moved in from Eksempelvik kommune on {day}",
        "nn": f"Flytta inn frå Eksempelvik kommune {day}",
    }
    async with live_server(receiving) as web, signed_in(web.http, BO_KE[0]) as http:
        for lang, text in texts.items():
            overview = await http.get(f"/ke/{bo.id}?lang={lang}")
            assert text in overview.text and 'data-testid="ke-row-moved-in"' in overview.text
            page = await http.get(f"/ke/{bo.id}/plans/{plan}/koordinator?lang={lang}")
            assert text in page.text, lang
