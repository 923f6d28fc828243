"""A plan moving to another installation when the person moves (issue 14).

The sending side: `samplan plan move-out` writes the export with the plan's access log and a
`move` section (to where, the person's consent), then records the move in `plan_moves` and
closes the plan there; if the record cannot be written the file is removed, so there is never
a file without a record nor a record without a file.

The receiving side: `samplan import --municipality NAME` puts the plan in that municipality
and, when the file carries a move, appends its access log here (every row as recorded, at its
own time, with the actors' ids in this database; the hash chain is this installation's own,
so the rows get new hashes) and records the arrival, which flags the plan on the receiving
KE's overview until it appoints a koordinator.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from server.core.repositories import Repositories
from server.transfer.export import iso_date, iso_time
from server.transfer.importer import ImportRefused, ParsedPlan, _Field
from storage.models import PLAN_CONSENT_GIVERS, PLAN_CONSENT_METHODS
from storage.repositories.audit import AuditEvent
from storage.repositories.moves import MoveConsent

# What the command line accepts for how consent was given: Norwegian and the stored words.
METHODS = {
    "muntlig": "oral",
    "skriftlig": "written",
    "nettleser": "browser",
    "i nettleser": "browser",
    "oral": "oral",
    "written": "written",
    "browser": "browser",
}


@dataclass(frozen=True, slots=True)
class AccessRow:
    at: datetime
    action: str
    actor: int | None  # a people id of the file
    role: str | None
    zone: str | None
    client_address: str | None
    details: Mapping[str, Any]


@dataclass(frozen=True, slots=True)
class Moved:
    """What a moved plan's file carries besides the plan."""

    from_name: str
    to_name: str
    consent: MoveConsent  # giver_user_id: a people id of the file, or None
    access_log: tuple[AccessRow, ...]


def move_json(
    from_name: str, to_name: str, consent: MoveConsent, moved_at: datetime
) -> dict[str, Any]:
    return {
        "from": from_name,
        "to": to_name,
        "moved_at": iso_time(moved_at),
        "consent": {
            "giver": consent.giver,
            "giver_name": consent.giver_name,
            "method": consent.method,
            "given_on": iso_date(consent.given_on),
        },
    }


def parse_moved(data: Mapping[str, Any], parsed: ParsedPlan) -> Moved | None:
    """The `move` and `access_log` sections of a checked export, or None when the file is a
    plain export; ImportRefused naming the first problem."""
    if "move" not in data:
        if "access_log" in data:
            raise ImportRefused("document.access_log: only a moved plan carries its access log")
        return None
    root = _Field(data, "document")
    move = root.get("move")
    consent = move.get("consent")
    people = {p.id for p in parsed.plan.people}
    given = MoveConsent(
        consent.get("giver").choice(PLAN_CONSENT_GIVERS),
        consent.get("giver_name").text(),
        consent.get("method").choice(PLAN_CONSENT_METHODS),
        consent.get("given_on").day(),
    )
    rows = []
    for item in root.get("access_log").items():
        actor = item.get("actor_user_id").integer(optional=True)
        if actor is not None and actor not in people:
            raise item.get("actor_user_id").fail(f"user {actor} is not among people")
        details = item.get("details").value
        if not isinstance(details, dict):
            raise item.get("details").fail("must be an object")
        rows.append(
            AccessRow(
                item.get("at").time(),
                item.get("action").text(),
                actor,
                item.get("role").text(optional=True),
                item.get("zone").text(optional=True),
                item.get("client_address").text(optional=True),
                details,
            )
        )
    return Moved(move.get("from").text(), move.get("to").text(), given, tuple(rows))


def placed_in(parsed: ParsedPlan, municipality: str) -> ParsedPlan:
    """The parsed plan, to be created in `municipality` (the receiving one)."""
    return dataclasses.replace(
        parsed, plan=dataclasses.replace(parsed.plan, municipality=municipality)
    )


async def restore_access_log(
    repos: Repositories, plan_id: str, rows: Sequence[AccessRow], user_ids: Mapping[int, int]
) -> int:
    """Append the moved plan's access log here, oldest first; returns how many rows."""
    events = [
        AuditEvent(
            row.action,
            actor_user_id=None if row.actor is None else user_ids.get(row.actor),
            role=row.role,
            plan_id=plan_id,
            zone=row.zone,
            client_address=row.client_address,
            details=row.details,
            at=row.at,
        )
        for row in rows
    ]
    await repos.audit.append_many(events)
    return len(events)


def consent_date(text: str, today: date) -> date:
    """YYYY-MM-DD (or dd.mm.åååå), today or earlier; ValueError with the reason."""
    for pattern in ("%Y-%m-%d", "%d.%m.%Y"):
        try:
            day = datetime.strptime(text.strip(), pattern).date()
        except ValueError:
            continue
        if day > today:
            raise ValueError("the date of the consent cannot be in the future")
        return day
    raise ValueError("the date of the consent must be YYYY-MM-DD")
