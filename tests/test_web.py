"""The pages over real HTTP: log-in, sessions, CSRF, throttling, headers, and no plan of
another person's by changing an id in the URL."""

from __future__ import annotations

import re
import uuid

import httpx
import pytest

from tests.support.live import LiveServer
from tests.support.web import PASSWORD, csrf_of, log_in
from tests.support.world import ROLE_USERS, World


async def test_log_in_see_my_plans_and_log_out(web: LiveServer, world: World) -> None:
    async with httpx.AsyncClient(base_url=web.http) as http:
        assert (await http.get("/plans")).headers["location"].startswith("/login")
        response = await log_in(http, ROLE_USERS["koordinator"][0].upper())
        assert response.status_code == 303 and response.headers["location"] == "/plans"
        cookie = response.headers["set-cookie"]
        assert "HttpOnly" in cookie and "SameSite=lax" in cookie.replace("Lax", "lax")
        plans = await http.get("/plans")
        assert plans.status_code == 200
        assert "Individuell plan for Jonas Berg" in plans.text
        assert "Åse" not in plans.text  # not a member of the other plan
        page = await http.get(f"/plans/{world.plan_id}")
        assert page.status_code == 200 and 'id="plan-app"' in page.text
        # the ansvarsgruppe with contact information (Åse Ødegård is the deltaker)
        assert f'href="mailto:{ROLE_USERS["deltaker"][0]}"' in page.text
        assert "Åse Ødegård" in page.text
        out = await http.post("/logout", data={"csrf_token": csrf_of(page.text)})
        assert out.status_code == 303
        assert (await http.get("/plans")).headers["location"].startswith("/login")


async def test_wrong_password_and_unknown_user_look_the_same(web: LiveServer) -> None:
    async with httpx.AsyncClient(base_url=web.http) as http:
        wrong = await log_in(http, ROLE_USERS["verge"][0], "feil passord")
        unknown = await log_in(http, "finnes.ikke@eksempelvik.test", "feil passord")
        assert wrong.status_code == unknown.status_code == 401
        assert (
            "set-cookie" not in wrong.headers
            or "samplan_session" not in wrong.headers["set-cookie"]
        )


async def test_forms_without_csrf_token_are_refused(web: LiveServer) -> None:
    async with httpx.AsyncClient(base_url=web.http) as http:
        await http.get("/login")
        response = await http.post(
            "/login",
            data={"email": ROLE_USERS["verge"][0], "password": PASSWORD, "csrf_token": "x"},
        )
        assert response.status_code == 403
        assert "samplan_session" not in response.headers.get("set-cookie", "")


async def test_no_open_redirect_after_log_in(web: LiveServer) -> None:
    async with httpx.AsyncClient(base_url=web.http) as http:
        page = await http.get("/login")
        response = await http.post(
            "/login",
            data={
                "email": ROLE_USERS["verge"][0],
                "password": PASSWORD,
                "csrf_token": csrf_of(page.text),
                "next": "//ondsinnet.example/",
            },
        )
        # this site's own landing ("/": Min plan or Mine planer, issue 13), never the other host
        assert response.headers["location"] == "/"


async def test_another_plan_or_a_made_up_id_is_404(web: LiveServer, world: World) -> None:
    async with httpx.AsyncClient(base_url=web.http) as http:
        await log_in(http, ROLE_USERS["deltaker"][0])
        for plan_id in (world.other_plan_id, str(uuid.uuid4()), "../../etc/passwd", "1 OR 1=1"):
            response = await http.get(f"/plans/{plan_id}")
            assert response.status_code == 404, plan_id
            assert "Individuell plan for Åse" not in response.text  # no data of that plan


async def test_security_headers_on_every_page(web: LiveServer) -> None:
    async with httpx.AsyncClient(base_url=web.http) as http:
        for path in ("/login", "/plans", "/finnes-ikke"):
            headers = (await http.get(path)).headers
            csp = headers["content-security-policy"]
            assert "script-src 'self'" in csp and "unsafe-inline" not in csp
            assert "frame-ancestors 'none'" in csp
            assert headers["x-content-type-options"] == "nosniff"


async def test_plan_page_sections_are_well_formed(web: LiveServer, world: World) -> None:
    """Each server-rendered section closes before the next opens (a merge once left the
    meetings section open, and the sections after it rendered inside it)."""
    async with httpx.AsyncClient(base_url=web.http) as http:
        await log_in(http, ROLE_USERS["koordinator"][0])
        page = (await http.get(f"/plans/{world.plan_id}")).text
    depth = 0
    for tag in re.findall(r"<(/?)section\b", page):
        depth += -1 if tag else 1
        assert depth in (0, 1), "a <section> opened inside another"
    assert depth == 0


# Every test here that starts a server runs on SQLite and on PostgreSQL (tests/conftest.py).
pytestmark = pytest.mark.both_databases
