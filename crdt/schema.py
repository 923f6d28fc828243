"""The zone documents' schema: the one contract Python and the browser bundle both follow.

`docs/schema.md` is the prose version of this module and of crdt/richtext.py; change them
together. The browser binds rich text with y-prosemirror, so a fragment written here must
look exactly like one the editor wrote, or the editor deletes what it cannot parse.

Python never edits user text by position: pycrdt 0.14 counts UTF-8 bytes where Yjs counts
UTF-16 code units (DESIGN §9, y-crdt/pycrdt PR #379). Every writer here replaces whole values.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Mapping, Sequence
from datetime import UTC, date, datetime
from enum import StrEnum
from typing import Any, Final, NamedTuple

from pycrdt import Array, Doc, Map, Text, XmlElement, XmlFragment, XmlText

from crdt.richtext import (
    blocks_to_nodes,
    plain_value,
    rich_text_nodes,
    set_rich_text,
    validate_nodes,
)

# --- zone kinds and keys ------------------------------------------------------------------
# The one definition of a zone: the server, the CLI and import all ask here. storage/ may not
# import crdt, so storage.models keeps one copy of the kinds and the key pattern, pinned to
# these by tests/test_zone_definition.py.


class ZoneKind(StrEnum):
    """The zone kinds, in display order (the plan page, the access log, the export)."""

    CONTENT = "content"
    AREA = "area"
    COMMENTS = "comments"
    MINUTES = "minutes"


CONTENT: Final[str] = ZoneKind.CONTENT.value
AREA: Final[str] = ZoneKind.AREA.value
COMMENTS: Final[str] = ZoneKind.COMMENTS.value
MINUTES: Final[str] = ZoneKind.MINUTES.value
ZONE_KINDS: Final = tuple(kind.value for kind in ZoneKind)
ZONE_ORDER: Final = {kind: position for position, kind in enumerate(ZONE_KINDS)}
# Many zones of these kinds per plan, told apart by a key: an area id, a meeting id.
KEYED_KINDS: Final = frozenset({AREA, MINUTES})
# The zones a plan version copies and a restore writes: what the plan says. Comments have
# their own thread, minutes their own published versions.
VERSIONED_KINDS: Final = (CONTENT, AREA)

# A key is a path segment of the room (`area/<key>`): a key the room path parser would refuse
# makes a zone nobody can open, so every way a zone is created checks this same rule.
ZONE_KEY_PATTERN: Final = r"[a-z0-9][a-z0-9-]{0,63}"
ZONE_KEY_RULE: Final = (
    "lower-case letters a-z, digits and '-', starting with a letter or digit, at most 64 characters"
)
_ZONE_KEY: Final = re.compile(ZONE_KEY_PATTERN)


def is_zone_key(key: str) -> bool:
    """Whether `key` may name an area or a meeting's minutes (whole string, no newline)."""
    return _ZONE_KEY.fullmatch(key) is not None


# --- root names --------------------------------------------------------------------------

META: Final = "meta"
ABOUT_ME: Final = "aboutMe"
RESOURCES: Final = "resources"
NEEDS: Final = "needs"
# Legacy (issue 11): what each member contributes lives in SQL (`memberships.contribution`);
# nothing writes this list any more. It stays in the schema so documents from before still load,
# diff in the version history and are imported (server/transfer/contributions.py).
CONTRIBUTIONS: Final = "contributions"
COLLABORATION: Final = "collaboration"
OTHER_PLANS: Final = "otherPlans"
GOALS: Final = "goals"
MEASURES: Final = "measures"
EVALUATIONS: Final = "evaluations"
COMMENT_LIST: Final = "comments"
MESSAGES: Final = "messages"
MEETING: Final = "meeting"
ATTENDEES: Final = "attendees"
AGENDA: Final = "agenda"
ACTION_ITEMS: Final = "actionItems"

ZONE_ROOTS: dict[str, dict[str, type]] = {
    CONTENT: {
        META: Map,
        ABOUT_ME: XmlFragment,
        RESOURCES: XmlFragment,
        NEEDS: XmlFragment,
        CONTRIBUTIONS: Array,
        COLLABORATION: Array,
        OTHER_PLANS: Array,
    },
    AREA: {GOALS: Array, MEASURES: Array, EVALUATIONS: Array},
    COMMENTS: {COMMENT_LIST: Array, MESSAGES: Array},
    MINUTES: {MEETING: Map, ATTENDEES: Array, AGENDA: Array, ACTION_ITEMS: Array},
}

