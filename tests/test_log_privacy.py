"""Logs keep the stack and never the content: with the product's logging at DEBUG, a failing
compaction, an SQL integrity error, a refused e-mail, a failing PDF and a page that raises
leave their exception types and frames in the log, and not one trace of the text a person
typed (a marker with æøå and an emoji in every field the failure could touch, and in the
exceptions' messages)."""

from __future__ import annotations

import contextlib
import io
import json
import logging
import os
import uuid
from collections.abc import Callable, Iterable, Iterator, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from aiosmtpd.controller import Controller
from pycrdt import Doc, Text
from sqlalchemy.exc import IntegrityError

import server.app
from crdt.committer import GroupCommitter
from crdt.peer import Peer
from crdt.protocol import encode_sync_update
from crdt.registry import RoomRegistry
from crdt.schema import append_item, get_root
from crdt.store import LoadedZoneLike
from server.logs import configure_logging, safe_traceback_text
from server.notify.mailer import EmailSender
from server.services import Repositories
from server.settings import Settings
from storage.db import write_session
from storage.models import User
from storage.repositories.notifications import EmailDraft, NewNotification
from storage.repositories.updates import ZoneLog
from tests.conftest import make_settings
from tests.support.live import LiveServer, free_port, live_server
from tests.support.waiting import wait_for
from tests.support.web import signed_in
from tests.support.world import ROLE_USERS, World

TAG = uuid.uuid4().hex
MARKER = f"Åse Ødegård 🌻 MARKØR-{TAG}"
MARKER_EMAIL = f"ase.odegard+markor-{TAG}@eksempelvik.test"


class Captured:
    """What the product's handlers wrote, and what a handler added later (without the
    product's filters, as a test's or an operator's would be) wrote. With
    `SAMPLAN_LOG_FORMAT=json` every product line must be one JSON object; it is read back
    as "LEVEL logger: event" and its `exc`, so the same checks hold for both formats."""

    def __init__(self, log_format: str = "text") -> None:
        self.log_format = log_format
        self.product = io.StringIO()
        self.later = io.StringIO()

    def product_text(self) -> str:
        raw = self.product.getvalue()
        if self.log_format == "text":
            return raw
        shown = []
        for line in raw.splitlines():
            entry = json.loads(line)  # one object per line, or this fails
            assert isinstance(entry, dict)
            assert {"time", "level", "logger", "event"} <= set(entry), entry
            assert set(entry) <= {"time", "level", "logger", "event", "process", "exc", "stack"}
            datetime.fromisoformat(entry["time"])
            shown.append(f"{entry['level']} {entry['logger']}: {entry['event']}")
            if "exc" in entry:
                shown.append(entry["exc"])
        return "\n".join(shown) + "\n"

    def text(self) -> str:
        return self.product.getvalue() + self.product_text() + self.later.getvalue()

    def assert_private(self) -> None:
        text = self.text()
        assert text, "nothing was logged"
        for needle in (MARKER, TAG, "MARKØR", "🌻"):
            assert needle not in text, f"{needle!r} reached the log:\n{text}"

    def assert_stack(self, *needles: str) -> None:
        text = self.product_text()
        missing = [n for n in needles if n not in text]
        assert not missing, f"{missing} not in the log:\n{text}"
        assert self.later.getvalue().count("Traceback") == text.count("Traceback")


_LOG_FORMAT = "text"


@pytest.fixture(autouse=True, params=["text", "json"])
def log_format(request: pytest.FixtureRequest) -> Iterator[str]:
    """Every test here runs with the product's text lines and with its JSON lines
    (`SAMPLAN_LOG_FORMAT=json`)."""
    global _LOG_FORMAT
    _LOG_FORMAT = request.param
    try:
        yield request.param
    finally:
        _LOG_FORMAT = "text"


@contextlib.contextmanager
def product_logging() -> Iterator[Captured]:
    """`configure_logging("DEBUG", format)` as `samplan serve` calls it, its handler writing
    to a buffer instead of stderr; pytest's own handlers are put back beside it."""
    root = logging.getLogger()
    saved_handlers, saved_level = root.handlers[:], root.level
    captured = Captured(_LOG_FORMAT)
    root.handlers = []  # basicConfig adds its handler only to a root logger without one
    try:
        with contextlib.redirect_stderr(captured.product):
            configure_logging("DEBUG", _LOG_FORMAT)
        ours = root.handlers[:]
        later = logging.StreamHandler(captured.later)
        later.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
        root.handlers.extend([*saved_handlers, later])
        yield captured
    finally:
        for handler in [*ours, later]:
            root.removeHandler(handler)
        root.handlers = saved_handlers
        root.setLevel(saved_level)


def _raise_chained(what: str) -> None:
    names: dict[str, int] = {}
    try:
        names[MARKER]
    except KeyError as exc:
        raise RuntimeError(f"{what} {MARKER}") from exc


