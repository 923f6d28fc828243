"""One meeting as an iCalendar file (RFC 5545), written with the `icalendar` package.

A calendar is not a safe place for health data: calendars are synced to phones, shared with
assistants and shown on lock screens. So the file carries the meeting's title (e.g.
"Ansvarsgruppemøte"), time, place or link and a link back to Samplan, and nothing else: no
person's name, no agenda, no minutes. Times are written in UTC, which every client converts.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from storage.repositories.meetings import MeetingRecord

PRODID = "-//Samplan//Samplan møter//NB"


def meeting_ics(
    meeting: MeetingRecord,
    minutes_url: str,
    uid_domain: str,
    now: datetime,
    *,
    neutral_title: str | None = None,
) -> bytes:
    """`uid_domain` is the host of SAMPLAN_PUBLIC_URL: the UID is the one this format always
    had (`samplan-meeting-<id>@<host people reach Samplan by>`, which the Host header gave
    before), so a meeting already in a calendar is updated, not added twice; and it no longer
    depends on what a request claims as its Host. A meeting id is unique, so the domain only
    follows RFC 5545's advice; changing SAMPLAN_PUBLIC_URL's host changes the UIDs.

    With `neutral_title` (the entry an e-mail carries, read by whoever reads the mailbox) the
    title is that and there is no place or video link: the time and the link only, with the
    same UID and SEQUENCE as the full file, so either updates the other."""
    # Imported here: icalendar (~100 modules, ~3.5 MB) is needed only once a meeting's file is
    # asked for or mailed, not by a serving process at rest (issue 16).
    from icalendar import Calendar, Event

    calendar = Calendar()
    calendar.add("prodid", PRODID)
    calendar.add("version", "2.0")
    calendar.add("calscale", "GREGORIAN")
    calendar.add("method", "PUBLISH")
    event = Event()
    # Stable per meeting, so importing the file again updates the entry instead of adding one.
    event.add("uid", f"samplan-meeting-{meeting.id}@{uid_domain}")
    # The file describes the meeting as last changed; an unchanged meeting gives the same
    # stamp on every download, an edited one a later stamp (RFC 5545 §3.8.7.2-3).
    changed = (meeting.updated_at or now).astimezone(UTC)
    event.add("dtstamp", changed)
    event.add("last-modified", changed)
    event.add("dtstart", meeting.starts_at.astimezone(UTC))
    ends_at = meeting.ends_at or meeting.starts_at + timedelta(hours=1)
    event.add("dtend", ends_at.astimezone(UTC))
    event.add("summary", neutral_title or meeting.title)
    location = meeting.place or meeting.video_link
    if meeting.place and meeting.video_link:
        location = f"{meeting.place} / {meeting.video_link}"
    if location and neutral_title is None:
        event.add("location", location)
    event.add("url", minutes_url)
    event.add("status", "CANCELLED" if meeting.cancelled else "CONFIRMED")
    # A calendar applies a re-imported entry only when its sequence is higher (§3.8.7.4): one
    # step per edit, one more for the cancellation (the last change: a cancelled meeting is
    # never edited again).
    event.add("sequence", meeting.sequence + (1 if meeting.cancelled else 0))
    calendar.add_component(event)
    return bytes(calendar.to_ical())
