"""Min plan (issue 13) over real HTTP against the live server: the planeier and the verge see
their goals with how far each has come, the measures with who does them and by when (overdue
ones plainly), the next meeting and who has been in the plan lately; everyone else gets a 404.
And the page's own words are plain: a LIX score of 35 or less over its bokmål strings.
"""

from __future__ import annotations

import html
import json
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest

from crdt.schema import new_zone_doc, write_zone
from server.core.clock import today_oslo
from storage.repositories.meetings import AgendaItem
from tests.support.clients import connected
from tests.support.live import LiveServer
from tests.support.passwords import hash_password
from tests.support.waiting import wait_for
from tests.support.web import PASSWORD, csrf_of, signed_in
from tests.support.world import OUTSIDER, ROLE_USERS, World

ROOT = Path(__file__).resolve().parents[1]
GOAL = "Gå på skolen hver dag 🎒 og være med på ærlige samtaler"
LATE = "Sjekke timeplanen med Åse Ødegård 🗓️"
AHEAD = "Øve på å lese høyt for Ørjan 📖"
DONE = "Få egen pc på skolen 💻"
PLACE = "Møterom Blåklokka, Ørnes skole"
WAIT_SECONDS = 20


async def seed(server: LiveServer, world: World) -> None:
    """A goal with three measures (one late, one ahead, one done) and an evaluation, straight
    into the durable log before anyone opens the zone; a meeting next week."""
    kari, ase = str(world.users["koordinator"]), str(world.users["deltaker"])
    today = today_oslo()
    data = {
        "goals": [{"id": "goal-1", "parentId": None, "label": "M1", "title": GOAL}],
        "measures": [
            _measure("late", LATE, [ase], (today - timedelta(days=3)).isoformat(), "pagar"),
            _measure("ahead", AHEAD, [kari], (today + timedelta(days=30)).isoformat(), "planlagt"),
            _measure("done", DONE, [kari], (today - timedelta(days=9)).isoformat(), "fullfort"),
        ],
        "evaluations": [
            {"id": "ev-1", "goalId": "goal-1", "date": today.isoformat(), "attainment": "delvis"}
        ],
    }
    doc = new_zone_doc("area")
    write_zone(doc, "area", data)
    zone = world.zones["area/skole"]
    await server.services.repos.zone_log.append_batch([(zone, doc.get_update())], [int(kari)])
    start = datetime.now(UTC) + timedelta(days=7)
    await server.services.meetings.schedule(
        world.plan_id,
        title="Ansvarsgruppemøte 🌱 vår",
        starts_at=start,
        ends_at=start + timedelta(hours=1),
        place=PLACE,
        video_link="https://video.eksempelvik.test/møte-æøå",
        agenda=[AgendaItem("a1", "Hvordan går det på skolen? 😊")],
        invitee_ids=[world.users["planeier"], world.users["koordinator"], world.users["deltaker"]],
        created_by_user_id=world.users["koordinator"],
    )


def _measure(mid: str, title: str, who: list[str], end: str, status: str) -> dict[str, object]:
    return {
        "id": mid,
        "goalId": "goal-1",
        "title": title,
        "responsible": who,
        "start": None,
        "end": end,
        "status": status,
    }


def text_of(page: str) -> str:
    return " ".join(html.unescape(re.sub(r"<[^>]+>", " ", page)).split())


def items(page: str, testid: str) -> list[str]:
    """The text of every `<li data-testid=testid ...>`."""
    pattern = rf'<li[^>]*data-testid="{testid}"[^>]*>(.*?)</li>'
    return [text_of(body) for body in re.findall(pattern, page, re.S)]


