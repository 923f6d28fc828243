"""`samplan import`: bring back a plan from its export document (server/transfer/export.py).

Everything is checked before anything is written: the JSON, the format and version, every
field, and each zone's state, which must be a Yjs update the CRDT accepts and must say what the
zone's `content` says (state is what is imported; a hand-edited `content` would otherwise be
silently ignored), and each published version of the minutes, whose content must hash to its
sha256 (one changed byte and the whole file is refused: published minutes are evidence). Then
storage writes the whole plan in one transaction (storage.repositories.transfer). People are
matched by e-mail; where a person's user id differs in this database, the user-id references
inside the documents, meetings and published minutes' rows are renumbered (never inside a
published version's content: that would break its hash). Instead each published version's
`content_user_ids` ({id inside content: people id}) is composed with the people's ids here and
stored beside it, so its pages name the right people (server/core/minutes_people.py). A file
without it (written before it existed) has its content ids taken as people ids.

The seals (server/core/seals.py) are checked like the content hash: a version of hash scheme 2
must carry its publication record, hashing to `publication_sha256` and saying what the entry
says (plan, meeting, number, title, content sha256, the publisher's e-mail, the time); an
approval, when sealed, the same (and a scheme-2 approval must be). Any mismatch refuses the
whole file. Then the signature: a version signed with this installation's key is kept as
published here; every other one (from another installation, from before signatures, or
changed and re-hashed by hand) is kept marked "imported, not published here".

A content zone's old `contributions` list becomes the contribution of each listed member who
has none (server/transfer/contributions.py); the zone itself is imported as it is.

Reads export versions 1 and 2 (server/transfer/export.py): a version-1 file has meetings
without agenda,
invitees and the rest, and no published minutes. Plan versions are not in the export, so the
imported plan has none, and its published minutes have no plan version (NULL).
"""

from __future__ import annotations

import base64
import binascii
import dataclasses
import json
import re
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from pycrdt import Doc

from crdt.lib0 import MalformedFrame
from crdt.schema import (
    CONTENT,
    KEYED_KINDS,
    ZONE_KEY_RULE,
    ZONE_KINDS,
    is_zone_key,
    read_zone,
    without_stamps,
    zone_name,
)
from crdt.summary import zone_summary
from crdt.zone_state import doc_from_state, remap_user_ids
from server.core.access import APPROVE_ROLES, Role
from server.core.authors import remap_trace
from server.core.minutes_people import content_user_ids
from server.core.repositories import Repositories
from server.core.seals import (
    APPROVAL_FORMAT,
    CONTENT_ONLY,
    PUBLICATION_FORMAT,
    SEALED,
    parse_record,
    same_time,
    sha256_text,
    signed_here,
)
from server.transfer.contributions import adopt_contributions
from server.transfer.export import FORMAT, READABLE_VERSIONS
from storage.errors import InvalidValue
from storage.models import (
    CONSENT_STATUSES,
    PLAN_CONSENT_GIVERS,
    PLAN_CONSENT_METHODS,
    PLAN_STATUSES,
    ROLES,
)
from storage.repositories.meetings import REF_KINDS, AgendaItem, AgendaRef
from storage.repositories.transfer import (
    ConsentRow,
    ImportResult,
    MeetingRow,
    MemberRow,
    Person,
    PlanConsentRow,
    PlanTransfer,
    PublishedRow,
    ZoneContent,
    ZoneRow,
    sha256_hex,
)
from storage.repositories.users import normalize_email

_SHA256 = re.compile(r"[0-9a-f]{64}")


class ImportRefused(Exception):
    """The file cannot be imported; the message says why, for a person at a terminal."""


def _bad_key(key: str) -> str:
    """Area and meeting ids become room paths: one the socket would refuse is no use."""
    return f"{key!r} is not a valid key: use {ZONE_KEY_RULE}"


@dataclass(frozen=True)
class ParsedPlan:
    plan: PlanTransfer
    states: tuple[bytes, ...]  # per zone, as in the file
    docs: tuple[Doc[Any], ...]
    # Each published version's entry as in the file, for its signature (import_plan).
    published_entries: tuple[Mapping[str, Any], ...] = ()
    # Per zone, its author records as in the file: (person id in the file, when, items).
    changes: tuple[tuple[ImportedChange, ...], ...] = ()


ImportedChange = tuple[int | None, datetime, dict[str, Any] | None]