class FailingStore:
    """A real ZoneLog whose compaction (and, when told, whose log writes) fail with the
    marker in the exceptions' messages."""

    def __init__(self, inner: ZoneLog) -> None:
        self.inner = inner
        self.fail_appends = False
        self.raised: list[BaseException] = []

    async def load(self, zone_id: int) -> LoadedZoneLike:
        return await self.inner.load(zone_id)

    async def append_batch(
        self, items: Sequence[tuple[int, bytes]], authors: Sequence[int | None] | None = None
    ) -> list[int]:
        if self.fail_appends:
            exc = OSError(28, f"No space left for {MARKER}")
            self.raised.append(exc)
            raise exc
        return await self.inner.append_batch(items)

    async def compact(
        self,
        zone_id: int,
        folded: Iterable[int],
        snapshot: bytes,
        items: Any = None,
        *,
        based_on: int | None = None,
        merge: Callable[[bytes], bytes] | None = None,
    ) -> int | None:
        try:
            _raise_chained("could not fold")
        except RuntimeError as exc:
            self.raised.append(exc)
            raise


class MemoryTransport:
    def __init__(self) -> None:
        self.closed: tuple[int, str] | None = None

    async def send_bytes(self, data: bytes) -> None:
        pass

    async def close(self, code: int, reason: str) -> None:
        self.closed = (code, reason)


def _edit(text: str, client_id: int) -> bytes:
    doc: Doc[Any] = Doc(client_id=client_id)
    doc.get("t", type=Text).insert(0, text)
    return doc.get_update()


async def _marked_plan(repos: Repositories) -> tuple[str, int]:
    """A plan whose every typed field holds the marker; (plan id, its area zone's id)."""
    municipality = await repos.plans.get_or_create_municipality(f"Kommune {MARKER}")
    plan = await repos.plans.create_plan(municipality, f"Plan for {MARKER}", MARKER)
    zone = await repos.plans.add_zone(plan.id, "area", "skole", f"Skole {MARKER}", 0)
    return plan.id, zone.id


@pytest.fixture
async def repos(settings: Settings) -> Any:
    repos = await Repositories.open(settings)
    try:
        yield repos
    finally:
        await repos.close()


async def test_a_failing_compaction_logs_its_stack_and_not_the_plan(
    repos: Repositories,
) -> None:
    with product_logging() as logged:
        _, zone_id = await _marked_plan(repos)
        store = FailingStore(repos.zone_log)
        committer = GroupCommitter(store)
        committer.start()
        registry = RoomRegistry(committer, grace_seconds=0.05)

        peer = Peer(MemoryTransport(), peer_id="a", can_write=True)
        room = await registry.join(zone_id, peer, "area")
        room.receive(peer, encode_sync_update(_edit(MARKER, 1)))
        await committer.flush()
        room.compact_in_background()
        await wait_for(lambda: "compaction failed" in logged.text(), what="compaction fails")

        registry.leave(room, peer)  # unloading compacts (and fails) after the grace period
        await peer.stop()
        await wait_for(lambda: zone_id not in registry.rooms, what="the room unloads")
        assert "compaction on unload failed" in logged.text()

        peer = Peer(MemoryTransport(), peer_id="b", can_write=True)
        room = await registry.join(zone_id, peer, "area")
        store.fail_appends = True  # the log write fails: the room sends everyone away
        room.receive(peer, encode_sync_update(_edit(f"{MARKER} igjen", 2)))
        await committer.flush()
        await wait_for(lambda: room.failed, what="the room fails")
        await peer.stop()
        store.fail_appends = False

        peer = Peer(MemoryTransport(), peer_id="c", can_write=True)
        room = await registry.join(zone_id, peer, "area")
        assert MARKER in str(room.doc.get("t", type=Text))
        await registry.close()  # compacts at shutdown (and fails)
        await peer.stop()
        await committer.stop()

    assert store.raised and all(MARKER in str(exc) for exc in store.raised)
    logged.assert_private()
    text = logged.text()
    for event in (
        f"room {zone_id}: compaction failed: RuntimeError",
        f"room {zone_id}: compaction on unload failed: RuntimeError",
        f"room {zone_id}: compaction at shutdown failed: RuntimeError",
        "group commit of 1 updates failed: OSError",
    ):
        assert event in text, text
    logged.assert_stack(
        "KeyError (message hidden)",
        "The above exception was the direct cause of the following exception",
        "RuntimeError (message hidden)",
        "OSError (message hidden)",
        "room.py",
        "in compact\n",
        "in _compact_in_background\n",
        "registry.py",
        "in unload\n",
        "in close\n",
        "committer.py",
        "in _write\n",
        "test_log_privacy.py",
        "in _raise_chained\n",
    )


