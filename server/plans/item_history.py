"""Who changed each goal, measure and evaluation of an area, as the server recorded it.

The plan page's "Sist endret av" and each item's "Historikk" come from here, never from the
`updatedBy` / `updatedAt` a browser may write into the document: any writer can put any name
there (DESIGN §2, issue 11). The record is `server.core.authors.zone_changes`: who sent each
durable update on an authenticated socket, and what it touched. Names come from the users
table, including the user ids inside a field's old and new value (`responsible`).

GET `/plans/{plan_id}/areas/{key}/changes` (and `/plans/{plan_id}/content/changes`, for who
wrote "Om meg": its one item is `aboutMe`) answers
`{"items": {item_id: {"root", "last": Entry, "history": [Entry, ...]}}}`, oldest first, where
an Entry is `{"userId", "name", "at", "since", "fields": [{"field", "old", "new"} |
{"field", "edited": true}], "created"?, "deleted"?}`. Consecutive changes to one item by the
same person within `RUN_GAP` are one entry (typing a title is one change per keystroke to
the log; a person reads it as one edit): `since` is its first change, `at` its last, each
field goes from its first old to its last new value, and a field that ended where it began
is left out. `userId` and `name` are null for a change the server made itself (demo data,
an import, a restore). Items deleted since are listed too (an undo brings them back).

Who may ask: exactly who may open the zone (role, then consent scope), else 404 as for any
zone the member may not see. Reading replays the log tail on a scratch document (about
25 ms for a big area): `zone_changes` does it in a worker thread and keeps the result per
zone until the log changes, so many viewers re-fetching after one edit replay it once.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from crdt.schema import AREA, CONTENT, USER_REF_FIELDS, USER_REF_LISTS
from server.core.authors import Change, zone_changes
from server.web.errors import NotFound
from server.web.visit import visit
from storage.repositories.updates import ZoneLog

RUN_GAP = timedelta(minutes=10)
MAX_KEY = 100
CACHED_ZONES = 64


def _iso(at: datetime) -> str:
    if at.tzinfo is None:
        at = at.replace(tzinfo=UTC)  # SQLite hands back naive UTC
    return at.astimezone(UTC).isoformat().replace("+00:00", "Z")


@dataclass
class _Run:
    """Consecutive changes to one item by one person, read as one edit."""

    user_id: int | None
    since: datetime
    at: datetime
    fields: dict[str, list[Any] | None] = field(default_factory=dict)
    created: bool = False
    deleted: bool = False

    def add(self, at: datetime, entry: Mapping[str, Any]) -> None:
        self.at = at
        self.created = self.created or bool(entry.get("created"))
        self.deleted = bool(entry.get("deleted"))
        for name, values in (entry.get("fields") or {}).items():
            if not isinstance(values, list) or len(values) != 2:
                self.fields[name] = None  # rich text: only that it changed
            elif name in self.fields and self.fields[name] is not None:
                self.fields[name] = [self.fields[name][0], values[1]]  # type: ignore[index]
            elif name not in self.fields:
                self.fields[name] = list(values)


def _runs(changes: Iterable[Change]) -> dict[str, tuple[str, list[_Run]]]:
    """Each item's root and its history as runs, oldest first."""
    items: dict[str, tuple[str, list[_Run]]] = {}
    for change in changes:
        for item_id, entry in change.items.items():
            if not isinstance(entry, dict):
                continue
            root, runs = items.setdefault(item_id, (str(entry.get("root", "")), []))
            last = runs[-1] if runs else None
            if (
                last is None
                or last.user_id != change.user_id
                or last.deleted
                or entry.get("deleted")
                or change.at - last.at > RUN_GAP
            ):
                last = _Run(change.user_id, change.at, change.at)
                runs.append(last)
            last.add(change.at, entry)
    return items


def _differ(old: Any, new: Any) -> bool:
    """Whether a field changed as a reader sees it: nothing, "" and [] are all empty (a new
    item's empty fields are not something anyone wrote)."""
    return old != new and not (old in (None, "", []) and new in (None, "", []))


