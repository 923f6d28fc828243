"""The KE's log control over a real server with plain HTTP clients (issue 14): its CSV holds
the page's rows with the page's texts under the same filter, an empty filter gives a valid
CSV with the header alone, another municipality's KE gets 404 and someone who administers no
KE 403 and an access-log row, every export is an access-log row, and the thresholds the KE
sets change the flags; bad thresholds are refused with a clear message and lose nothing."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta
from html.parser import HTMLParser

import pytest

from server.web.csv_lines import BOM
from storage.repositories.audit import AuditEvent
from storage.repositories.ke_log_thresholds import LogThresholds, thresholds
from tests.support.live import LiveServer
from tests.support.web import csrf_of, signed_in
from tests.support.world import ROLE_USERS, World
from tests.test_ke_overview import B_PERSON, KeWorld, _audit, ke_world, main_of, rows_of

pytestmark = pytest.mark.both_databases  # the log's JSON filter and the new table on both

HEADER = ["Tidspunkt", "Hvem", "Rolle", "Planen gjelder", "Plan-ID", "Hva", "Merket"]


class _LogRows(HTMLParser):
    """The log table's rows as the page shows them: per cell, its text pieces."""

    def __init__(self) -> None:
        super().__init__()
        self.rows: list[list[list[str]]] = []
        self._in_row = False
        self._cell: list[str] | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "tr" and ("data-testid", "ke-log-row") in attrs:
            self._in_row = True
            self.rows.append([])
        elif self._in_row and tag in ("td", "th"):
            self._cell = []
            self.rows[-1].append(self._cell)

    def handle_endtag(self, tag: str) -> None:
        if tag == "tr":
            self._in_row = False
        if tag in ("td", "th"):
            self._cell = None

    def handle_data(self, data: str) -> None:
        if self._cell is not None and data.strip():
            self._cell.append(data.strip())


def page_rows(html: str) -> list[list[list[str]]]:
    parser = _LogRows()
    parser.feed(html)
    return parser.rows


def assert_same_rows(html: str, csv_rows: list[list[str]]) -> None:
    """The CSV's rows are the page's, column by column (the whole plan id in the file)."""
    shown = page_rows(html)
    assert len(shown) == len(csv_rows)
    for cells, row in zip(shown, csv_rows, strict=True):
        when, who, role, plan, action, flags = cells
        assert row[0] == " ".join(when)
        assert row[1] == " ".join(who)
        assert row[2] == " ".join(role)
        assert [row[3], f"({row[4][:8]})"] == plan
        assert len(row[4]) == 36
        assert row[5] == " ".join(action)
        assert row[6] == ", ".join(flags)


def _times() -> tuple[datetime, datetime]:
    now = datetime.now(UTC).replace(microsecond=0)
    noon = now.replace(hour=11, minute=0, second=0)  # 12:00 or 13:00 in Oslo: day time
    if noon > now:
        noon -= timedelta(days=1)
    night = noon.replace(hour=23, minute=30) - timedelta(days=1)  # 00:30 or 01:30 in Oslo
    return noon, night


async def _openings(web: LiveServer, world: World, ke: KeWorld) -> list[str]:
    """The koordinator by day in her plan, the leser by night, the outsider printing eleven
    plans in 20 minutes, and B's plan; the ids of the ten extra plans."""
    repos = web.services.repos
    noon, night = _times()
    extra = [
        await repos.plans.create_plan(ke.a, f"Plan {i}", f"Person {i} Ærø 🌻") for i in range(10)
    ]
    kari, leser = world.users["koordinator"], world.users["leser"]
    outsider = world.users["outsider"]
    first = await repos.plans.get_plan(world.plan_id)
    assert first is not None
    await repos.audit.append_many(
        [
            AuditEvent("plan_view", kari, "koordinator", world.plan_id, at=noon),
            AuditEvent("plan_view", leser, "leser", world.plan_id, at=night),
            *(
                AuditEvent("print", outsider, None, p.id, at=noon - timedelta(minutes=20 - i))
                for i, p in enumerate([*extra, first])
            ),
            AuditEvent("plan_view", ke.b_koordinator, "koordinator", ke.b_plan, at=night),
        ]
    )
    return [p.id for p in extra]