# Keys of the Map roots and fields of each list's items, in display order. Other keys are
# kept on read and write (a newer bundle may add some) but the contract names only these.
MAP_KEYS: dict[str, tuple[str, ...]] = {
    META: ("planPeriodStart", "planPeriodEnd", "nextRevision", "status"),
    MEETING: ("meetingId", "nextMeeting", "referentUserId"),
}
# Legacy stamps: browsers once wrote who last changed a goal, measure or evaluation, and when,
# into the item itself. A client can write anything there, so nothing reads them: "Sist endret
# av" and an item's history come from the server's records (server/core/authors.py). They stay
# in the shapes because old documents hold them (kept on read, never breaking a reader);
# `without_stamps` takes them out of what a reader shows.
_CHANGED = ("updatedBy", "updatedAt")
LEGACY_STAMPS: Final = frozenset(_CHANGED)
# The person's own words on a goal (issue 13, "My words", written from Min plan): "Jeg vil ..."
# and a short status of their own (how it goes, an emoji, a sentence). Plain values, replaced
# whole when the person saves, so the shape check sees every write and can bound its length
# (typing into a Y.Text calls no observer). Credited from the server's records only, like
# `ownerComment` (server/core/authors.py).
OWN_WORDS: Final = "ownWords"
OWN_STATUS: Final = "ownStatus"
OWN_EMOJI: Final = "ownEmoji"
OWN_NOTE: Final = "ownNote"
OWN_STATUS_FIELDS: Final = (OWN_STATUS, OWN_EMOJI, OWN_NOTE)
OWN_FIELDS: Final = (OWN_WORDS, *OWN_STATUS_FIELDS)
ITEM_FIELDS: dict[str, tuple[str, ...]] = {
    CONTRIBUTIONS: ("id", "userId", "name", "text"),
    COLLABORATION: ("id", "name", "role", "organisation", "purpose"),
    OTHER_PLANS: ("id", "kind", "title", "holder", "link"),
    GOALS: ("id", "parentId", "label", "title", "description", *OWN_FIELDS, *_CHANGED),
    MEASURES: (
        "id",
        "goalId",
        "title",
        "description",
        "responsible",
        "externalParty",
        "scope",
        "start",
        "end",
        "status",
        "meetingId",
        *_CHANGED,
    ),
    EVALUATIONS: (
        "id",
        "goalId",
        "date",
        "attainment",
        "result",
        "worked",
        "change",
        "next",
        "responsible",
        "nextReview",
        "ownerComment",
        *_CHANGED,
    ),
    # Written only by the server (crdt/comments.py): `edits` keeps every earlier text as
    # {text, at}, `editedAt` says when the text last changed; a hidden comment keeps its words.
    COMMENT_LIST: (
        "id",
        "anchorId",
        "authorId",
        "authorName",
        "text",
        "createdAt",
        "editedAt",
        "edits",
        "resolved",
        "resolvedBy",
        "resolvedAt",
        "hiddenBy",
        "hiddenByName",
        "hiddenAt",
    ),
    MESSAGES: ("id", "authorId", "authorName", "text", "createdAt", "editedAt", "edits"),
    ATTENDEES: ("id", "userId", "name", "role", "present", "apology", "note"),
    AGENDA: ("id", "title", "body", "decision"),
    ACTION_ITEMS: (
        "id",
        "agendaId",
        "what",
        "responsibleUserId",
        "due",
        "areaId",
        "goalId",
        "measureId",
    ),
}

# A field's shared type depends on its name alone, in every list, so `append_item` needs no
# list name and the bundle has one rule to follow. Fields not named here are plain values.
FIELD_TYPES: dict[str, type] = {
    **dict.fromkeys(
        ("title", "text", "decision", "what", "result", "worked", "change", "next", "ownerComment"),
        Text,
    ),
    "description": XmlFragment,
    "body": XmlFragment,
    "responsible": Array,
}

