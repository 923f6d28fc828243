"""The process's long-lived parts, built once by the app's lifespan (or by a CLI command).

`server` is the only package that knows both `crdt` and `storage`; this is where they meet.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from crdt.committer import GroupCommitter
from crdt.registry import RoomRegistry
from server.auth.throttle import LoginThrottle, RequestLimit
from server.core.audit import AuditWriter
from server.core.event_hub import EventHub
from server.core.repositories import Repositories as Repositories  # re-exported
from server.core.summaries import Summaries
from server.core.zones import zone_copies
from server.meetings.notices import MeetingNotices
from server.notify.mailer import EmailSender
from server.notify.notifier import Notifier
from server.notify.reminders import Reminders
from server.notify.zone_watch import ZoneWatch
from server.ops.db_health import DatabaseHealth
from server.ops.metrics import Metrics
from server.plans.purge_schedule import PurgeSchedule
from server.settings import Settings
from server.sync.connections import AccessWatcher, ConnectionIndex, forget_plan
from server.sync.fast_send import paths as send_paths
from server.sync.sessions import SessionSockets
from server.transfer.pdf import PdfRenderer
from server.versions.daily import DailyVersions
from storage.db import is_sqlite, warm_pool
from storage.db.sqlite_file import DatabaseInUse, ServingLock, sqlite_file
from storage.repositories.consents import ConsentRepo, MemberAccess
from storage.repositories.meetings import MeetingRepo
from storage.repositories.plans import PlanRepo
from storage.repositories.sessions import SessionRepo

if TYPE_CHECKING:  # redis is imported only when a cluster is configured
    from server.cluster.node import Cluster

log = logging.getLogger("samplan.services")


@dataclass
class Services:
    settings: Settings
    repos: Repositories
    secret_key: str
    committer: GroupCommitter
    registry: RoomRegistry
    connections: ConnectionIndex
    watcher: AccessWatcher
    summaries: Summaries
    audit: AuditWriter
    notifier: Notifier
    zone_watch: ZoneWatch
    reminders: Reminders
    mailer: EmailSender
    events: EventHub
    daily_versions: DailyVersions
    session_sockets: SessionSockets
    meeting_notices: MeetingNotices
    metrics: Metrics
    purge_schedule: PurgeSchedule
    login_throttle: LoginThrottle = field(default_factory=LoginThrottle)
    # "Glemt passord": per typed address (silent) and per client address (said).
    reset_by_email: RequestLimit = field(default_factory=lambda: RequestLimit(3))
    reset_by_address: RequestLimit = field(default_factory=lambda: RequestLimit(20))
    pdf: PdfRenderer = field(default_factory=PdfRenderer)  # the worker process, on first use
    # Held while serving the SQLite default: `samplan restore` refuses while it is held.
    serving_lock: ServingLock | None = None
    cluster: Cluster | None = None  # SAMPLAN_REDIS_URL set: the other nodes (server/cluster)
    database: DatabaseHealth | None = None  # whether the database answers (/healthz)

    @property
    def plans(self) -> PlanRepo:
        return self.repos.plans

    @property
    def consents(self) -> ConsentRepo:
        return self.repos.consents

    @property
    def meetings(self) -> MeetingRepo:
        return self.repos.meetings

    @property
    def sessions(self) -> SessionRepo:
        return self.repos.sessions

    @classmethod
    async def start(cls, settings: Settings) -> Services:
        database = sqlite_file(settings.resolved_database_url())
        try:
            serving_lock = ServingLock(database) if database is not None else None
        except DatabaseInUse:
            log.error("a restore of the database is under way: not serving (start again after)")
            raise
        try:
            return await cls._start(settings, serving_lock)
        except BaseException:
            if serving_lock is not None:
                serving_lock.release()
            raise

    @classmethod
    async def _start(cls, settings: Settings, serving_lock: ServingLock | None) -> Services:
        repos = await Repositories.open(settings)
        await warm_pool(repos.engine)  # not while the first clients wait (issue 16)
        committer = GroupCommitter(
            repos.zone_log,
            commit_timeout=settings.commit_timeout_seconds,
            one_writer=is_sqlite(repos.engine),
        )
        committer.start()
        registry = RoomRegistry(
            committer,
            grace_seconds=settings.room_grace_seconds,
            compact_after=settings.compact_after_updates,
        )

        async def live_member(plan_id: str, user_id: int) -> MemberAccess | None:
            """A deactivated account is no member: its open sockets close at the re-check
            that deactivating it (here or from the command line) sets off."""
            if not await repos.accounts.is_active(user_id):
                return None
            return await repos.consents.member_access(plan_id, user_id)

        connections = ConnectionIndex(live_member)

        def plan_gone(plan_id: str) -> None:
            # Every node's watcher sees the deletion itself: nothing to announce.
            forget_plan(registry, connections, plan_id, announce=False)

        watcher = AccessWatcher(
            connections, repos.plans.access_versions, settings.access_poll_seconds, plan_gone
        )
        watcher.start()
        session_sockets = SessionSockets(
            repos.sessions, settings.session_idle_seconds, settings.session_check_seconds
        )
        session_sockets.start()
        audit = AuditWriter(repos.audit)
        audit.start()
        events = EventHub()
        notifier = Notifier(
            settings, repos.plans, repos.consents, repos.notifications, events, repos.users
        )
        summaries = Summaries(
            repos.plans,
            registry,
            settings.summary_delay_seconds,
            # SQLite (the file the serving lock guards): saved between the edits' batches
            committer.run_exclusive if serving_lock is not None else None,
        )
        zone_watch = ZoneWatch(
            registry, repos.plans, notifier, repos.zone_log, settings.notify_debounce_seconds
        )
        # Every subscriber of the registry's hooks, in one place.
        registry.loaded.subscribe(zone_watch.loaded)
        registry.committed.subscribe(zone_watch.committed)
        registry.committed.subscribe(summaries.changed)
        registry.compacted.subscribe(summaries.refresh)
        meeting_notices = MeetingNotices(notifier, settings, repos.meetings)
        reminders = Reminders(
            repos.plans,
            summaries,
            notifier,
            settings.reminder_interval_seconds,
            also=(meeting_notices.remind,),
        )
        mailer = EmailSender(settings, repos.notifications)
        notifier.on_email_queued = mailer.wake
        daily_versions = DailyVersions(
            repos.versions,
            lambda plan_id: zone_copies(registry, repos.plans, plan_id),
            settings.daily_version_check_seconds,
        )
        login_throttle = LoginThrottle(
            base_seconds=settings.login_backoff_base_seconds,
            max_seconds=settings.login_backoff_max_seconds,
        )
        purge_schedule = PurgeSchedule(
            repos, registry, connections, settings.retention_days, settings.purge_interval_seconds
        )
        # The scheduled work: on a single node here; in a cluster on the leader only.
        scheduled = (reminders, daily_versions, mailer, purge_schedule)
        cluster = None
        if settings.redis_url:
            from server.cluster.node import Cluster

            cluster = await Cluster.start(
                settings.redis_url,
                registry=registry,
                connections=connections,
                hub=events,
                sessions=session_sockets,
                throttle=login_throttle,
                wake_mailer=mailer.wake,
                jobs=scheduled,
                prefix=settings.redis_prefix,
                forward_edits=settings.cluster_forward_edits,
            )
            notifier.on_email_queued = cluster.events.email_queued
            cluster.zones.applied.subscribe(summaries.changed)
        else:
            for job in scheduled:
                job.start()
        metrics = Metrics(
            registry, committer, lambda: len(connections), token=settings.metrics_token
        )
        if cluster is not None:  # the fan-out's figures
            metrics.timings(
                "samplan_redis_lag_seconds",
                "From another node's sending of a room message (its clock) to its receipt "
                "here through Redis.",
                kept=cluster.zones.lag,
            )
            metrics.counter(
                "samplan_redis_reconnects",
                "Times this node's Redis subscriber connection was made again after it was lost.",
                lambda: cluster.bus.reconnects,
            )
            metrics.counter(
                "samplan_redis_late_subscriptions",
                "Room subscriptions Redis confirmed only after the load stopped waiting (each "
                "is followed by reading the room from the database again).",
                lambda: cluster.bus.late_subscriptions,
            )
            zones = cluster.zones
            metrics.counter(
                "samplan_edits_forwarded",
                "Local clients' edits sent to the node that commits their plan's zone.",
                lambda: zones.forwarded,
            )
            metrics.counter(
                "samplan_edits_committed_for_other_nodes",
                "Edits other nodes forwarded here, committed and sent back durable.",
                lambda: zones.forwards_taken,
            )
            metrics.counter(
                "samplan_edits_forwarded_unanswered",
                "Forwarded edits this node committed itself: no answer in time, or the "
                "committing node went or closed the zone.",
                lambda: zones.forwards_unanswered,
            )
        metrics.counter(
            "samplan_ws_direct_sends",
            "Frames written straight to a socket beneath ASGI (server/sync/fast_send.py).",
            lambda: send_paths.direct,
        )
        metrics.counter(
            "samplan_ws_direct_declined",
            "Direct sends handed back to the ASGI path: a closing or back-pressured socket.",
            lambda: send_paths.declined,
        )
        metrics.counter(
            "samplan_ws_asgi_connections",
            "Sync sockets whose sends all go through ASGI (direct send off or not possible).",
            lambda: send_paths.asgi_connections,
        )
        database = DatabaseHealth(repos.engine)
        committer.outcome.subscribe(database.writer_outcome)
        metrics.gauge(
            "samplan_database_available",
            "1 while the database answered its latest probe (/healthz asks) or the latest "
            "durable write of edits, 0 while it is gone.",
            lambda: float(database.available),
        )
        # The lag probe starts when the app serves (server/app.py, after the start-up heap is
        # frozen): start-up's own work is not a stall anybody waits for (issue 16).
        log.info("services started")
        return cls(
            settings,
            repos,
            settings.resolved_secret_key(),
            committer,
            registry,
            connections,
            watcher,
            summaries,
            audit,
            notifier,
            zone_watch,
            reminders,
            mailer,
            events,
            daily_versions,
            session_sockets,
            meeting_notices,
            metrics,
            purge_schedule,
            login_throttle=login_throttle,
            reset_by_email=RequestLimit(settings.password_reset_per_account_hour),
            reset_by_address=RequestLimit(settings.password_reset_per_address_hour),
            serving_lock=serving_lock,
            cluster=cluster,
            database=database,
        )

    async def stop(self) -> None:
        await self.metrics.stop()
        if self.cluster is not None:
            await self.cluster.leader.stop()  # another node takes the scheduled work now
        self.events.close()
        await self.daily_versions.stop()
        await self.purge_schedule.stop()
        await self.reminders.stop()
        await self.watcher.stop()
        await self.session_sockets.stop()
        await self.registry.close()
        if self.cluster is not None:
            await self.cluster.stop()  # after the rooms: their peers' leaving is sent first
        await self.zone_watch.close()
        await self.mailer.stop()
        await self.summaries.flush()
        await self.committer.stop()
        await self.audit.stop()  # after the rooms: their peers' leave rows are queued by now
        await self.pdf.close()
        await self.repos.close()
        if self.serving_lock is not None:
            self.serving_lock.release()
        log.info("services stopped")

    def origin_allowed(self, origin: str | None, host: str | None) -> bool:
        """Cross-site WebSocket hijacking guard for cookie-authenticated sockets."""
        if not origin:
            return False
        if origin in self.settings.allowed_origins:
            return True
        return host is not None and urlsplit(origin).netloc == host