async def test_the_csv_holds_the_pages_rows_under_the_same_filter(
    web: LiveServer, world: World
) -> None:
    ke = await ke_world(web, world)
    extra = await _openings(web, world, ke)
    filters: list[dict[str, str]] = [
        {},
        {"flagged": "1"},
        {"person": str(world.users["leser"])},
        {"plan": extra[0][:8]},
        {"person": str(world.users["outsider"]), "flagged": "1"},
    ]
    async with signed_in(web.http, ke.a_admin) as http:
        for params in filters:
            page = await http.get(f"/ke/{ke.a}/access", params=params)
            assert page.status_code == 200, params
            link = re.search(r'href="([^"]+)" download data-testid="ke-log-csv"', page.text)
            assert link, "the page links to its own CSV"
            exported = await http.get(link.group(1).replace("&amp;", "&"))
            assert exported.status_code == 200, params
            assert exported.headers["content-type"] == "text/csv; charset=utf-8"
            assert "attachment" in exported.headers["content-disposition"]
            assert exported.content.startswith(BOM.encode("utf-8"))
            rows = rows_of(exported.content)
            assert rows[0] == HEADER
            assert_same_rows(page.text, rows[1:])
            assert B_PERSON not in exported.text and ke.b_plan not in exported.text
        every = rows_of((await http.get(f"/ke/{ke.a}/access.csv")).content)[1:]
    assert len(every) == 13
    people = {r[3] for r in every}
    assert "Person 0 Ærø 🌻" in people and "Jonas Berg" in people
    assert sum("Natt" in r[6] for r in every) == 1  # the leser's, by night
    assert sum(1 for r in every if "Mange planer på rad" in r[6]) == 11

    exports = await _audit(web, "ke_log_export")
    assert len(exports) == len(filters) + 1
    details = [json.loads(e.details) for e in exports]
    assert all(e.role == "ke_admin" and e.plan_id is None for e in exports)
    assert details[1]["only_flagged"] is True and details[1]["rows"] == 12
    assert details[2]["person"] == world.users["leser"] and details[2]["rows"] == 1
    assert details[3]["plan"] == extra[0][:8]
    assert all(d["municipality_id"] == ke.a for d in details)
    assert "Ærø" not in json.dumps(details, ensure_ascii=False)  # ids, never names


async def test_a_filter_that_matches_nothing_is_a_header_and_a_bad_one_a_400(
    web: LiveServer, world: World
) -> None:
    ke = await ke_world(web, world)
    await _openings(web, world, ke)
    async with signed_in(web.http, ke.a_admin) as http:
        for params in (
            {"from": "01.01.2020", "to": "31.12.2020"},
            {"plan": "ffffffff"},
            {"person": str(world.users["verge"])},
        ):
            empty = await http.get(f"/ke/{ke.a}/access.csv", params=params)
            assert empty.status_code == 200, params
            assert rows_of(empty.content) == [HEADER]
            assert empty.content == (BOM + ";".join(HEADER) + "\r\n").encode("utf-8")
        for params in ({"from": "31.02.2026"}, {"plan": "ikke-en-id ✗"}, {"person": "Åse"}):
            bad = await http.get(f"/ke/{ke.a}/access.csv", params=params)
            assert bad.status_code == 400, params
            assert "Filteret eller sorteringen i adressen er ugyldig." in bad.text
    exports = [json.loads(e.details) for e in await _audit(web, "ke_log_export")]
    assert [d.get("rows") for d in exports[:3]] == [0, 0, 0]
    assert [d.get("errors") for d in exports[3:]] == [["from"], ["plan"], ["person"]]


