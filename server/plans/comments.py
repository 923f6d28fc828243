"""Comments and messages, written by the server for the signed-in person (DESIGN §2).

No socket writes the `comments` zone (server.core.access.SERVER_WRITTEN_KINDS); the browser
posts JSON here with the form token, and the server checks role, consent, that the plan is
open, that the anchor exists in a zone the member may read, and that only the author changes
or deletes their own words (the koordinator may resolve or hide, never rewrite). Author, name
and times come from the session, never from the body. Then it writes through
`registry.edit`, so every open browser sees the change at once, and the notification watcher
notices it like any other commit.

Answers: 200/201 with `{"id": ...}`; errors as JSON `{"error": sentence}` (app.page_error
answers JSON to a request that accepts it): 400 bad text or anchor, 403 no form token or not
theirs, 404 not a member, no consent to comments or no such comment, 409 closed plan.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from typing import Any, TypeVar

from pycrdt import Doc
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from crdt.comments import (
    MAX_WORDS,
    WordsRefused,
    add_comment,
    add_message,
    anchor_ids,
    delete_comment,
    edit_words,
    hide_comment,
    set_resolved,
    words_of,
)
from crdt.room import RoomWriteFailed
from crdt.schema import AREA, COMMENT_LIST, COMMENTS, CONTENT, MESSAGES, utc_timestamp, zone_name
from server.core.access import Role, effective_access
from server.web.errors import BadRequest, Forbidden, NotFound, PageError, PlanClosed
from server.web.security import CSRF_FIELD, csrf_valid
from server.web.visit import PlanVisit, visit

log = logging.getLogger("samplan.comments")

T = TypeVar("T")
MAX_BODY = 64 * 1024  # far above MAX_WORDS in any encoding
MAX_ID = 100


class _Post:
    """One checked request: the member (who may write comments in an open plan), the body
    and the comments zone's id."""

    def __init__(self, v: PlanVisit, body: dict[str, Any], zone_id: int) -> None:
        self.v = v
        self.body = body
        self.zone_id = zone_id

    @property
    def author_id(self) -> str:
        return str(self.v.user.id)

    def text(self) -> str:
        value = self.body.get("text")
        if not isinstance(value, str):
            raise BadRequest("comments.error.bad")
        value = value.strip()
        if not value:
            raise BadRequest("comments.error.empty")
        if len(value) > MAX_WORDS:
            raise BadRequest("comments.error.too_long")
        return value

    async def edit(self, change: Callable[[Doc[Any]], T]) -> T:
        try:
            return await self.v.services.registry.edit(
                self.zone_id, change, COMMENTS, actor=self.v.user.id
            )
        except WordsRefused as refused:
            if refused.reason == "not_found":
                raise NotFound("comments.error.not_found") from None
            raise Forbidden(f"comments.error.{refused.reason}") from None
        except RoomWriteFailed:
            log.error("comments zone %s: write failed", self.zone_id)
            raise PageError(503, "error.generic") from None

    async def words(self, root: str, item_id: str) -> tuple[str | None, bool]:
        """The author id and hidden flag of one comment or message (404 if there is none)."""
        doc = await self.v.services.registry.read(self.zone_id)
        found = words_of(doc, root, item_id)
        if found is None:
            raise NotFound("comments.error.not_found")
        return found.author_id, found.hidden

    def audit(self, request: Request, action: str, item_id: str) -> None:
        self.v.audit(request, action, zone=COMMENTS, details={"item_id": item_id})


async def _post(request: Request) -> _Post:
    v = await visit(request)
    body = await _json_body(request)
    if not csrf_valid(request, v.services.secret_key, body.get(CSRF_FIELD)):
        raise Forbidden("form.expired")
    access = effective_access(v.role, COMMENTS, COMMENTS, v.member.consent, v.today, by_server=True)
    if access is None:
        raise NotFound()  # no consent to the comments zone: as if there were none
    if v.closed:
        raise PlanClosed()
    if access != "rw":
        raise Forbidden("comments.error.forbidden")
    zone = await v.services.plans.get_zone(v.plan.id, COMMENTS, "")
    if zone is None:
        raise NotFound()
    return _Post(v, body, zone.id)