class _Field:
    """One value of the document with its path, for messages like `members[2].role: ...`."""

    def __init__(self, value: Any, path: str) -> None:
        self.value = value
        self.path = path

    def fail(self, problem: str) -> ImportRefused:
        return ImportRefused(f"{self.path}: {problem}")

    def get(self, key: str) -> _Field:
        if not isinstance(self.value, dict):
            raise self.fail("must be an object")
        if key not in self.value:
            raise ImportRefused(f"{self.path}.{key}: missing")
        return _Field(self.value[key], f"{self.path}.{key}")

    def items(self) -> list[_Field]:
        if not isinstance(self.value, list):
            raise self.fail("must be a list")
        return [_Field(v, f"{self.path}[{i}]") for i, v in enumerate(self.value)]

    def text(self, *, optional: bool = False, empty: bool = False) -> Any:
        if self.value is None and optional:
            return None
        if not isinstance(self.value, str) or (not empty and not self.value.strip()):
            raise self.fail("must be " + ("a string" if empty else "a non-empty string"))
        return self.value

    def integer(self, *, optional: bool = False) -> Any:
        if self.value is None and optional:
            return None
        if not isinstance(self.value, int) or isinstance(self.value, bool):
            raise self.fail("must be a whole number")
        return self.value

    def choice(self, allowed: Sequence[str]) -> str:
        if self.value not in allowed:
            raise self.fail(f"must be one of {', '.join(allowed)}, not {self.value!r}")
        return str(self.value)

    def time(self, *, optional: bool = False) -> Any:
        if self.value is None and optional:
            return None
        try:
            parsed = datetime.fromisoformat(self.text())
        except ValueError:
            raise self.fail("must be an ISO 8601 time") from None
        if parsed.tzinfo is None:
            raise self.fail("must carry a time zone")
        return parsed

    def day(self, *, optional: bool = False) -> Any:
        if self.value is None and optional:
            return None
        try:
            return date.fromisoformat(self.text())
        except ValueError:
            raise self.fail("must be a date, YYYY-MM-DD") from None


def parse_export(raw: str | bytes) -> ParsedPlan:
    """Check the whole document; raises ImportRefused naming the first problem."""
    try:
        data = json.loads(raw)
    except UnicodeDecodeError:
        raise ImportRefused("the file is not UTF-8 text") from None
    except json.JSONDecodeError as exc:
        raise ImportRefused(
            f"not valid JSON (line {exc.lineno}, column {exc.colno}: {exc.msg})"
        ) from None
    root = _Field(data, "document")
    if not isinstance(data, dict):
        raise root.fail("must be a JSON object (a Samplan plan export)")
    if data.get("format") != FORMAT:
        raise ImportRefused(f"not a Samplan plan export (format must be {FORMAT!r})")
    version = data.get("version")
    if version not in READABLE_VERSIONS or isinstance(version, bool):
        raise ImportRefused(
            f"export version {version!r} is not supported; this Samplan reads "
            f"versions {' and '.join(str(v) for v in READABLE_VERSIONS)}"
        )
    people = _people(root.get("people"))
    published_field = root.get("published_minutes")
    if version == 1 and published_field.items():
        raise published_field.fail("a version 1 export has no published minutes")
    plan = root.get("plan")
    plan_id = _plan_id(plan.get("id"))
    zones, states, docs, changes = _zones(root.get("zones"), people)
    members = _members(root.get("members"), people)
    for zone, doc in zip(zones, docs, strict=True):
        if zone.kind == CONTENT:  # the old list becomes members' own (contributions.py)
            members = adopt_contributions(members, read_zone(doc, CONTENT))
    transfer = PlanTransfer(
        id=plan_id,
        title=plan.get("title").text(),
        person_name=plan.get("person_name").text(),
        status=plan.get("status").choice(PLAN_STATUSES),
        municipality=plan.get("municipality").text(),
        created_at=plan.get("created_at").time(),
        people=tuple(people.values()),
        members=members,
        consents=_consents(root.get("consents"), people),
        meetings=_meetings(root.get("meetings"), people, version),
        zones=zones,
        published_minutes=_published(published_field, people, plan_id),
        draft=_draft(plan),
        plan_consents=(
            _plan_consents(root.get("plan_consents"), people)
            if "plan_consents" in root.value
            else ()
        ),
    )
    entries = tuple(item.value for item in published_field.items())
    return ParsedPlan(transfer, states, docs, entries, changes)


def _plan_id(field: _Field) -> str:
    value = field.text()
    try:
        if str(uuid.UUID(value)) == value:
            return str(value)
    except ValueError:
        pass
    raise field.fail("must be a plan id (a lower-case UUID)")


