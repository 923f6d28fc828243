"""Invitations to a plan (issue 12): created with their e-mail, resent, withdrawn, accepted.

Each change is one transaction, so nothing is ever half-written: an invitation is stored
with its e-mail in the outbox, a resend replaces the token and queues the new e-mail
together, and accepting claims the invitation, creates the account when there is none and
adds the membership at once (a refusal at any step leaves all of it as it was). Only the
token's SHA-256 is stored; the caller makes the token and hashes it.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import date, datetime

from sqlalchemy import delete, func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlalchemy.sql.elements import ColumnElement

from storage.db import write_session
from storage.errors import AlreadyExists, Conflict, InvalidValue, NotFound
from storage.models import (
    INVITABLE_ROLES,
    Consent,
    EmailOutbox,
    Invitation,
    InvitationConsent,
    Membership,
    User,
    utcnow,
)
from storage.repositories.consents import ALL, _scope_json
from storage.repositories.notifications import EmailDraft
from storage.repositories.plans import _bump_access
from storage.repositories.users import normalize_email

log = logging.getLogger(__name__)


class InvitationGone(Conflict):
    """The link no longer works; `reason` is "unknown", "accepted", "withdrawn" or "expired"."""

    def __init__(self, reason: str) -> None:
        super().__init__(f"invitation {reason}")
        self.reason = reason


class AlreadyMember(Conflict):
    """The person is a member of the plan already."""


class AlreadyInvited(Conflict):
    """An open invitation to this address exists: resend it instead."""


@dataclass(frozen=True, slots=True)
class InviteeConsent:
    """Consent given (or refused) to a pending invitation; it becomes the member's `consents`
    row, with this giver and time, when the invitation is accepted."""

    invitation_id: int
    status: str  # 'given' | 'refused'
    scope: tuple[str, ...] | None  # room suffixes; None means every zone ("all")
    valid_until: date | None
    given_by_user_id: int | None
    given_at: datetime


@dataclass(frozen=True, slots=True)
class InvitationRecord:
    id: int
    plan_id: str
    email: str
    name: str
    role: str
    unit: str | None
    contribution: str | None
    invited_by_user_id: int | None
    created_at: datetime
    expires_at: datetime
    accepted_at: datetime | None
    accepted_by_user_id: int | None
    withdrawn_at: datetime | None
    resent_count: int
    # Set by `accept` only: the consent given to the invitation that became the new member's.
    carried_consent: InviteeConsent | None = None

    def state(self, now: datetime) -> str:
        """ "accepted", "withdrawn", "expired" or "open"."""
        if self.accepted_at is not None:
            return "accepted"
        if self.withdrawn_at is not None:
            return "withdrawn"
        return "expired" if self.expires_at <= now else "open"


def _consent_record(row: InvitationConsent) -> InviteeConsent:
    raw = json.loads(row.scope)
    scope = None if raw == ALL else tuple(str(s) for s in raw)
    return InviteeConsent(
        row.invitation_id, row.status, scope, row.valid_until, row.given_by_user_id, row.given_at
    )


def _pending(plan_id: str, invitation_id: int) -> tuple[ColumnElement[bool], ...]:
    """This plan's invitation, neither accepted nor withdrawn (it may have expired)."""
    return (
        Invitation.id == invitation_id,
        Invitation.plan_id == plan_id,
        Invitation.accepted_at.is_(None),
        Invitation.withdrawn_at.is_(None),
    )


@dataclass(frozen=True, slots=True)
class NewAccount:
    """The account an accepting newcomer creates: their name, and the invitation's address
    unless `email` names the identity an OIDC provider vouched for."""

    name: str
    password_hash: str | None
    email: str | None = None


def _record(row: Invitation) -> InvitationRecord:
    return InvitationRecord(
        row.id,
        row.plan_id,
        row.email,
        row.name,
        row.role,
        row.unit,
        row.contribution,
        row.invited_by_user_id,
        row.created_at,
        row.expires_at,
        row.accepted_at,
        row.accepted_by_user_id,
        row.withdrawn_at,
        row.resent_count,
    )