async def test_an_integrity_error_shows_neither_its_parameters_nor_the_row(
    repos: Repositories, monkeypatch: pytest.MonkeyPatch
) -> None:
    # SQLAlchemy keeps its own log at WARNING unless asked; ask, as one would to debug.
    monkeypatch.setattr(logging.getLogger("sqlalchemy.engine"), "level", logging.DEBUG)
    with product_logging() as logged:
        user = await repos.users.create(MARKER_EMAIL, MARKER)
        found = await repos.users.get_by_email(MARKER_EMAIL)  # a row read back, too
        assert found is not None and found.id == user.id
        with pytest.raises(IntegrityError) as raised:
            # The repository checks first; what it guards against (another process inserting
            # between its check and its insert) is this insert on the same write path.
            async with write_session(repos.sessionmaker) as session:
                session.add(User(email=MARKER_EMAIL, name=f"{MARKER} to"))
        logging.getLogger("samplan.test").error("user insert failed", exc_info=raised.value)

    assert "parameters hidden" in str(raised.value) and TAG not in str(raised.value)
    logged.assert_private()
    logged.assert_stack(
        "sqlalchemy.exc.IntegrityError (message hidden)",
        "sqlite3.IntegrityError (message hidden)",
        "test_log_privacy.py",
        "in test_an_integrity_error_shows_neither_its_parameters_nor_the_row\n",
    )
    # SQLAlchemy's statement log names the statements, and neither parameters nor rows
    assert "INSERT INTO users" in logged.text() and "SELECT users.id" in logged.text()
    assert "[SQL parameters hidden due to hide_parameters=True]" in logged.text()
    assert "Row %r [values hidden]" in logged.text()


class Refusing:
    """An SMTP server that refuses every message with a reply echoing the address and the
    marker, as a real one may echo an address."""

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        return f"554 5.7.1 <{envelope.rcpt_tos[0]}> refused: {MARKER}"


@pytest.fixture
def refusing_smtp(monkeypatch: pytest.MonkeyPatch) -> Iterator[int]:
    # It stands in for another organisation's server: its own log (aiosmtpd's, which quotes
    # the envelope) is not the product's.
    monkeypatch.setattr(logging.getLogger("mail.log"), "disabled", True)
    port = free_port()
    controller = Controller(Refusing(), hostname="127.0.0.1", port=port, enable_SMTPUTF8=True)
    controller.start()
    try:
        yield port
    finally:
        controller.stop()


async def test_a_refused_email_logs_the_smtp_code_and_no_address(
    tmp_path: Path, refusing_smtp: int
) -> None:
    settings = make_settings(
        tmp_path,
        smtp_host="127.0.0.1",
        smtp_port=refusing_smtp,
        smtp_starttls=False,
        smtp_timeout_seconds=20,
    )
    repos = await Repositories.open(settings)
    try:
        with product_logging() as logged:
            plan_id, _ = await _marked_plan(repos)
            user = await repos.users.create(MARKER_EMAIL, MARKER)
            draft = EmailDraft(MARKER_EMAIL, f"Ny melding fra {MARKER}", f"Hei {MARKER}!")
            await repos.notifications.record(
                [NewNotification(user.id, plan_id, "message", None, "/", f"d-{TAG}", draft)]
            )
            sender = EmailSender(settings, repos.notifications)
            assert await sender.drain() == 0
            (row,) = await repos.notifications.outbox()
    finally:
        await repos.close()

    assert row.last_error == "SMTPDataError 554" and row.sent_at is None
    logged.assert_private()
    assert "attempt 1 failed (SMTPDataError 554)" in logged.text()
    logged.assert_stack("smtplib.SMTPDataError (message hidden)", "mailer.py", "in _deliver\n")


