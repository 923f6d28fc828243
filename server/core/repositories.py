"""The repositories over one database: what a `samplan` command and the server both open.

Apart from `server.services` so that a command line call imports SQLAlchemy and the
repositories, not the app's long-lived parts (notifier, PDF renderer, sync, Starlette):
`samplan` starts in a fraction of the time (issue 16).
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from server.settings import Settings
from storage.db import create_engine, make_sessionmaker
from storage.migrate import upgrade_if_needed
from storage.repositories.accounts import AccountRepo
from storage.repositories.audit import AuditRepo
from storage.repositories.consents import ConsentRepo
from storage.repositories.coordinators import CoordinatorRepo
from storage.repositories.invitations import InvitationRepo
from storage.repositories.meeting_notes import MeetingNotesRepo
from storage.repositories.meetings import MeetingRepo
from storage.repositories.members import MemberRepo
from storage.repositories.moves import PlanMoveRepo
from storage.repositories.municipalities import MunicipalityRepo
from storage.repositories.notifications import NotificationRepo
from storage.repositories.plan_start import PlanStartRepo
from storage.repositories.plans import PlanRepo
from storage.repositories.sessions import SessionRepo
from storage.repositories.statements import StatementRepo
from storage.repositories.templates import PlanTemplateRepo
from storage.repositories.transfer import PlanTransferRepo
from storage.repositories.updates import ZoneLog
from storage.repositories.users import UserRepo
from storage.repositories.versions import VersionRepo


@dataclass
class Repositories:
    engine: AsyncEngine
    sessionmaker: async_sessionmaker[AsyncSession]
    users: UserRepo
    plans: PlanRepo
    sessions: SessionRepo
    zone_log: ZoneLog
    audit: AuditRepo
    consents: ConsentRepo
    transfer: PlanTransferRepo
    meetings: MeetingRepo
    notifications: NotificationRepo
    versions: VersionRepo
    accounts: AccountRepo
    plan_start: PlanStartRepo
    invitations: InvitationRepo
    members: MemberRepo
    municipalities: MunicipalityRepo
    meeting_notes: MeetingNotesRepo
    coordinators: CoordinatorRepo
    templates: PlanTemplateRepo
    statements: StatementRepo
    moves: PlanMoveRepo

    @classmethod
    async def open(cls, settings: Settings, *, migrate: bool = True) -> Repositories:
        url = settings.resolved_database_url()
        engine = create_engine(
            url,
            sqlite_synchronous=settings.sqlite_synchronous,
            statement_timeout=settings.statement_timeout_seconds,
        )
        if migrate:
            await upgrade_if_needed(engine, url)
        maker = make_sessionmaker(engine)
        return cls(
            engine,
            maker,
            UserRepo(maker),
            PlanRepo(maker),
            SessionRepo(maker),
            ZoneLog(maker),
            AuditRepo(maker),
            ConsentRepo(maker),
            PlanTransferRepo(maker),
            MeetingRepo(maker),
            NotificationRepo(maker),
            VersionRepo(maker),
            AccountRepo(maker),
            PlanStartRepo(maker),
            InvitationRepo(maker),
            MemberRepo(maker),
            MunicipalityRepo(maker),
            MeetingNotesRepo(maker),
            CoordinatorRepo(maker),
            PlanTemplateRepo(maker),
            StatementRepo(maker),
            PlanMoveRepo(maker),
        )

    async def close(self) -> None:
        await self.engine.dispose()
