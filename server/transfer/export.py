"""The export document of one plan: complete (everything `samplan import` needs to bring the plan
back, CRDT state included) and readable without Samplan (each zone's content as JSON too).

    {"format": "samplan-plan", "version": 2, "exported_at", "about",
     "plan":     {id, title, person_name, status, draft (true: "utkast", the consent to the
                  plan being made not given yet), municipality, created_at},
     "plan_consents": [{status, giver ("planeier"|"verge"), giver_name, giver_user_id,
                   method ("browser"|"oral"|"written"), given_on, recorded_by_user_id,
                   recorded_at}]   the consent to the plan being made, oldest first (issue 12;
                   absent in older files)
     "people":   [{id, email, name}]   every user the plan refers to; `id` is the user id the
                                       zone documents use (as a string) in the exporting database
     "members":  [{user_id, email, name, role, unit, contribution, contribution_updated_by
                   (people id or null), contribution_updated_at, added_at}]: `contribution` is
                   the one record of what the member contributes (the content zone's old
                   `contributions` list is no longer written; `samplan import` moves it here)
     "consents": [{user_id, status, scope ("all" | [zone, ...]), valid_until, given_by_user_id,
                   given_at, revoked_at, revoked_by_user_id}]   the full history, oldest first
     "meetings": [{id, title, starts_at, ends_at, place, video_link,
                   agenda: [{id, title, ref: {kind, areaKey, itemId} | null}],
                   invitees: [people id, ...], created_by_user_id, created_at, updated_at,
                   cancelled_at (null: not cancelled), sequence (edits so far)}],
     "zones":    [{zone, kind, key, title, position,
                   retired_at (null; or when the koordinator retired this life area: it is
                   kept, with its history, and shown as retired),
                   state: base64 of the Yjs v1 update of the whole zone document,
                   content: the same zone as JSON (crdt.schema.read_zone, docs/schema.md),
                            less the legacy stamps (`updatedBy`, `updatedAt`: never read),
                   changes: who changed what, as the server recorded it, oldest first:
                            [{user_id (people[].id or null: the server), at, items (null, or
                            {item id: {root, fields: {field: [old, new] | null}}})}]}],
     "published_minutes": [{meeting_id, number, title,
                   content: the canonical JSON exactly as published and hashed (a string),
                   sha256: hex sha256 of content's UTF-8 bytes,
                   content_user_ids: {user id inside content (a string): people id},
                   published_by, published_at, approved_by, approved_role, approved_at,
                   hash_version, publication, publication_sha256, approval, approval_sha256,
                   published_here, signature}]}
                   oldest first; published_by / approved_by are people ids (or null)

What the server vouches for in published minutes (server/core/seals.py): `hash_version` 2
means `publication` is the record of publishing (plan, meeting, number, title, content
sha256, the publisher's e-mail, the time) as the canonical JSON whose sha256 is
`publication_sha256`; `approval` / `approval_sha256` are the same for the approval (null while
not approved, and for approvals made before the seal existed). Hash version 1 (minutes
published before the seal, and files written before it): only `sha256` covers anything.
`signature` is the HMAC-SHA256, with this installation's secret key, of the entry (without
the signature) and the plan id; it is given only for versions this installation vouches for
(`published_here`: published here, or imported with its own signature). `samplan import`
decides what it shows as published here from the signature alone, never from
`published_here`, which is there for the reader.

Never password hashes or sessions. The access log only when the plan moves to another
installation (`samplan plan move-out`; server/transfer/moving.py): then also
     "access_log": [{at, action, actor_user_id (people id or null), role, zone, client_address,
                   details}]   every row about the plan, oldest first, as recorded
     "move":     {from, to, moved_at, consent: {giver, giver_name, method, given_on}}
Times are UTC ISO 8601, dates YYYY-MM-DD.
Published minutes are carried as the very string that was hashed (never re-serialised), so
`sha256sum` still verifies them after an import. User ids inside that content are those of
the database it was published in (renumbering them would break the hash), which need not be
the exporting one: a plan imported where people got other ids keeps its minutes' ids. So
never look them up in `people` as they stand. `content_user_ids` says who each is, as a
people id (an id it leaves out names nobody: a user since deleted); `samplan import` composes
it with the ids people get in its database and stores that beside the version, so a plan
moved on again and again still names the right people, and a fresh-database round trip gives
the same file. The content's own `attendees` also pair each id with a name, which wins.
Files written before `content_user_ids` existed lack it: their content ids are then taken to
be people ids (true when the minutes were published in the exporting database, as the
exporter of the time assumed). Plan versions (`plan_versions`, the copies kept for diff and
restore) are not part of the export; an imported published version therefore has no plan
version (NULL).

Version 1 (before meetings had agenda and invitees, and before published minutes) had only
{id, title, starts_at, ends_at, place, created_at} per meeting and an empty
`published_minutes`; `samplan import` still reads it.
"""

from __future__ import annotations

