"""The thresholds of the KE's log control, per municipality (issue 14): which Oslo hours are
"night" and how many different plans one person opens within how many minutes before it is
"many plans in a row". The KE sets them on its log control page (server/ke/log_settings.py);
a municipality that never did has no row and gets the defaults, which are the values the
flags were fixed at before they could be set.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine

from storage.errors import InvalidValue
from storage.models import KeLogThresholds, utcnow

BURST_PLANS_MAX = 1000
BURST_MINUTES_MAX = 1440  # a day: "in a row" longer than that is no longer a row


@dataclass(frozen=True, slots=True)
class LogThresholds:
    night_from: int = 22  # Oslo hour the night starts (inclusive)
    night_until: int = 6  # Oslo hour it ends (exclusive); past midnight when < night_from
    burst_plans: int = 10  # this many different plans ...
    burst_minutes: int = 60  # ... within this many minutes

    def check(self) -> None:
        """InvalidValue unless every number is in range (the form says which, in words)."""
        if not (0 <= self.night_from <= 23 and 0 <= self.night_until <= 23):
            raise InvalidValue("the night's hours are 0-23")
        if self.night_from == self.night_until:
            raise InvalidValue("the night must start and end at different hours")
        if not 2 <= self.burst_plans <= BURST_PLANS_MAX:
            raise InvalidValue(f"many plans in a row is 2-{BURST_PLANS_MAX} plans")
        if not 1 <= self.burst_minutes <= BURST_MINUTES_MAX:
            raise InvalidValue(f"the window is 1-{BURST_MINUTES_MAX} minutes")


DEFAULT = LogThresholds()


async def thresholds(engine: AsyncEngine, municipality_id: int) -> LogThresholds:
    """The municipality's thresholds, or the defaults when its KE never set them."""
    t = KeLogThresholds
    async with engine.connect() as conn:
        row = (
            await conn.execute(
                select(t.night_from, t.night_until, t.burst_plans, t.burst_minutes).where(
                    t.municipality_id == municipality_id
                )
            )
        ).first()
    return DEFAULT if row is None else LogThresholds(*row)


async def set_thresholds(
    engine: AsyncEngine, municipality_id: int, values: LogThresholds, *, by_user_id: int | None
) -> None:
    """Store the municipality's thresholds (checked first: InvalidValue changes nothing)."""
    values.check()
    fields = {
        "night_from": values.night_from,
        "night_until": values.night_until,
        "burst_plans": values.burst_plans,
        "burst_minutes": values.burst_minutes,
        "updated_at": utcnow(),
        "updated_by_user_id": by_user_id,
    }
    where = KeLogThresholds.municipality_id == municipality_id
    for _attempt in range(2):  # an insert racing another's insert: then it is an update
        try:
            async with engine.begin() as conn:
                changed = await conn.execute(update(KeLogThresholds).where(where).values(fields))
                if not changed.rowcount:
                    await conn.execute(
                        insert(KeLogThresholds).values(municipality_id=municipality_id, **fields)
                    )
            return
        except IntegrityError:
            continue
    raise InvalidValue(f"municipality {municipality_id} does not exist or changed meanwhile")
