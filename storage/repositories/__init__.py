"""One repository per noun; each takes an async_sessionmaker and runs its own transactions."""

from __future__ import annotations

from storage.repositories.audit import AuditEvent, AuditRepo, VerifyResult
from storage.repositories.consents import ConsentRecord, ConsentRepo, MemberAccess
from storage.repositories.plans import PlanRepo
from storage.repositories.sessions import SessionRepo
from storage.repositories.updates import LoadedZone, ZoneLog
from storage.repositories.users import UserRepo
from storage.repositories.versions import MinutesRecord, VersionRecord, VersionRepo, ZoneCopy

__all__ = [
    "AuditEvent",
    "AuditRepo",
    "ConsentRecord",
    "ConsentRepo",
    "LoadedZone",
    "MemberAccess",
    "MinutesRecord",
    "PlanRepo",
    "SessionRepo",
    "UserRepo",
    "VerifyResult",
    "VersionRecord",
    "VersionRepo",
    "ZoneCopy",
    "ZoneLog",
]
