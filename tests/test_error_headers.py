"""Every error page carries the security headers, the 500 page included (Starlette answers it
outside every user middleware), and an over-long integer id in a URL is a 404, never a
database overflow."""

from __future__ import annotations

import httpx
import pytest
from starlette.routing import Route

from server.app import create_app
from server.web.security import HEADERS
from tests.support.live import LiveServer
from tests.support.web import PASSWORD, csrf_of, signed_in
from tests.support.world import MEETING, ROLE_USERS, World

FORTY_DIGITS = "9" * 40
TEN_DIGITS = "9999999999"  # fits the route, not PostgreSQL's integer


def assert_secured(response: httpx.Response) -> None:
    for name, value in HEADERS.items():
        assert response.headers.get(name) == value, name


async def test_a_500_page_has_the_security_headers(
    web: LiveServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def broken(email: str) -> object:
        raise RuntimeError("a bug in a handler 🐛 æøå")

    monkeypatch.setattr(web.services.repos.users, "get_by_email", broken)
    async with httpx.AsyncClient(base_url=web.http) as http:
        token = csrf_of((await http.get("/login")).text)
        response = await http.post(
            "/login",
            data={"email": ROLE_USERS["verge"][0], "password": PASSWORD, "csrf_token": token},
        )
    assert response.status_code == 500
    assert_secured(response)
    assert "text/html" in response.headers["content-type"]
    assert "🐛" not in response.text and "RuntimeError" not in response.text  # no details


async def test_an_over_long_id_in_a_url_is_404_with_the_headers(
    web: LiveServer, world: World
) -> None:
    plan = world.plan_id
    async with signed_in(web.http, ROLE_USERS["koordinator"][0]) as http:
        token = csrf_of((await http.get("/plans")).text)
        for number in (FORTY_DIGITS, TEN_DIGITS):
            for path in (
                f"/plans/{plan}/versions/{number}",
                f"/plans/{plan}/meetings/{MEETING}/published/{number}",
                f"/plans/{plan}/meetings/{MEETING}/published/{number}.json",
            ):
                response = await http.get(path)
                assert response.status_code == 404, path
                assert_secured(response)
            for path in (
                f"/notifications/{number}/open",
                f"/plans/{plan}/versions/{number}/restore",
            ):
                response = await http.post(path, data={"csrf_token": token})
                assert response.status_code == 404, path
                assert_secured(response)
        # the pages still answer afterwards
        assert (await http.get(f"/plans/{plan}/versions")).status_code == 200
    async with signed_in(web.http, ROLE_USERS["verge"][0]) as http:  # she may approve
        token = csrf_of((await http.get("/plans")).text)
        for number in (FORTY_DIGITS, TEN_DIGITS):
            path = f"/plans/{plan}/meetings/{MEETING}/published/{number}/approve"
            response = await http.post(path, data={"csrf_token": token})
            assert response.status_code == 404, path
            assert_secured(response)


def test_every_integer_in_a_route_is_a_bounded_row_id() -> None:
    """`{x:int}` takes any number of digits into the database; `{x:id}` stops at a row id."""
    paths = [r.path for r in create_app().routes if isinstance(r, Route)]
    assert not [p for p in paths if ":int}" in p]
    assert any(":id}" in p for p in paths)
