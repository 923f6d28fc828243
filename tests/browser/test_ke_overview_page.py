"""The KE overview in a real browser (issue 14): a KE administrator made with the command line
opens the overview, filters it with the labelled form, sorts by a header (aria-sort follows),
downloads the CSV and finds exactly the rows the page shows; axe finds nothing serious on the
overview or the log control, and the table is a real table (caption, th scope)."""

from __future__ import annotations

import csv
import io
import os
import subprocess
import sys
from typing import TYPE_CHECKING

import pytest

from server.settings import Settings
from tests.browser.helpers import log_in
from tests.browser.test_plan_page import HAVE_AXE, axe_violations
from tests.support.web import PASSWORD
from tests.support.world import World

if TYPE_CHECKING:
    from tests.browser.conftest import Browsing

pytestmark = pytest.mark.asyncio(loop_scope="module")

ADMIN = ("aashild.ke@eksempelvik.test", "Åshild Kåsa 🧭")


def samplan(settings: Settings, *args: str) -> str:
    env = {
        **os.environ,
        "SAMPLAN_VAR_DIR": str(settings.var_dir),
        "SAMPLAN_DATABASE_URL": settings.resolved_database_url(),
        "SAMPLAN_SECRET_KEY": settings.resolved_secret_key(),
    }
    done = subprocess.run(
        [sys.executable, "-m", "server.cli", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        input=PASSWORD + "\n",
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


async def test_the_ke_filters_sorts_and_downloads_what_it_sees(
    browse: Browsing, world: World, settings: Settings
) -> None:
    repos = browse.server.services.repos
    plan = await repos.plans.get_plan(world.plan_id)
    assert plan is not None
    municipality = await repos.municipalities.get(plan.municipality_id)
    assert municipality is not None
    unit = await repos.municipalities.add_unit(municipality.id, "Helsestasjon Øst 🏥")
    for i, name in enumerate(("Ærlend Ås", "Øyvor Berg", "Åsmund Dahl", "Bjørg Ødegård")):
        extra = await repos.plans.create_plan(municipality.id, f"Plan {i}", name)
        if i % 2 == 0:
            await repos.municipalities.set_plan_unit(extra.id, unit.id)
            await repos.plans.add_member(extra.id, world.users["koordinator"], "koordinator")
    await repos.municipalities.set_plan_unit(world.plan_id, unit.id)
    samplan(
        settings, "user", "add", "--email", ADMIN[0], "--name", ADMIN[1], "--password", PASSWORD
    )
    samplan(
        settings,
        "municipality",
        "add-admin",
        "--municipality",
        municipality.name,
        "--email",
        ADMIN[0],
    )

    page = await browse.new_page("ke", accept_downloads=True, bypass_csp=True)  # axe below
    await log_in(page, browse.base, ADMIN[0])
    await page.goto(f"{browse.base}/ke")
    await page.wait_for_url(f"{browse.base}/ke/{municipality.id}")
    table = page.get_by_test_id("ke-table")
    await table.wait_for()
    assert await page.locator("#ke-caption").count() == 1
    assert await page.locator('th[scope="col"]').count() == 12
    assert await page.locator('tbody th[scope="row"]').count() == 6
    assert await page.get_by_test_id("ke-col-person").get_attribute("aria-sort") == "ascending"

    # The filter, by its labels: the unit, and plans that have a koordinator.
    await page.get_by_label("Enhet", exact=True).select_option(label="Helsestasjon Øst 🏥")
    await page.get_by_label("Indikator", exact=True).select_option(label="Koordinator oppnevnt")
    await page.get_by_test_id("ke-apply").click()
    await page.wait_for_url("**indicator=coordinator.yes**")
    assert await page.get_by_test_id("ke-count").inner_text() == "3 planer"

    # Sort by person, then descending: the header says so with aria-sort.
    await page.get_by_test_id("ke-sort-person").click()
    await page.wait_for_url("**dir=desc**")
    assert await page.get_by_test_id("ke-col-person").get_attribute("aria-sort") == "descending"
    shown = [
        [await cell.inner_text() for cell in await row.locator("th, td").all()]
        for row in await page.get_by_test_id("ke-row").all()
    ]
    people = [row[1] for row in shown]
    assert people == ["Åsmund Dahl", "Ærlend Ås", "Jonas Berg"]  # Norwegian order, reversed

    async with page.expect_download() as info:
        await page.get_by_test_id("ke-csv").click()
    download = await info.value
    path = await download.path()
    assert path is not None
    raw = path.read_bytes()
    assert raw.startswith("\ufeff".encode())
    rows = list(csv.reader(io.StringIO(raw.decode("utf-8")[1:]), delimiter=";"))
    header = [await th.inner_text() for th in await page.locator("thead th").all()]
    assert rows[0] == [h.replace(" ▼", "").replace(" ▲", "").strip() for h in header]
    # The same rows in the same order, with the whole plan id where the page shows 8 characters.
    assert [[r[0][:8], *r[1:]] for r in rows[1:]] == [[c.strip() for c in r] for r in shown]

    if HAVE_AXE:
        assert await axe_violations(page, "ke overview") == []
        await page.goto(f"{browse.base}/ke/{municipality.id}/access")
        await page.get_by_test_id("ke-log-filter").wait_for()
        assert await axe_violations(page, "ke log control") == []
