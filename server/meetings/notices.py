"""Telling a meeting's invitees: scheduled, changed, cancelled, and the day before.

Each notice is a notification (in the app, and by e-mail for those who want it) carrying the
meeting's calendar entry in its neutral form (the time, "Møte i Samplan" and the link: a
calendar is synced to phones and shown on lock screens, so no title, place or agenda). The
entry has the UID and SEQUENCE of the full .ics invitees download after signing in, so a
calendar holds the meeting once whichever it got first. Each notice is recorded once per
meeting version (its edit count) or reminder date, however many nodes see the event.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Sequence
from dataclasses import replace
from datetime import UTC, date, datetime, time, timedelta
from typing import Protocol

from server.core.clock import OSLO
from server.meetings.ics import meeting_ics
from server.settings import Settings
from server.web.i18n import translator
from storage.repositories.meetings import MeetingRecord, MeetingRepo

log = logging.getLogger("samplan.meetings")


class Notifier(Protocol):
    """What these notices need of the notifier (server/notify): one meeting event."""

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
    ) -> Sequence[object]: ...


class MeetingNotices:
    def __init__(self, notifier: Notifier, settings: Settings, meetings: MeetingRepo) -> None:
        self.notifier = notifier
        self.settings = settings
        self.meetings = meetings

    async def scheduled(self, meeting: MeetingRecord, by: int) -> None:
        await self._tell(meeting, "meeting", meeting.invitee_ids, by)

    async def changed(self, before: MeetingRecord, after: MeetingRecord, by: int) -> None:
        """Those still invited hear of the change; those taken off the list, that it is off
        for them."""
        await self._tell(after, "meeting", after.invitee_ids, by, text="meeting_changed")
        dropped = set(before.invitee_ids) - set(after.invitee_ids)
        if dropped:
            gone = replace(after, cancelled_at=after.updated_at or datetime.now(UTC))
            await self._tell(gone, "meeting_cancelled", dropped, by)

    async def cancelled(self, meeting: MeetingRecord, by: int) -> None:
        await self._tell(meeting, "meeting_cancelled", meeting.invitee_ids, by)

    async def remind(self, today: date) -> int:
        """The day before: every invitee of each meeting that starts tomorrow (Oslo)."""
        tomorrow = datetime.combine(today + timedelta(days=1), time(), OSLO)
        created = 0
        for meeting in await self.meetings.starting_between(tomorrow, tomorrow + timedelta(days=1)):
            created += len(
                await self.notifier.meeting_event(
                    meeting.plan_id,
                    "meeting_soon",
                    meeting.id,
                    invitees=meeting.invitee_ids,
                    by=None,
                    starts_at=meeting.starts_at,
                    version=today.isoformat(),
                    calendar=self._calendar(meeting),
                )
            )
        return created

    async def _tell(
        self,
        meeting: MeetingRecord,
        kind: str,
        invitees: Iterable[int],
        by: int,
        *,
        text: str | None = None,
    ) -> None:
        try:
            await self.notifier.meeting_event(
                meeting.plan_id,
                kind,
                meeting.id,
                invitees=invitees,
                by=by,
                starts_at=meeting.starts_at,
                # One notice per edit (the .ics SEQUENCE), and the cancellation its own.
                version=f"{meeting.sequence}{'-cancelled' if meeting.cancelled else ''}",
                text_key=text,
                calendar=self._calendar(meeting),
            )
        except Exception as exc:  # the meeting is saved: a lost notice is logged, not raised
            log.error("meeting notice failed meeting_id=%s", meeting.id, exc_info=exc)

    def _calendar(self, meeting: MeetingRecord) -> Callable[[str], str]:
        """The neutral entry, in the recipient's language."""
        settings = self.settings
        url = settings.public_link(f"/plans/{meeting.plan_id}#meeting-{meeting.id}")

        def entry(lang: str) -> str:
            title = translator(lang)("meetings.ics.neutral_title")
            return meeting_ics(
                meeting, url, settings.public_host(), datetime.now(UTC), neutral_title=title
            ).decode()

        return entry
