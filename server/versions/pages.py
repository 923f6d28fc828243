"""The plan's history: full-state versions of its zones (published, daily, named,
before_restore), viewing an old one with what changed since, and restoring one.

A restore never rewrites history: it first saves the current state as a 'before_restore'
version, then writes the old content zone by zone through the room's write path
(`RoomRegistry.edit`) as a new change, whole values only (DESIGN §9), relayed live.
Versions copy the content and area zones (crdt.schema.VERSIONED_KINDS).

Who changed what since a version, and whose words an evaluation's `ownerComment` is, come
from the server's records (server/core/authors.py), never from the legacy stamps a client
wrote into items (never shown).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from typing import Any

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from crdt.authorship import traces_kind
from crdt.richtext import nodes_plain
from crdt.room import RoomWriteFailed
from crdt.schema import DATE_FIELDS, EVALUATIONS, VERSIONED_KINDS
from crdt.versions import (
    ITEM_LABELS,
    STAMP_FIELDS,
    item_label,
    restore_zone,
    zone_changes,
)
from server.core.access import Role
from server.core.authors import (
    OWNER_COMMENT,
    Change,
    last_field_changes,
    owner_comment_credit,
    owner_comment_label,
)
from server.core.authors import zone_changes as recorded_changes
from server.core.clock import OSLO
from server.core.minutes_people import content_user_ids
from server.core.zones import stored_zone_data, zone_copies, zone_data
from server.web.errors import BadRequest, Forbidden, NotFound, PageError, PlanClosed
from server.web.i18n import language_of, translator
from server.web.security import CSRF_FIELD, csrf_valid
from server.web.templating import render
from server.web.visit import PlanVisit, visit
from storage.errors import InvalidValue
from storage.repositories.versions import NAME_MAX, ZoneCopy

log = logging.getLogger("samplan.versions")
CREATE_ROLES = (Role.KOORDINATOR, Role.PLANEIER, Role.VERGE)
RESTORE_ROLES = (Role.KOORDINATOR,)
# The i18n prefix whose `<prefix>.<field>` keys name a root's fields, where one exists.
FIELD_PREFIX = {
    "goals": "goal",
    "measures": "measure",
    "evaluations": "evaluation",
    "otherPlans": "otherPlans",
    "collaboration": "collaboration",
    "meta": "meta",
}
FIRST_CHECK_SECONDS = 60.0
HIDDEN_FIELDS = frozenset({"id", "parentId", "goalId", "meetingId", "userId", *STAMP_FIELDS})


def when(moment: datetime) -> str:
    return moment.astimezone(OSLO).strftime("%d.%m.%Y kl. %H.%M")


# --- readable rendering ------------------------------------------------------------------

# Field names with a label of their own where `<prefix>.<field>` does not fit.
FIELD_KEYS = {
    ("meta", "planPeriodStart"): "meta.periodStart",
    ("meta", "planPeriodEnd"): "meta.periodEnd",
    ("goals", "description"): "versions.field.description",
    # the content zone's legacy list (issue 11): old versions still show it
    ("contributions", "text"): "versions.field.contribution",
}
# Enumerations shown with their words, not their stored values.
ENUM_KEYS = {
    ("meta", "status"): "planStatus",
    ("measures", "status"): "measureStatus",
    ("evaluations", "attainment"): "attainment",
    ("goals", "ownStatus"): "ownStatus",
}
USER_FIELDS = frozenset({"responsible", "responsibleUserId", "referentUserId"})


class Rendering:
    """Plain strings for a version's data: labels in the page's language, member names for
    user ids, enumerations and dates as people read them."""

    def __init__(
        self,
        t: Callable[[str], str],
        names: dict[str, str],
        owner_comments: Mapping[str, int | str | None] | None = None,
    ) -> None:
        self.t = t
        self.names = names
        # Evaluation id -> whom its `ownerComment` is credited to (`owner_comment_credit`).
        self.owner_comments = owner_comments or {}

    def owner_comment(self, item_id: Any) -> str:
        """An `ownerComment`'s label: the planeier's only when the record says so."""
        credit = self.owner_comments.get(item_id) if isinstance(item_id, str) else None
        return owner_comment_label(
            credit, self.t, lambda user: self.names.get(str(user), self.t("member.unknown"))
        )

    def field(self, root: str, field: str) -> str:
        key = FIELD_KEYS.get((root, field))
        if key is None and root in FIELD_PREFIX:
            key = f"{FIELD_PREFIX[root]}.{field}"
        label = self.t(key) if key else field
        return field if label == key else label

    def value(self, root: str, field: str, value: Any) -> str:
        if field in USER_FIELDS:
            ids = value if isinstance(value, list) else [value]
            return ", ".join(self.names.get(str(i), str(i)) for i in ids if i not in (None, ""))
        enum = ENUM_KEYS.get((root, field))
        if enum is not None and isinstance(value, str) and value:
            key = f"{enum}.{value}"
            return value if self.t(key) == key else self.t(key)
        if field in DATE_FIELDS and isinstance(value, str) and len(value) == 10:
            return f"{value[8:10]}.{value[5:7]}.{value[0:4]}"
        return _plain(value)

    def lines(self, root: str, values: dict[str, Any], hidden: frozenset[str]) -> list[Any]:
        out = []
        for key, raw in values.items():
            if key in hidden:
                continue
            shown = self.value(root, key, raw)
            if shown:
                if root == EVALUATIONS and key == OWNER_COMMENT:
                    label = self.owner_comment(values.get("id"))
                else:
                    label = self.field(root, key)
                out.append({"label": label, "value": shown})
        return out


def _plain(value: Any) -> str:
    if isinstance(value, list) and all(isinstance(v, dict) and "type" in v for v in value):
        return nodes_plain(value)
    if isinstance(value, list):
        return ", ".join(str(v) for v in value)
    return "" if value is None else str(value)


def render_zone(data: dict[str, Any], r: Rendering) -> list[dict[str, Any]]:
    """A zone's `read_zone` data as headed sections of labelled lines, for read-only pages.
    An item's heading is its label (crdt.versions.item_label), so those fields are not
    repeated below it."""
    sections = []
    for root, value in data.items():
        heading = r.t(f"versions.root.{root}")
        section: dict[str, Any] = {"heading": heading, "text": "", "entries": [], "lines": []}
        if isinstance(value, dict):
            section["lines"] = r.lines(root, value, frozenset())
        elif isinstance(value, list) and all(isinstance(v, dict) and "id" in v for v in value):
            hidden = HIDDEN_FIELDS | set(ITEM_LABELS.get(root, ("title",)))
            section["entries"] = [
                {
                    "id": item["id"],
                    "title": item_label(root, item),
                    "lines": r.lines(root, item, hidden),
                }
                for item in value
            ]
        else:
            section["text"] = _plain(value)
        sections.append(section)
    return sections


# --- pages -------------------------------------------------------------------------------


def _form_ok(request: Request, v: PlanVisit, form: Any) -> bool:
    return csrf_valid(request, v.services.secret_key, form.get(CSRF_FIELD))


def _readable(v: PlanVisit, copies: list[ZoneCopy]) -> list[ZoneCopy]:
    """Only the zones this member's role and consent cover."""
    return [c for c in copies if v.access(c.kind, c.key) is not None]