import asyncio
import base64
import json
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from datetime import UTC, date, datetime
from typing import Any

from pycrdt import Doc

from crdt.schema import ZONE_ORDER, without_stamps, zone_name
from crdt.zone_state import doc_from_stored, user_ids_in
from server.core.authors import Change, zone_changes
from server.core.minutes_people import local_user_ids, parse_content
from server.core.repositories import Repositories
from server.core.seals import SIGNATURE_FIELD, sign
from server.core.zones import zone_data
from storage.models import AuditEntry
from storage.repositories.transfer import Person, PlanTransfer, PublishedRow, ZoneRow

FORMAT = "samplan-plan"
VERSION = 2
READABLE_VERSIONS = (1, 2)
ABOUT = (
    "An individuell plan exported by Samplan. zones[].content is each part of the plan as JSON; "
    "zones[].state is the same part as a Yjs update (base64), which `samplan import` restores. "
    "User ids in zones[].content refer to people[].id. published_minutes[].content is each "
    "published version of a meeting's minutes exactly as hashed into its sha256; the user ids "
    "inside it are those of the database it was published in, and "
    "published_minutes[].content_user_ids maps each of them to a people[].id."
)


def iso_time(value: datetime | None) -> str | None:
    return None if value is None else value.astimezone(UTC).isoformat()


def iso_date(value: date | None) -> str | None:
    return None if value is None else value.isoformat()


def _zone_key(zone: ZoneRow) -> tuple[int, int, str]:
    return (ZONE_ORDER.get(zone.kind, 9), zone.position, zone.key)


ZoneReader = Callable[[int], Awaitable[Doc[Any]]]


async def build_export(
    repos: Repositories,
    plan_id: str,
    read: ZoneReader | None = None,
    now: datetime | None = None,
    secret_key: str | None = None,
    *,
    access_log: bool = False,
) -> dict[str, Any] | None:
    """The export document, or None when there is no such plan (the caller checks access).
    With `secret_key`, each published version this installation vouches for is signed.

    With `access_log`, the plan's access log goes too (`access_log`, server/transfer/moving.py):
    only when the plan moves to another installation (`samplan plan move-out`).

    A running server passes `RoomRegistry.read` (live zones once durable, the others from
    storage), so the export never shows what storage does not hold; the CLI, with no rooms,
    reads storage (snapshot plus log tail).
    """

    async def from_storage(zone_id: int) -> Doc[Any]:
        return doc_from_stored(await repos.zone_log.load(zone_id))

    record = await repos.transfer.read(plan_id)
    if record is None:
        return None
    zones = sorted(record.zones, key=_zone_key)
    docs: list[Doc[Any]] = []
    states: list[bytes] = []
    for zone in zones:
        doc = await (read or from_storage)(zone.zone_id)
        docs.append(doc)
        states.append(doc.get_update())
        await asyncio.sleep(0)  # a big plan: let live editing in between zones
    # Without the stamps a client wrote into items (who last changed it, when): a reader of
    # the file would take them for the server's word. `changes` says who changed what.
    contents = [
        without_stamps(zone_data(doc, zone.kind, zone.zone_id))
        for doc, zone in zip(docs, zones, strict=True)
    ]
    # Who changed what, as this server recorded it: carried so an import keeps the history.
    changes = [await zone_changes(repos.zone_log, zone.zone_id, zone.kind) for zone in zones]
    people = list(record.people)
    known = {p.id for p in people}
    referenced = {int(uid) for c in contents for uid in user_ids_in(c) if uid.isdigit()}
    referenced.update(c.user_id for cs in changes for c in cs if c.user_id is not None)
    referenced.update(uid for p in record.published_minutes for uid in _content_people(p).values())
    log_rows = await repos.audit.of_plan_oldest_first(plan_id) if access_log else []
    referenced.update(row.actor_user_id for row in log_rows if row.actor_user_id is not None)
    if referenced - known:
        # People the documents or published minutes name who are no longer members (a former
        # deltaker who wrote a goal, or had a task): kept so the archive still says who.
        people = sorted([*people, *await repos.transfer.people(referenced - known)], key=_id)
    document = export_document(
        record, zones, states, contents, people, now or datetime.now(UTC), changes
    )
    if access_log:
        # Actors since deleted are named by nobody (null), as elsewhere in the file.
        document["access_log"] = access_log_json(log_rows, {p.id for p in people})
    if secret_key is not None:
        for entry in document["published_minutes"]:
            if entry["published_here"]:
                entry[SIGNATURE_FIELD] = sign(secret_key, record.id, entry)
    return document


def _id(person: Person) -> int:
    return person.id


def _content_people(p: PublishedRow, known: Iterable[int] | None = None) -> dict[str, int]:
    """{user id inside the version's content: user id here}, in content order; with `known`,
    only the people the export carries."""
    ids = local_user_ids(parse_content(p.content), p.content_user_ids)
    if known is None:
        return ids
    carried = set(known)
    return {uid: local for uid, local in ids.items() if local in carried}


