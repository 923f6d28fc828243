"""An action item in the minutes becomes a measure (tiltak) under a goal.

The item (what, who, by when, which goal) is read from the `minutes/<meeting-id>` zone,
checked against SQL (is the responsible person a member?) and the area zone (does the goal
exist?), then the measure is appended to the area zone and the item's `measureId` set, both
through `registry.edit`: durable first, then live in every open browser. Nothing is written
when a check fails. One conversion per meeting at a time in this process, so a double click
cannot make two measures.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import date
from typing import Any

from pycrdt import Doc, Map

from crdt.schema import (
    ACTION_ITEMS,
    GOALS,
    MEASURES,
    MINUTES,
    append_item,
    find_item,
    get_root,
    new_id,
    set_fields,
)


class ConversionError(Exception):
    """Why an action item cannot become a measure: an i18n key and the HTTP status."""

    def __init__(self, key: str, status: int = 400) -> None:
        super().__init__(key)
        self.key = key
        self.status = status


@dataclass(frozen=True)
class ActionItem:
    id: str
    what: str
    responsible_user_id: str | None
    due: str | None
    area_key: str | None
    goal_id: str | None
    measure_id: str | None


def read_action_item(doc: Doc[Any], item_id: str) -> ActionItem | None:
    item = find_item(get_root(doc, MINUTES, ACTION_ITEMS), item_id)
    if item is None:
        return None

    def plain(key: str) -> str | None:
        value = item.get(key)
        return value if isinstance(value, str) and value else None

    what = item.get("what")
    return ActionItem(
        item_id,
        str(what).strip() if what is not None else "",
        plain("responsibleUserId"),
        plain("due"),
        plain("areaId"),
        plain("goalId"),
        plain("measureId"),
    )


def check_item(item: ActionItem | None, member_ids: set[str], today: date) -> ActionItem:
    """The checks that need no area document; raise ConversionError on the first problem."""
    if item is None:
        raise ConversionError("minutes.error.no_item", 404)
    if item.measure_id:
        raise ConversionError("minutes.error.converted", 409)
    if not item.what:
        raise ConversionError("minutes.error.what")
    if item.responsible_user_id is None or item.responsible_user_id not in member_ids:
        raise ConversionError("minutes.error.responsible")
    if item.due is None:
        raise ConversionError("minutes.error.due")
    try:
        due = date.fromisoformat(item.due)
    except ValueError:
        raise ConversionError("minutes.error.due") from None
    if due < today:
        raise ConversionError("minutes.error.due_past")
    if item.area_key is None or item.goal_id is None:
        raise ConversionError("minutes.error.goal")
    return item


def add_measure(item: ActionItem, meeting_id: str, meeting_date: str) -> Any:
    """A `registry.edit` change on the area zone: the goal must exist, then one measure. No
    stamp of who or when: the caller's `registry.edit(..., actor=...)` records who."""

    def change(doc: Doc[Any]) -> str:
        goal = find_item(get_root(doc, "area", GOALS), item.goal_id or "")
        if not isinstance(goal, Map):
            raise ConversionError("minutes.error.goal")  # checked before anything is written
        return append_item(
            get_root(doc, "area", MEASURES),
            {
                "id": new_id(),
                "goalId": item.goal_id,
                "title": item.what,
                "description": [
                    f"Fra møtet {meeting_date}. Én handling:",
                    ("bullet", [item.what]),
                ],
                "responsible": [item.responsible_user_id],
                "externalParty": "",
                "scope": "",
                "start": None,
                "end": item.due,
                "status": "planlagt",
                "meetingId": meeting_id,
            },
        )

    return change


def link_measure(item_id: str, measure_id: str) -> Any:
    """A `registry.edit` change on the minutes zone: the item points at its new measure."""

    def change(doc: Doc[Any]) -> None:
        found = find_item(get_root(doc, MINUTES, ACTION_ITEMS), item_id)
        if found is not None:
            set_fields(found, {"measureId": measure_id})

    return change


class ConversionLocks:
    """One conversion per meeting at a time (in this process)."""

    def __init__(self) -> None:
        self._locks: dict[str, asyncio.Lock] = {}

    def of(self, meeting_id: str) -> asyncio.Lock:
        return self._locks.setdefault(meeting_id, asyncio.Lock())
