"""Configuration from `SAMPLAN_*` environment variables (and a `.env` file).

pydantic-settings does the parsing so a wrong value fails at start-up with a message that
names the variable, instead of surfacing later as a confusing runtime error.
"""

from __future__ import annotations

import re
import secrets
from pathlib import Path
from typing import Literal
from urllib.parse import urlsplit

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="SAMPLAN_", env_file=".env", extra="ignore")

    var_dir: Path = Path("var")
    database_url: str = ""  # empty: SQLite file under var_dir
    redis_url: str = ""  # empty: single node
    # The start of every Redis channel and key this installation uses, so that two
    # installations (test and production, two municipalities) can share one Redis.
    redis_prefix: str = "samplan:"
    secret_key: str = ""  # empty: generated into var_dir on first run (single node only)
    allowed_origins: list[str] = Field(default_factory=list)
    # Proxies whose X-Forwarded-For / X-Forwarded-Proto are believed (IPs or networks, or "*").
    # Empty: none, the client address is the socket's peer (proxy_headers below).
    trusted_proxies: list[str] = Field(default_factory=list)
    host: str = "127.0.0.1"
    port: int = 8000

    sqlite_synchronous: Literal["FULL", "NORMAL"] = "FULL"
    max_frame_bytes: int = 2 * 1024 * 1024
    messages_per_second: float = 200.0
    message_burst: int = 400
    send_queue_frames: int = 2048
    room_grace_seconds: float = 10.0
    compact_after_updates: int = 1000
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
    login_backoff_base_seconds: float = Field(default=1.0, gt=0)
    login_backoff_max_seconds: float = Field(default=30.0, gt=0)
    # "Glemt passord" (server/auth/reset.py): how long a link works, and at most how many
    # links one account is sent, and one client address may ask for, per hour.
    password_reset_ttl_seconds: int = Field(default=3600, ge=60)
    password_reset_per_account_hour: int = Field(default=3, ge=1)
    password_reset_per_address_hour: int = Field(default=20, ge=1)
    log_level: str = "INFO"
    # "json": one JSON object per line (time, level, logger, event), for a log collector;
    # the same privacy rules as the text lines (server/logs.py).
    log_format: Literal["text", "json"] = "text"
    # `/metrics` (Prometheus) answers only `Authorization: Bearer <this>`; empty: no /metrics
    # at all (404), and no event-loop lag probe (server/ops/metrics.py).
    metrics_token: str = ""
    # Days a closed plan is kept before `samplan purge` deletes it (README: Retention).
    retention_days: int = Field(default=365, ge=1)

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
    summary_delay_seconds: float = Field(default=1.0, gt=0, le=60)
    reminder_interval_seconds: float = 3600.0  # 0: never (tests run the job by hand)

    @field_validator("redis_prefix")
    @classmethod
    def _redis_prefix(cls, value: str) -> str:
        return check_redis_prefix(value)

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


REDIS_PREFIX = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.:-]{0,62}:")


def check_redis_prefix(value: str) -> str:
    """A prefix shared by every node of one installation: letters, digits and `_ . : -`,
    ending in `:` (so `samplan-test:` can never start another installation's
    `samplan-test2:` channels), at most 64 characters."""
    if not value:
        raise ValueError("SAMPLAN_REDIS_PREFIX must not be empty (the default is 'samplan:')")
    if not REDIS_PREFIX.fullmatch(value):
        raise ValueError(
            f"SAMPLAN_REDIS_PREFIX {value!r} is not a prefix Samplan uses: at most 64 letters "
            "(a-z, A-Z), digits and '_', '.', ':', '-', starting with a letter or digit and "
            "ending in ':', e.g. 'samplan-test:'"
        )
    return value
