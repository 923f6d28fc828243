"""What a plan's versioned zones hold right now, as a plan version stores them (publishing,
named and daily versions, restore). Each zone is read through `RoomRegistry.read`: live and
durable, or from storage."""

from __future__ import annotations

import json

from crdt.registry import RoomRegistry
from crdt.schema import VERSIONED_KINDS, read_zone
from storage.repositories.plans import PlanRepo
from storage.repositories.versions import ZoneCopy


async def zone_copies(registry: RoomRegistry, plans: PlanRepo, plan_id: str) -> list[ZoneCopy]:
    """Full-state copies of the plan's versioned zones, as a version stores them."""
    copies = []
    for zone in await plans.list_zones(plan_id):
        if zone.kind not in VERSIONED_KINDS:
            continue
        doc = await registry.read(zone.id)
        data = json.dumps(read_zone(doc, zone.kind), ensure_ascii=False)
        copies.append(ZoneCopy(zone.kind, zone.key, zone.title, doc.get_update(), data))
    return copies
