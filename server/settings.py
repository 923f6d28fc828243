"""Configuration from `SAMPLAN_*` environment variables (and a `.env` file).

A wrong value fails at start-up with a message that names the variable, instead of surfacing
later as a confusing runtime error. This is a small reader of our own, not pydantic-settings:
pydantic and pydantic-settings cost every process ~20 MB and every `samplan` call ~0.2 s of
CPU for one class (docs/BENCHMARKS.md, "Memory at rest"). It keeps pydantic-settings' rules
for what we use: keyword arguments win over the environment, which wins over `.env` in the
working directory, which wins over the defaults; variable names are case-insensitive; other
`SAMPLAN_*` variables are ignored; a list is written as JSON (`["10.0.0.5", "10.1.0.0/16"]`);
a yes/no as 1/0, true/false, yes/no, on/off. One difference: `.env` values are taken as
written, `${OTHER}` is not expanded (python-dotenv did).
"""

from __future__ import annotations

import json
import os
import re
import secrets
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, ClassVar, Literal, get_args, get_origin, get_type_hints
from urllib.parse import urlsplit

PREFIX = "SAMPLAN_"
ENV_FILE = ".env"
# Never echoed in an error message or a repr.
_SECRET = frozenset({"secret_key", "smtp_password", "oidc_client_secret", "metrics_token"})


class SettingsError(ValueError):
    """One or more settings are wrong; the message names each variable and what it must be.
    A ValueError, so `samplan` prints it as one clear error and exits 2."""


class _Bound:
    """A default with bounds or a check of its own (pydantic's `Field(default, gt=..)`)."""

    __slots__ = ("default", "gt", "ge", "le", "check")

    def __init__(
        self,
        default: Any,
        *,
        gt: float | None = None,
        ge: float | None = None,
        le: float | None = None,
        check: Callable[[Any], Any] | None = None,
    ):
        self.default, self.gt, self.ge, self.le, self.check = default, gt, ge, le, check


def _bounded(
    default: Any,
    *,
    gt: float | None = None,
    ge: float | None = None,
    le: float | None = None,
    check: Callable[[Any], Any] | None = None,
) -> Any:
    return _Bound(default, gt=gt, ge=ge, le=le, check=check)


REDIS_PREFIX = re.compile(r"[0-9A-Za-z][0-9A-Za-z_.:-]{0,62}:")


def check_redis_prefix(value: str) -> str:
    """A prefix shared by every node of one installation: letters, digits and `_ . : -`,
    ending in `:` (so `samplan-test:` can never start another installation's
    `samplan-test2:` channels), at most 64 characters. The message follows "... must be"."""
    if not value:
        raise ValueError("set: it must not be empty (the default is 'samplan:')")
    if not REDIS_PREFIX.fullmatch(value):
        raise ValueError(
            "a prefix Samplan uses: at most 64 letters (a-z, A-Z), digits and '_', '.', ':', "
            "'-', starting with a letter or digit and ending in ':', e.g. 'samplan-test:'"
        )
    return value