def _people(field: _Field) -> dict[int, Person]:
    people: dict[int, Person] = {}
    emails: set[str] = set()
    for item in field.items():
        pid = item.get("id").integer()
        email_field = item.get("email")
        try:
            email = normalize_email(email_field.text())
        except InvalidValue:
            raise email_field.fail("not a valid e-mail address") from None
        if pid <= 0 or pid in people:
            raise item.get("id").fail("must be a positive id, unique among people")
        if email in emails:
            raise email_field.fail("two people have this e-mail address")
        emails.add(email)
        people[pid] = Person(pid, email, item.get("name").text())
    return people


def _person(field: _Field, people: Mapping[int, Person], *, optional: bool = False) -> Any:
    uid = field.integer(optional=optional)
    if uid is not None and uid not in people:
        raise field.fail(f"user {uid} is not among people")
    return uid


def _members(field: _Field, people: Mapping[int, Person]) -> tuple[MemberRow, ...]:
    members: list[MemberRow] = []
    for item in field.items():
        uid = _person(item.get("user_id"), people)
        if any(m.user_id == uid for m in members):
            raise item.get("user_id").fail("this person is listed as a member twice")
        for key in ("email", "name"):
            value = item.get(key).text()
            expected = getattr(people[uid], key)
            if (normalize_email(value) if key == "email" else value) != expected:
                raise item.get(key).fail(f"does not match people entry {uid}")
        role = item.get("role").choice(ROLES)
        if role == Role.KOORDINATOR and any(m.role == Role.KOORDINATOR for m in members):
            raise item.get("role").fail("a plan has at most one koordinator")
        members.append(
            MemberRow(
                uid,
                role,
                item.get("unit").text(optional=True, empty=True),
                item.get("contribution").text(optional=True, empty=True),
                item.get("added_at").time(),
                # absent from files written before they were recorded
                _person(item.get("contribution_updated_by"), people, optional=True)
                if _optional(item, "contribution_updated_by") is not None
                else None,
                item.get("contribution_updated_at").time(optional=True)
                if _optional(item, "contribution_updated_at") is not None
                else None,
            )
        )
    return tuple(members)


def _draft(plan: _Field) -> bool:
    """`plan.draft` (files from before issue 12 have none: not a draft)."""
    if "draft" not in plan.value:
        return False
    value = plan.get("draft").value
    if not isinstance(value, bool):
        raise plan.get("draft").fail("must be true or false")
    return value


def _plan_consents(field: _Field, people: Mapping[int, Person]) -> tuple[PlanConsentRow, ...]:
    return tuple(
        PlanConsentRow(
            item.get("status").choice(CONSENT_STATUSES),
            item.get("giver").choice(PLAN_CONSENT_GIVERS),
            item.get("giver_name").text(),
            _person(item.get("giver_user_id"), people, optional=True),
            item.get("method").choice(PLAN_CONSENT_METHODS),
            item.get("given_on").day(),
            _person(item.get("recorded_by_user_id"), people, optional=True),
            item.get("recorded_at").time(),
        )
        for item in field.items()
    )


def _consents(field: _Field, people: Mapping[int, Person]) -> tuple[ConsentRow, ...]:
    consents: list[ConsentRow] = []
    current: set[int] = set()
    for item in field.items():
        uid = _person(item.get("user_id"), people)
        scope_field = item.get("scope")
        if scope_field.value == "all":
            scope = None
        else:
            scope = tuple(s.text() for s in scope_field.items())
        revoked_at = item.get("revoked_at").time(optional=True)
        if revoked_at is None:
            if uid in current:
                raise item.fail("a person has at most one current (not revoked) consent")
            current.add(uid)
        consents.append(
            ConsentRow(
                uid,
                item.get("status").choice(CONSENT_STATUSES),
                scope,
                item.get("valid_until").day(optional=True),
                _person(item.get("given_by_user_id"), people, optional=True),
                item.get("given_at").time(),
                revoked_at,
                _person(item.get("revoked_by_user_id"), people, optional=True),
            )
        )
    return tuple(consents)