# Fields that hold a user id (a string, DESIGN: ids are SQL's users.id), and lists of them.
# A plan imported into another database gets new user ids: crdt.zone_state renumbers these.
USER_REF_FIELDS: Final = frozenset(
    {
        "userId",
        "updatedBy",
        "authorId",
        "referentUserId",
        "responsibleUserId",
        "resolvedBy",
        "hiddenBy",
    }
)
USER_REF_LISTS: Final = frozenset({"responsible"})

PLAN_STATUSES: Final = ("utkast", "aktiv", "avsluttet")
MEASURE_STATUSES: Final = ("ikke_startet", "planlagt", "soekt", "pagar", "fullfort", "avsluttet")
ATTAINMENTS: Final = ("naadd", "delvis", "ikke_naadd")
# "Går bra / går litt / går ikke", and the emoji the person may pick (each has a text
# alternative in client/i18n, `ownEmoji.<emoji>`, for screen readers).
OWN_STATUSES: Final = ("bra", "litt", "ikke")
OWN_EMOJIS: Final = ("😊", "🙂", "😐", "😟", "😢", "😡", "💪", "🎉")
ENUM_FIELDS: dict[tuple[str, str], tuple[str, ...]] = {
    (META, "status"): PLAN_STATUSES,
    (MEASURES, "status"): MEASURE_STATUSES,
    (EVALUATIONS, "attainment"): ATTAINMENTS,
    (GOALS, OWN_STATUS): OWN_STATUSES,
    (GOALS, OWN_EMOJI): OWN_EMOJIS,
}
# Plain strings with a most length, in characters (code points: the browser counts the same
# way, `[...text].length`). Longer is refused on write and left out on read.
MAX_LENGTHS: dict[str, int] = {OWN_WORDS: 500, OWN_NOTE: 280}
DATE_FIELDS: Final = frozenset(
    {
        "planPeriodStart",
        "planPeriodEnd",
        "nextRevision",
        "start",
        "end",
        "date",
        "nextReview",
        "due",
    }
)
_DATE_RE = re.compile(r"^\d{4}-\d{2}-\d{2}$")


class Shape(StrEnum):
    """What one field holds. Plain shapes are values in the item's Map; `null` (None) is
    always allowed for them: absent optional values are null."""

    STRING = "string"
    USER_ID = "user id"  # a string ("7"); a number from an old writer reads as its string
    DATE = "date"  # YYYY-MM-DD
    LOCAL_TIME = "local time"  # YYYY-MM-DDTHH:MM, Europe/Oslo
    TIMESTAMP = "timestamp"  # ISO 8601 UTC with Z
    ENUM = "enum"  # one of ENUM_FIELDS[(root, field)]
    BOOLEAN = "boolean"
    TEXT = "text"  # Y.Text (a plain string from an older writer reads the same)
    RICH_TEXT = "rich text"  # Y.XmlFragment, crdt/richtext.py
    USER_IDS = "user ids"  # Y.Array of user-id strings
    HISTORY = "history"  # a plain list of {text, at}: a comment's or message's earlier words


# Every field the contract names, by name alone (as FIELD_TYPES): one rule per name in every
# list and Map root. Keys not named here are unknown (docs/schema.md, "Unknown keys").
FIELD_SHAPES: dict[str, Shape] = {
    **dict.fromkeys(
        (
            "id",
            "name",
            "role",
            "organisation",
            "purpose",
            "kind",
            "holder",
            "link",
            "parentId",
            "label",
            "goalId",
            "externalParty",
            "scope",
            "meetingId",
            "anchorId",
            "authorName",
            "hiddenByName",
            "note",
            "agendaId",
            "areaId",
            "measureId",
            OWN_WORDS,
            OWN_NOTE,
        ),
        Shape.STRING,
    ),
    **dict.fromkeys(sorted(USER_REF_FIELDS), Shape.USER_ID),
    **dict.fromkeys(sorted(DATE_FIELDS), Shape.DATE),
    "nextMeeting": Shape.LOCAL_TIME,
    **dict.fromkeys(
        ("updatedAt", "createdAt", "editedAt", "hiddenAt", "resolvedAt"), Shape.TIMESTAMP
    ),
    **dict.fromkeys(("status", "attainment", OWN_STATUS, OWN_EMOJI), Shape.ENUM),
    **dict.fromkeys(("resolved", "present", "apology"), Shape.BOOLEAN),
    **{key: Shape.TEXT for key, kind in FIELD_TYPES.items() if kind is Text},
    **{key: Shape.RICH_TEXT for key, kind in FIELD_TYPES.items() if kind is XmlFragment},
    "responsible": Shape.USER_IDS,
    "edits": Shape.HISTORY,
}
_SHARED = (Text, XmlFragment, XmlElement, XmlText, Map, Array)

