"""The content zone's old `contributions` list (issue 11): what each member contributes now has
one owner, `memberships.contribution`; the list is no longer written by the page, the demo or
the server, but documents from before may still hold it.

What happens to such an item: on `samplan import`, and for the plans already stored on
`samplan migrate` (`adopt_stored`), an item whose `userId` is a member with no contribution of
their own becomes that member's contribution (several items: one per line).
Every other item (its member has written their own words, or it names nobody in the plan)
stays in the zone untouched, and stays readable: the print and PDF list it under "from an
earlier version of the plan" unless its member's contribution (or one line of it) says the
same word for word (`legacy_rows`), and the version history still shows it. The zone's state
is never rewritten: state is what is imported (server/transfer/importer.py).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from crdt.schema import CONTENT, CONTRIBUTIONS, read_zone
from crdt.zone_state import doc_from_stored
from server.core.repositories import Repositories
from storage.repositories.audit import AuditEvent
from storage.repositories.transfer import MemberRow


def _items(content: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    items = content.get(CONTRIBUTIONS, [])
    return [i for i in items if isinstance(i, Mapping)] if isinstance(items, list) else []


def adopt_contributions(
    members: Sequence[MemberRow], content: Mapping[str, Any]
) -> tuple[MemberRow, ...]:
    """`members` with the zone's items moved into the contribution of members who have none."""
    found: dict[int, list[str]] = {}
    for item in _items(content):
        text = str(item.get("text") or "").strip()
        try:
            user_id = int(str(item.get("userId")))
        except ValueError:
            continue
        if text:
            found.setdefault(user_id, []).append(text)
    return tuple(
        dataclasses.replace(m, contribution="\n".join(found[m.user_id]))
        if not (m.contribution or "").strip() and m.user_id in found
        else m
        for m in members
    )


def legacy_rows(
    content: Mapping[str, Any],
    members: Sequence[Mapping[str, Any]],
    name_of: Callable[[Any], str | None],
) -> list[dict[str, Any]]:
    """The zone's items that no member's contribution already says, for the print."""
    said: dict[str, set[str]] = {}
    for m in members:
        lines = (m.get("contribution") or "").split("\n")
        said[str(m["user_id"])] = {line.strip() for line in lines} | {
            (m.get("contribution") or "").strip()
        }
    rows = []
    for item in _items(content):
        text = str(item.get("text") or "").strip()
        if not text or text in said.get(str(item.get("userId")), set()):
            continue
        rows.append({"name": item.get("name") or name_of(item.get("userId")), "text": text})
    return rows


async def adopt_stored(repos: Repositories) -> int:
    """Move the old list of every stored plan into its members' contributions (members who
    have none); returns how many members got one. Reads each content zone from storage, writes
    only memberships: safe beside a running server. Each move is an audit row, never the text."""
    moved = 0
    for plan_id, kind, key in await repos.plans.all_zone_keys():
        if kind != CONTENT:
            continue
        zone = await repos.plans.get_zone(plan_id, kind, key)
        if zone is None:  # deleted meanwhile
            continue
        content = read_zone(doc_from_stored(await repos.zone_log.load(zone.id)), CONTENT)
        if not _items(content):
            continue
        rows = [
            MemberRow(m.user_id, m.role, m.unit, m.contribution, m.created_at)
            for m in await repos.plans.list_members(plan_id)
        ]
        for before, after in zip(rows, adopt_contributions(rows, content), strict=True):
            if after.contribution == before.contribution:
                continue
            await repos.members.change_member(
                plan_id, after.user_id, contribution=after.contribution
            )
            details = {"user_id": after.user_id, "contribution_changed": True}
            await repos.audit.append(
                AuditEvent("membership_change", plan_id=plan_id, details=details)
            )
            moved += 1
    return moved