def _queue(session: AsyncSession, invitation_id: int, draft: EmailDraft, now: datetime) -> None:
    session.add(
        EmailOutbox(
            notification_id=None,
            invitation_id=invitation_id,
            to=draft.to,
            subject=draft.subject,
            body=draft.body,
            erase_after_send=True,  # the body holds the link: only its hash stays
            next_attempt_at=now,
            created_at=now,
        )
    )


def _open(now: datetime) -> tuple[ColumnElement[bool], ...]:
    return (
        Invitation.accepted_at.is_(None),
        Invitation.withdrawn_at.is_(None),
        Invitation.expires_at > now,
    )


class InvitationRepo:
    def __init__(self, sessionmaker: async_sessionmaker[AsyncSession]) -> None:
        self._sessionmaker = sessionmaker

    async def _member_by_email(self, session: AsyncSession, plan_id: str, email: str) -> bool:
        found = await session.scalar(
            select(Membership.id)
            .join(User, User.id == Membership.user_id)
            .where(Membership.plan_id == plan_id, User.email == email)
        )
        return found is not None

    async def create(
        self,
        *,
        plan_id: str,
        email: str,
        name: str,
        role: str,
        unit: str | None,
        contribution: str | None,
        invited_by_user_id: int,
        token_hash: str,
        expires_at: datetime,
        draft: EmailDraft,
    ) -> InvitationRecord:
        """Store the invitation and queue its e-mail. AlreadyMember when the address is a
        member's; AlreadyInvited while an open invitation to it exists."""
        email = normalize_email(email)
        if role not in INVITABLE_ROLES:
            raise InvalidValue(f"cannot invite as {role!r}")
        if not name.strip():
            raise InvalidValue("name must not be empty")
        now = utcnow()
        async with write_session(self._sessionmaker) as session:
            if await self._member_by_email(session, plan_id, email):
                raise AlreadyMember("already a member of the plan")
            pending = await session.scalar(
                select(Invitation.id).where(
                    Invitation.plan_id == plan_id, Invitation.email == email, *_open(now)
                )
            )
            if pending is not None:
                raise AlreadyInvited("an open invitation to this address exists")
            row = Invitation(
                plan_id=plan_id,
                email=email,
                name=name.strip(),
                role=role,
                unit=unit,
                contribution=contribution,
                token_hash=token_hash,
                invited_by_user_id=invited_by_user_id,
                created_at=now,
                expires_at=expires_at,
                resent_count=0,
            )
            session.add(row)
            await session.flush()
            _queue(session, row.id, draft, now)
            record = _record(row)
        log.info("invitation %s created plan_id=%s role=%s", record.id, plan_id, role)
        return record

    async def get(self, plan_id: str, invitation_id: int) -> InvitationRecord | None:
        async with self._sessionmaker() as session:
            row = await session.get(Invitation, invitation_id)
            return _record(row) if row is not None and row.plan_id == plan_id else None

    async def by_token_hash(self, token_hash: str) -> InvitationRecord | None:
        async with self._sessionmaker() as session:
            row = await session.scalar(
                select(Invitation).where(Invitation.token_hash == token_hash)
            )
            return _record(row) if row is not None else None

    async def pending(self, plan_id: str) -> list[InvitationRecord]:
        """Invitations not accepted or withdrawn (expired ones included: they can be resent),
        oldest first."""
        async with self._sessionmaker() as session:
            rows = await session.scalars(
                select(Invitation)
                .where(
                    Invitation.plan_id == plan_id,
                    Invitation.accepted_at.is_(None),
                    Invitation.withdrawn_at.is_(None),
                )
                .order_by(Invitation.id)
            )
            return [_record(row) for row in rows]

    async def resend(
        self,
        plan_id: str,
        invitation_id: int,
        *,
        token_hash: str,
        expires_at: datetime,
        draft: EmailDraft,
    ) -> InvitationRecord:
        """A new token (the old link dies), a new expiry and the e-mail again. NotFound unless
        the invitation is still pending (an expired one may be resent)."""
        now = utcnow()
        async with write_session(self._sessionmaker) as session:
            result = await session.execute(
                update(Invitation)
                .where(*_pending(plan_id, invitation_id))
                .values(
                    token_hash=token_hash,
                    expires_at=expires_at,
                    resent_count=Invitation.resent_count + 1,
                )
                .execution_options(synchronize_session=False)
            )
            if getattr(result, "rowcount", 0) != 1:
                raise NotFound("no pending invitation")
            _queue(session, invitation_id, draft, now)
            row = await session.get(Invitation, invitation_id, populate_existing=True)
            assert row is not None
            record = _record(row)
        log.info("invitation %s resent", invitation_id)
        return record

    async def withdraw(self, plan_id: str, invitation_id: int) -> InvitationRecord:
        """NotFound unless the invitation is still pending."""
        async with write_session(self._sessionmaker) as session:
            result = await session.execute(
                update(Invitation)
                .where(*_pending(plan_id, invitation_id))
                .values(withdrawn_at=utcnow())
                .execution_options(synchronize_session=False)
            )
            if getattr(result, "rowcount", 0) != 1:
                raise NotFound("no pending invitation")
            # consent given to the invitation goes with it
            await session.execute(
                delete(InvitationConsent).where(InvitationConsent.invitation_id == invitation_id)
            )
            row = await session.get(Invitation, invitation_id, populate_existing=True)
            assert row is not None
            record = _record(row)
        log.info("invitation %s withdrawn", invitation_id)
        return record

    async def accept(
        self,
        token_hash: str,
        *,
        user_id: int | None = None,
        new_account: NewAccount | None = None,
    ) -> tuple[InvitationRecord, int]:
        """Claim the invitation for `user_id`, or for a new account at its address, and add
        the membership, in one transaction. Returns the invitation and the member's user id.
        Consent given to the invitation becomes the member's `consents` row in the same
        transaction (the record's `carried_consent`).

        InvitationGone when the link no longer works, AlreadyMember when the user is in the
        plan, AlreadyExists when `new_account` is given but the address has an account.
        """
        if (user_id is None) == (new_account is None):
            raise ValueError("give exactly one of user_id and new_account")
        now = utcnow()
        try:
            async with write_session(self._sessionmaker) as session:
                row = await session.scalar(
                    select(Invitation).where(Invitation.token_hash == token_hash)
                )
                if row is None:
                    raise InvitationGone("unknown")
                state = _record(row).state(now)
                if state != "open":
                    raise InvitationGone(state)
                if new_account is not None:
                    email = normalize_email(new_account.email or row.email)
                    if await session.scalar(select(User.id).where(User.email == email)):
                        raise AlreadyExists("a user with that e-mail address already exists")
                    name = new_account.name.strip()
                    if not name:
                        raise InvalidValue("name must not be empty")
                    user = User(email=email, name=name, password_hash=new_account.password_hash)
                    session.add(user)
                    await session.flush()
                    member_id = user.id
                else:
                    assert user_id is not None
                    if await session.get(User, user_id) is None:
                        raise NotFound(f"user {user_id} does not exist")
                    member_id = user_id
                taken = await session.scalar(
                    select(func.count())
                    .select_from(Membership)
                    .where(Membership.plan_id == row.plan_id, Membership.user_id == member_id)
                )
                if taken:
                    raise AlreadyMember("already a member of the plan")
                claimed = await session.execute(
                    update(Invitation)
                    .where(Invitation.id == row.id, *_open(now))
                    .values(accepted_at=now, accepted_by_user_id=member_id)
                    .execution_options(synchronize_session=False)
                )
                if getattr(claimed, "rowcount", 0) != 1:  # another request took it just now
                    raise InvitationGone("accepted")
                session.add(
                    Membership(
                        plan_id=row.plan_id,
                        user_id=member_id,
                        role=row.role,
                        unit=row.unit,
                        contribution=row.contribution,
                    )
                )
                await session.flush()
                carried = await self._carry_consent(session, row.id, row.plan_id, member_id, now)
                await _bump_access(session, row.plan_id)
                await session.refresh(row)
                record = replace(_record(row), carried_consent=carried)
        except IntegrityError as exc:  # a concurrent account or membership: nothing written
            raise AlreadyExists("the account or membership was created concurrently") from exc
        log.info("invitation %s accepted user_id=%s", record.id, member_id)
        return record, member_id

    async def _carry_consent(
        self, session: AsyncSession, invitation_id: int, plan_id: str, user_id: int, now: datetime
    ) -> InviteeConsent | None:
        """The consent given to the invitation becomes the new member's current `consents`
        row, given by whoever gave it and when (the history shows both)."""
        given = await session.get(InvitationConsent, invitation_id)
        if given is None:
            return None
        carried = _consent_record(given)
        await session.execute(  # a leftover from an earlier membership: history, not current
            update(Consent)
            .where(
                Consent.plan_id == plan_id,
                Consent.user_id == user_id,
                Consent.revoked_at.is_(None),
            )
            .values(revoked_at=now, revoked_by_user_id=given.given_by_user_id)
            .execution_options(synchronize_session=False)
        )
        session.add(
            Consent(
                plan_id=plan_id,
                user_id=user_id,
                status=given.status,
                scope=given.scope,
                valid_until=given.valid_until,
                given_by_user_id=given.given_by_user_id,
                given_at=given.given_at,
            )
        )
        await session.delete(given)
        await session.flush()
        return carried

    async def set_consent(
        self,
        plan_id: str,
        invitation_id: int,
        *,
        status: str,
        scope: Sequence[str] | str,
        valid_until: date | None,
        given_by_user_id: int,
    ) -> InviteeConsent:
        """Give (status "given") or refuse consent for a pending invitation, replacing what
        was recorded. NotFound unless the invitation is still pending."""
        if status not in ("given", "refused"):
            raise InvalidValue(f"unknown consent status {status!r}")
        scope_json = _scope_json(scope) if status == "given" else "[]"
        async with write_session(self._sessionmaker) as session:
            found = await session.scalar(
                select(Invitation.id).where(*_pending(plan_id, invitation_id))
            )
            if found is None:
                raise NotFound("no pending invitation")
            row = await session.get(InvitationConsent, invitation_id)
            if row is None:
                row = InvitationConsent(invitation_id=invitation_id)
                session.add(row)
            row.status = status
            row.scope = scope_json
            row.valid_until = valid_until if status == "given" else None
            row.given_by_user_id = given_by_user_id
            row.given_at = utcnow()
            await session.flush()
            record = _consent_record(row)
        log.info("invitation %s consent %s", invitation_id, status)
        return record

    async def drop_consent(self, plan_id: str, invitation_id: int) -> InviteeConsent | None:
        """Withdraw the consent given to a pending invitation; None (nothing changed) when
        none is given (or the invitation is no longer pending)."""
        async with write_session(self._sessionmaker) as session:
            found = await session.scalar(
                select(Invitation.id).where(*_pending(plan_id, invitation_id))
            )
            row = await session.get(InvitationConsent, invitation_id) if found else None
            if row is None or row.status != "given":
                return None
            record = _consent_record(row)
            await session.delete(row)
        log.info("invitation %s consent withdrawn", invitation_id)
        return record

    async def consents(self, plan_id: str) -> dict[int, tuple[InviteeConsent, str | None]]:
        """Per pending invitation of the plan, the consent recorded for it and the giver's
        name."""
        async with self._sessionmaker() as session:
            rows = await session.execute(
                select(InvitationConsent, User.name)
                .join(Invitation, Invitation.id == InvitationConsent.invitation_id)
                .outerjoin(User, User.id == InvitationConsent.given_by_user_id)
                .where(
                    Invitation.plan_id == plan_id,
                    Invitation.accepted_at.is_(None),
                    Invitation.withdrawn_at.is_(None),
                )
            )
            return {row.invitation_id: (_consent_record(row), name) for row, name in rows}
