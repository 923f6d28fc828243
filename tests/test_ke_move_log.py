"""After a plan moved within one installation (issue 14), over a real server with plain HTTP
clients, on SQLite and PostgreSQL:

- the receiving KE sees where it came from beside the "moved in" flag, on the overview and
  the plan's page, in bokmål, English and nynorsk;
- the lead's decision on the access log: the sending KE keeps the log control of its own
  period (it was the data controller then), so its log control and CSV hold the plan's
  openings up to the move and none after, by initials and short id, never the person's name;
  the receiving KE sees the whole log; a third municipality sees nothing of it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import pytest

from server.core.clock import OSLO, today_oslo
from storage.repositories.audit import AuditEvent
from tests.support.live import LiveServer
from tests.support.passwords import hash_password
from tests.support.web import PASSWORD, csrf_of, signed_in
from tests.support.world import ROLE_USERS, World
from tests.test_ke_log_review import assert_same_rows, page_rows
from tests.test_ke_overview import main_of, rows_of

pytestmark = pytest.mark.both_databases

TITLE = "Individuell plan for Jonas Berg"
KES = {
    "a": ("aase.ke@eksempelvik.test", "Åse Ødegård 🌼"),
    "b": ("bjorn.ke@trondheim.test", "Bjørn Ærø"),
    "c": ("cecilie.ke@vaga.test", "Cecilie Ås ⛰"),
}
B_NAME = "Trondheim kommune 🏙"
C_NAME = "Vågå kommune"
EARLY = ("oyvind.for@eksempelvik.test", "Øyvind Før 🕰")  # opened the plan before the move
LATE = ("marit.etter@trondheim.test", "Marit Etter 🚚")  # opened it after the move


@dataclass
class Three:
    a: int
    b: int
    c: int
    early: int
    late: int


async def _three(web: LiveServer, world: World) -> Three:
    repos = web.services.repos
    a = await repos.municipalities.of_plan(world.plan_id)
    assert a is not None
    b = (await repos.municipalities.ensure(B_NAME)).id
    c = (await repos.municipalities.ensure(C_NAME)).id
    secret = hash_password(PASSWORD)
    for key, municipality in (("a", a), ("b", b), ("c", c)):
        user = await repos.users.create(*KES[key])
        await repos.users.set_password_hash(user.id, secret)
        await repos.municipalities.add_admin(municipality, user.id, granted_by=None)
    early = await repos.users.create(*EARLY)
    late = await repos.users.create(*LATE)
    return Three(a, b, c, early.id, late.id)


async def _move(web: LiveServer, world: World, three: Three) -> None:
    async with signed_in(web.http, KES["a"][0]) as anne:
        path = f"/ke/{three.a}/plans/{world.plan_id}/move"
        form = {
            "to": str(three.b),
            "giver": "planeier",
            "giver_name": "",
            "method": "oral",
            "given_on": today_oslo().strftime("%d.%m.%Y"),
            "confirm": "yes",
            "csrf_token": csrf_of((await anne.get(path)).text),
        }
        moved = await anne.post(path, data=form)
        assert moved.status_code == 303, moved.text


def _who(html: str) -> list[str]:
    return [" ".join(cells[1]) for cells in page_rows(html)]


async def test_the_receiving_ke_sees_where_the_plan_came_from(
    web: LiveServer, world: World
) -> None:
    three = await _three(web, world)
    await _move(web, world, three)
    day = today_oslo().strftime("%d.%m.%Y")
    texts = {
        "nb": f"Flyttet inn fra Eksempelvik kommune {day}",
        "en": f"Moved in from Eksempelvik kommune on {day}",
        "nn": f"Flytta inn frå Eksempelvik kommune {day}",
    }
    plan = world.plan_id
    async with signed_in(web.http, KES["b"][0]) as bjorn:
        for lang, text in texts.items():
            overview = await bjorn.get(f"/ke/{three.b}?lang={lang}")
            assert 'data-testid="ke-row-moved-from"' in overview.text
            assert text in main_of(overview.text), lang
            page = await bjorn.get(f"/ke/{three.b}/plans/{plan}/koordinator?lang={lang}")
            assert text in main_of(page.text), lang
            assert TITLE not in page.text
        # Once B appoints a koordinator the flag and the note go together.
        siri = await web.services.repos.users.create("siri.aas@trondheim.test", "Siri Åsheim")
        await web.services.repos.coordinators.put(three.b, siri.id, None, added_by=None)
        path = f"/ke/{three.b}/plans/{plan}/koordinator?lang=nb"
        token = csrf_of((await bjorn.get(path)).text)
        form = {"to": str(siri.id), "then": "deltaker", "csrf_token": token}
        assert (await bjorn.post(path, data=form)).status_code == 303
        overview = await bjorn.get(f"/ke/{three.b}")
        assert "Flyttet inn" not in overview.text
    # The sending side's overview never had the flag, nor does the third municipality's.
    for key, municipality in (("a", three.a), ("c", three.c)):
        async with signed_in(web.http, KES[key][0]) as other:
            assert "Flyttet inn" not in (await other.get(f"/ke/{municipality}")).text


async def test_the_old_ke_keeps_the_log_of_its_own_period(web: LiveServer, world: World) -> None:
    three = await _three(web, world)
    plan = world.plan_id
    repos = web.services.repos
    before = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=1)
    await repos.audit.append_many([AuditEvent("print", three.early, None, plan, at=before)])
    # A real opening before the move: the deltaker on the plan's page.
    async with signed_in(web.http, ROLE_USERS["deltaker"][0]) as member:
        assert (await member.get(f"/plans/{plan}")).status_code == 200
    await web.services.audit.flush()
    await _move(web, world, three)
    # After the move: a real opening by the leser, and one by someone B's period brings.
    async with signed_in(web.http, ROLE_USERS["leser"][0]) as member:
        assert (await member.get(f"/plans/{plan}")).status_code == 200
    after = datetime.now(UTC) + timedelta(seconds=1)
    await repos.audit.append_many([AuditEvent("plan_view", three.late, None, plan, at=after)])
    await web.services.audit.flush()
    deltaker, leser = ROLE_USERS["deltaker"][1], ROLE_USERS["leser"][1]
    the_plan = {"plan": plan[:8]}

    # A, the sending KE: the rows before the move, by initials and short id only.
    async with signed_in(web.http, KES["a"][0]) as aase:
        for query in ({}, the_plan):
            page = await aase.get(f"/ke/{three.a}/access", params=query)
            assert page.status_code == 200
            who = _who(page.text)
            assert EARLY[1] in who and deltaker in who, who
            assert LATE[1] not in who and leser not in who, who
            main = main_of(page.text)
            assert "J. B., flyttet ut" in main and plan[:8] in main
            assert "Jonas Berg" not in main and TITLE not in main
            csv = await aase.get(f"/ke/{three.a}/access.csv", params=query)
            lines = rows_of(csv.content)[1:]
            assert_same_rows(page.text, lines)
            assert {line[3] for line in lines} == {"J. B., flyttet ut"}
            assert {line[4] for line in lines} == {plan}
        # The person filter offers whoever opened the plan before the move, not after.
        page = await aase.get(f"/ke/{three.a}/access")
        assert f'<option value="{three.early}">{EARLY[1]}</option>' in page.text
        assert f'value="{three.late}"' not in page.text and LATE[1] not in page.text
        only = await aase.get(f"/ke/{three.a}/access", params={"person": str(three.early)})
        assert set(_who(only.text)) == {EARLY[1]}
        # B's page is still B's.
        assert (await aase.get(f"/ke/{three.b}/access")).status_code == 404
        english = await aase.get(f"/ke/{three.a}/access?lang=en")
        assert "J. B., moved away" in english.text

    # B, the receiving KE: the whole log, with the person's name (the plan is its own).
    async with signed_in(web.http, KES["b"][0]) as bjorn:
        page = await bjorn.get(f"/ke/{three.b}/access", params=the_plan)
        who = _who(page.text)
        assert {EARLY[1], deltaker, leser, LATE[1]} <= set(who), who
        assert "Jonas Berg" in main_of(page.text) and "flyttet ut" not in main_of(page.text)
        csv = await bjorn.get(f"/ke/{three.b}/access.csv", params=the_plan)
        assert_same_rows(page.text, rows_of(csv.content)[1:])

    # C, a third municipality: nothing of the plan, and A's and B's pages are a 404.
    async with signed_in(web.http, KES["c"][0]) as cecilie:
        page = await cecilie.get(f"/ke/{three.c}/access")
        assert page.status_code == 200 and page_rows(page.text) == []
        assert plan[:8] not in main_of(page.text)
        csv = await cecilie.get(f"/ke/{three.c}/access.csv")
        assert rows_of(csv.content)[1:] == []
        for municipality in (three.a, three.b):
            assert (await cecilie.get(f"/ke/{municipality}/access")).status_code == 404
            assert (await cecilie.get(f"/ke/{municipality}/access.csv")).status_code == 404

    # The row at the very moment of the move is the sender's period; one after it is not.
    [move] = await repos.moves.moved_out(three.a)
    moment = move.moved_at
    await repos.audit.append_many(
        [
            AuditEvent("export", three.early, None, plan, at=moment),
            AuditEvent("minutes_view", three.late, None, plan, at=moment + timedelta(seconds=1)),
        ]
    )
    async with signed_in(web.http, KES["a"][0]) as aase:
        day = moment.astimezone(OSLO).strftime("%d.%m.%Y")
        period = {"from": day, "to": day, "lang": "nb"}
        page = await aase.get(f"/ke/{three.a}/access", params=period)
        actions = [(" ".join(c[1]), " ".join(c[4])) for c in page_rows(page.text)]
        assert (EARLY[1], "Eksporterte") in actions, actions
        assert all(who != LATE[1] for who, _ in actions), actions