async def _json_body(request: Request) -> dict[str, Any]:
    if request.headers.get("content-type", "").split(";")[0].strip() != "application/json":
        raise BadRequest("comments.error.bad")
    raw = await request.body()
    if len(raw) > MAX_BODY:
        raise BadRequest("comments.error.too_long")
    try:
        body = json.loads(raw)
    except ValueError:
        raise BadRequest("comments.error.bad") from None
    if not isinstance(body, dict):
        raise BadRequest("comments.error.bad")
    return body


def _item_id(request: Request) -> str:
    item_id = str(request.path_params["item_id"])
    if not item_id or len(item_id) > MAX_ID:
        raise NotFound("comments.error.not_found")
    return item_id


async def _anchor_exists(v: PlanVisit, anchor_id: str) -> bool:
    """Whether `anchor_id` names a section or item in a content or area zone the member may
    read (the same rule as the sockets': role table, then consent scope)."""
    for zone in await v.services.plans.list_zones(v.plan.id):
        if zone.kind not in (CONTENT, AREA):
            continue
        name = zone_name(zone.kind, zone.key)
        if effective_access(v.role, zone.kind, name, v.member.consent, v.today) is None:
            continue
        doc = await v.services.registry.read(zone.id)
        if anchor_id in anchor_ids(doc, zone.kind):
            return True
    return False


def _created(item_id: str) -> Response:
    return JSONResponse({"id": item_id}, status_code=201)


def _done(item_id: str) -> Response:
    return JSONResponse({"id": item_id})


async def comment_add(request: Request) -> Response:
    p = await _post(request)
    anchor = p.body.get("anchorId")
    if not isinstance(anchor, str) or not anchor or len(anchor) > MAX_ID:
        raise BadRequest("comments.error.anchor")
    text = p.text()
    if not await _anchor_exists(p.v, anchor):
        raise BadRequest("comments.error.anchor")
    item_id = await p.edit(add_comment(anchor, p.author_id, p.v.user.name, text, utc_timestamp()))
    p.audit(request, "comment_add", item_id)
    return _created(item_id)


async def comment_edit(request: Request) -> Response:
    return await _edit_own(request, COMMENT_LIST, "comment_edit")


async def comment_delete(request: Request) -> Response:
    p = await _post(request)
    item_id = _item_id(request)
    author, hidden = await p.words(COMMENT_LIST, item_id)
    if author != p.author_id:
        raise Forbidden("comments.error.not_author")
    if hidden:
        raise Forbidden("comments.error.hidden")  # the koordinator's trace stays
    await p.edit(delete_comment(item_id))
    p.audit(request, "comment_delete", item_id)
    return _done(item_id)


async def comment_resolve(request: Request) -> Response:
    p = await _post(request)
    item_id = _item_id(request)
    resolved = p.body.get("resolved", True)
    if not isinstance(resolved, bool):
        raise BadRequest("comments.error.bad")
    author, _ = await p.words(COMMENT_LIST, item_id)
    if author != p.author_id and p.v.role != Role.KOORDINATOR:
        raise Forbidden("comments.error.resolve")
    await p.edit(set_resolved(item_id, resolved, p.author_id, utc_timestamp()))
    p.audit(request, "comment_resolve" if resolved else "comment_reopen", item_id)
    return _done(item_id)


async def comment_hide(request: Request) -> Response:
    p = await _post(request)
    item_id = _item_id(request)
    if p.v.role != Role.KOORDINATOR:
        raise Forbidden("comments.error.hide")
    await p.words(COMMENT_LIST, item_id)
    await p.edit(hide_comment(item_id, p.author_id, p.v.user.name, utc_timestamp()))
    p.audit(request, "comment_hide", item_id)
    return _done(item_id)


async def message_add(request: Request) -> Response:
    p = await _post(request)
    text = p.text()
    item_id = await p.edit(add_message(p.author_id, p.v.user.name, text, utc_timestamp()))
    p.audit(request, "message_add", item_id)
    return _created(item_id)


async def message_edit(request: Request) -> Response:
    return await _edit_own(request, MESSAGES, "message_edit")


async def _edit_own(request: Request, root: str, action: str) -> Response:
    """A comment's or message's new words, by its author only; the earlier words stay in
    its history (crdt.comments.edit_words)."""
    p = await _post(request)
    item_id = _item_id(request)
    text = p.text()
    author, _ = await p.words(root, item_id)
    if author != p.author_id:
        raise Forbidden("comments.error.not_author")
    await p.edit(edit_words(root, item_id, text, utc_timestamp()))
    p.audit(request, action, item_id)
    return _done(item_id)
