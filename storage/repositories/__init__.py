"""One repository per noun; each takes an async_sessionmaker and runs its own transactions."""

from __future__ import annotations

from storage.repositories.audit import AuditEvent, AuditRepo, VerifyResult
from storage.repositories.consents import ConsentRecord, ConsentRepo, MemberAccess
from storage.repositories.meetings import AgendaItem, AgendaRef, MeetingRecord, MeetingRepo
from storage.repositories.notifications import (
    EmailDraft,
    NewNotification,
    NotificationRecord,
    NotificationRepo,
    OutboxEmail,
)
from storage.repositories.plans import PlanRepo
from storage.repositories.sessions import SessionRepo
from storage.repositories.transfer import PlanTransfer, PlanTransferRepo
from storage.repositories.updates import LoadedZone, ZoneLog
from storage.repositories.users import UserRepo
from storage.repositories.versions import MinutesRecord, VersionRecord, VersionRepo, ZoneCopy

__all__ = [
    "AgendaItem",
    "AgendaRef",
    "AuditEvent",
    "AuditRepo",
    "ConsentRecord",
    "ConsentRepo",
    "EmailDraft",
    "LoadedZone",
    "MeetingRecord",
    "MeetingRepo",
    "MemberAccess",
    "NewNotification",
    "NotificationRecord",
    "NotificationRepo",
    "OutboxEmail",
    "MinutesRecord",
    "PlanRepo",
    "PlanTransfer",
    "PlanTransferRepo",
    "SessionRepo",
    "UserRepo",
    "VerifyResult",
    "VersionRecord",
    "VersionRepo",
    "ZoneCopy",
    "ZoneLog",
]
