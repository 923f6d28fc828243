"""A real SMTP server for tests (aiosmtpd), and settings that send to it.

Every e-mail test receives what the product really sends over SMTP: `Inbox` keeps each
message (parsed, and raw to search for what must never be in it), and can refuse the first
few with 451 to show that a refused send is retried.
"""

from __future__ import annotations

import email
import email.policy
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from aiosmtpd.controller import Controller

from server.settings import Settings
from tests.conftest import make_settings
from tests.support.live import free_port

PUBLIC = "https://samplan.eksempelvik.test"


class Inbox:
    """An aiosmtpd handler that refuses the first `refuse` messages with 451, then keeps all."""

    def __init__(self, refuse: int = 0) -> None:
        self.refuse = refuse
        self.refused = 0
        self.port = 0
        self.messages: list[email.message.EmailMessage] = []
        self.raw: list[str] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        if self.refused < self.refuse:
            self.refused += 1
            return "451 4.3.0 Prøv igjen senere"
        data = envelope.content.decode("utf-8", "replace")
        self.raw.append(data)
        message = email.message_from_string(data, policy=email.policy.default)
        self.messages.append(message)  # type: ignore[arg-type]
        return "250 OK"

    def to(self, address: str) -> list[email.message.EmailMessage]:
        return [m for m in self.messages if m["To"] == address]


@contextmanager
def running_inbox(refuse: int = 0) -> Iterator[Inbox]:
    """An SMTP server on a free local port for as long as the block runs."""
    handler = Inbox(refuse)
    handler.port = free_port()
    controller = Controller(handler, hostname="127.0.0.1", port=handler.port)
    controller.start()
    try:
        yield handler
    finally:
        controller.stop()


def mail_settings(tmp_path: Path, inbox: Inbox, **overrides: Any) -> Settings:
    """Settings that send e-mail to `inbox` at once and retry quickly, with links on PUBLIC."""
    values: dict[str, Any] = {
        "smtp_host": "127.0.0.1",
        "smtp_port": inbox.port,
        "smtp_starttls": False,
        "smtp_from": "Samplan <samplan@eksempelvik.test>",
        "smtp_retry_seconds": 0.2,
        "smtp_poll_seconds": 0.2,
        "public_url": PUBLIC,
    }
    return make_settings(tmp_path, **(values | overrides))