class Settings:
    """Every setting, typed; `Settings(**overrides)` reads the environment for the rest."""

    var_dir: Path = Path("var")
    database_url: str = ""  # empty: SQLite file under var_dir
    redis_url: str = ""  # empty: single node
    # The start of every Redis channel and key this installation uses, so that two
    # installations (test and production, two municipalities) can share one Redis.
    redis_prefix: str = _bounded("samplan:", check=check_redis_prefix)
    # Nodes send their clients' edits of a zone to one node to commit (server/cluster/zones.py).
    # Off by default: measured slower than each node committing its own clients' edits
    # (docs/BENCHMARKS.md, "Forwarding").
    cluster_forward_edits: bool = False
    secret_key: str = ""  # empty: generated into var_dir on first run (single node only)
    allowed_origins: list[str] = ()  # type: ignore[assignment]  # a fresh list per instance
    # Proxies whose X-Forwarded-For / X-Forwarded-Proto are believed (IPs or networks, or "*").
    # Empty: none, the client address is the socket's peer (proxy_headers below).
    trusted_proxies: list[str] = ()  # type: ignore[assignment]
    host: str = "127.0.0.1"
    port: int = 8000

    sqlite_synchronous: Literal["FULL", "NORMAL"] = "FULL"
    max_frame_bytes: int = 2 * 1024 * 1024
    messages_per_second: float = 200.0
    message_burst: int = 400
    send_queue_frames: int = 2048
    # Relay frames written straight to the socket beneath ASGI when uvicorn's internals are
    # the known ones (server/sync/fast_send.py); false: every send through ASGI.
    direct_send: bool = True
    # The event loop `samplan serve` runs on: "auto" is uvloop where it is installed (it is a
    # dependency), "asyncio" the standard library's. uvloop halves the cost of accepting a
    # connection and cuts the relay's CPU per delivery (docs/BENCHMARKS.md); "asyncio" is the
    # way back if it is ever suspected of a fault, and what the stall tracer needs.
    event_loop: Literal["auto", "asyncio"] = "auto"
    room_grace_seconds: float = 10.0
    compact_after_updates: int = 1000
    # At most this long a durable write of edits is waited for: a database that hangs (no
    # answer, no refusal) then counts as lost, and the room's writers are sent away with 1013
    # "storage unavailable" rather than waiting for ever (crdt/committer.py). The same bound
    # holds a join's access check, a zone's load and a cluster catch-up (crdt/bounded.py).
    commit_timeout_seconds: float = _bounded(10.0, gt=0, le=600)
    # PostgreSQL only: no statement of the server (a page's, a job's) runs or waits longer
    # than this; a page whose statement is cut off gets 503 "try again" (storage.db,
    # postgres_timeouts). 0: no bound. Migrations are not bounded.
    statement_timeout_seconds: float = _bounded(30.0, ge=0, le=3600)
    access_poll_seconds: float = 1.0
    daily_version_check_seconds: float = 600.0  # 0: no daily versions (server/versions/pages.py)
    default_token_ttl_seconds: int = 8 * 3600
    session_ttl_seconds: int = 12 * 3600
    session_idle_seconds: int = 30 * 60
    # How often typing on sockets is written as session activity (one statement per round),
    # and expired sessions' open sockets are closed (server/sync/sessions.py).
    session_check_seconds: float = 60.0
    # The page warns this long before an idle session ends, with a button to continue.
    session_warn_seconds: int = 120
    # Failed log-ins: after a few, each further attempt waits base, 2x, 4x ... seconds, at most
    # max (server/auth/throttle.py). Never a lock: the right password gets in after that wait.
    login_backoff_base_seconds: float = _bounded(1.0, gt=0)
    login_backoff_max_seconds: float = _bounded(30.0, gt=0)
    # "Glemt passord" (server/auth/reset.py): how long a link works, and at most how many
    # links one account is sent, and one client address may ask for, per hour.
    password_reset_ttl_seconds: int = _bounded(3600, ge=60)
    password_reset_per_account_hour: int = _bounded(3, ge=1)
    password_reset_per_address_hour: int = _bounded(20, ge=1)
    log_level: str = "INFO"
    # "json": one JSON object per line (time, level, logger, event), for a log collector;
    # the same privacy rules as the text lines (server/logs.py).
    log_format: Literal["text", "json"] = "text"
    # `/metrics` (Prometheus) answers only `Authorization: Bearer <this>`; empty: no /metrics
    # at all (404), and no event-loop lag probe (server/ops/metrics.py).
    metrics_token: str = ""
    # Days a closed plan is kept before `samplan purge` deletes it (README: Retention).
    retention_days: int = _bounded(365, ge=1)
    # The server runs that purge itself this often, on the cluster's leader (86400: daily).
    # 0 (the default): never; the operator runs `samplan purge` (server/plans/purge_schedule.py).
    purge_interval_seconds: float = _bounded(0.0, ge=0)

    # OpenID Connect (ID-porten, HelseID): off while oidc_issuer is empty
    oidc_issuer: str = ""
    oidc_client_id: str = ""
    oidc_client_secret: str = ""
    oidc_scopes: str = "openid email profile"
    oidc_label: str = "ID-porten"
    oidc_user_claim: str = "email"  # ID-token claim matched against users.email

    # Notifications (issue 5). E-mail is off while smtp_host is empty; in-app always works.
    # The base of every absolute link the server writes (e-mails, .ics, the OIDC redirect URI),
    # never the request's Host header, which the client chooses (see public_link).
    public_url: str = "http://127.0.0.1:8000"
    smtp_host: str = ""
    smtp_port: int = 587
    smtp_username: str = ""
    smtp_password: str = ""
    smtp_from: str = "Samplan <samplan@localhost>"
    smtp_starttls: bool = True
    smtp_timeout_seconds: float = 30.0
    smtp_retry_seconds: float = 60.0  # first retry; doubles per attempt, at most an hour
    smtp_poll_seconds: float = 30.0
    notify_debounce_seconds: float = 1.0
    # A live zone's summary (Mine planer's and the KE overview's figures) is stored this long
    # after it changed, on every node holding the room (server/core/summary_writer.py).
    summary_delay_seconds: float = _bounded(1.0, gt=0, le=60)
    reminder_interval_seconds: float = 3600.0  # 0: never (tests run the job by hand)

    _fields: ClassVar[dict[str, _Field]]

    def __init__(self, **given: Any) -> None:
        unknown = sorted(given.keys() - self._fields.keys())
        if unknown:
            raise TypeError(f"Settings has no setting {', '.join(unknown)}")
        environment = _environment()
        problems: list[str] = []
        for name, spec in self._fields.items():
            if name in given:
                raw, source = given[name], name
            elif name in environment:
                raw, source = environment[name], PREFIX + name.upper()
            else:
                setattr(self, name, spec.fresh_default())
                continue
            try:
                setattr(self, name, spec.check(raw))
            except ValueError as exc:
                shown = "" if name in _SECRET else f", got {raw!r}"
                problems.append(f"{source} must be {exc}{shown}")
        if problems:
            raise SettingsError("; ".join(problems))

    def replace(self, **changes: Any) -> Settings:
        """A copy with some settings changed (checked like keyword arguments)."""
        values = {name: getattr(self, name) for name in self._fields}
        return Settings(**{**values, **changes})

    def __repr__(self) -> str:
        def shown(name: str) -> str:
            value = getattr(self, name)
            return "'***'" if name in _SECRET and value else repr(value)

        return f"Settings({', '.join(f'{name}={shown(name)}' for name in self._fields)})"

    def proxy_headers(self) -> tuple[bool, list[str] | None]:
        """uvicorn's `proxy_headers` and `forwarded_allow_ips`. uvicorn itself believes
        X-Forwarded-For from any local proxy (127.0.0.1) unless told otherwise; Samplan
        believes none unless SAMPLAN_TRUSTED_PROXIES names it, so the address in the access
        log and the log-in back-off is the socket's peer."""
        if not self.trusted_proxies:
            return False, None
        return True, list(self.trusted_proxies)

    def public_link(self, path: str = "/") -> str:
        """An absolute link to `path` (which starts with /) on this server, as people reach it."""
        return self.public_url.rstrip("/") + path

    def public_host(self) -> str:
        """The host name people reach this server by (the domain of .ics UIDs)."""
        return urlsplit(self.public_url).hostname or "samplan"

    def resolved_database_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite+aiosqlite:///{(self.var_dir / 'samplan.sqlite3').resolve()}"

    def resolved_secret_key(self) -> str:
        """Return the signing key, generating a per-installation one for the single-node default.

        Several nodes sharing a database must share a key, so a generated one is refused
        when Redis (scale-out) is configured.
        """
        if self.secret_key:
            return self.secret_key
        if self.redis_url:
            raise RuntimeError("SAMPLAN_SECRET_KEY must be set when several nodes share a database")
        path = self.var_dir / "secret_key"
        if not path.exists():
            self.var_dir.mkdir(parents=True, exist_ok=True)
            path.write_text(secrets.token_urlsafe(48))
            path.chmod(0o600)
        self.secret_key = path.read_text().strip()
        return self.secret_key