# --- zones -------------------------------------------------------------------------------


def zone_name(kind: str, key: str = "") -> str:
    """The room suffix, e.g. `area/skole`: the one spelling of a zone's name.

    The key's characters are not judged here, so a zone stored before the key rule was
    enforced everywhere still has a name to list, export and report (`samplan migrate` names
    those); the rule is kept where keys come in (`is_zone_key`) and where a name is read
    (`split_zone_name`)."""
    if kind not in ZONE_ROOTS:
        raise ValueError(f"unknown zone kind {kind!r}")
    if kind in KEYED_KINDS:
        if not key or "/" in key:
            raise ValueError(f"bad {kind} key {key!r}")
        return f"{kind}/{key}"
    if key:
        raise ValueError(f"zone kind {kind!r} takes no key")
    return kind


def split_zone_name(name: str) -> tuple[str, str]:
    """The inverse of `zone_name`, strict about the key: a raw path never becomes a key by
    accident, and a name the socket would refuse is never read as a zone."""
    kind, _, key = name.partition("/")
    if (key and not is_zone_key(key)) or zone_name(kind, key) != name:
        raise ValueError(f"bad zone name {name!r}")
    return kind, key


def new_zone_doc(kind: str) -> Doc[Any]:
    doc: Doc[Any] = Doc()
    for name, root_type in _roots_of(kind).items():
        doc.get(name, type=root_type)
    return doc


def get_root(doc: Doc[Any], kind: str, name: str) -> Any:
    """The typed root. Needed because a Doc that only applied an update has untyped roots."""
    root_type = _roots_of(kind).get(name)
    if root_type is None:
        raise ValueError(f"zone kind {kind!r} has no root {name!r}")
    return doc.get(name, type=root_type)


def _roots_of(kind: str) -> dict[str, type]:
    try:
        return ZONE_ROOTS[kind]
    except KeyError:
        raise ValueError(f"unknown zone kind {kind!r}") from None


# --- short text and items ----------------------------------------------------------------


def new_id() -> str:
    """The same shape as the browser's `crypto.randomUUID()`."""
    return str(uuid.uuid4())


def utc_timestamp(moment: datetime | None = None) -> str:
    """`updatedAt`/`createdAt` form: ISO 8601, UTC, whole seconds, `Z`."""
    moment = (moment or datetime.now(UTC)).astimezone(UTC)
    return moment.replace(microsecond=0).isoformat().replace("+00:00", "Z")


def set_text(text: Text, value: str) -> None:
    """Replace the whole text: clearing and inserting at 0 needs no position arithmetic."""
    with text.doc.transaction():
        text.clear()
        if value:
            text.insert(0, value)


def append_item(array: Array[Any], values: Mapping[str, Any]) -> str:
    """Append one item as a Map; returns its id (generated unless `values` has one)."""
    item_id = values.get("id") or new_id()
    if not isinstance(item_id, str):
        raise TypeError("an item id is a string")
    with array.doc.transaction():
        item: Map[Any] = Map()
        array.append(item)
        set_fields(item, {**values, "id": item_id})
    return item_id


def set_fields(item: Map[Any], values: Mapping[str, Any]) -> None:
    """Write whole values, reusing an existing Text/fragment/Array so open editors stay bound."""
    with item.doc.transaction():
        for key, value in values.items():
            _set_field(item, key, value)


