"""The "effective plan" indicators of Mine planer, by the rules the KE overview uses
(server/core/indicators.py), from the zones this member may open.

The SQL facts (koordinator, consent to the plan, sharing consents, meetings) come from
storage.repositories.plan_facts like the KE's; the zone figures (next revision, overdue
measures, last evaluation, last edit) only from the zones the member's role and consent open
(Summaries.zones_for_user), read live where a room is in memory.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import replace
from datetime import UTC, date, datetime

from server.core.indicators import Indicators, Rules, evaluate, fold
from server.services import Services
from storage.models import Plan
from storage.repositories.consents import MemberAccess
from storage.repositories.plan_facts import PlanFacts, ZoneFold, plan_facts, zone_edits


async def member_indicators(
    services: Services,
    user_id: int,
    plans: Collection[Plan],
    access: Mapping[str, MemberAccess],
    today: date,
) -> dict[str, tuple[PlanFacts, Indicators]]:
    """Per plan of this member: its SQL facts and the indicators, every zone figure bounded
    by what they may open."""
    now = datetime.now(UTC)
    engine = services.repos.engine
    zones = await services.summaries.zones_for_user(user_id, access, today)
    edits = await zone_edits(engine, [zid for found in zones.values() for zid, _, _ in found])
    facts = await plan_facts(engine, [p.id for p in plans], today, now)
    rules = {
        m.id: Rules(m.in_use_days, m.revision_days)
        for m in await services.repos.municipalities.all()
    }
    result: dict[str, tuple[PlanFacts, Indicators]] = {}
    for plan in plans:
        found = facts.get(plan.id)
        if found is None:
            continue
        mine = zones.get(plan.id, [])
        folded = fold([(kind, summary) for _, kind, summary in mine], today)
        last_edit = max((edits[zid] for zid, _, _ in mine if zid in edits), default=None)
        zone_fold = ZoneFold(
            folded.next_revision, folded.last_evaluation, folded.overdue_measures, last_edit
        )
        rule = rules.get(plan.municipality_id, Rules())
        with_zones = replace(found, zones=zone_fold)
        result[plan.id] = (with_zones, evaluate(with_zones, today, now, rule))
    return result