def export_document(
    record: PlanTransfer,
    zones: Sequence[ZoneRow],
    states: Sequence[bytes],
    contents: Sequence[dict[str, Any]],
    people: Iterable[Person],
    exported_at: datetime,
    changes: Sequence[Sequence[Change]] | None = None,
) -> dict[str, Any]:
    """Pure: the document from what was read."""
    by_id = {p.id: p for p in people}
    return {
        "format": FORMAT,
        "version": VERSION,
        "exported_at": iso_time(exported_at),
        "about": ABOUT,
        "plan": {
            "id": record.id,
            "title": record.title,
            "person_name": record.person_name,
            "status": record.status,
            "draft": record.draft,
            "municipality": record.municipality,
            "created_at": iso_time(record.created_at),
        },
        "people": [{"id": p.id, "email": p.email, "name": p.name} for p in by_id.values()],
        "plan_consents": [
            {
                "status": c.status,
                "giver": c.giver,
                "giver_name": c.giver_name,
                "giver_user_id": c.giver_user_id,
                "method": c.method,
                "given_on": iso_date(c.given_on),
                "recorded_by_user_id": c.recorded_by_user_id,
                "recorded_at": iso_time(c.recorded_at),
            }
            for c in record.plan_consents
        ],
        "members": [
            {
                "user_id": m.user_id,
                "email": by_id[m.user_id].email,
                "name": by_id[m.user_id].name,
                "role": m.role,
                "unit": m.unit,
                "contribution": m.contribution,
                "contribution_updated_by": m.contribution_by,
                "contribution_updated_at": iso_time(m.contribution_at),
                "added_at": iso_time(m.added_at),
            }
            for m in record.members
        ],
        "consents": [
            {
                "user_id": c.user_id,
                "status": c.status,
                "scope": "all" if c.scope is None else list(c.scope),
                "valid_until": iso_date(c.valid_until),
                "given_by_user_id": c.given_by_user_id,
                "given_at": iso_time(c.given_at),
                "revoked_at": iso_time(c.revoked_at),
                "revoked_by_user_id": c.revoked_by_user_id,
            }
            for c in record.consents
        ],
        "meetings": [
            {
                "id": m.id,
                "title": m.title,
                "starts_at": iso_time(m.starts_at),
                "ends_at": iso_time(m.ends_at),
                "place": m.place,
                "video_link": m.video_link,
                "agenda": [item.to_json() for item in m.agenda],
                "invitees": list(m.invitee_ids),
                "created_by_user_id": m.created_by_user_id,
                "created_at": iso_time(m.created_at),
                "updated_at": iso_time(m.updated_at),
                "cancelled_at": iso_time(m.cancelled_at),
                "sequence": m.sequence,
            }
            for m in record.meetings
        ],
        "zones": [
            {
                "zone": zone_name(zone.kind, zone.key),
                "kind": zone.kind,
                "key": zone.key,
                "title": zone.title,
                "position": zone.position,
                "retired_at": iso_time(zone.retired_at),
                "state": base64.b64encode(state).decode("ascii"),
                "content": content,
                "changes": [
                    {"user_id": c.user_id, "at": iso_time(c.at), "items": dict(c.items) or None}
                    for c in zone_changes_of
                ],
            }
            for zone, state, content, zone_changes_of in zip(
                zones, states, contents, changes or [[] for _ in zones], strict=True
            )
        ],
        "published_minutes": [
            {
                "meeting_id": p.meeting_id,
                "number": p.number,
                "title": p.title,
                "content": p.content,
                "sha256": p.sha256,
                "content_user_ids": _content_people(p, by_id),
                "published_by": p.published_by,
                "published_at": iso_time(p.published_at),
                "approved_by": p.approved_by,
                "approved_role": p.approved_role,
                "approved_at": iso_time(p.approved_at),
                "hash_version": p.hash_version,
                "publication": p.publication,
                "publication_sha256": p.publication_sha256,
                "approval": p.approval,
                "approval_sha256": p.approval_sha256,
                "published_here": p.published_here,
                SIGNATURE_FIELD: None,
            }
            for p in record.published_minutes
        ],
    }


def access_log_json(rows: Iterable[AuditEntry], people: Iterable[int]) -> list[dict[str, Any]]:
    """The plan's access log as the file carries it: every row as recorded, the actor as a
    people id (null when the file names nobody for it)."""
    known = set(people)
    return [
        {
            "at": iso_time(row.at),
            "action": row.action,
            "actor_user_id": row.actor_user_id if row.actor_user_id in known else None,
            "role": row.role,
            "zone": row.zone,
            "client_address": row.client_address,
            "details": json.loads(row.details),
        }
        for row in rows
    ]


def dumps(document: Mapping[str, Any]) -> str:
    """UTF-8 JSON as people read it: æøå as themselves, indented."""
    return json.dumps(document, ensure_ascii=False, indent=2) + "\n"