def _set_field(item: Map[Any], key: str, value: Any) -> None:
    if isinstance(value, _SHARED):
        # pycrdt 0.14 silently inserts an EMPTY type when handed one already integrated.
        raise TypeError(f"field {key!r}: pass plain values, not shared types")
    field_type = FIELD_TYPES.get(key)
    current = item.get(key)
    if field_type is Text:
        if not isinstance(value, str):
            raise TypeError(f"field {key!r} is text")
        if not isinstance(current, Text):
            item[key] = current = Text()
        set_text(current, value)
    elif field_type is XmlFragment:
        if not isinstance(current, XmlFragment):
            item[key] = current = XmlFragment()
        set_rich_text(current, value)
    elif field_type is Array:
        if isinstance(value, str) or not isinstance(value, Sequence):
            raise TypeError(f"field {key!r} is a list")
        if not isinstance(current, Array):
            item[key] = current = Array()
        current.clear()
        current.extend([_check_plain(key, v) for v in value])
    else:
        item[key] = _check_plain(key, value)


def _check_plain(key: str, value: Any) -> Any:
    if isinstance(value, _SHARED):
        raise TypeError(f"field {key!r}: pass plain values, not shared types")
    return value


def find_item(array: Array[Any], item_id: str) -> Map[Any] | None:
    for item in array:
        if isinstance(item, Map) and item.get("id") == item_id:
            return item
    return None


def remove_item(array: Array[Any], item_id: str) -> bool:
    for index, item in enumerate(array):
        if isinstance(item, Map) and item.get("id") == item_id:
            del array[index]
            return True
    return False


# --- whole zones -------------------------------------------------------------------------


def read_zone(
    doc: Doc[Any], kind: str, problems: list[ShapeProblem] | None = None
) -> dict[str, Any]:
    """The whole zone as plain JSON-able data: the form of export, import, tests and demo.

    Only what keeps the contract (`conform_zone`): a document stored before the server
    checked shapes, or written by a crafted client, never breaks a reader. What was left out
    is added to `problems`, by id."""
    return conform_zone(kind, _read_raw(doc, kind), problems)


def _read_raw(doc: Doc[Any], kind: str) -> dict[str, Any]:
    data: dict[str, Any] = {}
    for name, root_type in _roots_of(kind).items():
        root = doc.get(name, type=root_type)
        if root_type is XmlFragment:
            data[name] = rich_text_nodes(root)
        elif root_type is Map:
            data[name] = _read_map(root, MAP_KEYS.get(name, ()))
        else:
            order = ITEM_FIELDS.get(name, ())
            data[name] = [_read_value(v, order) for v in root]
    return data


def _read_map(item: Map[Any], order: Sequence[str]) -> dict[str, Any]:
    values = {key: _read_value(value) for key, value in item.items()}
    ranked = [k for k in order if k in values] + sorted(k for k in values if k not in order)
    return {key: values[key] for key in ranked}


def _read_value(value: Any, order: Sequence[str] = ()) -> Any:
    if isinstance(value, Text):
        return str(value)
    if isinstance(value, XmlFragment):
        return rich_text_nodes(value)
    if isinstance(value, Map):
        return _read_map(value, order)
    if isinstance(value, Array):
        return [_read_value(v) for v in value]
    return plain_value(value)


# --- shapes on read ----------------------------------------------------------------------


class ShapeProblem(NamedTuple):
    """What a reader left out of a zone, named without content: the root, the item's id (only
    when it looks like an id; else None), its position in the list, and the field."""

    root: str
    item: str | None
    position: int | None
    field: str | None


_SAFE_ID = re.compile(r"[\w-]{1,64}", re.ASCII)  # ASCII letters, digits, _ and -
_LOCAL_TIME_RE = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2})?$")


def without_stamps(data: Mapping[str, Any]) -> dict[str, Any]:
    """`data` (`read_zone` form) without the legacy stamps (`LEGACY_STAMPS`) in its items."""
    return {
        name: (
            [
                {k: v for k, v in item.items() if k not in LEGACY_STAMPS}
                if isinstance(item, Mapping)
                else item
                for item in value
            ]
            if isinstance(value, list)
            else value
        )
        for name, value in data.items()
    }