def _version_row(record: Any) -> dict[str, Any]:
    return {
        "id": record.id,
        "kind": record.kind,
        "name": record.name,
        "created_by": record.created_by_name,
        "created_at": when(record.created_at),
    }


async def history_page(request: Request) -> Response:
    """GET /plans/{plan_id}/versions: every version, newest first, for anyone who may read
    the plan."""
    v = await visit(request)
    versions = await v.services.repos.versions.list_versions(v.plan.id)
    context = {
        "plan": v.plan,
        "versions": [_version_row(r) for r in versions],
        "may_create": v.role in CREATE_ROLES,
        "name_max": NAME_MAX,
    }
    return render(request, "versions.html", context, user=v.user)


async def version_page(request: Request) -> Response:
    """GET /plans/{plan_id}/versions/{version_id}: that version read-only, and what changed
    since (by id) compared with the current state; only the zones the reader may see."""
    v = await visit(request)
    repo = v.services.repos.versions
    record = await repo.get_version(v.plan.id, request.path_params["version_id"])
    if record is None:
        raise NotFound()
    old_copies = {(c.kind, c.key): c for c in _readable(v, await repo.version_zones(record.id))}
    current_zones = {(z.kind, z.key): z for z in await v.services.plans.list_zones(v.plan.id)}
    compared = []
    records: list[Change] = []  # who changed what in the zones compared, as recorded
    for (kind, key), copy in old_copies.items():
        zone = current_zones.get((kind, key))
        now = zone_data(await v.services.registry.read(zone.id), kind, zone.id) if zone else {}
        old = stored_zone_data(kind, json.loads(copy.data), zone.id if zone else None)
        compared.append((copy, old, now))
        if zone is not None and traces_kind(kind):
            records.extend(await recorded_changes(v.services.repos.zone_log, zone.id, kind))
    since = [c for c in records if c.at > record.created_at]
    names, roles = await _names(
        v,
        [data for _, old, now in compared for data in (old, now)],
        {c.user_id for c in since if c.user_id is not None},
    )
    t = translator(language_of(request))
    then = _credits(records, roles, record.created_at)
    r = Rendering(t, names, then)
    now_r = Rendering(t, names, _credits(records, roles))
    zones = []
    changes = []
    for copy, old, now in compared:
        zones.append({"title": copy.title, "sections": render_zone(old, r)})
        for change in zone_changes(old, now):
            change["zone"] = copy.title
            change["root_title"] = t(f"versions.root.{change['root']}")
            change["field_titles"] = [
                now_r.owner_comment(change["id"])
                if change["root"] == EVALUATIONS and f == OWNER_COMMENT
                else r.field(change["root"], f)
                for f in change["fields"]
            ]
            change["by"] = _changed_by(since, change["id"], names, t)
            changes.append(change)
    for (kind, key), zone in current_zones.items():
        if kind in VERSIONED_KINDS and (kind, key) not in old_copies:
            if v.access(kind, key) is not None:
                changes.append(
                    {
                        "zone": zone.title,
                        "root": "",
                        "root_title": "",
                        "change": "zone_added",
                        "id": None,
                        "label": zone.title,
                        "fields": [],
                        "field_titles": [],
                    }
                )
    v.audit(request, "version_view", details={"version_id": record.id})
    context = {
        "plan": v.plan,
        "version": _version_row(record),
        "zones": zones,
        "changes": changes,
        "may_restore": v.role in RESTORE_ROLES,
    }
    return render(request, "version.html", context, user=v.user)