def _user_ids(runs: Iterable[_Run]) -> set[int]:
    ids: set[int] = set()

    def add(value: Any) -> None:
        if isinstance(value, str) and value.isdigit():
            ids.add(int(value))

    for run in runs:
        if run.user_id is not None:
            ids.add(run.user_id)
        for name, values in run.fields.items():
            for value in values or []:
                if name in USER_REF_FIELDS:
                    add(value)
                elif name in USER_REF_LISTS and isinstance(value, list):
                    for user in value:
                        add(user)
    return ids


class _Names:
    def __init__(self, names: Mapping[int, str]) -> None:
        self.names = names

    def of(self, user_id: int | None) -> str | None:
        return None if user_id is None else self.names.get(user_id)

    def value(self, name: str, value: Any) -> Any:
        """A field's value as the page shows it: user ids as the users table names them."""
        if name in USER_REF_FIELDS and isinstance(value, str) and value.isdigit():
            return self.names.get(int(value), value)
        if name in USER_REF_LISTS and isinstance(value, list):
            return [self.value("userId", v) for v in value]
        return value

    def entry(self, run: _Run) -> dict[str, Any]:
        fields: list[dict[str, Any]] = []
        for name, values in sorted(run.fields.items()):
            if values is None:
                fields.append({"field": name, "edited": True})
            elif _differ(values[0], values[1]):
                fields.append(
                    {
                        "field": name,
                        "old": self.value(name, values[0]),
                        "new": self.value(name, values[1]),
                    }
                )
        out: dict[str, Any] = {
            "userId": None if run.user_id is None else str(run.user_id),
            "name": self.of(run.user_id),
            "at": _iso(run.at),
            "since": _iso(run.since),
            "fields": fields,
        }
        if run.created:
            out["created"] = True
        if run.deleted:
            out["deleted"] = True
        return out


async def area_records(
    zone_log: ZoneLog, users: Any, zone_id: int, kind: str = AREA
) -> dict[str, Any]:
    """The response body for one area zone, or the content zone (its "Om meg" only, keyed
    `aboutMe`: crdt/authorship.py), see the module docstring."""
    items = _runs(await zone_changes(zone_log, zone_id, kind))
    every_run = [run for _, runs in items.values() for run in runs]
    names = _Names(await users.names(_user_ids(every_run)))
    body: dict[str, Any] = {}
    for item_id, (root, runs) in items.items():
        history = [
            names.entry(run)
            for run in runs
            if run.created
            or run.deleted
            or any(v is None or _differ(v[0], v[1]) for v in run.fields.values())
        ]
        if history:
            body[item_id] = {"root": root, "last": history[-1], "history": history}
    return {"items": body}


async def area_changes_json(request: Request) -> Response:
    v = await visit(request)
    key = str(request.path_params["key"])
    if not key or len(key) > MAX_KEY or v.access(AREA, key) is None:
        raise NotFound()  # the same answer as for a zone that does not exist
    zone = await v.services.plans.get_zone(v.plan.id, AREA, key)
    if zone is None:
        raise NotFound()
    body = await area_records(v.services.repos.zone_log, v.services.repos.users, zone.id)
    return JSONResponse(body, headers={"cache-control": "no-store"})


async def content_changes_json(request: Request) -> Response:
    """GET `/plans/{plan_id}/content/changes`: who wrote "Om meg" (`items.aboutMe`), as for
    an area; whoever may open the content zone may ask."""
    v = await visit(request)
    if v.access(CONTENT, "") is None:
        raise NotFound()
    zone = await v.services.plans.get_zone(v.plan.id, CONTENT, "")
    if zone is None:
        raise NotFound()
    body = await area_records(v.services.repos.zone_log, v.services.repos.users, zone.id, CONTENT)
    return JSONResponse(body, headers={"cache-control": "no-store"})