def conform_zone(
    kind: str, data: Mapping[str, Any], problems: list[ShapeProblem] | None = None
) -> dict[str, Any]:
    """`data` (`read_zone` form, or an old version's stored copy of it) without what breaks
    the contract: a list entry that is not a map, a map without a string id or with an id
    already seen, a known field of the wrong shape (left out, so readers see it as absent).
    Unknown keys are kept as they are (docs/schema.md, "Unknown keys"); unknown roots and
    roots absent from `data` are not added."""
    found = problems if problems is not None else []
    roots = _roots_of(kind)
    clean: dict[str, Any] = {}
    for name, value in data.items():
        root_type = roots.get(name)
        if root_type is None:
            continue
        if root_type is XmlFragment:
            if _is_rich(value):
                clean[name] = value
            else:
                clean[name] = []
                found.append(ShapeProblem(name, None, None, None))
        elif root_type is Map:
            if isinstance(value, Mapping):
                clean[name] = _conform_fields(name, value, None, None, found)
            else:
                clean[name] = {}
                found.append(ShapeProblem(name, None, None, None))
        else:
            clean[name] = _conform_items(name, value, found)
    return clean


def _conform_items(root: str, value: Any, found: list[ShapeProblem]) -> list[dict[str, Any]]:
    if not isinstance(value, list):
        found.append(ShapeProblem(root, None, None, None))
        return []
    items = []
    seen: set[str] = set()
    for position, item in enumerate(value):
        if not isinstance(item, Mapping):
            found.append(ShapeProblem(root, None, position, None))
            continue
        item_id = item.get("id")
        if not isinstance(item_id, str) or not item_id or item_id in seen:
            found.append(ShapeProblem(root, safe_id(item_id), position, "id"))
            continue
        seen.add(item_id)
        items.append(_conform_fields(root, item, item_id, position, found))
    return items


def _conform_fields(
    root: str,
    values: Mapping[str, Any],
    item_id: str | None,
    position: int | None,
    found: list[ShapeProblem],
) -> dict[str, Any]:
    clean: dict[str, Any] = {}
    for key, value in values.items():
        shape = FIELD_SHAPES.get(key)
        if shape is None or value is None:
            clean[key] = value
            continue
        ok, value = _conform_value(root, key, shape, value)
        if ok:
            clean[key] = value
        else:
            found.append(ShapeProblem(root, safe_id(item_id), position, key))
    return clean


def _conform_value(root: str, key: str, shape: Shape, value: Any) -> tuple[bool, Any]:
    """(keeps the contract, the value as readers get it)."""
    if shape is Shape.STRING:
        return isinstance(value, str) and fits(key, value), value
    if shape is Shape.TEXT:
        return isinstance(value, str), value
    if shape is Shape.USER_ID:
        return _user_id(value)
    if shape is Shape.DATE:
        return is_iso_date(value), value
    if shape is Shape.LOCAL_TIME:
        return isinstance(value, str) and _parses(_LOCAL_TIME_RE, value), value
    if shape is Shape.TIMESTAMP:
        return isinstance(value, str) and _parses(None, value), value
    if shape is Shape.ENUM:
        allowed = ENUM_FIELDS.get((root, key))
        if allowed is None:
            return isinstance(value, str), value
        return value in allowed, value
    if shape is Shape.BOOLEAN:
        return isinstance(value, bool), value
    if shape is Shape.RICH_TEXT:
        return _is_rich(value), value
    if shape is Shape.HISTORY:
        return isinstance(value, list) and all(
            isinstance(v, dict) and isinstance(v.get("text"), str) and isinstance(v.get("at"), str)
            for v in value
        ), value
    # Shape.USER_IDS
    if not isinstance(value, list):
        return False, value
    ids = [_user_id(v) for v in value]
    return all(ok for ok, _ in ids), [v for _, v in ids]


def value_keeps_shape(root: str, key: str, value: Any) -> bool:
    """Whether a live value, as a Map holds it (shared types included), keeps the shape the
    contract gives `key`: the write-time twin of `_conform_value`, so what a writer may store
    is exactly what a reader keeps. Unknown keys and null always do (docs/schema.md)."""
    shape = FIELD_SHAPES.get(key)
    if shape is None or value is None:
        return True
    if shape is Shape.RICH_TEXT:
        return isinstance(value, XmlFragment)
    if shape is Shape.TEXT:
        return isinstance(value, Text | str)
    if shape is Shape.USER_IDS:
        values = list(value) if isinstance(value, Array) else value
        return isinstance(values, list) and all(is_user_id(v) for v in values)
    if isinstance(value, _SHARED):
        return False
    return _conform_value(root, key, shape, plain_value(value))[0]


