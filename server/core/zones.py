"""What a plan's versioned zones hold right now, as a plan version stores them (publishing,
named and daily versions, restore). Each zone is read through `RoomRegistry.read`: live and
durable, or from storage."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable, Mapping
from typing import Any

from pycrdt import Doc

from crdt.registry import RoomRegistry
from crdt.schema import VERSIONED_KINDS, ShapeProblem, conform_zone, read_zone
from storage.repositories.plans import PlanRepo
from storage.repositories.versions import ZoneCopy

log = logging.getLogger("samplan.shapes")


def zone_data(doc: Doc[Any], kind: str, zone_id: int) -> dict[str, Any]:
    """`read_zone`, logging by id what it had to leave out (a document stored before the
    server checked shapes): every reader outside the sync path reads a zone's JSON here."""
    problems: list[ShapeProblem] = []
    data = read_zone(doc, kind, problems)
    log_shape_problems(zone_id, problems)
    return data


def stored_zone_data(kind: str, data: Mapping[str, Any], zone_id: int | None) -> dict[str, Any]:
    """A version's stored copy (`read_zone` form, perhaps from before shapes were checked),
    held to the contract the same way."""
    problems: list[ShapeProblem] = []
    clean = conform_zone(kind, data, problems)
    log_shape_problems(zone_id, problems)
    return clean


def log_shape_problems(zone_id: int | None, problems: Iterable[ShapeProblem]) -> None:
    """Ids, roots and field names only: never the value that was left out."""
    for p in problems:
        log.warning(
            "zone shape left out zone_id=%s root=%s item_id=%s position=%s field=%s",
            zone_id,
            p.root,
            p.item,
            p.position,
            p.field,
        )


async def zone_copies(registry: RoomRegistry, plans: PlanRepo, plan_id: str) -> list[ZoneCopy]:
    """Full-state copies of the plan's versioned zones, as a version stores them."""
    copies = []
    for zone in await plans.list_zones(plan_id):
        if zone.kind not in VERSIONED_KINDS:
            continue
        doc = await registry.read(zone.id)
        data = json.dumps(zone_data(doc, zone.kind, zone.id), ensure_ascii=False)
        copies.append(ZoneCopy(zone.kind, zone.key, zone.title, doc.get_update(), data))
    return copies