def _credits(
    records: Sequence[Change], roles: Mapping[str, str], until: datetime | None = None
) -> dict[str, int | str | None]:
    """Evaluation id -> whom its `ownerComment` is credited to, by the records (up to `until`:
    as the version held it)."""
    upto = [c for c in records if until is None or c.at <= until]
    return {
        item_id: owner_comment_credit(change, roles)
        for item_id, change in last_field_changes(upto, OWNER_COMMENT).items()
    }


def _changed_by(
    since: Sequence[Change], item_id: str | None, names: Mapping[str, str], t: Callable[[str], str]
) -> str:
    """ "av Åse Ødegård, Kari Nilsen": who the records say changed the item since the version
    (empty for what is not traced item by item, and for changes the server made itself)."""
    if item_id is None:
        return ""
    who = dict.fromkeys(c.user_id for c in since if c.user_id is not None and item_id in c.items)
    if not who:
        return ""
    listed = ", ".join(names.get(str(u), t("member.unknown")) for u in who)
    return t("versions.changedBy").replace("{names}", listed)


async def _names(
    v: PlanVisit, data: list[dict[str, Any]], user_ids: set[int]
) -> tuple[dict[str, str], dict[str, str]]:
    """({user id: name}, {user id: role}) for everyone the data and `user_ids` name: today's
    members, and through the users table anyone who has left the plan since (still named in
    what was written with them; no role)."""
    names: dict[str, str] = {}
    roles: dict[str, str] = {}
    for m, name, _ in await v.services.plans.list_members_with_names(v.plan.id):
        names[str(m.user_id)] = name
        roles[str(m.user_id)] = m.role
    missing = {int(uid) for d in data for uid in content_user_ids(d) if uid not in names}
    missing |= {uid for uid in user_ids if str(uid) not in names}
    if missing:
        found = await v.services.repos.users.names(missing)
        names.update((str(uid), name) for uid, name in found.items())
    return names, roles