async def test_other_municipalities_get_404_and_non_ke_users_403(
    web: LiveServer, world: World
) -> None:
    ke = await ke_world(web, world)
    await _openings(web, world, ke)
    limits = {"night_from": "1", "night_until": "2", "burst_plans": "2", "burst_minutes": "5"}
    async with signed_in(web.http, ke.b_admin) as http:
        nowhere = await http.get("/ke/987654/access.csv")
        assert nowhere.status_code == 404
        answer = await http.get(f"/ke/{ke.a}/access.csv")
        assert answer.status_code == 404
        assert main_of(answer.text) == main_of(nowhere.text)  # nothing says A exists
        assert "Jonas Berg" not in answer.text
        token = csrf_of((await http.get(f"/ke/{ke.b}/access")).text)
        posted = await http.post(
            f"/ke/{ke.a}/access/settings", data={"csrf_token": token, **limits}
        )
        assert posted.status_code == 404
        own = await http.get(f"/ke/{ke.b}/access.csv")
        assert own.status_code == 200 and "Jonas Berg" not in own.text
        assert [r[3] for r in rows_of(own.content)[1:]] == [B_PERSON]
    assert await thresholds(web.services.repos.engine, ke.a) == LogThresholds()

    paths = [f"/ke/{ke.a}/access.csv", "/ke/x/access.csv"]
    async with signed_in(web.http, ROLE_USERS["koordinator"][0]) as http:
        for path in paths:
            refused = await http.get(path)
            assert refused.status_code == 403, path
            assert "koordinerende enhet" in refused.text and "Person 0" not in refused.text
        token = csrf_of((await http.get("/plans")).text)
        posted = await http.post(
            f"/ke/{ke.a}/access/settings", data={"csrf_token": token, **limits}
        )
        assert posted.status_code == 403
    assert await thresholds(web.services.repos.engine, ke.a) == LogThresholds()
    refused_rows = await _audit(web, "ke_refused")
    kari = world.users["koordinator"]
    seen = [json.loads(e.details)["path"] for e in refused_rows if e.actor_user_id == kari]
    assert seen == [*paths, f"/ke/{ke.a}/access/settings"]
    assert await _audit(web, "ke_log_export") != []  # B's own export, nothing of A's
    assert all(
        json.loads(e.details)["municipality_id"] == ke.b for e in await _audit(web, "ke_log_export")
    )


async def test_the_kes_thresholds_change_the_flags(web: LiveServer, world: World) -> None:
    ke = await ke_world(web, world)
    await _openings(web, world, ke)
    kari = str(world.users["koordinator"])
    async with signed_in(web.http, ke.a_admin) as http:
        page = await http.get(f"/ke/{ke.a}/access")
        for name, value in (("night_from", "22"), ("night_until", "6")):
            assert f'name="{name}" inputmode="numeric" autocomplete="off" value="{value}"' in (
                page.text
            )
        assert "åpnet mellom kl. 22–06 norsk tid" in page.text
        assert "10 eller flere ulike planer innen 60 minutter" in page.text
        before = await http.get(f"/ke/{ke.a}/access.csv")
        assert sum("Mange planer på rad" in r[6] for r in rows_of(before.content)) == 11
        kari_before = await http.get(f"/ke/{ke.a}/access.csv", params={"person": kari})
        assert [r[6] for r in rows_of(kari_before.content)[1:]] == ["Ingen"]

        # Night is now midday (12-14 covers 11:00 UTC in summer and winter); twelve plans
        # in a row are needed, so the outsider's eleven are no longer a burst.
        saved = await http.post(
            f"/ke/{ke.a}/access/settings",
            data={
                "csrf_token": csrf_of(page.text),
                "night_from": "12",
                "night_until": "14",
                "burst_plans": "12",
                "burst_minutes": "60",
            },
        )
        assert saved.status_code == 303
        assert saved.headers["location"] == f"/ke/{ke.a}/access?saved=1"
        after_page = await http.get(saved.headers["location"])
        assert "Reglene for merking er lagret." in after_page.text
        assert "åpnet mellom kl. 12–14 norsk tid" in after_page.text
        after = rows_of((await http.get(f"/ke/{ke.a}/access.csv")).content)[1:]
        assert not any("Mange planer på rad" in r[6] for r in after)
        kari_after = await http.get(f"/ke/{ke.a}/access.csv", params={"person": kari})
        assert [r[6] for r in rows_of(kari_after.content)[1:]] == ["Natt"]
        leser = await http.get(f"/ke/{ke.a}/access", params={"person": str(world.users["leser"])})
        assert 'data-flags="unexplained"' in leser.text  # 00:30 is day now

        # A shorter window with fewer plans: three plans within five minutes is a burst.
        await http.post(
            f"/ke/{ke.a}/access/settings",
            data={
                "csrf_token": csrf_of(page.text),
                "night_from": "22",
                "night_until": "6",
                "burst_plans": "3",
                "burst_minutes": "5",
            },
        )
        short = rows_of((await http.get(f"/ke/{ke.a}/access.csv")).content)[1:]
        assert sum("Mange planer på rad" in r[6] for r in short) == 11
    assert await thresholds(web.services.repos.engine, ke.a) == LogThresholds(22, 6, 3, 5)
    assert await thresholds(web.services.repos.engine, ke.b) == LogThresholds()
    changes = [json.loads(e.details) for e in await _audit(web, "ke_log_settings")]
    assert changes == [
        {"municipality_id": ke.a, "night_from": 12, "night_until": 14, "burst_plans": 12,
         "burst_minutes": 60},
        {"municipality_id": ke.a, "night_from": 22, "night_until": 6, "burst_plans": 3,
         "burst_minutes": 5},
    ]  # fmt: skip