async def test_a_failing_pdf_logs_its_stack_and_not_the_plan(
    web: LiveServer, world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def failing_render(html: str) -> bytes:
        _raise_chained(f"layout failed ({MARKER in html})")
        raise AssertionError("unreachable")

    with product_logging() as logged:
        services = web.services
        await services.registry.edit(
            world.zones["area/skole"],
            lambda doc: append_item(get_root(doc, "area", "goals"), {"title": MARKER}),
            "area",
            actor=None,
        )
        monkeypatch.setattr(services.pdf, "render", failing_render)
        async with signed_in(web.http, ROLE_USERS["koordinator"][0]) as http:
            printed = await http.get(f"/plans/{world.plan_id}/print")
            response = await http.get(f"/plans/{world.plan_id}/export.pdf")

    assert MARKER in printed.text  # the plan holds the marker
    assert response.status_code == 500
    logged.assert_private()
    assert f"pdf failed plan_id={world.plan_id}: RuntimeError" in logged.text()
    logged.assert_stack(
        "KeyError (message hidden)",
        "RuntimeError (message hidden)",
        "transfer/pages.py",
        "in export_pdf\n",
        "in failing_render\n",
    )


async def test_a_page_that_raises_leaves_no_content_in_uvicorns_log(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def home(request: Any) -> Any:
        _raise_chained("the page broke on")

    monkeypatch.setattr(server.app, "home", home)
    with product_logging() as logged:
        async with (
            live_server(settings) as live,
            httpx.AsyncClient(base_url=live.http, timeout=60) as http,
        ):
            response = await http.get("/", headers={"x-note": TAG})
            assert response.status_code == 500

    logged.assert_private()
    assert "Exception in ASGI application" in logged.text()
    logged.assert_stack(
        "KeyError (message hidden)",
        "RuntimeError (message hidden)",
        "test_log_privacy.py",
        "in home\n",
    )


def test_a_traceback_given_as_text_keeps_frames_and_types_only() -> None:
    """Starlette hands uvicorn a failed lifespan as text; a worker process's traceback comes
    back as text too."""
    text = (
        "Traceback (most recent call last):\n"
        '  File "/srv/samplan/server/services.py", line 12, in start\n'
        "    await self.open()\n"
        "    ^^^^^^^^^^^^^^^^^\n"
        f"sqlalchemy.exc.IntegrityError: (sqlite3.IntegrityError) {MARKER}\n"
        f"  DETAIL: Key (email)=({MARKER_EMAIL}) already exists.\n"
    )
    safe = safe_traceback_text(text)
    assert TAG not in safe and "Ø" not in safe
    assert safe.splitlines() == [
        "Traceback (most recent call last):",
        '  File "/srv/samplan/server/services.py", line 12, in start',
        "    await self.open()",
        "    ^^^^^^^^^^^^^^^^^",
        "sqlalchemy.exc.IntegrityError (message hidden)",
    ]


def test_json_lines_carry_the_event_and_safe_fields_only(log_format: str) -> None:
    """One object per line with time, level, logger, event (and the process, for several
    nodes on one host); an exception as types and frames; tokens scrubbed from URLs."""
    with product_logging() as logged:
        logging.getLogger("samplan.room").info("room %s: folded %d updates", 17, 3)
        try:
            _raise_chained("a write failed for")
        except RuntimeError as exc:
            logging.getLogger("samplan.committer").error("group commit failed", exc_info=exc)
        logging.getLogger("uvicorn.access").info(
            '%s - "%s %s HTTP/%s" %d',
            "10.0.0.7",
            "GET",
            f"/ws/plan/p/content?token={TAG}",
            "1.1",
            101,
        )
    logged.assert_private()
    lines = logged.product.getvalue().splitlines()
    if log_format == "text":
        assert all(not line.startswith("{") for line in lines)
        return
    entries = [json.loads(line) for line in lines]
    by_logger = {entry["logger"]: entry for entry in entries}
    folded = by_logger["samplan.room"]
    assert (folded["level"], folded["event"]) == ("INFO", "room 17: folded 3 updates")
    assert folded["process"] == os.getpid()
    failed = by_logger["samplan.committer"]
    assert failed["level"] == "ERROR" and failed["event"] == "group commit failed"
    assert "RuntimeError (message hidden)" in failed["exc"]
    assert "KeyError (message hidden)" in failed["exc"]
    assert "in _raise_chained" in failed["exc"]
    access = by_logger["uvicorn.access"]
    assert access["event"] == '10.0.0.7 - "GET /ws/plan/p/content?token=[scrubbed] HTTP/1.1" 101'


def test_uvicorns_line_per_websocket_is_left_out() -> None:
    """samplan.ws logs each join and leave; uvicorn's and websockets' three lines per socket
    are dropped, and everything else uvicorn says is kept (its refusals, its start-up)."""
    uvicorn_log = logging.getLogger("uvicorn.error")
    with product_logging() as logged:
        path = "/ws/plan/p/area/skole-og-læring?token=hemmelig"
        uvicorn_log.info('%s - "WebSocket %s" [accepted]', "10.0.0.7:5123", path)
        uvicorn_log.info("connection open")
        logging.getLogger("samplan.ws").info("peer 7 joined zone 3 (user 2, deltaker)")
        uvicorn_log.info("connection closed")
        uvicorn_log.info('%s - "WebSocket %s" 403', "10.0.0.7:5124", path)
        uvicorn_log.info("Started server process [%d]", 4242)
    text = logged.product.getvalue()
    assert "peer 7 joined zone 3" in text and '"WebSocket' in text and " 403" in text
    assert "Started server process [4242]" in text
    assert "[accepted]" not in text and "connection open" not in text
    assert "connection closed" not in text
    assert "hemmelig" not in text  # the refused socket's line keeps its token scrubbed
