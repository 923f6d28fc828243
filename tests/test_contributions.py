"""One owner for what each member contributes (issue 11): `memberships.contribution`, with who
wrote it and when. A plan from before, whose content zone still holds the old `contributions`
list, keeps it readable, and an import moves each listed item into its member's contribution
when that member has none (server/transfer/contributions.py)."""

from __future__ import annotations

from pathlib import Path

import pytest

from crdt.schema import append_item, get_root
from crdt.zone_state import doc_from_stored
from server.core.clock import today_oslo
from server.services import Repositories
from server.settings import Settings
from server.transfer.contributions import adopt_stored
from server.transfer.export import build_export, dumps
from server.transfer.importer import import_plan, parse_export
from server.transfer.print_view import print_context
from server.web.i18n import translator
from tests.conftest import make_settings
from tests.support.world import World

pytestmark = pytest.mark.both_databases

OLD_AASE = "Leksehjelp på biblioteket 📚, «tirsdager»"
OLD_PER = "Observerer møtene 👀"
OWN_PER = "Leser referatene og sier fra om feil ✍️"
OLD_NOBODY = "Fastlegen: medisinsk koordinering 🩺"
KARI_WORDS = "Kaller inn til møter og holder planen ved like 🗓️"


async def _old_plan(repos: Repositories, world: World) -> None:
    """The content zone's old list, written as an older bundle did, plus Per's own words and
    Kari's, written the new way."""
    zone = await repos.plans.get_zone(world.plan_id, "content", "")
    assert zone is not None
    doc = doc_from_stored(await repos.zone_log.load(zone.id))
    before = doc.get_state()
    items = get_root(doc, "content", "contributions")
    for user, name, text in (
        (world.users["deltaker"], "Åse Ødegård", OLD_AASE),
        (world.users["leser"], "Per Lund", OLD_PER),
        (None, "Dr. Per Lund (fastlege)", OLD_NOBODY),
    ):
        append_item(
            items, {"userId": None if user is None else str(user), "name": name, "text": text}
        )
    await repos.zone_log.append_batch([(zone.id, doc.get_update(before))])
    await repos.members.change_member(world.plan_id, world.users["leser"], contribution=OWN_PER)
    kari = world.users["koordinator"]
    await repos.members.change_member(world.plan_id, kari, contribution=KARI_WORDS, by_user_id=kari)


async def test_import_moves_old_contributions_to_their_members(
    settings: Settings, world: World, tmp_path: Path
) -> None:
    repos = await Repositories.open(settings)
    try:
        await _old_plan(repos, world)
        document = await build_export(repos, world.plan_id)
    finally:
        await repos.close()
    assert document is not None
    members = {m["email"]: m for m in document["members"]}
    kari = members["kari.nilsen@eksempelvik.test"]
    assert kari["contribution"] == KARI_WORDS
    assert kari["contribution_updated_by"] == world.users["koordinator"]
    assert kari["contribution_updated_at"] is not None

    # Before any import, the print shows the old list where no member's words say the same.
    t = translator("nb")
    printed = print_context(document, t, today_oslo())
    assert {(c["name"], c["text"]) for c in printed["contributions"]} == {
        ("Åse Ødegård", OLD_AASE),
        ("Per Lund", OLD_PER),
        ("Dr. Per Lund (fastlege)", OLD_NOBODY),
    }
    [kari_row] = [m for m in printed["members"] if m["name"] == "Kari Nilsen"]
    assert kari_row["contribution_by"] == "Kari Nilsen" and kari_row["contribution_at"]

    # Into a fresh database: Åse had no words of her own, so the old item becomes hers; Per
    # keeps his own; the unnamed one stays in the zone, readable on paper.
    target = make_settings(tmp_path / "d")
    repos = await Repositories.open(target)
    try:
        await import_plan(repos, parse_export(dumps(document)), "another-secret")
        rows = {
            email: m for m, _, email in await repos.plans.list_members_with_names(world.plan_id)
        }
        again = await build_export(repos, world.plan_id)
    finally:
        await repos.close()
    assert rows["ase.odegard@eksempelvik.test"].contribution == OLD_AASE
    assert rows["per.lund@eksempelvik.test"].contribution == OWN_PER
    imported_kari = rows["kari.nilsen@eksempelvik.test"]
    assert imported_kari.contribution == KARI_WORDS
    assert imported_kari.contribution_updated_by == imported_kari.user_id
    assert again is not None
    legacy = {
        (c["name"], c["text"]) for c in print_context(again, t, today_oslo())["contributions"]
    }
    assert legacy == {("Per Lund", OLD_PER), ("Dr. Per Lund (fastlege)", OLD_NOBODY)}


async def test_migrate_moves_old_contributions_of_stored_plans(
    settings: Settings, world: World
) -> None:
    """`samplan migrate` on a database from before: the same rule as on import, once."""
    repos = await Repositories.open(settings)
    try:
        await _old_plan(repos, world)
        assert await adopt_stored(repos) == 1  # Åse; Per keeps his own words
        assert await adopt_stored(repos) == 0  # nothing left to move
        aase = await repos.plans.get_membership(world.plan_id, world.users["deltaker"])
        per = await repos.plans.get_membership(world.plan_id, world.users["leser"])
        document = await build_export(repos, world.plan_id)
    finally:
        await repos.close()
    assert aase is not None and aase.contribution == OLD_AASE
    assert aase.contribution_updated_by is None and aase.contribution_updated_at is not None
    assert per is not None and per.contribution == OWN_PER
    assert document is not None
    legacy = print_context(document, translator("nb"), today_oslo())["contributions"]
    assert {c["text"] for c in legacy} == {OLD_PER, OLD_NOBODY}