def _meetings(field: _Field, people: Mapping[int, Person], version: int) -> tuple[MeetingRow, ...]:
    meetings: list[MeetingRow] = []
    for item in field.items():
        mid = item.get("id").text()
        if not is_zone_key(mid):
            raise item.get("id").fail(_bad_key(mid))
        if any(m.id == mid for m in meetings):
            raise item.get("id").fail(f"two meetings have the id {mid!r}")
        starts = item.get("starts_at").time()
        ends = item.get("ends_at").time(optional=True)
        if ends is not None and ends < starts:
            raise item.get("ends_at").fail("a meeting cannot end before it starts")
        row = MeetingRow(
            mid,
            item.get("title").text(),
            starts,
            ends,
            item.get("place").text(optional=True, empty=True),
            item.get("created_at").time(),
        )
        if version >= 2:  # version 1 knew none of these
            row = dataclasses.replace(
                row,
                video_link=item.get("video_link").text(optional=True, empty=True),
                agenda=_agenda(item.get("agenda")),
                created_by_user_id=_person(item.get("created_by_user_id"), people, optional=True),
                updated_at=item.get("updated_at").time(optional=True),
                cancelled_at=item.get("cancelled_at").time(optional=True),
                invitee_ids=_invitees(item.get("invitees"), people),
                sequence=_sequence(item.get("sequence")),
            )
        meetings.append(row)
    return tuple(meetings)


def _agenda(field: _Field) -> tuple[AgendaItem, ...]:
    """The same rules the meeting form keeps (storage.repositories.meetings.agenda_json)."""
    agenda: list[AgendaItem] = []
    for item in field.items():
        aid = item.get("id").text()
        if any(a.id == aid for a in agenda):
            raise item.get("id").fail("two agenda items have this id")
        ref_field = item.get("ref")
        ref = None
        if ref_field.value is not None:
            ref = AgendaRef(
                ref_field.get("kind").choice(REF_KINDS),
                ref_field.get("areaKey").text(),
                ref_field.get("itemId").text(),
            )
        agenda.append(AgendaItem(aid, item.get("title").text(), ref))
    return tuple(agenda)


def _invitees(field: _Field, people: Mapping[int, Person]) -> tuple[int, ...]:
    ids = [_person(item, people) for item in field.items()]
    if len(set(ids)) != len(ids):
        raise field.fail("a person is invited twice")
    return tuple(sorted(ids))


def _published(
    field: _Field, people: Mapping[int, Person], plan_id: str
) -> tuple[PublishedRow, ...]:
    rows: list[PublishedRow] = []
    for item in field.items():
        meeting_id = item.get("meeting_id").text()
        if not is_zone_key(meeting_id):
            raise item.get("meeting_id").fail(_bad_key(meeting_id))
        number = item.get("number").integer()
        if number < 1 or any((r.meeting_id, r.number) == (meeting_id, number) for r in rows):
            raise item.get("number").fail("must be a positive number, unique per meeting")
        entry = f"{item.path} (meeting {meeting_id}, version {number})"
        content = item.get("content").text()
        try:
            parsed = json.loads(content)
        except ValueError:
            parsed = None
        if not isinstance(parsed, dict):
            raise ImportRefused(f"{entry}: content must be the published JSON object, as text")
        digest = item.get("sha256").text()
        if not _SHA256.fullmatch(digest):
            raise item.get("sha256").fail("must be 64 lower-case hex digits")
        if sha256_hex(content) != digest:
            raise ImportRefused(
                f"{entry}: the content does not match its sha256 (it was changed after "
                "publication); nothing imported"
            )
        approved_at = item.get("approved_at").time(optional=True)
        role_field = item.get("approved_role")
        role = None if role_field.value is None else role_field.choice(APPROVE_ROLES)
        approved_by = _person(item.get("approved_by"), people, optional=True)
        if (approved_at is None) != (role is None) or (approved_by and approved_at is None):
            raise ImportRefused(
                f"{entry}: approved_at and approved_role are set together (approved_by "
                "only with them)"
            )
        row = PublishedRow(
            meeting_id,
            number,
            item.get("title").text(),
            content,
            digest,
            _person(item.get("published_by"), people, optional=True),
            item.get("published_at").time(),
            approved_by,
            role,
            approved_at,
            _content_people(item, parsed, people),
        )
        rows.append(_sealed(item, row, people, plan_id, entry))
    return tuple(rows)


def _optional(item: _Field, key: str) -> Any:
    """A field files written before the seals lack."""
    return item.value.get(key) if isinstance(item.value, dict) else None


def _email(people: Mapping[int, Person], user_id: int | None) -> str | None:
    return None if user_id is None else people[user_id].email


