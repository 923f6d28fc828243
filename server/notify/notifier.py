"""Turning an event in a plan into notifications: who gets one, its link, its e-mail.

One entry point per kind of event, all through `notify`: recipients are narrowed to members
who may read the zone the item lives in (role and consent, the same rule as sockets and
pages), the author is never told of their own doing, each notification is recorded once per
`dedupe_key` (so several nodes noticing the same event, or a reminder job run twice, make
one row and one e-mail), and every open page of each recipient is told the new unread count.

E-mail never carries plan content (health data): the kind of event, the initials of the
person the plan is for ("planen til J. B.") and a link, nothing else. Each e-mail is written
in its recipient's chosen language (`users.language`; bokmål when they never chose), when the
event is recorded: the outbox holds the finished text, so the sender never looks it up.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from crdt.schema import AREA, COMMENTS, CONTENT, MINUTES, zone_name
from server.core.access import Role, effective_access, needs_consent
from server.core.clock import OSLO, today_oslo
from server.core.event_hub import EventHub
from server.core.identity import dotted_initials as dotted_initials  # re-exported
from server.settings import Settings
from server.web.i18n import DEFAULT_LANGUAGE, translator
from storage.repositories.consents import ConsentRepo
from storage.repositories.notifications import (
    EmailDraft,
    NewNotification,
    NotificationRecord,
    NotificationRepo,
)
from storage.repositories.plans import PlanRepo
from storage.repositories.users import UserRepo

log = logging.getLogger("samplan.notifier")


class Notifier:
    def __init__(
        self,
        settings: Settings,
        plans: PlanRepo,
        consents: ConsentRepo,
        notifications: NotificationRepo,
        events: EventHub,
        users: UserRepo,
    ) -> None:
        self.settings = settings
        self.plans = plans
        self.consents = consents
        self.notifications = notifications
        self.users = users
        self.events = events
        self.on_email_queued: Callable[[], None] | None = None  # wakes the sender

    @property
    def email_enabled(self) -> bool:
        return bool(self.settings.smtp_host)

    # -- the events ---------------------------------------------------------------------

    async def message_posted(
        self, plan_id: str, message_id: str, author_id: str | None
    ) -> list[NotificationRecord]:
        """A new message in the plan's thread: every member who can read it, but its author."""
        return await self.notify(
            plan_id,
            "message",
            message_id,
            zone_kind=COMMENTS,
            recipients=None,
            exclude=_ids([author_id]),
            link=f"/plans/{plan_id}#message-{message_id}",
        )

    async def comment_on_responsible(
        self,
        plan_id: str,
        comment_id: str,
        anchor_id: str,
        responsible: Iterable[str],
        author_id: str | None,
    ) -> list[NotificationRecord]:
        """A comment on a measure (or evaluation) someone is responsible for."""
        return await self.notify(
            plan_id,
            "comment",
            comment_id,
            zone_kind=COMMENTS,
            recipients=_ids(responsible),
            exclude=_ids([author_id]),
            link=f"/plans/{plan_id}#measure-{anchor_id}",
        )

    async def measure_assigned(
        self, plan_id: str, area_key: str, measure_id: str, user_ids: Iterable[str], by: str | None
    ) -> list[NotificationRecord]:
        """Members newly named responsible for a measure (not the one who named themselves)."""
        return await self.notify(
            plan_id,
            "assigned",
            measure_id,
            zone_kind=AREA,
            zone_key=area_key,
            recipients=_ids(user_ids),
            exclude=_ids([by]),
            link=f"/plans/{plan_id}#measure-{measure_id}",
        )

    async def minutes_published(
        self, plan_id: str, meeting_id: str, version: int | str
    ) -> list[NotificationRecord]:
        """Called by the publish code once a meeting's minutes are published: every member
        who may read that meeting's minutes zone is told, once per published version."""
        return await self.notify(
            plan_id,
            "minutes",
            meeting_id,
            zone_kind=MINUTES,
            zone_key=meeting_id,
            recipients=None,
            link=f"/plans/{plan_id}/meetings/{meeting_id}/published/{version}",
            dedupe_extra=str(version),
        )

    async def deadline_soon(
        self, plan_id: str, area_key: str, measure_id: str, end: str, user_ids: Iterable[str]
    ) -> list[NotificationRecord]:
        return await self.notify(
            plan_id,
            "deadline",
            measure_id,
            zone_kind=AREA,
            zone_key=area_key,
            recipients=_ids(user_ids),
            link=f"/plans/{plan_id}#measure-{measure_id}",
            dedupe_extra=end,
        )

    async def revision_due(self, plan_id: str, next_revision: str) -> list[NotificationRecord]:
        """The plan's revision date has come: the koordinator, who runs the revision, is told
        once per revision date."""
        return await self.notify(
            plan_id,
            "revision",
            None,
            zone_kind=CONTENT,
            recipients=None,
            roles=(Role.KOORDINATOR,),
            link=f"/plans/{plan_id}#sec-meta",
            dedupe_extra=next_revision,
        )

    async def meeting_event(
        self,
        plan_id: str,
        kind: str,
        meeting_id: str,
        *,
        invitees: Iterable[int],
        by: int | None,
        starts_at: datetime,
        version: str,
        text_key: str | None = None,
        calendar: Callable[[str], str] | None = None,
    ) -> list[NotificationRecord]:
        """A meeting scheduled, changed or cancelled ("meeting", "meeting_cancelled"), or
        tomorrow ("meeting_soon"): its invitees are told, once per `version` (the meeting's
        edit count, the reminder's date), with its neutral calendar entry attached."""
        return await self.notify(
            plan_id,
            kind,
            meeting_id,
            zone_kind=None,
            recipients=set(invitees),
            exclude=_ids([by]),
            link=f"/plans/{plan_id}#meeting-{meeting_id}",
            dedupe_extra=version,
            email_text=EmailText(text_key or kind, starts_at, calendar),
        )

    async def review_soon(
        self, plan_id: str, area_key: str, evaluation_id: str, review: str, user_ids: Iterable[str]
    ) -> list[NotificationRecord]:
        """An evaluation's next review is a week away: those responsible for it, or the
        koordinator when nobody is."""
        responsible = _ids(user_ids)
        return await self.notify(
            plan_id,
            "review",
            evaluation_id,
            zone_kind=AREA,
            zone_key=area_key,
            recipients=responsible or None,
            roles=None if responsible else (Role.KOORDINATOR,),
            link=f"/plans/{plan_id}#evaluation-{evaluation_id}",
            dedupe_extra=review,
        )

    async def koordinator_changed(
        self, plan_id: str, *, to_user_id: int, from_user_id: int | None, version: str
    ) -> list[NotificationRecord]:
        """The KE appointed or changed the plan's koordinator (issue 14): every member who may
        open the plan is told (the new koordinator always may), once per `version`. The old
        koordinator is told too, even when they left the plan or may not open it now (a
        deltaker before the planeier's consent): their duty ended, and they must know. Their
        link is Mine planer, not a plan they may no longer open."""
        created = await self.notify(
            plan_id,
            "koordinator",
            str(to_user_id),
            zone_kind=None,
            recipients=None,
            link=f"/plans/{plan_id}#plan-members",
            dedupe_extra=version,
        )
        if from_user_id is None or any(r.user_id == from_user_id for r in created):
            return created
        former = await self.users.get(from_user_id)
        plan = await self.plans.get_plan(plan_id)
        if former is None or plan is None or plan.status != "active":
            return created
        kind, link = "koordinator", "/plans"
        email = None
        if self.email_enabled and from_user_id in await self.notifications.wants_email(
            {from_user_id: former.email}, kind
        ):
            lang = (await self.users.languages({from_user_id})).get(from_user_id)
            initials = dotted_initials(plan.person_name)
            email = self._email(
                EmailText(kind), initials, link, former.email, lang or DEFAULT_LANGUAGE
            )
        key = ":".join((kind, plan_id, str(to_user_id), version, str(from_user_id)))
        item = NewNotification(from_user_id, plan_id, kind, str(to_user_id), link, key, email)
        told = await self.notifications.record([item])
        if email is not None and told and self.on_email_queued is not None:
            self.on_email_queued()
        for record in told:
            await self._tell(record.user_id, {"kind": kind, "planId": plan_id})
        return [*created, *told]

    async def plan_moved(self, plan_id: str, move_id: int) -> list[NotificationRecord]:
        """The plan moved to another municipality (issue 14, plan_moves): every member who
        may open the plan is told, once per move. Their access is unchanged."""
        return await self.notify(
            plan_id,
            "moved",
            str(move_id),
            zone_kind=None,
            recipients=None,
            link=f"/plans/{plan_id}",
            dedupe_extra=str(move_id),
        )

    # -- the one path -------------------------------------------------------------------

    async def notify(
        self,
        plan_id: str,
        kind: str,
        item_id: str | None,
        *,
        zone_kind: str | None,
        zone_key: str = "",
        recipients: set[int] | None,
        link: str,
        exclude: set[int] | frozenset[int] = frozenset(),
        roles: tuple[str, ...] | None = None,
        dedupe_extra: str = "",
        email_text: EmailText | None = None,
    ) -> list[NotificationRecord]:
        """Record `kind` for `recipients` (None: every member) who may read the zone; with no
        zone (`zone_kind=None`), the caller chose the recipients by its own rule (a meeting's
        invitees may see their meeting)."""
        plan = await self.plans.get_plan(plan_id)
        if plan is None or plan.status != "active":
            return []
        latest = await self.consents.latest_by_user(plan_id)
        today = today_oslo()
        members: dict[int, str] = {}
        for membership, _name, email in await self.plans.list_members_with_names(plan_id):
            uid = membership.user_id
            if recipients is not None and uid not in recipients:
                continue
            if uid in exclude or (roles is not None and membership.role not in roles):
                continue
            # A draft is for the koordinator, planeier and verge only; no sharing consent
            # is in force before the consent to the plan being made.
            consent = None if plan.draft else latest.get(uid, (None, None))[0]
            if zone_kind is None:
                # Chosen by the caller, but still only those who may open the plan at all.
                if needs_consent(membership.role) and not (
                    consent is not None and consent.active_on(today)
                ):
                    continue
            elif (
                effective_access(
                    membership.role, zone_kind, zone_name(zone_kind, zone_key), consent, today
                )
                is None
            ):
                continue
            members[uid] = email
        if not members:
            return []
        wants = await self.notifications.wants_email(members, kind) if self.email_enabled else set()
        languages = await self.users.languages(wants)
        initials = dotted_initials(plan.person_name)
        items = [
            NewNotification(
                uid,
                plan_id,
                kind,
                item_id,
                link,
                ":".join((kind, plan_id, item_id or "-", dedupe_extra, str(uid))),
                self._email(
                    email_text or EmailText(kind),
                    initials,
                    link,
                    email,
                    languages.get(uid, DEFAULT_LANGUAGE),
                )
                if uid in wants and email
                else None,
            )
            for uid, email in members.items()
        ]
        created = await self.notifications.record(items)
        if any(uid in wants for uid in (n.user_id for n in created)):
            if self.on_email_queued is not None:
                self.on_email_queued()
        for record in created:
            await self._tell(record.user_id, {"kind": kind, "planId": plan_id})
        log.info("plan %s: %s for %d member(s)", plan_id, kind, len(created))
        return created

    async def tell_count(self, user_id: int) -> None:
        """Push the user's unread count to their open pages (after marking read, say)."""
        await self._tell(user_id, {})

    async def _tell(self, user_id: int, extra: dict[str, Any]) -> None:
        if not self.events.may_reach(user_id):
            return
        unread = await self.notifications.unread_count(user_id)
        self.events.publish([user_id], {"type": "notification", "unread": unread, **extra})

    def _email(self, text: EmailText, initials: str, link: str, to: str, lang: str) -> EmailDraft:
        """The e-mail in `lang`: every word from client/i18n/<lang>.json."""
        t = translator(lang)
        what = t(f"notify.email.{text.key}").replace("{who}", initials)
        if text.when is not None:
            what = what.replace("{when}", _when(text.when, t))
        settings_link = self.settings.public_link("/settings/notifications")
        body = "\n".join(
            (
                what,
                "",
                f"{t('notify.email.open')}: {self.settings.public_link(link)}",
                "",
                t("notify.email.why"),
                f"{t('notify.email.settings')}: {settings_link}",
            )
        )
        calendar = text.calendar(lang) if text.calendar is not None else None
        return EmailDraft(to, f"{t('app.name')}: {what}", body + "\n", calendar)


@dataclass(frozen=True, slots=True)
class EmailText:
    """Which text an e-mail says (`notify.email.<key>`), the time it names if any, and the
    calendar entry it carries (made per recipient language)."""

    key: str
    when: datetime | None = None
    calendar: Callable[[str], str] | None = None


def _when(moment: datetime, t: Callable[[str], str]) -> str:
    local = moment.astimezone(OSLO)
    return (
        t("notify.email.when")
        .replace("{date}", local.strftime("%d.%m.%Y"))
        .replace("{time}", local.strftime("%H:%M"))
    )


def _ids(values: Iterable[str | int | None]) -> set[int]:
    ids = set()
    for value in values:
        try:
            ids.add(int(str(value)))
        except ValueError:
            continue
    return ids
