"""Notifications, their e-mail outbox and each user's e-mail preferences (issue 5).

Recording is idempotent by `dedupe_key`: the insert is `ON CONFLICT DO NOTHING`, so the same
event seen by two nodes, or a reminder job run twice (or on two nodes at once), leaves one row
and one e-mail. The e-mail row is written in the same transaction as its notification, so a
notification is never recorded without its e-mail, nor an e-mail queued twice.

Outbox rows are claimed with one conditional UPDATE (a lease, `claimed_until`): two senders
never hold the same row, and a sender that died mid-send lets the lease lapse so the row is
retried. Nothing here holds plan content: callers pass subjects and bodies without it.
"""

from __future__ import annotations

import logging
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import case, delete, func, or_, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from storage.db import engine_of, is_sqlite, write_session
from storage.errors import InvalidValue
from storage.models import (
    NOTIFICATION_KINDS,
    EmailOutbox,
    Membership,
    Notification,
    NotificationPref,
    User,
    utcnow,
)

log = logging.getLogger(__name__)

# E-mail on by default for these kinds; comments can be chatty, so they are opt-in.
EMAIL_DEFAULTS: dict[str, bool] = {kind: kind != "comment" for kind in NOTIFICATION_KINDS}
MAX_ERROR = 500


@dataclass(frozen=True, slots=True)
class EmailDraft:
    to: str
    subject: str
    body: str
    calendar: str | None = None  # an .ics attachment (text), never plan content


@dataclass(frozen=True, slots=True)
class NewNotification:
    user_id: int
    plan_id: str
    kind: str
    item_id: str | None
    link: str
    dedupe_key: str
    email: EmailDraft | None = None


@dataclass(frozen=True, slots=True)
class NotificationRecord:
    id: int
    user_id: int
    plan_id: str
    kind: str
    item_id: str | None
    link: str
    created_at: datetime
    read_at: datetime | None


@dataclass(frozen=True, slots=True)
class OutboxEmail:
    id: int
    notification_id: int | None  # None: an invitation or a password reset link
    to: str
    subject: str
    body: str
    attempts: int  # including the one now under way
    sent_at: datetime | None
    last_error: str | None
    calendar: str | None = None


def _record(row: Notification) -> NotificationRecord:
    return NotificationRecord(
        row.id,
        row.user_id,
        row.plan_id,
        row.kind,
        row.item_id,
        row.link,
        row.created_at,
        row.read_at,
    )


def _email(row: EmailOutbox) -> OutboxEmail:
    return OutboxEmail(
        row.id,
        row.notification_id,
        row.to,
        row.subject,
        row.body,
        row.attempts,
        row.sent_at,
        row.last_error,
        row.calendar,
    )


def _check_kind(kind: str) -> None:
    if kind not in NOTIFICATION_KINDS:
        raise InvalidValue(f"unknown notification kind {kind!r}")