async def create_version(request: Request) -> Response:
    """POST /plans/{plan_id}/versions: a named version of the current state, on demand."""
    v = await visit(request)
    form = await request.form()
    if not _form_ok(request, v, form):
        raise Forbidden("error.expired_form")
    if v.role not in CREATE_ROLES:
        raise Forbidden("versions.error.role")
    name = str(form.get("name") or "").strip()
    if not name or len(name) > NAME_MAX:
        raise BadRequest("versions.error.name")
    try:
        record = await v.services.repos.versions.create_version(
            v.plan.id,
            "named",
            await zone_copies(v.services.registry, v.services.plans, v.plan.id),
            name=name,
            created_by=v.user.id,
        )
    except InvalidValue:
        raise BadRequest("versions.error.name") from None
    v.audit(request, "version_create", details={"version_id": record.id, "kind": "named"})
    return RedirectResponse(f"/plans/{v.plan.id}/versions/{record.id}", status_code=303)


async def restore_version(request: Request) -> Response:
    """POST /plans/{plan_id}/versions/{version_id}/restore: koordinator only. Saves the
    current state as 'before_restore', then writes the old content as a new change."""
    v = await visit(request)
    form = await request.form()
    if not _form_ok(request, v, form):
        raise Forbidden("error.expired_form")
    if v.role not in RESTORE_ROLES:
        raise Forbidden("versions.error.restore_role")
    if v.closed:
        raise PlanClosed()
    repo = v.services.repos.versions
    record = await repo.get_version(v.plan.id, request.path_params["version_id"])
    if record is None:  # another plan's version looks exactly like no version
        raise NotFound()
    old_copies = await repo.version_zones(record.id)
    saved = await repo.create_version(
        v.plan.id,
        "before_restore",
        await zone_copies(v.services.registry, v.services.plans, v.plan.id),
        created_by=v.user.id,
    )
    zones = {(z.kind, z.key): z for z in await v.services.plans.list_zones(v.plan.id)}
    written = 0
    for copy in old_copies:
        zone = zones.get((copy.kind, copy.key))
        if zone is None or copy.kind not in VERSIONED_KINDS:
            continue  # a zone removed since: nothing to write into
        old = stored_zone_data(copy.kind, json.loads(copy.data), zone.id)
        try:
            written += await v.services.registry.edit(
                zone.id, _restorer(copy.kind, old), zone.kind, actor=v.user.id
            )
        except RoomWriteFailed:
            # Zones written so far stay restored (each is its own durable change); the
            # 'before_restore' version holds the state before, and trying again is safe.
            log.error("restore failed plan_id=%s version_id=%s", v.plan.id, record.id)
            raise PageError(503, "versions.error.restore_failed") from None
    v.audit(
        request,
        "version_restore",
        details={"version_id": record.id, "before_restore_id": saved.id, "values": written},
    )
    log.info("version restored plan_id=%s version_id=%s values=%d", v.plan.id, record.id, written)
    return RedirectResponse(f"/plans/{v.plan.id}/versions?restored={record.id}", status_code=303)


def _restorer(kind: str, old: dict[str, Any]) -> Callable[[Any], int]:
    return lambda doc: restore_zone(doc, kind, old)