# --- reading and checking values ---------------------------------------------------------------

_TRUE = frozenset({"1", "true", "t", "yes", "y", "on"})
_FALSE = frozenset({"0", "false", "f", "no", "n", "off"})


def _to_str(raw: object) -> str:
    if not isinstance(raw, str):
        raise ValueError("text")
    return raw


def _to_int(raw: object) -> int:
    if isinstance(raw, bool):
        raise ValueError("a whole number")
    if isinstance(raw, int):
        return raw
    if isinstance(raw, float) and raw.is_integer():
        return int(raw)
    if isinstance(raw, str):
        try:
            return int(raw.strip())
        except ValueError:
            pass
    raise ValueError("a whole number")


def _to_float(raw: object) -> float:
    if isinstance(raw, (int, float)) and not isinstance(raw, bool):
        return float(raw)
    if isinstance(raw, str):
        try:
            return float(raw.strip())
        except ValueError:
            pass
    raise ValueError("a number")


def _to_bool(raw: object) -> bool:
    if isinstance(raw, bool):
        return raw
    if isinstance(raw, str) and raw.strip().lower() in _TRUE | _FALSE:
        return raw.strip().lower() in _TRUE
    raise ValueError("true or false (1/0, yes/no, on/off)")


def _to_path(raw: object) -> Path:
    if isinstance(raw, (str, os.PathLike)):
        return Path(raw)
    raise ValueError("a path")


