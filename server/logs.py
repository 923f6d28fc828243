"""Logging set-up: events and stacks, never content.

Samplan holds health data. An exception's message can quote plan text, a name, an e-mail
address or an SQL parameter (PostgreSQL's "Key (email)=(...) already exists"), and a library's
debug lines print rows and frames; none of that may reach a log. What is kept is what a
developer needs to find a bug: the exception's type, its chained causes by type, and every
frame (file, line, function and the line of code, which is code, not content).

`install_log_privacy` makes every record safe where it is made (a log-record factory), so the
rule holds for every handler, also those added later (uvicorn's, a test's); the same rule is a
filter on the handlers present, for records that were made elsewhere. Our own messages carry
ids and counts by construction; crdt/ and storage/ log exceptions with `exc_info=exc` and rely
on this module to render them. Tokens are scrubbed too: uvicorn logs WebSocket URLs with the
query, and every request's path (an invitation link's token is in its path).
"""

from __future__ import annotations

import json
import logging
import re
import traceback
from collections.abc import Mapping
from datetime import UTC, datetime
from types import TracebackType
from typing import Any

_TOKEN = re.compile(r"(token=)[^&\s\"']+")
_INVITATION = re.compile(r"(/invitation/)[^/?&\s\"']+")  # the link is the secret (issue 12)

OWN_LOGGERS = ("samplan", "server", "crdt", "storage")
"""Top-level logger names whose messages we write (ids and counts only)."""

_CAUSE = "\nThe above exception was the direct cause of the following exception:\n\n"
_CONTEXT = "\nDuring handling of the above exception, another exception occurred:\n\n"
_MAX_CHAIN = 32
_MAX_GROUP = 15
_TRACEBACK = "Traceback (most recent call last):"
_FRAME = re.compile(r'^\s*File ".*", line \d+, in \S+$')
_CARETS = re.compile(r"^\s*[~^]+\s*$")
_HIDDEN = "(message hidden)"
_VALUES_HIDDEN = " [values hidden]"
_VALUE_START = re.compile(r"[=:(\[{<'\"\n]")
_TYPE = re.compile(r"^[A-Za-z_][\w.]*(?=:|$| \(message hidden\)$)")


def safe_traceback(exc: BaseException, tb: TracebackType | None = None) -> str:
    """`exc` as a traceback without any message: types and frames of it and its causes."""
    out: list[str] = []
    _render(exc, tb if tb is not None else exc.__traceback__, out, set(), 0)
    return "".join(out).rstrip("\n")


def _render(
    exc: BaseException, tb: TracebackType | None, out: list[str], seen: set[int], depth: int
) -> None:
    seen.add(id(exc))
    cause = exc.__cause__
    context = None if exc.__suppress_context__ else exc.__context__
    if depth < _MAX_CHAIN:
        if cause is not None and id(cause) not in seen:
            _render(cause, cause.__traceback__, out, seen, depth + 1)
            out.append(_CAUSE)
        elif context is not None and id(context) not in seen:
            _render(context, context.__traceback__, out, seen, depth + 1)
            out.append(_CONTEXT)
    if tb is not None:
        out.append(_TRACEBACK + "\n")
        out.extend(traceback.StackSummary.extract(traceback.walk_tb(tb)).format())
    out.append(f"{_type_name(type(exc))} {_HIDDEN}\n")
    remote = getattr(exc, "tb", None)
    if type(exc).__name__ == "_RemoteTraceback" and isinstance(remote, str):
        # concurrent.futures carries a worker process's traceback (the PDF renderer's) as text
        out.append(safe_traceback_text(remote) + "\n")
    if isinstance(exc, BaseExceptionGroup):
        for i, sub in enumerate(exc.exceptions[:_MAX_GROUP], 1):
            inner: list[str] = []
            _render(sub, sub.__traceback__, inner, seen, depth + 1)
            out.append(f"+---------------- {i} ----------------\n")
            out.extend(f"| {line}\n" for line in "".join(inner).rstrip("\n").split("\n"))


def _type_name(cls: type[BaseException]) -> str:
    if cls.__module__ in ("builtins", "__main__"):
        return cls.__qualname__
    return f"{cls.__module__}.{cls.__qualname__}"


def safe_traceback_text(text: str) -> str:
    """A traceback that is already text (a worker process's; Starlette's for a failed
    lifespan) with only its frames, code lines and exception types kept."""
    kept: list[str] = []
    state = "outside"  # "frames" inside a traceback; "source" right after a File line
    for line in text.splitlines():
        stripped = line.strip()
        if stripped == _TRACEBACK:
            kept.append(line)
            state = "frames"
        elif state == "outside":
            if stripped.startswith(("The above exception", "During handling of the above")):
                kept.append(stripped)
        elif _FRAME.match(line):
            kept.append(line)
            state = "source"
        elif state == "source" and line.startswith("    ") and not _CARETS.match(line):
            kept.append(line)  # the frame's line of code
        elif _CARETS.match(line) or stripped.startswith("[Previous line repeated"):
            kept.append(line)
        else:  # the exception line ends the traceback: its type, never its message
            found = _TYPE.match(line)
            kept.append(f"{found.group(0) if found else '?'} {_HIDDEN}")
            state = "outside"
    return "\n".join(kept)