def _sealed(
    item: _Field, row: PublishedRow, people: Mapping[int, Person], plan_id: str, entry: str
) -> PublishedRow:
    """The row with its seals, each checked against what the entry says (the module
    docstring); raises ImportRefused naming the first thing that differs."""

    def refuse(what: str) -> ImportRefused:
        return ImportRefused(
            f"{entry}: {what} does not match what was sealed at publication (the published "
            "minutes were changed); nothing imported"
        )

    version = _optional(item, "hash_version")
    version = CONTENT_ONLY if version is None else item.get("hash_version").integer()
    if version not in (CONTENT_ONLY, SEALED):
        raise item.get("hash_version").fail(f"must be {CONTENT_ONLY} or {SEALED}")
    publication = _seal_text(item, "publication", required=version == SEALED)
    if version == CONTENT_ONLY and publication is not None:
        raise item.get("publication").fail(f"hash version {CONTENT_ONLY} has no publication seal")
    approval = _seal_text(item, "approval", required=version == SEALED and bool(row.approved_at))
    if approval is not None and row.approved_at is None:
        raise item.get("approval").fail("an approval seal needs approved_at")
    publication_sha = None
    if publication is not None:
        publication_sha = sha256_text(publication)
        record = parse_record(publication, PUBLICATION_FORMAT)
        if record is None:
            raise item.get("publication").fail(f"must be a {PUBLICATION_FORMAT} record")
        expected = {
            "planId": plan_id,
            "meetingId": row.meeting_id,
            "number": row.number,
            "title": row.title,
            "contentSha256": row.sha256,
        }
        for key, value in expected.items():
            if record.get(key) != value:
                raise refuse(key)
        if not same_time(record.get("publishedAt"), row.published_at):
            raise refuse("published_at")
        if row.published_by is not None and record.get("publishedBy") != _email(
            people, row.published_by
        ):
            raise refuse("published_by")
    approval_sha = None
    if approval is not None:
        approval_sha = sha256_text(approval)
        record = parse_record(approval, APPROVAL_FORMAT)
        if record is None:
            raise item.get("approval").fail(f"must be a {APPROVAL_FORMAT} record")
        if record.get("publicationSha256") != publication_sha:
            raise refuse("the approval's publication")
        if record.get("contentSha256") != row.sha256:
            raise refuse("the approval's content")
        if record.get("approvedRole") != row.approved_role:
            raise refuse("approved_role")
        if not same_time(record.get("approvedAt"), row.approved_at):
            raise refuse("approved_at")
        if row.approved_by is not None and record.get("approvedBy") != _email(
            people, row.approved_by
        ):
            raise refuse("approved_by")
    return dataclasses.replace(
        row,
        hash_version=version,
        publication=publication,
        publication_sha256=publication_sha,
        approval=approval,
        approval_sha256=approval_sha,
    )


def _seal_text(item: _Field, key: str, *, required: bool) -> str | None:
    """A seal's record and its hash, which must be the record's sha256."""
    text = _optional(item, key)
    digest = _optional(item, f"{key}_sha256")
    if text is None and digest is None:
        if required:
            raise ImportRefused(f"{item.path}.{key}: missing (hash version {SEALED} seals it)")
        return None
    record = item.get(key).text()
    given = item.get(f"{key}_sha256").text()
    if sha256_text(record) != given:
        raise ImportRefused(
            f"{item.path}: {key} does not match its {key}_sha256 (it was changed after "
            "publication); nothing imported"
        )
    return str(record)


def _content_people(
    item: _Field, content: Mapping[str, Any], people: Mapping[int, Person]
) -> dict[str, int]:
    """{user id inside the content: people id}. Absent (a file from before the field): the
    content's ids are taken to be people ids, as the exporter of the time did; an id that is
    not among people then names nobody."""
    if not isinstance(item.value, dict) or "content_user_ids" not in item.value:
        return {uid: int(uid) for uid in content_user_ids(content) if int(uid) in people}
    field = item.get("content_user_ids")
    if not isinstance(field.value, dict):
        raise field.fail("must be an object {user id inside content: people id}")
    mapping: dict[str, int] = {}
    for key in field.value:
        if not isinstance(key, str) or not key.isdigit():
            raise field.fail(f"key {key!r} is not a user id")
        mapping[key] = _person(field.get(key), people)
    return mapping


