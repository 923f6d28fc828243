"""The SQL schema: who may do what (DESIGN.md §2), plus the durable CRDT log per zone.

Relationships are deliberately absent: repositories query explicitly, so nothing lazy-loads on a
detached row and deleting a plan relies on the database's ON DELETE CASCADE alone.
Allowed values are CHECK constraints on plain strings rather than SQL enums, so adding a role
or zone kind later is a one-line migration on both SQLite and PostgreSQL.
"""

from __future__ import annotations

import re
import secrets
import uuid
from datetime import UTC, date, datetime
from typing import Any, cast

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    Date,
    DateTime,
    Dialect,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
    TypeDecorator,
    UniqueConstraint,
    false,
    text,
    true,
)
from sqlalchemy.engine.default import DefaultExecutionContext
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, validates

from storage.choices import ROLES as ROLES  # re-exported: the repositories import it from here
from storage.sort_keys import name_key

ZONE_KINDS = ("content", "area", "comments", "minutes")
KEYLESS_ZONE_KINDS = ("content", "comments")
# A zone key (an area id, a meeting id) is a segment of the room path, which the server parses
# with crdt.schema's rule: a key that rule refuses makes a zone nobody can open. storage may
# not import crdt, so this is storage's one copy of the rule, for every repository that
# creates zones or meetings; tests/test_zone_definition.py pins it and the kinds above to
# crdt.schema's.
ZONE_KEY_PATTERN = r"[a-z0-9][a-z0-9-]{0,63}"
ZONE_KEY_RULE = (
    "lower-case letters a-z, digits and '-', starting with a letter or digit, at most 64 characters"
)
_ZONE_KEY = re.compile(ZONE_KEY_PATTERN)
PLAN_STATUSES = ("active", "closed")

# SQLite's INTEGER PRIMARY KEY is the rowid alias that autoincrements; BIGINT there would not be.
BigId = BigInteger().with_variant(Integer, "sqlite")


def utcnow() -> datetime:
    return datetime.now(UTC)


def new_plan_id() -> str:
    return str(uuid.uuid4())


def is_zone_key(key: str) -> bool:
    return _ZONE_KEY.fullmatch(key) is not None


def new_meeting_id() -> str:
    # Short and path-safe: it appears in the room path `minutes/<meeting-id>`.
    return secrets.token_hex(6)


def _in(column: str, values: tuple[str, ...]) -> str:
    return f"{column} IN ({', '.join(repr(v) for v in values)})"


