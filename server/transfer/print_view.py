"""The printable plan, built from the export document (server/transfer/export.py), so the
page, the PDF
and the JSON archive always say the same thing. Pure: no I/O, no request.

The template (client/templates/print.html) gets plain values: dates already as dd.mm.yyyy,
user ids already turned into names, the goal tree already nested.

Of the minutes, only what was published goes on paper: each meeting's newest published
version, read from its frozen content. The draft minutes (the `minutes` zones) never do. The
user ids inside that content are those of the database it was published in: they name people
through the version's own attendees and its `content_user_ids` (server/core/minutes_people.py),
never by looking them up in `people` as they stand.

Who wrote what comes from the server's records only (the export's `zones[].changes`, server/
core/authors.py), never from a name or time a client wrote into the document: an evaluation's
`ownerComment` is printed as the planeier's comment only when the record's last change of it
was made by the planeier or the verge; otherwise as a comment by whoever the record says
wrote it, or, with no writer on record (written before records existed, or by the server),
as a comment credited to nobody. A goal's own words and own status (issue 13, crdt/schema.py
`OWN_FIELDS`) follow the same rule as the pages (server/plans/min_plan.py `own_credit`): they
are the person's ("{name} skrev dette") only when the record's last change of them was made by
the planeier or the verge and the records hold what the goal holds now; otherwise they are
printed as written by whoever the record names, or by no one on record.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, date, datetime
from typing import Any

from crdt.schema import (
    OWN_EMOJI,
    OWN_EMOJIS,
    OWN_NOTE,
    OWN_STATUS,
    OWN_STATUS_FIELDS,
    OWN_STATUSES,
    OWN_WORDS,
)
from crdt.summary import DONE_STATUSES
from server.core.authors import (
    OWNER_COMMENT,
    Change,
    last_field_changes,
    owner_comment_credit,
    owner_comment_label,
    recorded_now,
)
from server.core.clock import OSLO, norwegian_date
from server.core.minutes_people import names_for
from server.transfer.contributions import legacy_rows
from storage.models import ROLES

Translate = Callable[[str], str]


def oslo_time(iso: str | None) -> str | None:
    if not iso:
        return None
    return datetime.fromisoformat(iso).astimezone(OSLO).strftime("%d.%m.%Y %H:%M")


def oslo_date(iso: str | None) -> str | None:
    if not iso:
        return None
    return datetime.fromisoformat(iso).astimezone(OSLO).strftime("%d.%m.%Y")


def print_context(document: Mapping[str, Any], t: Translate, today: date) -> dict[str, Any]:
    people = {str(p["id"]): p["name"] for p in document["people"]}
    roles = {str(m["user_id"]): m["role"] for m in document["members"]}
    zones = document["zones"]
    titles = {z["zone"]: z["title"] for z in zones}
    content = next(z["content"] for z in zones if z["kind"] == "content")
    meta = content.get("meta", {})
    names = _Names(people, t("member.unknown"))
    owner_comments = _OwnerComments(roles, names, t)
    own_words = _OwnWords(roles, names, t)
    plan = document["plan"]
    return {
        "plan": {
            "id": plan["id"],
            "title": plan["title"],
            "person_name": plan["person_name"],
            "municipality": plan["municipality"],
            "status": plan["status"],
        },
        "exported_at": oslo_time(document["exported_at"]),
        "meta": {
            "status": meta.get("status"),
            "period_start": norwegian_date(meta.get("planPeriodStart")),
            "period_end": norwegian_date(meta.get("planPeriodEnd")),
            "next_revision": norwegian_date(meta.get("nextRevision")),
            "revision_overdue": bool(
                meta.get("nextRevision") and meta["nextRevision"] < today.isoformat()
            ),
        },
        "about_me": content.get("aboutMe", []),
        "resources": content.get("resources", []),
        "needs": content.get("needs", []),
        "members": [
            {
                "name": m["name"],
                "email": m["email"],
                "role": m["role"],
                "unit": m["unit"],
                "contribution": m["contribution"],
                # absent from files written before it was recorded
                "contribution_by": names.one(m["contribution_updated_by"])
                if m.get("contribution_updated_by") is not None
                else None,
                "contribution_at": oslo_time(m.get("contribution_updated_at")),
            }
            for m in document["members"]
        ],
        # The content zone's old list, where it says what no member's contribution does
        # (server/transfer/contributions.py).
        "contributions": legacy_rows(content, document["members"], names.one),
        "collaboration": content.get("collaboration", []),
        "other_plans": content.get("otherPlans", []),
        "areas": [
            _area(
                z["title"],
                z["content"],
                names,
                owner_comments.of(z),
                today,
                own_words.of(z),
                retired=bool(z.get("retired_at")),
            )
            for z in zones
            if z["kind"] == "area"
        ],
        "consents": [_consent(c, people, roles, titles, today) for c in document["consents"]],
        "plan_consents": [
            {
                "status": c["status"],
                "giver": c["giver"],
                "giver_name": c["giver_name"],
                "method": c["method"],
                "given_on": norwegian_date(c["given_on"]),
            }
            for c in document.get("plan_consents", [])
        ],
        "meetings": [
            {
                "title": m["title"],
                "starts": oslo_time(m["starts_at"]),
                "ends": oslo_time(m["ends_at"]),
                "place": m["place"],
                "video_link": m.get("video_link"),  # absent from a version-1 document
                "cancelled": bool(m.get("cancelled_at")),
                "invitees": names.many(m.get("invitees")),
            }
            for m in document["meetings"]
        ],
        "published_minutes": _published(document, names, t),
    }


def _published(document: Mapping[str, Any], names: _Names, t: Translate) -> list[dict[str, Any]]:
    """Each meeting's newest published version, in meeting order (a meeting since deleted
    last, by publication)."""
    newest: dict[str, Mapping[str, Any]] = {}
    for entry in document.get("published_minutes", []):
        held = newest.get(entry["meeting_id"])
        if held is None or entry["number"] > held["number"]:
            newest[entry["meeting_id"]] = entry
    order = {m["id"]: i for i, m in enumerate(document["meetings"])}
    starts = {m["id"]: m["starts_at"] for m in document["meetings"]}
    rows = sorted(
        newest.values(), key=lambda e: (order.get(e["meeting_id"], len(order)), e["published_at"])
    )
    return [_minutes(e, starts.get(e["meeting_id"]), names, t) for e in rows]


def _minutes(
    entry: Mapping[str, Any], starts_at: str | None, names: _Names, t: Translate
) -> dict[str, Any]:
    try:
        content = json.loads(entry["content"])
    except ValueError:
        content = {}
    if not isinstance(content, dict):
        content = {}
    attendees = _dicts(content.get("attendees"))
    # Ids there are those of the database it was published in: named by its own attendees
    # first, then through content_user_ids (absent from an older document: people ids).
    said = names_for(content, _content_user_ids(entry), names.by_id())

    def name(user_id: Any) -> str | None:
        if user_id in (None, ""):
            return None
        return said.get(str(user_id), names.unknown)

    return {
        "title": entry["title"],
        "date": oslo_date(starts_at or content.get("startsAt")),
        "number": entry["number"],
        "published_by": names.one(entry["published_by"]),
        "published_at": oslo_date(entry["published_at"]),
        "approved": (
            f"{t('published.approvedBy.' + entry['approved_role'])} "
            f"{oslo_date(entry['approved_at'])}"
            if entry["approved_at"] and entry["approved_role"]
            else None
        ),
        "sha256": entry["sha256"],
        # Only a version this installation vouches for is shown as published here; an
        # export document from before the field had none that were vouched for.
        "imported": not entry.get("published_here", False),
        "attendees": [_attendee(a, name(a.get("userId")) or names.unknown, t) for a in attendees],
        "agenda": [
            {
                "title": item.get("title") or "",
                "body": [line for line in str(item.get("body") or "").split("\n") if line],
                "decision": item.get("decision") or "",
            }
            for item in _dicts(content.get("agenda"))
        ],
        "action_items": [
            {
                "what": item.get("what") or "",
                "responsible": name(item.get("responsibleUserId")),
                "due": norwegian_date(item.get("due")),
            }
            for item in _dicts(content.get("actionItems"))
        ],
    }


def _content_user_ids(entry: Mapping[str, Any]) -> dict[str, int] | None:
    given = entry.get("content_user_ids")
    if not isinstance(given, dict):
        return None
    return {str(k): v for k, v in given.items() if isinstance(v, int)}


def _dicts(value: Any) -> Sequence[Mapping[str, Any]]:
    return [v for v in value if isinstance(v, dict)] if isinstance(value, list) else []


def _attendee(a: Mapping[str, Any], name: str, t: Translate) -> dict[str, Any]:
    role = a.get("role")
    return {
        "name": a.get("name") or name,
        "role": t(f"role.{role}") if role in ROLES else (role or ""),
        "absent": a.get("present") is False,
        "apology": bool(a.get("apology")),
        "note": a.get("note") or "",
    }


class _Names:
    def __init__(self, people: Mapping[str, str], unknown: str) -> None:
        self.people = people
        self.unknown = unknown

    def one(self, user_id: Any) -> str | None:
        if not user_id:
            return None
        return self.people.get(str(user_id), self.unknown)

    def many(self, user_ids: Any) -> list[str]:
        return [self.one(u) or self.unknown for u in user_ids or []]

    def by_id(self) -> dict[int, str]:
        return {int(k): v for k, v in self.people.items() if k.isdigit()}


class _OwnerComments:
    """How each evaluation's `ownerComment` is labelled, from the zone's records."""

    def __init__(self, roles: Mapping[str, str], names: _Names, t: Translate) -> None:
        self.roles = roles
        self.names = names
        self.t = t

    def of(self, zone: Mapping[str, Any]) -> Callable[[Any], str]:
        writers = last_field_changes(_changes(zone.get("changes")), OWNER_COMMENT)

        def label(item_id: Any) -> str:
            change = writers.get(item_id) if isinstance(item_id, str) else None
            return owner_comment_label(
                owner_comment_credit(change, self.roles),
                self.t,
                lambda user: self.names.one(user) or self.names.unknown,
            )

        return label


class _OwnWords:
    """A goal's own words and own status as printed, each with who wrote it by the zone's
    records (the pages' rule: server/plans/min_plan.py `own_credit`)."""

    def __init__(self, roles: Mapping[str, str], names: _Names, t: Translate) -> None:
        self.roles = roles
        self.names = names
        self.t = t

    def of(self, zone: Mapping[str, Any]) -> Callable[[Mapping[str, Any]], dict[str, Any]]:
        changes = _changes(zone.get("changes"))
        words_by = last_field_changes(changes, OWN_WORDS)
        status_by = last_field_changes(changes, *OWN_STATUS_FIELDS)

        def own(goal: Mapping[str, Any]) -> dict[str, Any]:
            gid = str(goal.get("id") or "")
            status = goal.get(OWN_STATUS) if goal.get(OWN_STATUS) in OWN_STATUSES else None
            emoji = goal.get(OWN_EMOJI) if goal.get(OWN_EMOJI) in OWN_EMOJIS else None
            words, note = str(goal.get(OWN_WORDS) or ""), str(goal.get(OWN_NOTE) or "")
            has_status = bool(status or emoji or note)
            return {
                "words": words,
                "words_by": self.byline(changes, gid, (OWN_WORDS,), goal, words_by)
                if words
                else "",
                "status": self.t(f"ownStatus.{status}") + "." if status else "",
                "emoji": emoji or "",
                "emoji_name": self.t(f"ownEmoji.{emoji}") if emoji else "",
                "note": note,
                "has_status": has_status,
                "status_by": self.byline(changes, gid, OWN_STATUS_FIELDS, goal, status_by)
                if has_status
                else "",
            }

        return own

    def byline(
        self,
        changes: Sequence[Change],
        item_id: str,
        fields: Sequence[str],
        goal: Mapping[str, Any],
        writers: Mapping[str, Change],
    ) -> str:
        """Who wrote `fields` of the goal: the person only if the record says so, and only
        while the records hold what the goal holds now (else no one on record)."""
        change = writers.get(item_id) if item_id else None
        if change is not None and not recorded_now(changes, item_id, fields, goal):
            change = None
        credit = owner_comment_credit(change, self.roles)
        if change is None or credit is None:
            return self.t("own.byUnknown")
        name = self.names.one(change.user_id) or self.names.unknown
        key = "own.byOwner" if credit == "owner" else "own.byOther"
        return self.t(key).replace("{name}", name).replace("{when}", _when(change.at)).strip()


def _when(at: datetime) -> str:
    """A record's time in Oslo (none for an unreadable one)."""
    if at == datetime.min:
        return ""
    return (at if at.tzinfo else at.replace(tzinfo=UTC)).astimezone(OSLO).strftime("%d.%m.%Y %H:%M")


def _changes(given: Any) -> list[Change]:
    """The export's `zones[].changes` as records (absent from a version-1 document)."""
    changes = []
    for c in given if isinstance(given, list) else []:
        if not isinstance(c, dict):
            continue
        user_id, items = c.get("user_id"), c.get("items")
        changes.append(
            Change(
                user_id if isinstance(user_id, int) else None,
                _time(c.get("at")),
                items if isinstance(items, dict) else {},
            )
        )
    return changes


def _time(value: Any) -> datetime:
    """A record's time (printing orders by position, so an unreadable one is no matter)."""
    try:
        return datetime.fromisoformat(value) if isinstance(value, str) else datetime.min
    except ValueError:
        return datetime.min


def _area(
    title: str,
    data: Mapping[str, Any],
    names: _Names,
    owner_comment_label: Callable[[Any], str],
    today: date,
    own_of: Callable[[Mapping[str, Any]], dict[str, Any]],
    *,
    retired: bool = False,
) -> dict[str, Any]:
    goals = data.get("goals", [])
    ids = {g.get("id") for g in goals}
    children: dict[Any, list[Mapping[str, Any]]] = {}
    for goal in goals:
        parent = goal.get("parentId")
        # A sub-goal whose parent was deleted at the same moment is shown as a main goal.
        children.setdefault(parent if parent in ids else None, []).append(goal)
    measures: dict[Any, list[dict[str, Any]]] = {}
    for m in data.get("measures", []):
        goal_id = m.get("goalId") if m.get("goalId") in ids else None
        measures.setdefault(goal_id, []).append(_measure(m, names, today))
    evaluations: dict[Any, list[dict[str, Any]]] = {}
    for e in sorted(data.get("evaluations", []), key=lambda e: e.get("date") or ""):
        goal_id = e.get("goalId") if e.get("goalId") in ids else None
        evaluations.setdefault(goal_id, []).append(_evaluation(e, names, owner_comment_label))

    def tree(parent: Any, seen: frozenset[Any]) -> list[dict[str, Any]]:
        nodes = []
        for goal in children.get(parent, []):
            gid = goal.get("id")
            if gid in seen:
                continue  # a parentId cycle (concurrent edits): show each goal once
            nodes.append(
                {
                    "label": goal.get("label") or "",
                    "title": goal.get("title") or "",
                    "description": goal.get("description") or [],
                    "own": own_of(goal),
                    "measures": measures.get(gid, []),
                    "evaluations": evaluations.get(gid, []),
                    "children": tree(gid, seen | {gid}),
                }
            )
        return nodes

    return {
        "title": title,
        "retired": retired,
        "goals": tree(None, frozenset()),
        "orphan_measures": measures.get(None, []),
        "orphan_evaluations": evaluations.get(None, []),
    }


def _measure(m: Mapping[str, Any], names: _Names, today: date) -> dict[str, Any]:
    end = m.get("end")
    return {
        "title": m.get("title") or "",
        "description": m.get("description") or [],
        "responsible": names.many(m.get("responsible")),
        "external": m.get("externalParty") or "",
        "scope": m.get("scope") or "",
        "start": norwegian_date(m.get("start")),
        "end": norwegian_date(end),
        "status": m.get("status"),
        "overdue": bool(end and end < today.isoformat() and m.get("status") not in DONE_STATUSES),
    }


def _evaluation(
    e: Mapping[str, Any], names: _Names, owner_comment_label: Callable[[Any], str]
) -> dict[str, Any]:
    return {
        "date": norwegian_date(e.get("date")),
        "attainment": e.get("attainment"),
        "result": e.get("result") or "",
        "worked": e.get("worked") or "",
        "change": e.get("change") or "",
        "next": e.get("next") or "",
        "responsible": names.many(e.get("responsible")),
        "next_review": norwegian_date(e.get("nextReview")),
        "owner_comment": e.get(OWNER_COMMENT) or "",
        "owner_comment_label": owner_comment_label(e.get("id")),
    }


def _consent(
    c: Mapping[str, Any],
    people: Mapping[str, str],
    roles: Mapping[str, str],
    titles: Mapping[str, str],
    today: date,
) -> dict[str, Any]:
    if c["revoked_at"] is not None:
        state = "revoked"
    elif c["status"] == "refused":
        state = "refused"
    else:
        until = c["valid_until"]
        state = "expired" if until and until < today.isoformat() else "given"
    scope = c["scope"]
    uid = str(c["user_id"])
    return {
        "name": people.get(uid, "?"),
        "role": roles.get(uid),
        "state": state,
        "status": c["status"],
        "all": scope == "all",
        "scope": [] if scope == "all" else [titles.get(s, s) for s in scope],
        "until": norwegian_date(c["valid_until"]),
        "given_by": people.get(str(c["given_by_user_id"])) if c["given_by_user_id"] else None,
        "given_at": oslo_date(c["given_at"]),
        "revoked_at": oslo_date(c["revoked_at"]),
        "revoked_by": (
            people.get(str(c["revoked_by_user_id"])) if c["revoked_by_user_id"] else None
        ),
    }