BAD = [
    # (what was typed, {field: the message the page gives})
    (
        {"night_from": "ti 🌙", "night_until": "6", "burst_plans": "10", "burst_minutes": "60"},
        {"night_from": "Natt fra må være et helt tall fra 0 til 23"},
    ),
    (
        {"night_from": "22", "night_until": "24", "burst_plans": "10", "burst_minutes": "60"},
        {"night_until": "Natt til må være et helt tall fra 0 til 23"},
    ),
    (
        {"night_from": "5", "night_until": "5", "burst_plans": "10", "burst_minutes": "60"},
        {"night_until": "Natt fra og natt til kan ikke være samme time."},
    ),
    (
        {"night_from": "5", "night_until": "5", "burst_plans": "1", "burst_minutes": "60"},
        {
            "night_until": "Natt fra og natt til kan ikke være samme time.",
            "burst_plans": "Antall planer må være et helt tall fra 2 til 1000",
        },
    ),
    (
        {"night_from": "22", "night_until": "6", "burst_plans": "1", "burst_minutes": "60"},
        {"burst_plans": "Antall planer må være et helt tall fra 2 til 1000"},
    ),
    (
        {"night_from": "22", "night_until": "6", "burst_plans": "10", "burst_minutes": "0"},
        {"burst_minutes": "Minuttene må være et helt tall fra 1 til 1440"},
    ),
    (
        {"night_from": "22", "night_until": "6", "burst_plans": "10", "burst_minutes": "-5"},
        {"burst_minutes": "Minuttene må være et helt tall fra 1 til 1440"},
    ),
    (
        {"night_from": "٣", "night_until": "", "burst_plans": "mange", "burst_minutes": "1,5"},
        {
            "night_from": "Natt fra må være",
            "night_until": "Natt til må være",
            "burst_plans": "Antall planer må være",
            "burst_minutes": "Minuttene må være",
        },
    ),
]


async def test_bad_thresholds_are_refused_clearly_and_lose_nothing(
    web: LiveServer, world: World
) -> None:
    ke = await ke_world(web, world)
    engine = web.services.repos.engine
    async with signed_in(web.http, ke.a_admin) as http:
        token = csrf_of((await http.get(f"/ke/{ke.a}/access")).text)
        for typed, wrong in BAD:
            answer = await http.post(
                f"/ke/{ke.a}/access/settings", data={"csrf_token": token, **typed}
            )
            assert answer.status_code == 400, typed
            body = answer.text
            assert 'role="alert"' in body and "Reglene er ikke lagret." in body
            for name, value in typed.items():
                assert f'data-testid="ke-limit-{name}"' in body
                field = re.search(rf'<input[^>]*id="ke-limit-{name}"[^>]*>', body)
                assert field, name
                assert f'value="{value}"' in field.group(0), (name, field.group(0))
                invalid = 'aria-invalid="true"' in field.group(0)
                assert invalid == (name in wrong), (name, typed)
            summary = re.findall(r'<li><a href="#ke-limit-(\w+)">', body)
            assert summary == [n for n in typed if n in wrong]  # the form's order
            for name, message in wrong.items():
                error = re.search(rf'id="ke-limit-{name}-error"[^>]*>([^<]+)<', body)
                assert error and message in error.group(1), (name, body[-3000:])
                assert f'aria-describedby="ke-limit-{name}-error"' in body
                assert f'href="#ke-limit-{name}"' in body  # the summary leads to the field
            assert 'data-testid="ke-log-results"' in body  # the page itself still works
        # Without a token nothing is stored either.
        forged = await http.post(
            f"/ke/{ke.a}/access/settings",
            data={"night_from": "1", "night_until": "2", "burst_plans": "3", "burst_minutes": "4"},
        )
        assert forged.status_code == 403
    assert await thresholds(engine, ke.a) == LogThresholds()
    assert await _audit(web, "ke_log_settings") == []