def make_safe(record: logging.LogRecord) -> None:
    """Strip `record` of what could carry content (idempotent)."""
    if record.exc_info:
        _, exc, tb = record.exc_info
        record.exc_info = None
        if exc is None:
            record.exc_text = None
        else:
            try:
                record.exc_text = safe_traceback(exc, tb)
            except Exception:  # never let logging a failure fail the caller
                record.exc_text = f"{_type_name(type(exc))} {_HIDDEN} (its stack could not be read)"
    if record.name.split(".", 1)[0] in OWN_LOGGERS:
        return
    if record.levelno < logging.INFO:
        # A library's debug lines print values: SQLAlchemy its rows, websockets its frames,
        # httpcore the headers it got. Keep the template, or the text before the first value.
        if record.args or not isinstance(record.msg, str):
            template = record.msg if isinstance(record.msg, str) else type(record.msg).__name__
            record.msg, record.args = f"{template}{_VALUES_HIDDEN}", ()
        elif not record.msg.endswith(_VALUES_HIDDEN):
            value = _VALUE_START.search(record.msg)
            if value is not None:
                record.msg = f"{record.msg[: value.start()].rstrip()}{_VALUES_HIDDEN}"
        return
    if record.name != "asyncio" and not _quotes_traceback(record):
        return
    try:
        message = record.getMessage()
    except Exception:  # a bad call: logging reports it when a handler formats the record
        return
    if record.name == "asyncio":
        # "Task exception was never retrieved" is followed by the task's repr, which quotes the
        # exception; "Exception in callback f(...)" quotes the callback's arguments.
        record.msg, record.args = message.split("\n", 1)[0].split("(", 1)[0].rstrip(), ()
    elif _TRACEBACK in message:  # uvicorn logs Starlette's text of a failed lifespan
        before, _, rest = message.partition(_TRACEBACK)
        record.msg, record.args = before + safe_traceback_text(_TRACEBACK + rest), ()


def _quotes_traceback(record: logging.LogRecord) -> bool:
    args = record.args
    values = args.values() if isinstance(args, Mapping) else (args or ())
    return any(isinstance(v, str) and _TRACEBACK in v for v in (record.msg, *values))


class SafeRecords(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        make_safe(record)
        return True


class ScrubTokens(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        if "token=" in message or "/invitation/" in message:
            message = _TOKEN.sub(r"\1[scrubbed]", message)
            record.msg = _INVITATION.sub(r"\1[scrubbed]", message)
            record.args = ()
        return True


class SocketChatter(logging.Filter):
    """Drops the lines uvicorn and websockets write for every WebSocket ("... [accepted]",
    "connection open", "connection closed"): samplan.ws logs each join and leave with its
    zone, role and duration, so these only tripled the log of a busy node, and were made and
    written while the newcomer waited for its document (issue 16, "late join")."""

    def filter(self, record: logging.LogRecord) -> bool:
        msg = record.msg
        if msg in _SOCKET_CHATTER:
            return False
        return not (isinstance(msg, str) and msg.endswith(_ACCEPTED))


_SOCKET_CHATTER = frozenset({"connection open", "connection closed"})
_ACCEPTED = "[accepted]"  # the template's end, and the line's once the token was scrubbed
_SAFE = SafeRecords()
_SCRUB = ScrubTokens()
_FACTORY_MARK = "_samplan_safe_records"


def _install_safe_factory() -> None:
    previous = logging.getLogRecordFactory()
    if getattr(previous, _FACTORY_MARK, False):
        return

    def factory(*args: Any, **kwargs: Any) -> logging.LogRecord:
        record = previous(*args, **kwargs)
        make_safe(record)
        return record

    setattr(factory, _FACTORY_MARK, True)
    logging.setLogRecordFactory(factory)


def install_token_scrubber() -> None:
    """Filter the loggers uvicorn writes URLs to (idempotent: a filter is added once)."""
    _install_filters(_SCRUB)


def _install_filters(*filters: logging.Filter) -> None:
    for name in ("", "uvicorn", "uvicorn.error", "uvicorn.access"):
        logger = logging.getLogger(name)
        for f in filters:
            if f not in logger.filters:
                logger.addFilter(f)
            for handler in logger.handlers:
                if f not in handler.filters:
                    handler.addFilter(f)


def install_log_privacy() -> None:
    """Make every record safe (no exception messages, no library values, no tokens)."""
    _install_safe_factory()
    sockets = logging.getLogger("uvicorn.error")  # where uvicorn has websockets log, too
    if not any(isinstance(f, SocketChatter) for f in sockets.filters):
        sockets.addFilter(SocketChatter())  # first: a dropped line is not scrubbed in vain
    _install_filters(_SAFE, _SCRUB)


class JsonLines(logging.Formatter):
    """One JSON object per line, for a log collector (`SAMPLAN_LOG_FORMAT=json`): `time`
    (UTC, ISO 8601 with milliseconds), `level`, `logger`, `event` (the message, with the same
    ids and counts as the text line), `process` (which node, with several on one host) and,
    for an exception, `exc`: its types and frames, never its message (`make_safe`). The
    record has been made safe before it gets here; this only changes the shape."""

    def format(self, record: logging.LogRecord) -> str:
        make_safe(record)  # idempotent: also a record made before the factory was installed
        entry: dict[str, object] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "event": record.getMessage(),
            "process": record.process,
        }
        if record.exc_text:
            entry["exc"] = record.exc_text
        if record.stack_info:
            entry["stack"] = record.stack_info
        return json.dumps(entry, ensure_ascii=False)


def configure_logging(level: str = "INFO", log_format: str = "text") -> None:
    """The process's logging: text lines, or JSON lines (`log_format="json"`), on stderr."""
    if log_format == "json":
        handler = logging.StreamHandler()
        handler.setFormatter(JsonLines())
        logging.basicConfig(level=level, handlers=[handler])
    else:
        logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    install_log_privacy()