class UTCDateTime(TypeDecorator[datetime]):
    """Timezone-aware UTC on the way in and out.

    SQLite stores no offset and hands back naive datetimes; without this the same column would
    compare differently on the two databases, and a naive local time could slip in unnoticed.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column; use storage.models.utcnow()")
        return value.astimezone(UTC)

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if not isinstance(value, datetime):
            raise TypeError(f"expected datetime from the database, got {type(value).__name__}")
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class Base(DeclarativeBase):
    # Named constraints so later migrations (and SQLite batch mode) can refer to them.
    metadata = MetaData(
        naming_convention={
            "ix": "ix_%(table_name)s_%(column_0_N_name)s",
            "uq": "uq_%(table_name)s_%(column_0_N_name)s",
            "ck": "ck_%(table_name)s_%(constraint_name)s",
            "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
            "pk": "pk_%(table_name)s",
        }
    )


class Municipality(Base):
    """A boundary (issue 14): every plan, unit and KE administrator belongs to one, and nobody
    sees across municipalities except through their own plan memberships."""

    __tablename__ = "municipalities"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    # Days a closed plan of this municipality is kept before `samplan purge` deletes it, set
    # by its KE; NULL: the installation's SAMPLAN_RETENTION_DAYS. Plain ALTER TABLE (0025).
    retention_days: Mapped[int | None] = mapped_column(Integer)
    # The KE overview's rules, set by the KE on its page (server/ke/overview.py): a plan is
    # "in use" with an edit or a meeting in the last `in_use_days` days, and "evaluated" with
    # an evaluation in the last `revision_days` days (and its revision not overdue).
    in_use_days: Mapped[int] = mapped_column(Integer, default=90, server_default=text("90"))
    revision_days: Mapped[int] = mapped_column(Integer, default=365, server_default=text("365"))


class MunicipalityAdmin(Base):
    """An administrator of the municipality's koordinerende enhet (KE). Not a plan role: it
    opens no plan content by itself (server/ke). `granted_by_user_id` is NULL when the
    operator gave it on the command line."""

    __tablename__ = "municipality_admins"

    municipality_id: Mapped[int] = mapped_column(
        ForeignKey("municipalities.id", ondelete="CASCADE"), primary_key=True
    )
    user_id: Mapped[int] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), primary_key=True, index=True
    )
    granted_by_user_id: Mapped[int | None] = mapped_column(Integer)
    granted_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class Unit(Base):
    """A service unit of the municipality (skole, helsestasjon, NAV, ...), kept by the KE; a
    plan may name the unit that answers for it (`plans.unit_id`)."""

    __tablename__ = "units"
    __table_args__ = (UniqueConstraint("municipality_id", "name"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    municipality_id: Mapped[int] = mapped_column(
        ForeignKey("municipalities.id", ondelete="CASCADE"), index=True
    )
    name: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class MunicipalityCoordinator(Base):
    """Someone the municipality's KE lets coordinate plans (issue 14), optionally with the
    unit they work in: who the KE may appoint as a plan's koordinator, and who may start
    plans ("Ny plan") besides those an operator marked (`users.can_start_plans`)."""

    __tablename__ = "municipality_coordinators"

    municipality_id: Mapped[int] = mapped_column(
        ForeignKey("municipalities.id", ondelete="CASCADE"), primary_key=True
    )
    user_id: Mapped[int] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), primary_key=True, index=True
    )
    unit_id: Mapped[int | None] = mapped_column(ForeignKey("units.id", ondelete="SET NULL"))
    added_by_user_id: Mapped[int | None] = mapped_column(Integer)
    added_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class PlanTemplate(Base):
    """A municipality's plan template (issue 14), kept by its KE: a named set of life areas
    and default text for the content zone's sections. "Ny plan" copies it into the new plan;
    a later change to the template never touches a plan started from it."""

    __tablename__ = "plan_templates"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    municipality_id: Mapped[int] = mapped_column(
        ForeignKey("municipalities.id", ondelete="CASCADE"), index=True
    )
    name: Mapped[str] = mapped_column(String(200))
    position: Mapped[int] = mapped_column(Integer, default=0)
    # Default text of the content zone's rich-text sections (paragraphs split on blank lines).
    about_me: Mapped[str] = mapped_column(Text, default="")
    resources: Mapped[str] = mapped_column(Text, default="")
    needs: Mapped[str] = mapped_column(Text, default="")
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class PlanTemplateArea(Base):
    """One life area of a template: its name, the hint shown under it, and its default
    sub-headings (one per line), in order."""

    __tablename__ = "plan_template_areas"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    template_id: Mapped[int] = mapped_column(
        ForeignKey("plan_templates.id", ondelete="CASCADE"), index=True
    )
    position: Mapped[int] = mapped_column(Integer, default=0)
    name: Mapped[str] = mapped_column(String(300))
    hint: Mapped[str] = mapped_column(Text, default="")
    subheadings: Mapped[str] = mapped_column(Text, default="")


class PublicStatement(Base):
    """A municipality's page every public service must have (issue 14): the accessibility
    statement ("tilgjengelighet") or the privacy notice ("personvern"), plain text written
    by its KE and shown escaped at /om/<kind>."""

    __tablename__ = "public_statements"
    __table_args__ = (CheckConstraint(_in("kind", ("tilgjengelighet", "personvern")), name="kind"),)

    municipality_id: Mapped[int] = mapped_column(
        ForeignKey("municipalities.id", ondelete="CASCADE"), primary_key=True
    )
    kind: Mapped[str] = mapped_column(String(20), primary_key=True)
    body: Mapped[str] = mapped_column(Text)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    updated_by_user_id: Mapped[int | None] = mapped_column(Integer)


class KeLogThresholds(Base):
    """When the KE's log control flags an opening (issue 14, Normen: logs kept *and checked*),
    set by the municipality's KE: the night's Oslo hours [night_from, night_until) (past
    midnight when from > until) and "many plans in a row" (burst_plans different plans within
    burst_minutes). No row: the defaults (storage/repositories/ke_log_thresholds.py)."""

    __tablename__ = "ke_log_thresholds"

    municipality_id: Mapped[int] = mapped_column(
        ForeignKey("municipalities.id", ondelete="CASCADE"), primary_key=True
    )
    night_from: Mapped[int] = mapped_column(Integer)
    night_until: Mapped[int] = mapped_column(Integer)
    burst_plans: Mapped[int] = mapped_column(Integer)
    burst_minutes: Mapped[int] = mapped_column(Integer)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    updated_by_user_id: Mapped[int | None] = mapped_column(Integer)


class User(Base):
    __tablename__ = "users"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    # Stored lower-cased so the unique constraint is case-insensitive on both databases.
    email: Mapped[str] = mapped_column(String(320), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    password_hash: Mapped[str | None] = mapped_column(String(500))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    # The user's own choice of language (one of LANGUAGES), for pages on a browser that has
    # not chosen and for e-mail; NULL until they choose (bokmål). No CHECK constraint: added
    # by a plain ALTER TABLE (see migration 0012); UserRepo checks the value.
    language: Mapped[str | None] = mapped_column(String(8))
    # A deactivated account cannot log in, and its sessions, tokens and sockets are refused;
    # its name stays on what it wrote. `deactivated_by`: the user who did it (themselves or a
    # koordinator), NULL for the command line (the operator). No foreign key: plain ALTER
    # TABLE on SQLite (see migration 0012), and the row outlives nobody it names.
    deactivated_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    deactivated_by: Mapped[int | None] = mapped_column(Integer)
    # Marked by an operator (`samplan user mark-coordinator`): may start plans ("Ny plan")
    # without coordinating one already, until the koordinerende enhet keeps that list.
    can_start_plans: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())


class PasswordReset(Base):
    """A "Glemt passord" link: only the sha256 of its one-time token is kept, so a copy of
    the database resets nobody's password. Used once (`used_at`), never after `expires_at`."""

    __tablename__ = "password_resets"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime())
    used_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


