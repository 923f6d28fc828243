"""Notification e-mail against a local SMTP server (aiosmtpd): it arrives, it carries the
kind of event, the initials and a link and no plan content, a refused send is retried, and
a member who turned e-mail off for that kind gets none; each e-mail is in its recipient's
language."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest

from server.settings import Settings
from server.web.i18n import translator
from tests.support.live import LiveServer
from tests.support.mail import PUBLIC, Inbox, mail_settings, running_inbox
from tests.support.waiting import wait_for
from tests.support.web import csrf_of, log_in, post_json, signed_in
from tests.support.world import ROLE_USERS, World
from tests.test_published import MINUTES, _write, as_user, publish_url, write_minutes

pytestmark = pytest.mark.both_databases

log = logging.getLogger("tests.notification_email")

SECRET_TEXT = "Hemmelig helseopplysning: Åse får ny medisin 💊 æøå"


@pytest.fixture
def inbox() -> Iterator[Inbox]:
    """Refuses the first e-mail (451): a refused send is retried."""
    with running_inbox(refuse=1) as handler:
        yield handler


@pytest.fixture
def settings(tmp_path: Path, inbox: Inbox, server_database: str) -> Settings:
    return mail_settings(tmp_path, inbox, database_url=server_database)


async def test_message_email_arrives_without_plan_content(
    web: LiveServer, world: World, inbox: Inbox
) -> None:
    server = web
    handler = inbox
    repo = server.services.repos.notifications
    await repo.set_email_prefs(world.users["verge"], {"message": False})
    async with signed_in(server.http, ROLE_USERS["deltaker"][0]) as aase:
        posted = await post_json(aase, f"/plans/{world.plan_id}/messages", {"text": SECRET_TEXT})
        assert posted.status_code == 201
        wanted = [ROLE_USERS[r][0] for r in ("planeier", "koordinator", "leser")]
        took = await wait_for(
            lambda: all(handler.to(a) for a in wanted), timeout=20, what="three e-mails"
        )
        log.info("e-mails received %.2f s after the message", took)

    assert handler.refused == 1  # the first attempt was refused, and retried

    async def all_marked_sent() -> bool:
        return all(e.sent_at is not None for e in await repo.outbox())

    await wait_for(all_marked_sent, what="every outbox row marked sent")
    assert await server.services.mailer.drain() == 0  # nothing left to send again
    assert len(handler.messages) == 3  # each sent exactly once
    outbox = await repo.outbox()
    assert len(outbox) == 3 and all(e.sent_at is not None for e in outbox)
    assert sorted(e.attempts for e in outbox) == [1, 1, 2]
    assert not handler.to(ROLE_USERS["verge"][0])  # turned e-mail off for messages
    assert not handler.to(ROLE_USERS["deltaker"][0])  # her own message
    assert len(await repo.list_for_user(world.users["verge"])) == 1  # still told in-app

    message = handler.to(ROLE_USERS["koordinator"][0])[0]
    assert len(handler.to(ROLE_USERS["koordinator"][0])) == 1  # sent once
    subject, body = str(message["Subject"]), message.get_content()
    assert subject == "Samplan: Du har en ny melding i planen til J. B."
    assert "Du har en ny melding i planen til J. B." in body
    assert f"{PUBLIC}/plans/{world.plan_id}#message-" in body
    assert f"{PUBLIC}/settings/notifications" in body
    for raw, parsed in zip(handler.raw, handler.messages, strict=True):
        decoded = f"{parsed['Subject']}\n{parsed.get_content()}"
        for secret in (SECRET_TEXT, "medisin", "Jonas", "Berg", "Åse", "Ødegård", "Individuell"):
            assert secret not in raw and secret not in decoded


async def test_each_email_is_in_its_recipients_language(
    web: LiveServer, world: World, inbox: Inbox
) -> None:
    """Kari switches Samplan to English while signed in, Per chose bokmål on his settings
    page, Jonas never chose: one message, one English e-mail and two Norwegian ones."""
    handler = inbox
    async with httpx.AsyncClient(base_url=web.http) as kari:
        assert (await log_in(kari, ROLE_USERS["koordinator"][0])).status_code == 303
        assert (await kari.get("/plans", params={"lang": "en"})).status_code == 200
    await web.services.repos.users.set_language(world.users["leser"], "nb")
    await web.services.repos.notifications.set_email_prefs(world.users["verge"], {"message": False})
    await web.services.notifier.message_posted(
        world.plan_id, "melding-æøå-🙂", str(world.users["deltaker"])
    )
    wanted = {role: ROLE_USERS[role][0] for role in ("planeier", "koordinator", "leser")}
    await wait_for(lambda: all(handler.to(a) for a in wanted.values()), what="three e-mails")

    link = f"{PUBLIC}/plans/{world.plan_id}#message-melding-"
    english = handler.to(wanted["koordinator"])[0]
    subject, body = str(english["Subject"]), english.get_content()
    assert subject == "Samplan: You have a new message in the plan for J. B."
    assert f"Open: {link}" in body
    assert "You get this e-mail because you take part in the plan." in body
    assert f"Choose which notifications you get by e-mail: {PUBLIC}/settings/notifications" in body
    for word in ("Du ", "Åpne", "planen", "e-posten"):
        assert word not in f"{subject}\n{body}", word
    for role in ("planeier", "leser"):
        norwegian = handler.to(wanted[role])[0]
        subject, body = str(norwegian["Subject"]), norwegian.get_content()
        assert subject == "Samplan: Du har en ny melding i planen til J. B.", role
        assert f"Åpne: {link}" in body and "Du får denne e-posten" in body, role
        assert "You " not in f"{subject}\n{body}", role
    for message in handler.messages:  # in either language: the kind, initials and a link
        text = f"{message['Subject']}\n{message.get_content()}"
        for secret in ("Jonas", "Berg", "Åse", "Ødegård", "Individuell", "Kari"):
            assert secret not in text


async def test_an_account_in_nynorsk_gets_nynorsk_email(
    web: LiveServer, world: World, inbox: Inbox
) -> None:
    """Kari switches Samplan to nynorsk while signed in, Per chose nynorsk on his account,
    Jonas never chose: a message and a meeting make nynorsk e-mails for Kari and Per (the
    meeting's time as nynorsk writes it, the calendar entry's title in nynorsk) and bokmål
    ones for Jonas. Asking for a new password, Per gets that e-mail in nynorsk too."""
    handler = inbox
    async with httpx.AsyncClient(base_url=web.http) as kari:
        assert (await log_in(kari, ROLE_USERS["koordinator"][0])).status_code == 303
        assert '<html lang="nn">' in (await kari.get("/plans", params={"lang": "nn"})).text
    await web.services.repos.users.set_language(world.users["leser"], "nn")
    await web.services.repos.notifications.set_email_prefs(world.users["verge"], {"message": False})
    await web.services.notifier.message_posted(
        world.plan_id, "melding-æøå-🙂", str(world.users["deltaker"])
    )
    wanted = {role: ROLE_USERS[role][0] for role in ("planeier", "koordinator", "leser")}
    await wait_for(lambda: all(handler.to(a) for a in wanted.values()), what="three e-mails")

    link = f"{PUBLIC}/plans/{world.plan_id}#message-melding-"
    for role in ("koordinator", "leser"):
        nynorsk = handler.to(wanted[role])[0]
        subject, body = str(nynorsk["Subject"]), nynorsk.get_content()
        assert subject == "Samplan: Du har ei ny melding i planen til J. B.", role
        assert f"Opne: {link}" in body, role
        assert "Du får denne e-posten fordi du er med i planen." in body, role
        assert "Innhaldet står berre i Samplan." in body, role
        assert f"Vel kva varsel du får på e-post: {PUBLIC}/settings/notifications" in body
        for word in ("Åpne", "en ny melding", "Innholdet", "bare", "Velg", "You "):
            assert word not in f"{subject}\n{body}", (role, word)
    jonas = handler.to(wanted["planeier"])[0]
    assert str(jonas["Subject"]) == "Samplan: Du har en ny melding i planen til J. B."

    # A meeting: its time in the e-mail, and the calendar entry's neutral title, in nynorsk.
    def calendar_entry(lang: str) -> str:
        title = translator(lang)("meetings.ics.neutral_title")
        return f"BEGIN:VCALENDAR\r\nSUMMARY:{title} ✨\r\nEND:VCALENDAR\r\n"

    starts = datetime(2027, 1, 15, 13, 0, tzinfo=UTC)  # 14:00 in Oslo
    await web.services.notifier.meeting_event(
        world.plan_id,
        "meeting",
        "møte-æøå",
        invitees=[world.users["leser"], world.users["planeier"]],
        by=world.users["koordinator"],
        starts_at=starts,
        version="1",
        calendar=calendar_entry,
    )
    await wait_for(lambda: len(handler.to(wanted["leser"])) == 2, what="Per's meeting e-mail")
    meeting = handler.to(wanted["leser"])[1]
    assert str(meeting["Subject"]) == (
        "Samplan: Du er invitert til eit møte 15.01.2027 kl. 14:00 i planen til J. B."
    )
    (entry,) = [p for p in meeting.iter_attachments() if p.get_content_type() == "text/calendar"]
    assert "SUMMARY:Møte i Samplan ✨" in entry.get_content()
    await wait_for(lambda: len(handler.to(wanted["planeier"])) == 2, what="Jonas's meeting e-mail")
    assert str(handler.to(wanted["planeier"])[1]["Subject"]) == (
        "Samplan: Du er invitert til et møte 15.01.2027 kl. 14:00 i planen til J. B."
    )

    # The password e-mail follows the account too, whatever the browser asking shows.
    async with httpx.AsyncClient(base_url=web.http) as anonymous:
        form = await anonymous.get("/login/forgot", params={"lang": "en"})
        sent = await anonymous.post(
            "/login/forgot", data={"csrf_token": csrf_of(form.text), "email": wanted["leser"]}
        )
        assert sent.status_code == 200
    await wait_for(lambda: len(handler.to(wanted["leser"])) == 3, what="Per's reset e-mail")
    reset = handler.to(wanted["leser"])[2]
    assert str(reset["Subject"]) == "Samplan: Vel nytt passord"
    body = reset.get_content()
    assert body.startswith("Hei ") and "Helsing Samplan" in body and "éin gong" in body
    assert "Hilsen" not in body


async def test_links_in_emails_come_from_public_url_never_the_host_header(
    web: LiveServer, world: World, inbox: Inbox
) -> None:
    """The koordinator publishes minutes through a request with a forged Host header: every
    e-mail it causes links to SAMPLAN_PUBLIC_URL."""
    handler = inbox
    await write_minutes(web, world, _write(MINUTES))
    async with as_user(web, "koordinator") as (http, csrf):
        response = await http.post(
            publish_url(world), data={"csrf_token": csrf}, headers={"host": "angriper.eksempel"}
        )
        assert response.status_code == 303, response.text[:300]
    wanted = [ROLE_USERS[r][0] for r in ("planeier", "deltaker")]
    await wait_for(lambda: all(handler.to(a) for a in wanted), timeout=20, what="e-mails")
    for message in handler.messages:
        body = message.get_content()
        assert f"{PUBLIC}/plans/{world.plan_id}" in body
        assert "angriper" not in body and "127.0.0.1" not in body