class NotificationRepo:
    def __init__(self, sessionmaker: async_sessionmaker[AsyncSession]) -> None:
        self._sessionmaker = sessionmaker
        self._sqlite = is_sqlite(engine_of(sessionmaker))

    # -- recording ----------------------------------------------------------------------

    async def record(self, items: Sequence[NewNotification]) -> list[NotificationRecord]:
        """Insert each notification unless its dedupe_key exists; queue its e-mail if it was
        new. Returns the ones this call inserted (another node's duplicates are left out)."""
        for item in items:
            _check_kind(item.kind)
        if not items:
            return []
        insert = sqlite_insert if self._sqlite else pg_insert
        created: list[NotificationRecord] = []
        now = utcnow()
        async with write_session(self._sessionmaker) as session:
            for item in items:
                stmt = (
                    insert(Notification)
                    .values(
                        user_id=item.user_id,
                        plan_id=item.plan_id,
                        kind=item.kind,
                        item_id=item.item_id,
                        link=item.link,
                        created_at=now,
                        dedupe_key=item.dedupe_key,
                    )
                    .on_conflict_do_nothing(index_elements=["dedupe_key"])
                    .returning(Notification.id)
                )
                new_id = (await session.execute(stmt)).scalar_one_or_none()
                if new_id is None:
                    continue
                created.append(
                    NotificationRecord(
                        int(new_id),
                        item.user_id,
                        item.plan_id,
                        item.kind,
                        item.item_id,
                        item.link,
                        now,
                        None,
                    )
                )
                if item.email is not None:
                    session.add(
                        EmailOutbox(
                            notification_id=int(new_id),
                            to=item.email.to,
                            subject=item.email.subject,
                            body=item.email.body,
                            calendar=item.email.calendar,
                            next_attempt_at=now,
                            created_at=now,
                        )
                    )
        if created:
            log.info("recorded %d notification(s)", len(created))
        return created

    # -- reading and marking read ---------------------------------------------------------

    async def list_for_user(self, user_id: int, limit: int = 100) -> list[NotificationRecord]:
        """Newest first."""
        async with self._sessionmaker() as session:
            rows = await session.scalars(
                select(Notification)
                .where(Notification.user_id == user_id)
                .order_by(Notification.id.desc())
                .limit(limit)
            )
            return [_record(row) for row in rows]

    async def get(self, user_id: int, notification_id: int) -> NotificationRecord | None:
        """The user's own notification only (another user's id is as absent as a missing one)."""
        async with self._sessionmaker() as session:
            row = await session.get(Notification, notification_id)
            return _record(row) if row is not None and row.user_id == user_id else None

    async def unread_count(self, user_id: int) -> int:
        """Unread notifications in plans the user is still a member of (what the list shows)."""
        async with self._sessionmaker() as session:
            count = await session.scalar(
                select(func.count())
                .select_from(Notification)
                .join(
                    Membership,
                    (Membership.plan_id == Notification.plan_id)
                    & (Membership.user_id == Notification.user_id),
                )
                .where(Notification.user_id == user_id, Notification.read_at.is_(None))
            )
            return int(count or 0)

    async def unread_by_plan(self, user_id: int, kind: str) -> dict[str, int]:
        """Unread notifications of one kind per plan, in one query (Mine planer's counts)."""
        _check_kind(kind)
        async with self._sessionmaker() as session:
            rows = await session.execute(
                select(Notification.plan_id, func.count())
                .where(
                    Notification.user_id == user_id,
                    Notification.kind == kind,
                    Notification.read_at.is_(None),
                )
                .group_by(Notification.plan_id)
            )
            return {plan_id: int(count) for plan_id, count in rows}

    async def mark_read(
        self,
        user_id: int,
        *,
        notification_id: int | None = None,
        plan_id: str | None = None,
        kind: str | None = None,
    ) -> int:
        """Mark the user's unread notifications read (one, or those of a plan and/or kind, or
        all); returns how many changed."""
        if kind is not None:
            _check_kind(kind)
        conditions = [Notification.user_id == user_id, Notification.read_at.is_(None)]
        if notification_id is not None:
            conditions.append(Notification.id == notification_id)
        if plan_id is not None:
            conditions.append(Notification.plan_id == plan_id)
        if kind is not None:
            conditions.append(Notification.kind == kind)
        async with write_session(self._sessionmaker) as session:
            result = await session.execute(
                update(Notification)
                .where(*conditions)
                .values(read_at=utcnow())
                .execution_options(synchronize_session=False)
            )
            return int(getattr(result, "rowcount", 0) or 0)

    # -- preferences --------------------------------------------------------------------

    async def email_prefs(self, user_id: int) -> dict[str, bool]:
        """Every kind with the user's choice, or its default."""
        async with self._sessionmaker() as session:
            rows = await session.execute(
                select(NotificationPref.kind, NotificationPref.email).where(
                    NotificationPref.user_id == user_id
                )
            )
            return {**EMAIL_DEFAULTS, **{kind: bool(email) for kind, email in rows}}

    async def set_email_prefs(self, user_id: int, prefs: Mapping[str, bool]) -> None:
        """Store the user's choice for every kind given (all in one transaction)."""
        for kind in prefs:
            _check_kind(kind)
        async with write_session(self._sessionmaker) as session:
            await session.execute(
                delete(NotificationPref).where(
                    NotificationPref.user_id == user_id, NotificationPref.kind.in_(list(prefs))
                )
            )
            session.add_all(
                NotificationPref(user_id=user_id, kind=kind, email=bool(email))
                for kind, email in prefs.items()
            )

    async def wants_email(self, user_ids: Collection[int], kind: str) -> set[int]:
        """Which of these users want e-mail for `kind` (never a deactivated account)."""
        _check_kind(kind)
        ids = list(dict.fromkeys(user_ids))
        if not ids:
            return set()
        async with self._sessionmaker() as session:
            off = set(
                await session.scalars(
                    select(User.id).where(User.id.in_(ids), User.deactivated_at.is_not(None))
                )
            )
            ids = [u for u in ids if u not in off]
            rows = await session.execute(
                select(NotificationPref.user_id, NotificationPref.email).where(
                    NotificationPref.kind == kind, NotificationPref.user_id.in_(ids)
                )
            )
            chosen = {user_id: bool(email) for user_id, email in rows}
        return {u for u in ids if chosen.get(u, EMAIL_DEFAULTS[kind])}

    # -- the outbox ---------------------------------------------------------------------

    async def claim_due(
        self, limit: int = 20, lease_seconds: float = 120.0, now: datetime | None = None
    ) -> list[OutboxEmail]:
        """Claim up to `limit` unsent e-mails that are due and not held by another sender.

        Each claim is one UPDATE guarded by the same conditions, so when two senders pick the
        same candidate only one UPDATE matches it.
        """
        now = now or utcnow()
        free = or_(EmailOutbox.claimed_until.is_(None), EmailOutbox.claimed_until < now)
        due = (EmailOutbox.sent_at.is_(None), EmailOutbox.next_attempt_at <= now, free)
        async with self._sessionmaker() as session:
            candidates = list(
                await session.scalars(
                    select(EmailOutbox.id).where(*due).order_by(EmailOutbox.id).limit(limit)
                )
            )
        claimed: list[OutboxEmail] = []
        for outbox_id in candidates:
            async with write_session(self._sessionmaker) as session:
                result = await session.execute(
                    update(EmailOutbox)
                    .where(EmailOutbox.id == outbox_id, *due)
                    .values(
                        claimed_until=now + timedelta(seconds=lease_seconds),
                        attempts=EmailOutbox.attempts + 1,
                    )
                    .execution_options(synchronize_session=False)
                )
                if getattr(result, "rowcount", 0) != 1:
                    continue
                row = await session.get(EmailOutbox, outbox_id, populate_existing=True)
                if row is not None:
                    claimed.append(_email(row))
        return claimed

    async def queue_email(self, draft: EmailDraft, *, erase_after_send: bool = False) -> int:
        """An e-mail that belongs to no notification (a password reset link). With
        `erase_after_send` its body is emptied once it is sent: it holds a secret."""
        now = utcnow()
        async with write_session(self._sessionmaker) as session:
            row = EmailOutbox(
                notification_id=None,
                to=draft.to,
                subject=draft.subject,
                body=draft.body,
                erase_after_send=erase_after_send,
                next_attempt_at=now,
                created_at=now,
            )
            session.add(row)
            await session.flush()
            return int(row.id)

    async def mark_sent(self, outbox_id: int) -> None:
        async with write_session(self._sessionmaker) as session:
            await session.execute(
                update(EmailOutbox)
                .where(EmailOutbox.id == outbox_id)
                .values(
                    sent_at=utcnow(),
                    claimed_until=None,
                    last_error=None,
                    body=case((EmailOutbox.erase_after_send, ""), else_=EmailOutbox.body),
                )
                .execution_options(synchronize_session=False)
            )

    async def mark_failed(self, outbox_id: int, error: str, retry_at: datetime) -> None:
        """Release the claim and try again at `retry_at`. `error` names the failure (an
        exception class, an SMTP code), never the message."""
        async with write_session(self._sessionmaker) as session:
            await session.execute(
                update(EmailOutbox)
                .where(EmailOutbox.id == outbox_id, EmailOutbox.sent_at.is_(None))
                .values(claimed_until=None, next_attempt_at=retry_at, last_error=error[:MAX_ERROR])
                .execution_options(synchronize_session=False)
            )

    async def outbox(self) -> list[OutboxEmail]:
        """Every outbox row, oldest first (for tests and the operator)."""
        async with self._sessionmaker() as session:
            rows = await session.scalars(select(EmailOutbox).order_by(EmailOutbox.id))
            return [_email(row) for row in rows]