async def test_the_planeier_and_the_verge_see_their_plan(web: LiveServer, world: World) -> None:
    await seed(web, world)
    # Åse has been in the plan: her socket joins and leaves (the access log's visit).
    async with connected(web.ws_url(world.room("area/skole"), world.token("deltaker"))):
        pass
    for role in ("planeier", "verge"):
        async with signed_in(web.http, ROLE_USERS[role][0]) as http:

            async def visitors_listed(http: httpx.AsyncClient = http) -> bool:
                page = await http.get(f"/plans/{world.plan_id}/min")
                return any(ROLE_USERS["deltaker"][1] in v for v in items(page.text, "min-visitor"))

            await wait_for(visitors_listed, timeout=WAIT_SECONDS, what="Åse among the visitors")
            response = await http.get(f"/plans/{world.plan_id}/min")
            assert response.status_code == 200
            page = response.text
            assert "<h1" in page and "Min plan" in page
            assert f'href="/plans/{world.plan_id}"' in page  # "Se hele planen"
            goals = items(page, "min-goal")
            assert len(goals) == 1 and GOAL in goals[0]
            assert "1 av 3 tiltak er gjort." in goals[0] and "Delvis nådd" in goals[0]
            late, ahead, done = items(page, "min-measure")  # soonest date first
            assert LATE in late and "Åse Ødegård" in late and "For sent!" in late
            assert AHEAD in ahead and "Kari Nilsen" in ahead and "For sent" not in ahead
            in_a_month = (today_oslo() + timedelta(days=30)).strftime("%d.%m.%Y")
            assert in_a_month in ahead
            assert DONE in done and "Dette er gjort." in done and "For sent" not in done
            assert page.count('data-overdue="true"') == 1
            meeting = text_of(page.split('data-testid="min-meeting"', 1)[1].split("</section>")[0])
            assert "Ansvarsgruppemøte 🌱 vår" in meeting and PLACE in meeting
            assert "Jonas Berg, Kari Nilsen, Åse Ødegård" in meeting
            assert "Hvordan går det på skolen? 😊" in meeting
            assert 'href="https://video.eksempelvik.test/møte-æøå"' in page
            visitors = items(page, "min-visitor")
            assert not any(ROLE_USERS[role][1] in v for v in visitors)  # not myself
            assert re.search(r"Åse Ødegård, \d\d\.\d\d\.20\d\d", " ".join(visitors))
            # Names and dates only: no roles, zones or times of day from the log.
            assert "Deltaker" not in " ".join(visitors)
            # Names only, for the people: no e-mail addresses, not even in the script's data.
            assert not any(email in page for email, _ in ROLE_USERS.values())


async def test_mine_planer_links_to_min_plan_for_the_person_only(
    web: LiveServer, world: World
) -> None:
    link = f'href="/plans/{world.plan_id}/min"'
    for role, shown in (("planeier", True), ("verge", True), ("koordinator", False)):
        async with signed_in(web.http, ROLE_USERS[role][0]) as http:
            assert (link in (await http.get("/plans")).text) is shown, role


async def test_others_get_404(web: LiveServer, world: World) -> None:
    await web.services.repos.users.set_password_hash(
        world.users["outsider"], hash_password(PASSWORD)
    )
    for role in ("deltaker", "leser", "koordinator", "outsider"):
        email = OUTSIDER[0] if role == "outsider" else ROLE_USERS[role][0]
        async with signed_in(web.http, email) as http:
            response = await http.get(f"/plans/{world.plan_id}/min")
            assert response.status_code == 404, role
            assert GOAL not in response.text and "Min plan" not in response.text
    async with signed_in(web.http, ROLE_USERS["planeier"][0]) as http:
        assert (await http.get(f"/plans/{world.other_plan_id}/min")).status_code == 404
        assert (await http.get("/plans/ikke-en-plan-æøå/min")).status_code == 404
    async with httpx.AsyncClient(base_url=web.http) as anonymous:
        response = await anonymous.get(f"/plans/{world.plan_id}/min")
        assert response.status_code == 303 and response.headers["location"].startswith("/login")


async def test_no_meeting_no_goals_and_no_visitors_are_said_plainly(
    web: LiveServer, world: World
) -> None:
    async with signed_in(web.http, ROLE_USERS["verge"][0]) as http:
        page = (await http.get(f"/plans/{world.plan_id}/min")).text
    assert "Du har ingen mål i planen ennå." in page
    assert "Det er ikke satt opp noe møte ennå." in page
    assert "Ingen andre har vært i planen din ennå." in page