def _name_key_default(context: DefaultExecutionContext) -> str:
    return name_key(context.get_current_parameters().get("person_name"))  # type: ignore[no-untyped-call]


# Compared byte by byte on every database (see storage.sort_keys), so SQL's order is Python's.
_SORT_KEY = String(400).with_variant(String(400, collation="C"), "postgresql")


class Plan(Base):
    __tablename__ = "plans"
    __table_args__ = (
        CheckConstraint(_in("status", PLAN_STATUSES), name="status"),
        # The KE overview sorted by name (its first page) is read and paged from this index.
        Index("ix_plans_municipality_id_sort_key", "municipality_id", "sort_key", "id"),
    )

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_plan_id)
    municipality_id: Mapped[int] = mapped_column(
        ForeignKey("municipalities.id", ondelete="RESTRICT"), index=True
    )
    title: Mapped[str] = mapped_column(String(300))
    person_name: Mapped[str] = mapped_column(String(200))
    # `person_name` in Norwegian order (storage.sort_keys.name_key): the KE overview sorts and
    # pages by it in SQL. Set with the name: by `_person_name` on an ORM object, by the
    # column default on a Core insert (the name is never changed by an UPDATE statement; one
    # that did would set this too).
    sort_key: Mapped[str] = mapped_column(_SORT_KEY, default=_name_key_default, server_default="")
    # Lets `samplan demo` find the plan it made last time instead of making another.
    demo_key: Mapped[str | None] = mapped_column(String(100), unique=True)
    status: Mapped[str] = mapped_column(String(20), default="active", server_default="active")
    # Set when the plan is closed, cleared when it is reopened: retention (`samplan purge`)
    # counts from it.
    closed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    # Who may give consent follows the person's age (server.core.access.consent_givers); NULL when
    # not recorded.
    person_birth_date: Mapped[date | None] = mapped_column(Date)
    # Bumped on every membership change: a server polls it to notice access changes made by
    # another process (the CLI, another node) and re-check open connections (DESIGN.md §3).
    access_version: Mapped[int] = mapped_column(Integer, default=0, server_default=text("0"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    # "Utkast": started in the browser, and the consent to the plan being made (regulation
    # element h, `plan_consents`) is not yet given. Only the koordinator, planeier and verge
    # may open a draft (server.core.access). A column beside `status`, not a third status:
    # changing the CHECK constraint would rebuild `plans` on SQLite, and dropping the old
    # table with foreign keys on cascades into every plan's data (see migration 0005).
    draft: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    # The person's guardian as named by the koordinator when starting the plan, before they
    # have an account here: the invitation (another piece of work) turns this into a
    # membership with role `verge`. NULL when none was named.
    guardian_name: Mapped[str | None] = mapped_column(String(200))
    guardian_email: Mapped[str | None] = mapped_column(String(320))
    # The unit that answers for the plan (issue 14), one of its municipality's `units`; NULL
    # when none is named. No foreign key: a plain ALTER TABLE on SQLite (see migration 0012);
    # MunicipalityRepo checks that the unit is the plan's municipality's.
    unit_id: Mapped[int | None] = mapped_column(Integer, index=True)

    @validates("person_name")
    def _person_name(self, _key: str, value: str) -> str:
        self.sort_key = name_key(value)
        return value


class Zone(Base):
    __tablename__ = "zones"
    __table_args__ = (
        UniqueConstraint("plan_id", "kind", "key"),
        CheckConstraint(_in("kind", ZONE_KINDS), name="kind"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    plan_id: Mapped[str] = mapped_column(ForeignKey("plans.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(20))
    # '' for content and comments; the area id or meeting id otherwise (DESIGN.md §2 table).
    key: Mapped[str] = mapped_column(String(64), default="")
    title: Mapped[str] = mapped_column(String(300))
    position: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    # A life area the koordinator retired: no longer offered for editing, but its zone and
    # history stay (export, print and versions show it, marked as retired).
    retired_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    # The guidance shown under a life area, copied from the plan template it was started
    # from (issue 14). SQL, not the zone: the area zone has no place for it (its roots are
    # lists members write), and it is the municipality's text, fixed at the start. ALTER TABLE.
    hint: Mapped[str | None] = mapped_column(Text)


class Membership(Base):
    __tablename__ = "memberships"
    __table_args__ = (
        UniqueConstraint("plan_id", "user_id"),
        CheckConstraint(_in("role", ROLES), name="role"),
        # The repository checks this first for a readable error; the index keeps it true
        # when two processes add a koordinator at the same moment.
        Index(
            "uq_memberships_one_koordinator",
            "plan_id",
            unique=True,
            sqlite_where=text("role = 'koordinator'"),
            postgresql_where=text("role = 'koordinator'"),
        ),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    plan_id: Mapped[str] = mapped_column(ForeignKey("plans.id", ondelete="CASCADE"))
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    role: Mapped[str] = mapped_column(String(20))
    unit: Mapped[str | None] = mapped_column(String(200))
    contribution: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    # Who last wrote `contribution` and when (issue 11: the words credited to a member are
    # theirs, so the page says whose hand they are in). A user id without a foreign key, like
    # zone_updates.user_id: the record outlives the writer's account.
    contribution_updated_by: Mapped[int | None] = mapped_column(Integer)
    contribution_updated_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class Meeting(Base):
    __tablename__ = "meetings"

    id: Mapped[str] = mapped_column(String(64), primary_key=True, default=new_meeting_id)
    plan_id: Mapped[str] = mapped_column(ForeignKey("plans.id", ondelete="CASCADE"), index=True)
    title: Mapped[str] = mapped_column(String(300))
    starts_at: Mapped[datetime] = mapped_column(UTCDateTime())
    ends_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    place: Mapped[str | None] = mapped_column(String(300))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    # Scheduling (issue 5): a video link beside or instead of a place; the agenda as a JSON
    # list of {id, title, ref: {kind, areaKey, itemId} | null}. Its ids are the ids of the
    # agenda sections in the minutes zone, so the two stay matched.
    video_link: Mapped[str | None] = mapped_column(String(500))
    agenda: Mapped[str] = mapped_column(Text, default="[]", server_default="[]")
    created_by_user_id: Mapped[int | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL")
    )
    updated_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    cancelled_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    # How often the koordinator edited the meeting: the .ics SEQUENCE (RFC 5545 §3.8.7.4), so
    # a calendar replaces its entry instead of keeping the old time. updated_at cannot count.
    sequence: Mapped[int] = mapped_column(Integer, default=0, server_default="0")


class MeetingInvitee(Base):
    """Who is invited to a meeting: they see it on Mine planer and may download its .ics."""

    __tablename__ = "meeting_invitees"

    meeting_id: Mapped[str] = mapped_column(
        ForeignKey("meetings.id", ondelete="CASCADE"), primary_key=True
    )
    user_id: Mapped[int] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), primary_key=True, index=True
    )


class ZoneUpdate(Base):
    """Append-only CRDT log; `id` is the global sequence number that orders a zone's updates."""

    __tablename__ = "zone_updates"
    __table_args__ = (
        Index("ix_zone_updates_zone_id_id", "zone_id", "id"),
        # Without AUTOINCREMENT SQLite hands out max(rowid)+1, so once compaction has deleted
        # the newest rows it would reuse ids at or below a snapshot's seq, and `load` would
        # skip those updates. AUTOINCREMENT never reuses an id (PostgreSQL's sequence neither).
        {"sqlite_autoincrement": True},
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    zone_id: Mapped[int] = mapped_column(ForeignKey("zones.id", ondelete="CASCADE"))
    data: Mapped[bytes] = mapped_column(LargeBinary)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    # Who made the change: the user of the socket it came from, or the acting user of a
    # server edit; None for the server itself (demo data, an import). No foreign key: a
    # check per logged update costs the hot path, and users are never deleted.
    user_id: Mapped[int | None] = mapped_column(Integer, nullable=True)


class ZoneChange(Base):
    """The author record of a change compaction folded away (or an import brought): who,
    when, and which items (JSON, see crdt/authorship.py; None when not traced for the zone's
    kind). Written in the same transaction that deletes the update, so no record is lost;
    `id` orders a zone's records, and its log tail (zone_updates) comes after them."""

    __tablename__ = "zone_changes"
    __table_args__ = (
        Index("ix_zone_changes_zone_id_id", "zone_id", "id"),
        {"sqlite_autoincrement": True},
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    zone_id: Mapped[int] = mapped_column(ForeignKey("zones.id", ondelete="CASCADE"))
    seq: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    user_id: Mapped[int | None] = mapped_column(Integer, nullable=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime())
    items: Mapped[str | None] = mapped_column(Text, nullable=True)


class ZoneSnapshot(Base):
    __tablename__ = "zone_snapshots"

    zone_id: Mapped[int] = mapped_column(
        ForeignKey("zones.id", ondelete="CASCADE"), primary_key=True, autoincrement=False
    )
    # Names this snapshot: it grows with every compaction and is at least the id of every
    # update folded into `data`. The log keeps exactly the updates not folded, whatever their
    # ids (with several writers, some may be below it): storage.repositories.updates.compact.
    seq: Mapped[int] = mapped_column(BigInteger)
    data: Mapped[bytes] = mapped_column(LargeBinary)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class ZoneSummary(Base):
    """A few facts extracted from a zone's document (next revision, open measure deadlines,
    last evaluation) so overviews of many plans never load CRDT documents."""

    __tablename__ = "zone_summaries"

    zone_id: Mapped[int] = mapped_column(
        ForeignKey("zones.id", ondelete="CASCADE"), primary_key=True, autoincrement=False
    )
    data: Mapped[str] = mapped_column(Text)  # JSON
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class UserSession(Base):
    __tablename__ = "sessions"

    # sha256 hex of the raw token: a leaked database does not leak usable log-ins.
    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    last_seen_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime())


# Core handles for the hot path (storage.repositories.updates), where ORM objects cost too much.
zone_updates_table = cast(Table, ZoneUpdate.__table__)
zone_snapshots_table = cast(Table, ZoneSnapshot.__table__)
zone_changes_table = cast(Table, ZoneChange.__table__)
zones_table = cast(Table, Zone.__table__)


class AuditEntry(Base):
    """The access log (DESIGN.md §5): append-only, each row carrying the hash of the one before.

    No foreign keys on purpose: deleting a user or a plan must never delete (or block on) the
    record of who accessed it. Written only through storage.repositories.audit.
    """

    __tablename__ = "audit_log"
    __table_args__ = (
        Index("ix_audit_log_plan_id_id", "plan_id", "id"),
        # Ids are part of the hash: never reuse one (see ZoneUpdate).
        {"sqlite_autoincrement": True},
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime())
    # Open list: 'login', 'login_failed', 'logout', 'plan_view', 'ws_join', 'ws_leave',
    # 'membership_add', 'membership_change', 'membership_remove', later 'export', 'print', ...
    action: Mapped[str] = mapped_column(String(40))
    actor_user_id: Mapped[int | None] = mapped_column(Integer)
    role: Mapped[str | None] = mapped_column(String(20))
    plan_id: Mapped[str | None] = mapped_column(String(36))
    zone: Mapped[str | None] = mapped_column(String(200))  # room suffix: 'content', 'area/skole'
    client_address: Mapped[str | None] = mapped_column(String(100))
    details: Mapped[str] = mapped_column(Text)  # small JSON object; never plan content
    prev_hash: Mapped[str] = mapped_column(String(64))
    hash: Mapped[str] = mapped_column(String(64))


audit_log_table = cast(Table, AuditEntry.__table__)


CONSENT_STATUSES = ("given", "refused")


class Consent(Base):
    """A planeier's (or verge's) consent to share the plan with one member (DESIGN.md §3).

    At most one row per (plan, user) has `revoked_at` NULL: giving or refusing again revokes
    the previous row, so the history stays. `scope` is a JSON list of room suffixes
    ("content", "area/skole", ...) or the JSON string "all".
    """

    __tablename__ = "consents"
    __table_args__ = (
        CheckConstraint(_in("status", CONSENT_STATUSES), name="status"),
        Index("ix_consents_plan_id_user_id", "plan_id", "user_id"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    plan_id: Mapped[str] = mapped_column(ForeignKey("plans.id", ondelete="CASCADE"))
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    status: Mapped[str] = mapped_column(String(20))
    scope: Mapped[str] = mapped_column(Text)  # JSON
    valid_until: Mapped[date | None] = mapped_column(Date)  # NULL: until revoked
    given_by_user_id: Mapped[int | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL")
    )
    given_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    revoked_by_user_id: Mapped[int | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL")
    )


PLAN_CONSENT_GIVERS = ("planeier", "verge")
PLAN_CONSENT_METHODS = ("browser", "oral", "written")


class PlanConsent(Base):
    """The consent to the plan being made at all (forskrift om habilitering og rehabilitering,
    individuell plan og koordinator § 21 h; shared/domain/individuell-plan.md §1.3-1.5), not
    the sharing consent per member in `consents`.

    Append-only history: the newest row is the current answer. `giver` says whether the
    person (planeier) or the guardian (verge) answered; `giver_user_id` is set when they
    answered themselves in the browser, `giver_name` always (the koordinator records an oral
    or written answer for someone who may have no account). `given_on` is when it was given
    as recorded; `recorded_at` when it was written here and by whom.
    """

    __tablename__ = "plan_consents"
    __table_args__ = (
        CheckConstraint(_in("status", CONSENT_STATUSES), name="status"),
        CheckConstraint(_in("giver", PLAN_CONSENT_GIVERS), name="giver"),
        CheckConstraint(_in("method", PLAN_CONSENT_METHODS), name="method"),
        Index("ix_plan_consents_plan_id_id", "plan_id", "id"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    plan_id: Mapped[str] = mapped_column(ForeignKey("plans.id", ondelete="CASCADE"))
    status: Mapped[str] = mapped_column(String(20))
    giver: Mapped[str] = mapped_column(String(20))
    giver_name: Mapped[str] = mapped_column(String(200))
    giver_user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    method: Mapped[str] = mapped_column(String(20))
    given_on: Mapped[date] = mapped_column(Date)
    recorded_by_user_id: Mapped[int | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL")
    )
    recorded_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


NOTIFICATION_KINDS = (
    "message",
    "comment",
    "minutes",
    "assigned",
    "deadline",
    "revision",
    "meeting",  # a meeting the user is invited to was scheduled or changed
    "meeting_cancelled",
    "meeting_soon",  # the day before a meeting
    "review",  # an evaluation's next review is 7 days away
    "koordinator",  # the KE appointed or changed the plan's koordinator (issue 14)
    "moved",  # the plan moved to another municipality (issue 14, plan_moves)
)


class Notification(Base):
    """Something a user should know about (issue 5): in-app always, by e-mail if they chose.

    `dedupe_key` is UNIQUE: an event seen by several nodes, or a reminder job run twice, is
    recorded once (DESIGN.md §6, scheduled work runs once per cluster). Never plan content:
    the kind, ids and a link are enough to find the item.
    """

    __tablename__ = "notifications"
    __table_args__ = (
        CheckConstraint(_in("kind", NOTIFICATION_KINDS), name="kind"),
        Index("ix_notifications_user_id_read_at", "user_id", "read_at"),
        {"sqlite_autoincrement": True},
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    plan_id: Mapped[str] = mapped_column(ForeignKey("plans.id", ondelete="CASCADE"), index=True)
    kind: Mapped[str] = mapped_column(String(20))
    item_id: Mapped[str | None] = mapped_column(String(100))
    link: Mapped[str] = mapped_column(String(500))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    read_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    dedupe_key: Mapped[str] = mapped_column(String(300), unique=True)


class EmailOutbox(Base):
    """E-mails waiting to be sent: a sender claims a row for a while (`claimed_until`), sends,
    and marks it sent; a failure sets `next_attempt_at` further out. Several nodes drain the
    same table safely because a claim is one conditional UPDATE."""

    __tablename__ = "email_outbox"
    __table_args__ = (
        Index("ix_email_outbox_sent_at_next_attempt_at", "sent_at", "next_attempt_at"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    # At most one of the two: the notification the e-mail tells of, or the invitation it
    # carries (both go when their plan is deleted: the foreign keys cascade); neither for a
    # password reset link.
    notification_id: Mapped[int | None] = mapped_column(
        ForeignKey("notifications.id", ondelete="CASCADE"), index=True
    )
    invitation_id: Mapped[int | None] = mapped_column(
        ForeignKey("invitations.id", ondelete="CASCADE"), index=True
    )
    to: Mapped[str] = mapped_column(String(320))
    subject: Mapped[str] = mapped_column(String(300))
    body: Mapped[str] = mapped_column(Text)
    # The body holds a secret (a reset link): emptied once sent, so only the hash remains.
    erase_after_send: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    # An iCalendar entry sent as an attachment (a meeting's time, a neutral title and a link;
    # never plan content), or NULL.
    calendar: Mapped[str | None] = mapped_column(Text)
    attempts: Mapped[int] = mapped_column(Integer, default=0, server_default=text("0"))
    next_attempt_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    claimed_until: Mapped[datetime | None] = mapped_column(UTCDateTime())
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    last_error: Mapped[str | None] = mapped_column(String(500))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


INVITABLE_ROLES = ("planeier", "verge", "deltaker", "leser")


class Invitation(Base):
    """An invitation to join a plan (issue 12), sent by e-mail as a one-time link.

    Only the SHA-256 of the link's token is stored, so the table cannot be used to join. Open
    while neither accepted nor withdrawn and before `expires_at`; resending replaces the token
    (the old link dies) and moves the expiry. Never a koordinator: a plan has one.
    """

    __tablename__ = "invitations"
    __table_args__ = (CheckConstraint(_in("role", INVITABLE_ROLES), name="role"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    plan_id: Mapped[str] = mapped_column(ForeignKey("plans.id", ondelete="CASCADE"), index=True)
    email: Mapped[str] = mapped_column(String(320))
    name: Mapped[str] = mapped_column(String(200))
    role: Mapped[str] = mapped_column(String(20))
    unit: Mapped[str | None] = mapped_column(String(200))
    contribution: Mapped[str | None] = mapped_column(Text)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    invited_by_user_id: Mapped[int | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL")
    )
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime())
    accepted_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    accepted_by_user_id: Mapped[int | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL")
    )
    withdrawn_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    resent_count: Mapped[int] = mapped_column(Integer, default=0, server_default=text("0"))


class InvitationConsent(Base):
    """Consent given (or refused) to a pending invitation of a deltaker or leser, so the
    planeier can say what the person may see before they have joined. Accepting the
    invitation turns it into a `consents` row given by `given_by_user_id` at `given_at`;
    withdrawing the consent (or the invitation) deletes it. One per invitation."""

    __tablename__ = "invitation_consents"
    __table_args__ = (CheckConstraint(_in("status", CONSENT_STATUSES), name="status"),)

    invitation_id: Mapped[int] = mapped_column(
        ForeignKey("invitations.id", ondelete="CASCADE"), primary_key=True
    )
    status: Mapped[str] = mapped_column(String(20))
    scope: Mapped[str] = mapped_column(Text)  # JSON, as consents.scope
    valid_until: Mapped[date | None] = mapped_column(Date)
    given_by_user_id: Mapped[int | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL")
    )
    given_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class NotificationPref(Base):
    """A user's choice of e-mail per notification kind; no row means the kind's default."""

    __tablename__ = "notification_prefs"
    __table_args__ = (CheckConstraint(_in("kind", NOTIFICATION_KINDS), name="kind"),)

    user_id: Mapped[int] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), primary_key=True
    )
    kind: Mapped[str] = mapped_column(String(20), primary_key=True)
    email: Mapped[bool] = mapped_column(Boolean)


VERSION_KINDS = ("published", "daily", "named", "before_restore")


class PlanVersion(Base):
    """A full-state copy of a plan's zones (DESIGN.md §2, §5): at publication, once a day
    while the plan changes, on demand with a name, and before a restore.

    Immutable: storage.repositories.versions inserts rows and never updates them. `day`
    is set for kind 'daily' only (NULL elsewhere, and NULLs never collide), so the unique
    constraint lets exactly one server node claim a plan's daily version.
    """

    __tablename__ = "plan_versions"
    __table_args__ = (
        CheckConstraint(_in("kind", VERSION_KINDS), name="kind"),
        UniqueConstraint("plan_id", "kind", "day"),
        Index("ix_plan_versions_plan_id_created_at", "plan_id", "created_at"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    plan_id: Mapped[str] = mapped_column(ForeignKey("plans.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(20))
    name: Mapped[str | None] = mapped_column(String(200))
    day: Mapped[date | None] = mapped_column(Date)
    created_by: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class PlanVersionZone(Base):
    """One zone's copy inside a version: the full Yjs update of the zone document (`state`)
    and its readable JSON rendering (`data`, crdt.schema.read_zone's form). Immutable."""

    __tablename__ = "plan_version_zones"
    __table_args__ = (UniqueConstraint("version_id", "zone_kind", "zone_key"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    version_id: Mapped[int] = mapped_column(ForeignKey("plan_versions.id", ondelete="CASCADE"))
    zone_kind: Mapped[str] = mapped_column(String(20))
    zone_key: Mapped[str] = mapped_column(String(64), default="")
    zone_title: Mapped[str] = mapped_column(String(300))
    state: Mapped[bytes] = mapped_column(LargeBinary)
    data: Mapped[str] = mapped_column(Text)  # JSON


class PublishedMinutes(Base):
    """One published version of a meeting's minutes, frozen (DESIGN.md §2).

    `content` is the canonical JSON exactly as hashed into `sha256`. Rows are immutable but
    for the approval fields, set once ("godkjent av planeier"). `meeting_id` has no foreign
    key: the record of what was published outlives a rescheduled or deleted meeting.

    The user ids inside `content` are those of the database the minutes were published in,
    and cannot be renumbered (the hash covers them). `content_user_ids` says who they are
    here: JSON {id inside content: users.id here}, written by an import (which may have given
    people other ids); NULL for minutes published in this database, whose ids are ours. An id
    an imported row does not map names nobody here: never look it up as it stands.
    """

    __tablename__ = "published_minutes"
    __table_args__ = (
        UniqueConstraint("plan_id", "meeting_id", "number"),
        Index("ix_published_minutes_plan_id_published_at", "plan_id", "published_at"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    plan_id: Mapped[str] = mapped_column(ForeignKey("plans.id", ondelete="CASCADE"))
    meeting_id: Mapped[str] = mapped_column(String(64))
    number: Mapped[int] = mapped_column(Integer)
    title: Mapped[str] = mapped_column(String(300))
    content: Mapped[str] = mapped_column(Text)  # canonical JSON
    sha256: Mapped[str] = mapped_column(String(64))
    plan_version_id: Mapped[int | None] = mapped_column(
        ForeignKey("plan_versions.id", ondelete="SET NULL")
    )
    published_by: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    published_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    approved_by: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    approved_role: Mapped[str | None] = mapped_column(String(20))  # 'planeier' | 'verge'
    approved_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    content_user_ids: Mapped[str | None] = mapped_column(Text)  # JSON; NULL: ids are ours
    # What the server vouches for (server/core/seals.py). Hash scheme 1: `sha256` alone (rows
    # published before the seal); 2: also `publication` (canonical JSON of who published what,
    # when) and its `publication_sha256`. `approval`/`approval_sha256` seal the approval the
    # same way, set with the approval fields. `published_here`: published in this
    # installation, or imported with this installation's signature; false for a version
    # imported from elsewhere ("imported, not published here").
    hash_version: Mapped[int] = mapped_column(Integer, default=1, server_default="1")
    publication: Mapped[str | None] = mapped_column(Text)
    publication_sha256: Mapped[str | None] = mapped_column(String(64))
    approval: Mapped[str | None] = mapped_column(Text)
    approval_sha256: Mapped[str | None] = mapped_column(String(64))
    published_here: Mapped[bool] = mapped_column(Boolean, default=True, server_default=true())


NOTE_KINDS = ("topic", "good", "hard")  # what I want to talk about / what goes well / what not
NOTE_AUDIENCES = ("me", "koordinator", "group")
NOTE_ANSWERS = ("yes", "no")


class MeetingNote(Base):
    """A note the person (or, for a child under 16, the verge) writes before a meeting (issue
    13, "Før møtet"). Kept in SQL, never in a zone: a zone is opened whole by everyone its
    role allows, while each note has its own readers (`audience`), which the server checks on
    every route (server/meetings/notes.py). The koordinator may propose it for the agenda
    (`proposed_*`); the writer answers (`answer`), and a yes puts it on the minutes' agenda
    as `agenda_item_id`."""

    __tablename__ = "meeting_notes"
    __table_args__ = (
        CheckConstraint(_in("kind", NOTE_KINDS), name="kind"),
        CheckConstraint(_in("audience", NOTE_AUDIENCES), name="audience"),
        CheckConstraint(f"answer IS NULL OR {_in('answer', NOTE_ANSWERS)}", name="answer"),
    )

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    meeting_id: Mapped[str] = mapped_column(
        ForeignKey("meetings.id", ondelete="CASCADE"), index=True
    )
    author_user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    author_role: Mapped[str] = mapped_column(String(20))  # 'planeier' | 'verge' when written
    kind: Mapped[str] = mapped_column(String(20))
    audience: Mapped[str] = mapped_column(String(20))
    text: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    proposed_by_user_id: Mapped[int | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL")
    )
    proposed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    answer: Mapped[str | None] = mapped_column(String(10))
    answered_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    agenda_item_id: Mapped[str | None] = mapped_column(String(64))


PLAN_MOVE_KINDS = ("internal", "export", "import")


class PlanMove(Base):
    """A plan moved to another municipality when the person moved (issue 14): the sending
    KE's logged record of it, with the person's consent to the move.

    `internal`: within this installation (`to_municipality_id` set, the plan row stays and
    changes municipality); `export`: to another installation by `samplan plan move-out`
    (`to_name` is the receiving municipality as typed; the plan here is closed); `import`:
    arrived from another installation (`from_name` as the file says). No foreign key on
    `plan_id`, like the access log: the record outlives the plan (purge, a closed export).
    `initials` are the person's, kept for the sending KE's list, which never shows the
    title. `appointed_at` is set when the receiving KE appointed a koordinator: until then
    its overview flags the plan "koordinator må oppnevnes".
    """

    __tablename__ = "plan_moves"
    __table_args__ = (
        CheckConstraint(_in("kind", PLAN_MOVE_KINDS), name="kind"),
        CheckConstraint(_in("consent_giver", PLAN_CONSENT_GIVERS), name="consent_giver"),
        CheckConstraint(_in("consent_method", PLAN_CONSENT_METHODS), name="consent_method"),
        Index("ix_plan_moves_plan_id", "plan_id"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    plan_id: Mapped[str] = mapped_column(String(36))
    kind: Mapped[str] = mapped_column(String(20))
    initials: Mapped[str] = mapped_column(String(40))
    from_municipality_id: Mapped[int | None] = mapped_column(
        ForeignKey("municipalities.id", ondelete="CASCADE"), index=True
    )
    from_name: Mapped[str | None] = mapped_column(String(200))
    to_municipality_id: Mapped[int | None] = mapped_column(
        ForeignKey("municipalities.id", ondelete="CASCADE"), index=True
    )
    to_name: Mapped[str | None] = mapped_column(String(200))
    consent_giver: Mapped[str] = mapped_column(String(20))
    consent_giver_name: Mapped[str] = mapped_column(String(200))
    consent_giver_user_id: Mapped[int | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL")
    )
    consent_method: Mapped[str] = mapped_column(String(20))
    consent_given_on: Mapped[date] = mapped_column(Date)
    recorded_by_user_id: Mapped[int | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL")
    )
    moved_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    appointed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