def fits(key: str, value: str) -> bool:
    """Whether a string is no longer than `MAX_LENGTHS` allows for `key` (any length if none)."""
    most = MAX_LENGTHS.get(key)
    return most is None or len(value) <= most


def is_user_id(value: Any) -> bool:
    """Whether a live value is a user id (a string; a number from an older writer)."""
    return _user_id(plain_value(value))[0]


def is_iso_date(value: Any) -> bool:
    """Whether `value` is a real date written YYYY-MM-DD (what date fields hold)."""
    if not isinstance(value, str) or not _DATE_RE.match(value):
        return False
    try:
        date.fromisoformat(value)
    except ValueError:
        return False
    return True


def _parses(pattern: re.Pattern[str] | None, value: str) -> bool:
    if pattern is not None and not pattern.match(value):
        return False
    try:
        datetime.fromisoformat(value)
    except ValueError:
        return False
    return True


def _user_id(value: Any) -> tuple[bool, Any]:
    if isinstance(value, str) and value:
        return True, value
    if isinstance(value, int) and not isinstance(value, bool):
        return True, str(value)  # an older writer's number (Yrs keeps numbers as floats)
    return False, value


def _is_rich(value: Any) -> bool:
    return isinstance(value, list) and all(isinstance(node, Mapping) for node in value)


def safe_id(item_id: Any) -> str | None:
    """The id, if it may go into a log: ids are UUIDs or short keys, never a sentence."""
    return item_id if isinstance(item_id, str) and _SAFE_ID.fullmatch(item_id) else None


def validate_zone(kind: str, data: Mapping[str, Any]) -> None:
    """Check import data against the contract before anything is written."""
    roots = _roots_of(kind)
    unknown = set(data) - set(roots)
    if unknown:
        raise ValueError(f"zone kind {kind!r} has no roots {sorted(unknown)}")
    for name, value in data.items():
        if value is None:
            continue
        if roots[name] is XmlFragment:
            validate_nodes(blocks_to_nodes(value))
        elif roots[name] is Map:
            if not isinstance(value, Mapping):
                raise ValueError(f"{name} is a map")
            _validate_values(name, value)
        else:
            if isinstance(value, str | Mapping) or not isinstance(value, Sequence):
                raise ValueError(f"{name} is a list of items")
            ids = [item.get("id") if isinstance(item, Mapping) else None for item in value]
            if None in ids or len(set(ids)) != len(ids):
                raise ValueError(f"every {name} item is a map with a unique id")
            for item in value:
                _validate_values(name, item)


def _validate_values(root: str, values: Mapping[str, Any]) -> None:
    for key, value in values.items():
        allowed = ENUM_FIELDS.get((root, key))
        if allowed is not None and value is not None and value not in allowed:
            raise ValueError(f"{root}.{key} must be one of {allowed}, not {value!r}")
        if key in DATE_FIELDS and value is not None:
            if not isinstance(value, str) or not _DATE_RE.match(value):
                raise ValueError(f"{root}.{key} must be YYYY-MM-DD, not {value!r}")
            date.fromisoformat(value)
        if FIELD_TYPES.get(key) is XmlFragment:
            validate_nodes(blocks_to_nodes(value))
        if isinstance(value, str) and not fits(key, value):
            raise ValueError(f"{root}.{key} is longer than {MAX_LENGTHS[key]} characters")


def write_zone(doc: Doc[Any], kind: str, data: Mapping[str, Any]) -> None:
    """Replace every root's content with `data` (roots absent from `data` are emptied)."""
    validate_zone(kind, data)
    with doc.transaction():
        for name, root_type in _roots_of(kind).items():
            root = doc.get(name, type=root_type)
            value = data.get(name)
            if root_type is XmlFragment:
                set_rich_text(root, value or [])
            elif root_type is Map:
                root.clear()
                set_fields(root, value or {})
            else:
                root.clear()
                for item in value or []:
                    append_item(root, item)