# --- plain language ------------------------------------------------------------------------

_KEY = re.compile(r"""\bt\(\s*['"]([A-Za-z0-9_.]+)['"]""")
_PAGE_FILES = (
    "client/templates/min_plan.html",
    "client/src/min/app.js",
    "client/src/min/notes.js",
)
_OWN_ENUMS = ("ownStatus.", "ownEmoji.")


def page_keys() -> list[str]:
    """The i18n keys Min plan's own template and script use."""
    keys: list[str] = []
    for name in _PAGE_FILES:
        for key in _KEY.findall((ROOT / name).read_text(encoding="utf-8")):
            if key not in keys:
                keys.append(key)
    return keys


def lix(texts: list[str]) -> float:
    """LIX = words / sentences + 100 * long words / words. A long word has more than six
    letters; a sentence ends at . ! ? or : and a string without one (a heading) is one."""
    words = long_words = sentences = 0
    for text in texts:
        text = re.sub(r"\{\w+\}", "", text)  # placeholders are filled with names and numbers
        found = re.findall(r"[^\W\d_]+", text)
        words += len(found)
        long_words += sum(1 for w in found if len(w) > 6)
        sentences += max(1, len(re.findall(r"[.!?:](?:\s|$)", text)))
    return words / sentences + 100 * long_words / words


def test_lix_of_min_plan_is_35_or_less() -> None:
    nb = json.loads((ROOT / "client/i18n/nb.json").read_text(encoding="utf-8"))
    keys = page_keys()
    assert "min.goals" in keys and "min.overdue" in keys and "min.live" in keys
    assert "min.ownTooLong" in keys and "min.about" in keys and "min.byUnknown" in keys
    # The words of the person's own status ("Går bra", the emoji's names) are the page's too.
    texts = [nb[key] for key in keys if key.startswith("min.")]
    texts += [text for key, text in nb.items() if key.startswith(_OWN_ENUMS)]
    own = [key for key in keys if not key.startswith(("min.", "attainment.", *_OWN_ENUMS))]
    assert own == [], f"Min plan uses strings that are not its own: {own}"
    score = lix(texts)
    print(f"LIX of Min plan (nb, {len(texts)} strings): {score:.1f}")
    assert score <= 35, score
    # The score is real: a sentence of long words fails it.
    assert lix(["Koordineringsansvaret innebærer tverrfaglig samhandling."]) > 35


def test_lix_of_min_plan_in_nynorsk_is_35_or_less() -> None:
    """The same bar in nynorsk: LIX counts words per sentence and words of more than six
    letters, which holds for nynorsk as for bokmål (both are used with the same scale), and
    nynorsk's words are no longer ("ikkje", "berre", "enno")."""
    nn = json.loads((ROOT / "client/i18n/nn.json").read_text(encoding="utf-8"))
    keys = [key for key in page_keys() if key.startswith("min.")]
    texts = [nn[key] for key in keys]
    score = lix(texts)
    print(f"LIX of Min plan (nn, {len(texts)} strings): {score:.1f}")
    assert score <= 35, score
    # Plain and first person: the page speaks to the person (du) and for them (min, mine).
    assert nn["min.goals"] == "Måla mine" and "din" in nn["min.lead"]


async def test_the_person_with_one_plan_lands_on_min_plan(web: LiveServer, world: World) -> None:
    for role, landing in (
        ("planeier", f"/plans/{world.plan_id}/min"),
        ("verge", f"/plans/{world.plan_id}/min"),
        ("koordinator", "/plans"),
        ("deltaker", "/plans"),
    ):
        async with httpx.AsyncClient(base_url=web.http) as http:
            form = (await http.get("/login")).text
            assert 'name="next" value="/"' in form
            done = await http.post(
                "/login",
                data={
                    "email": ROLE_USERS[role][0],
                    "password": PASSWORD,
                    "csrf_token": csrf_of(form),
                    "next": "/",
                },
            )
            assert done.status_code == 303 and done.headers["location"] == "/"
            home = await http.get("/")
            assert home.status_code == 303 and home.headers["location"] == landing, role
    # With a second plan, Mine planer is where the planeier starts.
    repos = web.services.repos
    other = await repos.plans.create_plan(
        await repos.plans.get_or_create_municipality("Eksempelvik kommune"), "Plan to 🌟", "Jonas"
    )
    await repos.plans.add_member(other.id, world.users["planeier"], "planeier")
    async with signed_in(web.http, ROLE_USERS["planeier"][0]) as http:
        assert (await http.get("/")).headers["location"] == "/plans"


