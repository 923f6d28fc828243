"""The "effective plan" indicators (issue 14; shared/domain/individuell-plan.md §1.3-1.4 and
Trondheim's measures): one definition, for Mine planer and the KE overview alike.

Each indicator is a fact or a rule over facts (storage.repositories.plan_facts), never a word
anyone wrote:
- coordinator appointed: the plan has a koordinator;
- consent to the plan: the newest answer in `plan_consents` is "given" (regulation element h,
  the consent to the plan being made at all);
- consent for sharing: at least one member holds an active sharing consent (`consents`);
- in use: an edit stored, or a meeting held, within the last `in_use_days` days;
- evaluated: an evaluation dated within the last `revision_days` days, and the next revision
  not overdue;
- overdue measures (open measures past their end), the next revision, the next meeting.

Mine planer folds only the zones its reader may open (`fold`, from live or stored summaries);
the KE overview has the same fold done in SQL for a whole municipality
(plan_facts._zone_folds_query; tests/test_ke_indicators.py holds the two to the same answer).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from storage.repositories.plan_facts import PlanFacts, ZoneFold

DEFAULT_IN_USE_DAYS = 90
DEFAULT_REVISION_DAYS = 365
MAX_DAYS = 3650  # what the KE may set: ten years


@dataclass(frozen=True, slots=True)
class Rules:
    """The municipality's settings (municipalities.in_use_days, revision_days)."""

    in_use_days: int = DEFAULT_IN_USE_DAYS
    revision_days: int = DEFAULT_REVISION_DAYS


@dataclass(slots=True)  # read-only; not frozen for speed (see plan_facts.ZoneFold)
class Indicators:
    coordinator: bool
    plan_consent: bool
    sharing_consent: bool
    in_use: bool
    evaluated: bool
    overdue_measures: int
    revision_overdue: bool
    next_revision: date | None
    last_evaluation: date | None
    last_activity: datetime | None  # the later of the last edit and the last meeting held
    next_meeting: datetime | None

    def met(self, name: str) -> bool:
        """A named indicator as yes/no, for filters: `overdue` is met when there are none."""
        if name == "overdue":
            return self.overdue_measures == 0
        if name == "revision":
            return not self.revision_overdue
        return bool(getattr(self, name))


# The indicators a filter can ask for, in the page's order.
NAMES = (
    "coordinator",
    "plan_consent",
    "sharing_consent",
    "in_use",
    "evaluated",
    "overdue",
    "revision",
)


def fold(zones: Iterable[tuple[str, Mapping[str, Any]]], today: date) -> ZoneFold:
    """Fold one plan's zone summaries ((kind, summary), only those its reader may open)."""
    next_revision: str | None = None
    last_evaluation: str | None = None
    overdue = 0
    cutoff = today.isoformat()
    for kind, summary in zones:
        if kind == "content":
            value = summary.get("nextRevision")
            if value and (next_revision is None or value > next_revision):
                next_revision = value
        elif kind == "area":
            overdue += sum(1 for end in summary.get("openMeasureEnds", ()) if end < cutoff)
            evaluated = summary.get("lastEvaluation")
            if evaluated and (last_evaluation is None or evaluated > last_evaluation):
                last_evaluation = evaluated
    return ZoneFold(next_revision, last_evaluation, overdue)


def _day(iso: str | None) -> date | None:
    if not iso:
        return None
    try:
        return date.fromisoformat(iso)
    except ValueError:
        return None


def evaluate(facts: PlanFacts, today: date, now: datetime, rules: Rules) -> Indicators:
    zones = facts.zones
    next_revision = _day(zones.next_revision)
    last_evaluation = _day(zones.last_evaluation)
    revision_overdue = next_revision is not None and next_revision < today
    since = now - timedelta(days=rules.in_use_days)
    activity = [at for at in (zones.last_edit, facts.last_meeting) if at is not None]
    last_activity = max(activity) if activity else None
    evaluated_since = today - timedelta(days=rules.revision_days)
    return Indicators(
        coordinator=facts.koordinator_id is not None,
        plan_consent=facts.plan_consent == "given",
        sharing_consent=facts.sharing_consents > 0,
        in_use=last_activity is not None and last_activity >= since,
        evaluated=(
            last_evaluation is not None
            and last_evaluation >= evaluated_since
            and not revision_overdue
        ),
        overdue_measures=zones.overdue_measures,
        revision_overdue=revision_overdue,
        next_revision=next_revision,
        last_evaluation=last_evaluation,
        last_activity=last_activity,
        next_meeting=facts.next_meeting,
    )
