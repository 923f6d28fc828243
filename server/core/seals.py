"""What the server vouches for in published minutes: the seals (hashes anyone can check) and
the signature (an HMAC only this installation can make). README: "What the server vouches for".

Three layers, each for a different reader:

1. `sha256` over the content's canonical JSON, as before: anyone verifies the minutes' text
   with `sha256sum` against `.../published/{n}.json`.
2. The publication seal (hash scheme 2): `publication` is the canonical JSON of the record of
   publishing (plan, meeting, number, title, content sha256, who published, when) and
   `publication_sha256` its sha256. The approval comes later and changes nothing sealed: it
   gets its own record (`approval`: the publication seal, the content sha256, who approved,
   as which role, when) and its own `approval_sha256`. People are named in a record by
   e-mail, the identity `samplan import` matches people by, so a record stays true in every
   database the plan moves to (user ids differ between databases). Rows published before
   the seal existed are scheme 1: their content hash is checked as it always was, and
   nothing else about them is vouched for by a hash.
3. The signature: `samplan export` adds to each published version an HMAC-SHA256, with the
   installation's secret key, over the version's export entry (plan id included) as
   canonical JSON. A hash alone proves nothing about origin (anyone can recompute one after
   fabricating a version), so on import only a version whose signature verifies with this
   installation's key is shown as published here; every other one is kept, marked
   "imported, not published here", and never signed by this server on a later export.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from crdt.versions import canonical_json

PUBLICATION_FORMAT = "samplan.publication.v1"
APPROVAL_FORMAT = "samplan.approval.v1"
CONTENT_ONLY = 1  # hash scheme 1: the content's sha256, nothing else
SEALED = 2  # hash scheme 2: content sha256 plus the publication seal
SIGNATURE_FIELD = "signature"


def sha256_text(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def utc_iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat()


def publication_record(
    plan_id: str,
    meeting_id: str,
    number: int,
    title: str,
    content_sha256: str,
    published_by_email: str | None,
    published_at: datetime,
) -> str:
    """The record of publishing, as the canonical JSON its seal is the sha256 of."""
    return canonical_json(
        {
            "format": PUBLICATION_FORMAT,
            "planId": plan_id,
            "meetingId": meeting_id,
            "number": number,
            "title": title,
            "contentSha256": content_sha256,
            "publishedBy": published_by_email,
            "publishedAt": utc_iso(published_at),
        }
    )


def approval_record(
    publication_sha256: str | None,
    content_sha256: str,
    approved_by_email: str | None,
    approved_role: str,
    approved_at: datetime,
) -> str:
    """The record of approving; it names the publication seal (None for a scheme-1 row)."""
    return canonical_json(
        {
            "format": APPROVAL_FORMAT,
            "publicationSha256": publication_sha256,
            "contentSha256": content_sha256,
            "approvedBy": approved_by_email,
            "approvedRole": approved_role,
            "approvedAt": utc_iso(approved_at),
        }
    )


def parse_record(text: str, fmt: str) -> dict[str, Any] | None:
    """A record as a dict, or None when it is not one of `fmt` (the caller says why)."""
    try:
        value = json.loads(text)
    except ValueError:
        return None
    if not isinstance(value, dict) or value.get("format") != fmt:
        return None
    return value


def same_time(iso: Any, moment: datetime | None) -> bool:
    """A record's time and a row's time are the same instant."""
    if moment is None or not isinstance(iso, str):
        return False
    try:
        parsed = datetime.fromisoformat(iso)
    except ValueError:
        return False
    return parsed.tzinfo is not None and parsed == moment


def sign(secret_key: str, plan_id: str, entry: Mapping[str, Any]) -> str:
    """HMAC-SHA256 over the export entry (without its signature) and the plan id."""
    body = {k: v for k, v in entry.items() if k != SIGNATURE_FIELD}
    message = canonical_json({"planId": plan_id, "entry": body})
    key = hashlib.sha256(("samplan.published-minutes:" + secret_key).encode("utf-8")).digest()
    return hmac.new(key, message.encode("utf-8"), hashlib.sha256).hexdigest()


def signed_here(secret_key: str, plan_id: str, entry: Mapping[str, Any]) -> bool:
    given = entry.get(SIGNATURE_FIELD)
    if not isinstance(given, str):
        return False
    return hmac.compare_digest(given, sign(secret_key, plan_id, entry))