def _zones(
    field: _Field, people: Mapping[int, Person]
) -> tuple[
    tuple[ZoneRow, ...],
    tuple[bytes, ...],
    tuple[Doc[Any], ...],
    tuple[tuple[ImportedChange, ...], ...],
]:
    zones: list[ZoneRow] = []
    states: list[bytes] = []
    docs: list[Doc[Any]] = []
    changes: list[tuple[ImportedChange, ...]] = []
    for item in field.items():
        kind = item.get("kind").choice(ZONE_KINDS)
        key_field = item.get("key")
        key = key_field.text(empty=True)
        if kind not in KEYED_KINDS and key:
            raise key_field.fail(f"a {kind} zone has no key")
        if kind in KEYED_KINDS and not is_zone_key(key):
            raise key_field.fail(_bad_key(key))
        if any((z.kind, z.key) == (kind, key) for z in zones):
            raise item.fail(f"zone {zone_name(kind, key)} is listed twice")
        state_field = item.get("state")
        try:
            state = base64.b64decode(state_field.text(), validate=True)
        except (binascii.Error, ValueError):
            raise state_field.fail("must be base64") from None
        try:
            doc = doc_from_state(state)
        except MalformedFrame:
            raise state_field.fail("is not a valid Yjs update") from None
        # Files written before the legacy stamps were left out of `content` still have them.
        read = read_zone(doc, kind)
        if "content" in item.value and item.get("content").value not in (
            without_stamps(read),
            read,
        ):
            raise item.get("content").fail(
                "differs from the zone's state (the state is what is imported; "
                "do not edit an export by hand)"
            )
        retired_at = (
            item.get("retired_at").time(optional=True) if "retired_at" in item.value else None
        )
        zones.append(
            ZoneRow(
                kind,
                key,
                item.get("title").text(),
                item.get("position").integer(),
                retired_at=retired_at,
            )
        )
        states.append(state)
        docs.append(doc)
        changes.append(_changes(item, people) if "changes" in item.value else ())
    for kind in (k for k in ZONE_KINDS if k not in KEYED_KINDS):
        if sum(1 for z in zones if z.kind == kind) != 1:
            raise field.fail(f"a plan has exactly one {kind} zone")
    return tuple(zones), tuple(states), tuple(docs), tuple(changes)


def _changes(item: _Field, people: Mapping[int, Person]) -> tuple[ImportedChange, ...]:
    """A zone's author records (files from before they existed have none)."""
    out: list[ImportedChange] = []
    for change in item.get("changes").items():
        user = _person(change.get("user_id"), people, optional=True)
        at = change.get("at").time()
        items = change.value.get("items") if isinstance(change.value, dict) else None
        if items is not None and not isinstance(items, dict):
            raise change.get("items").fail("must be an object or null")
        out.append((user, at, items))
    return tuple(out)


async def import_plan(repos: Repositories, parsed: ParsedPlan, secret_key: str) -> ImportResult:
    """Write the parsed plan (one transaction). Raises ImportRefused when the plan id or a
    meeting id is already taken here; StorageError on a race lost to another writer.
    A published version is kept as published here only when this installation signed it."""
    plan = parsed.plan
    plan = dataclasses.replace(
        plan,
        published_minutes=tuple(
            dataclasses.replace(row, published_here=signed_here(secret_key, plan.id, entry))
            for row, entry in zip(plan.published_minutes, parsed.published_entries, strict=True)
        ),
    )
    if await repos.transfer.plan_exists(plan.id):
        raise ImportRefused(f"a plan with id {plan.id} already exists in this database")
    taken = await repos.transfer.existing_meetings(m.id for m in plan.meetings)
    if taken:
        raise ImportRefused(f"meeting id(s) {', '.join(sorted(taken))} already exist here")

    def zone_content(user_ids: Mapping[int, int]) -> list[ZoneContent]:
        mapping = {str(old): str(new) for old, new in user_ids.items()}
        contents = []
        zone_records = parsed.changes or tuple(() for _ in plan.zones)
        for zone, state, doc, changes in zip(
            plan.zones, parsed.states, parsed.docs, zone_records, strict=True
        ):
            if remap_user_ids(doc, zone.kind, mapping):
                state = doc.get_update()  # the renumbering is one more update on top
            records = [
                (
                    None if user is None else user_ids[user],
                    at,
                    None if items is None else json.dumps(remap_trace(items, mapping)),
                )
                for user, at, items in changes
            ]
            contents.append(ZoneContent(state, zone_summary(doc, zone.kind), records))
        return contents

    return await repos.transfer.create(plan, zone_content)


def _sequence(field: _Field) -> int:
    """A meeting's edit count; absent in files written before meetings could be edited."""
    value = field.integer(optional=True)
    if value is None:
        return 0
    if value < 0:
        raise field.fail("must not be negative")
    return int(value)