def _to_str_list(raw: object) -> list[str]:
    value = raw
    if isinstance(raw, str):
        try:
            value = json.loads(raw)
        except json.JSONDecodeError:
            value = None
    if isinstance(value, (list, tuple)) and all(isinstance(v, str) for v in value):
        return list(value)
    raise ValueError('a JSON list of strings, like ["10.0.0.5", "10.1.0.0/16"]')


def _one_of(choices: tuple[str, ...]) -> Callable[[object], str]:
    def check(raw: object) -> str:
        if raw in choices:
            return str(raw)
        raise ValueError("one of " + ", ".join(choices))

    return check


class _Field:
    __slots__ = ("convert", "default", "gt", "ge", "le", "extra")

    def __init__(self, annotation: Any, declared: Any) -> None:
        bound = declared if isinstance(declared, _Bound) else None
        self.default = bound.default if bound else declared
        self.gt = bound.gt if bound else None
        self.ge = bound.ge if bound else None
        self.le = bound.le if bound else None
        self.extra = bound.check if bound else None
        self.convert = _converter(annotation)

    def fresh_default(self) -> Any:
        return list(self.default) if isinstance(self.default, tuple) else self.default

    def check(self, raw: object) -> Any:
        value = self.convert(raw)
        if self.gt is not None and not value > self.gt:
            raise ValueError(f"greater than {self.gt:g}")
        if self.ge is not None and not value >= self.ge:
            raise ValueError(f"at least {self.ge:g}")
        if self.le is not None and not value <= self.le:
            raise ValueError(f"at most {self.le:g}")
        return self.extra(value) if self.extra else value


_CONVERTERS: dict[Any, Callable[[object], Any]] = {
    str: _to_str,
    int: _to_int,
    float: _to_float,
    bool: _to_bool,
    Path: _to_path,
    list[str]: _to_str_list,
}


def _converter(annotation: Any) -> Callable[[object], Any]:
    if get_origin(annotation) is Literal:
        return _one_of(get_args(annotation))
    return _CONVERTERS[annotation]


Settings._fields = {
    name: _Field(annotation, getattr(Settings, name))
    for name, annotation in get_type_hints(Settings).items()
    if not name.startswith("_")
}
for _name in Settings._fields:  # the instance holds every value; the class keeps only the types
    delattr(Settings, _name)


def _environment() -> dict[str, str]:
    """`SAMPLAN_*` values by setting name: the process environment over `.env`."""
    found: dict[str, str] = {}
    for source in (_dotenv(Path(ENV_FILE)), os.environ):
        for key, value in source.items():
            if key.upper().startswith(PREFIX):
                found[key[len(PREFIX) :].lower()] = value
    return found


def _dotenv(path: Path) -> Mapping[str, str]:
    """`KEY=value` lines; `#` comments, blank lines and an `export ` prefix are allowed, and a
    value may be quoted ('...' or "..."). Lines without `=` are ignored."""
    try:
        text = path.read_text(encoding="utf-8")
    except (FileNotFoundError, IsADirectoryError, NotADirectoryError):
        return {}
    values: dict[str, str] = {}
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        line = line.removeprefix("export ").lstrip()
        key, sep, value = line.partition("=")
        if not sep:
            continue
        value = value.strip()
        if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
            value = value[1:-1]
        elif " #" in value:
            value = value.split(" #", 1)[0].rstrip()
        values[key.strip()] = value
    return values