# --- after the meeting ---------------------------------------------------------------------

DECIDED = "Leksehjelp to dager i uka ✅ – også på Ørnes"
JONAS_TASK = "Jonas øver på å lese høyt 📖 hver dag"
KARI_TASK = "Kari søker om ny rullestol ♿ hos NAV"


async def test_after_the_meeting_min_plan_shows_what_was_decided_and_the_approval(
    web: LiveServer, world: World
) -> None:
    """The newest published minutes on Min plan in plain words: "Dette er bestemt" with the
    decisions and the action items whose responsible is Jonas (not Kari's), the whole minutes
    one tap away, and the approval (server/meetings/published.py) reached from there."""
    from tests.test_published import MEETING, as_user, publish_url, write_minutes

    jonas, kari = str(world.users["planeier"]), str(world.users["koordinator"])
    minutes = {
        "meeting": {"meetingId": MEETING},
        "attendees": [{"id": "a1", "userId": jonas, "name": "Jonas Berg", "present": True}],
        "agenda": [
            {"id": "s1", "title": "Skole og læring 📚", "body": [], "decision": DECIDED},
            {"id": "s2", "title": "Fritid ⚽", "body": ["Ingen endring."], "decision": ""},
        ],
        "actionItems": [
            {
                "id": "t1",
                "agendaId": "s1",
                "what": JONAS_TASK,
                "responsibleUserId": jonas,
                "due": "2026-02-01",
            },
            {
                "id": "t2",
                "agendaId": "s1",
                "what": KARI_TASK,
                "responsibleUserId": kari,
                "due": "2026-02-15",
            },
        ],
    }
    async with signed_in(web.http, ROLE_USERS["planeier"][0]) as http:
        before = (await http.get(f"/plans/{world.plan_id}/min")).text
        assert "Det er ikke noe referat ennå." in before
    await write_minutes(web, world, lambda doc: write_zone(doc, "minutes", minutes))
    async with as_user(web, "koordinator") as (http, csrf):
        assert (await http.post(publish_url(world), data={"csrf_token": csrf})).status_code == 303
    url = f"/plans/{world.plan_id}/meetings/{MEETING}/published/1"
    for role in ("planeier", "verge"):
        async with signed_in(web.http, ROLE_USERS[role][0]) as http:
            page = (await http.get(f"/plans/{world.plan_id}/min")).text
            after = page.split('data-testid="min-after"', 1)[1].split("</section>", 1)[0]
            text = text_of(after)
            assert "Etter møtet" in text and "Dette er bestemt" in text
            assert items(after, "min-decision") == [f"Skole og læring 📚 {DECIDED}"]
            assert items(after, "min-task") == [
                f"Dette skal jeg gjøre: {JONAS_TASK} Skal være gjort: 01.02.2026"
            ]
            assert KARI_TASK not in page and "Fritid ⚽" not in after
            assert f'href="{url}"' in after
            assert f'href="{url}#approve"' in after
    async with as_user(web, "planeier") as (http, csrf):
        published = (await http.get(url)).text
        assert 'id="approve"' in published  # the link lands on the approval
        assert (await http.post(f"{url}/approve", data={"csrf_token": csrf})).status_code == 303
        page = (await http.get(f"/plans/{world.plan_id}/min")).text
        assert "Referatet er godkjent." in page and f"{url}#approve" not in page


# Every test here that starts a server runs on SQLite and on PostgreSQL (tests/conftest.py).
pytestmark = pytest.mark.both_databases
