"""The background sender that drains `email_outbox` over SMTP, with retries and back-off.

The standard library's `smtplib`, run in a worker thread, rather than aiosmtplib: a handful
of short e-mails a minute needs no async SMTP client, and it is one dependency fewer to keep.
Each row is claimed with a lease first (storage.repositories.notifications), so several
nodes drain one outbox without sending a row twice; a failure releases the row with a
later `next_attempt_at` (exponential, capped), so nothing is lost. Logs name the row and the
failure's class or SMTP code, never the address or the text.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import smtplib
from datetime import timedelta
from email.message import EmailMessage
from email.utils import make_msgid

from server.core.background import BackgroundTask
from server.settings import Settings
from storage.models import utcnow
from storage.repositories.notifications import NotificationRepo, OutboxEmail

log = logging.getLogger("samplan.mailer")

MAX_BACKOFF_SECONDS = 3600.0


class EmailSender:
    def __init__(self, settings: Settings, notifications: NotificationRepo) -> None:
        self.settings = settings
        self.notifications = notifications
        self._wake = asyncio.Event()
        self._task = BackgroundTask("email-sender")
        self._stopping = False
        self.sent = 0
        self.failed = 0

    def start(self) -> None:
        if self.settings.smtp_host and not self._task.running:
            self._stopping = False  # started again (the cluster's leader changed back)
            self._task.start(self._run)
            log.info(
                "e-mail sender started (%s:%s)", self.settings.smtp_host, self.settings.smtp_port
            )

    def wake(self) -> None:
        self._wake.set()

    async def stop(self) -> None:
        """Let a send under way finish and be marked (cancelling it mid-send could send it
        again after the lease lapses), then stop."""
        self._stopping = True
        self._wake.set()
        await self._task.stop(grace=self.settings.smtp_timeout_seconds)

    async def _run(self) -> None:
        while not self._stopping:
            try:
                await self.drain()
            except Exception as exc:  # the database was away: try again on the next round
                log.error("e-mail sender round failed: %s", type(exc).__name__, exc_info=exc)
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self.settings.smtp_poll_seconds):
                    await self._wake.wait()
            self._wake.clear()

    async def drain(self) -> int:
        """Send what is due now; returns how many were sent."""
        sent = 0
        while True:
            batch = await self.notifications.claim_due(
                limit=20, lease_seconds=self.settings.smtp_timeout_seconds * 4
            )
            if not batch:
                return sent
            for email in batch:
                if self._stopping:  # released rows' leases lapse; another node sends them
                    return sent
                if await self._send_one(email):
                    sent += 1

    async def _send_one(self, email: OutboxEmail) -> bool:
        try:
            await asyncio.to_thread(self._deliver, email)
        except Exception as exc:
            self.failed += 1
            delay = min(
                self.settings.smtp_retry_seconds * 2 ** (email.attempts - 1), MAX_BACKOFF_SECONDS
            )
            error = _describe(exc)
            await self.notifications.mark_failed(
                email.id, error, utcnow() + timedelta(seconds=delay)
            )
            log.warning(
                "e-mail %s: attempt %d failed (%s); retry in %.0f s",
                email.id,
                email.attempts,
                error,
                delay,
                exc_info=exc,
            )
            return False
        await self.notifications.mark_sent(email.id)
        self.sent += 1
        log.info("e-mail %s sent (attempt %d)", email.id, email.attempts)
        return True

    def _deliver(self, email: OutboxEmail) -> None:
        s = self.settings
        message = EmailMessage()
        message["From"] = s.smtp_from
        message["To"] = email.to
        message["Subject"] = email.subject
        message["Message-ID"] = make_msgid(f"samplan-{email.id}")
        message.set_content(email.body)
        if email.calendar is not None:
            # METHOD:PUBLISH, like the file invitees download: the same UID and SEQUENCE, so
            # the entry is added once and later updated in place, whichever arrives first.
            message.add_attachment(
                email.calendar.encode(),
                maintype="text",
                subtype="calendar",
                filename="samplan-mote.ics",
                params={"method": "PUBLISH", "charset": "utf-8"},
            )
        with smtplib.SMTP(s.smtp_host, s.smtp_port, timeout=s.smtp_timeout_seconds) as smtp:
            if s.smtp_starttls:
                smtp.starttls()
            if s.smtp_username:
                smtp.login(s.smtp_username, s.smtp_password)
            smtp.send_message(message)


def _describe(exc: Exception) -> str:
    """The failure's class and SMTP code: enough to diagnose, nothing from the message."""
    code = getattr(exc, "smtp_code", None)
    return f"{type(exc).__name__} {code}" if code else type(exc).__name__
