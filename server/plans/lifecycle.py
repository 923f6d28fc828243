"""Closing, deleting and purging plans (issue 4): what a running server does around the SQL.

The rows change in storage.repositories.plans. Around that, a running server must make open
sockets follow at once: a close makes every connection read-only (`recheck_plan`, through the
same `effective_access` as a join), and a deletion closes the plan's sockets with 4404 and
drops its rooms from memory WITHOUT compacting them, since a snapshot taken after the delete
would write deleted health data back (or fail). A deletion made by another process (the CLI,
`samplan purge`) reaches open sockets through the access watcher, which notices the plan is
gone (`forget_plan`).
"""

from __future__ import annotations

import logging
import unicodedata
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import TYPE_CHECKING, Protocol

from server.core.repositories import Repositories
from server.sync.connections import forget_plan
from storage.models import utcnow
from storage.repositories.audit import AuditEvent
from storage.repositories.plans import PlanRows

if TYPE_CHECKING:  # the app's parts are not imported by `samplan purge` / `plan delete`
    from crdt.committer import GroupCommitter
    from crdt.registry import RoomRegistry
    from server.sync.connections import ConnectionIndex
    from storage.repositories.plans import PlanRepo

log = logging.getLogger("samplan.lifecycle")


class RunningServer(Protocol):
    """What a deletion needs of the running server (server.services.Services has it)."""

    registry: RoomRegistry
    connections: ConnectionIndex
    committer: GroupCommitter

    @property
    def plans(self) -> PlanRepo: ...


async def delete_plan_live(services: RunningServer, plan_id: str) -> PlanRows | None:
    """Delete a plan in this server process: sockets closed and rooms dropped first, then
    every update already submitted made durable (so none reaches the log after its zone is
    gone), then the rows. None when there is no such plan."""
    zone_ids = [zone.id for zone in await services.plans.list_zones(plan_id)]
    forget_plan(services.registry, services.connections, plan_id, zone_ids)
    await services.committer.flush()
    rows = await services.plans.delete_plan(plan_id)
    # Someone who joined between the first drop and the delete is sent away too.
    forget_plan(services.registry, services.connections, plan_id, zone_ids)
    return rows


def delete_details(reason: str, rows: PlanRows, **extra: object) -> dict[str, object]:
    """The `plan_delete` audit row's details: why, and how many rows went; never content."""
    return {"reason": reason, **rows.counts(), **extra}


@dataclass(frozen=True, slots=True)
class PurgeItem:
    plan_id: str
    closed_at: datetime
    rows: PlanRows | None  # what was (or, in a dry run, would be) deleted; None: skipped
    retention_days: int = 0  # the period that plan was kept for
    municipality_set: bool = False  # its municipality's own period (else the default)


# Deletes one plan if it is still closed since before the cutoff: the rows, or None.
DeletePlan = Callable[[str, datetime], Awaitable[PlanRows | None]]


async def purge(
    repos: Repositories,
    retention_days: int,
    *,
    dry_run: bool,
    now: datetime | None = None,
    delete: DeletePlan | None = None,
) -> list[PurgeItem]:
    """Delete every plan closed longer ago than its retention period, writing a `plan_delete`
    audit row for each; with `dry_run`, only say what would go. The period is the plan's
    municipality's own when its KE set one (issue 14), else `retention_days` (the
    installation's SAMPLAN_RETENTION_DAYS). On PostgreSQL the plan tables are vacuumed
    afterwards (plain VACUUM, which blocks neither reads nor writes). `delete` is how a
    running server deletes (its sockets and rooms follow: server/plans/purge_schedule.py);
    the CLI deletes the rows only, and the servers' access watchers notice."""
    if retention_days < 1:
        raise ValueError("the retention period must be at least one day")
    now = now or utcnow()
    own = await repos.municipalities.retention()
    shortest = min([retention_days, *own.values()])
    items = []
    for plan in await repos.plans.closed_before(now - timedelta(days=shortest)):
        days = own.get(plan.municipality_id, retention_days)
        cutoff = now - timedelta(days=days)
        if plan.closed_at is not None and plan.closed_at >= cutoff:
            continue  # its municipality keeps plans longer than the shortest period
        closed_at = plan.closed_at or cutoff
        if dry_run:
            rows = await repos.plans.owned_rows(plan.id)
        else:
            # Checked again under the row lock: a plan reopened meanwhile stays.
            if delete is None:
                rows = await repos.plans.delete_plan(plan.id, closed_before=cutoff)
            else:
                rows = await delete(plan.id, cutoff)
            if rows is not None:
                details = delete_details(
                    "purge",
                    rows,
                    retention_days=days,
                    retention_source="municipality" if plan.municipality_id in own else "default",
                    closed_at=closed_at.isoformat(timespec="seconds"),
                )
                event = AuditEvent("plan_delete", plan_id=plan.id, details=details)
                await repos.audit.append(event)
        items.append(PurgeItem(plan.id, closed_at, rows, days, plan.municipality_id in own))
    if not dry_run and any(item.rows for item in items):
        await repos.plans.vacuum_plan_tables()
    log.info(
        "purge%s: %d plans closed before their retention period (default %d days, %d "
        "municipalities with their own)",
        " (dry run)" if dry_run else "",
        len(items),
        retention_days,
        len(own),
    )
    return items


def parse_birth_date(text: str, today: date) -> date:
    """YYYY-MM-DD, not in the future and not before 1900; ValueError with a message that
    says what is wrong (the CLI prints it as is)."""
    try:
        value = date.fromisoformat(text.strip())
    except ValueError as exc:
        raise ValueError(f"--birth-date must be YYYY-MM-DD, got {text!r}") from exc
    if value > today:
        raise ValueError("--birth-date cannot be in the future")
    if value.year < 1900:
        raise ValueError("--birth-date is before 1900; check the year")
    return value


def title_confirmed(typed: str, title: str) -> bool:
    """The deletion's confirmation: the plan's title typed again. Case, surrounding spaces,
    runs of spaces and the Unicode form of æøå do not count; every letter does."""

    def norm(value: str) -> str:
        return " ".join(unicodedata.normalize("NFC", value).casefold().split())

    return bool(typed.strip()) and norm(typed) == norm(title)
