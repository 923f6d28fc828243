"""What a plan's zones hold right now, for pages that read them without joining a room
(meetings, publishing, versions).

A zone is read from its live room when one is loaded (after `settle()`, so nothing is read
that is not yet durable), else from storage (snapshot plus tail), without loading a room.
"""

from __future__ import annotations

import json
from typing import Any

from pycrdt import Doc

from crdt.schema import VERSIONED_KINDS, read_zone
from crdt.zone_state import doc_from_stored
from server.services import Services
from storage.repositories.versions import ZoneCopy


async def zone_doc(services: Services, zone_id: int) -> Doc[Any]:
    """A private copy of the zone's current, durable state: the live room's once what it
    applied is durable, else rebuilt from storage without loading a room."""
    room = services.registry.rooms.get(zone_id)
    if room is not None and not room.failed:
        await room.settle()
        doc: Doc[Any] = Doc()
        doc.apply_update(room.doc.get_update())
        return doc
    return doc_from_stored(await services.repos.zone_log.load(zone_id))


async def zone_copies(services: Services, plan_id: str) -> list[ZoneCopy]:
    """Full-state copies of the plan's versioned zones, as a version stores them."""
    copies = []
    for zone in await services.plans.list_zones(plan_id):
        if zone.kind not in VERSIONED_KINDS:
            continue
        doc = await zone_doc(services, zone.id)
        data = json.dumps(read_zone(doc, zone.kind), ensure_ascii=False)
        copies.append(ZoneCopy(zone.kind, zone.key, zone.title, doc.get_update(), data))
    return copies
