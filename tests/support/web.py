"""Logging in over real HTTP, shared by the page tests (the `web` fixture is in conftest)."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import httpx

PASSWORD = "Blåbærsyltetøy 🫐 2026"


def csrf_of(html: str) -> str:
    match = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert match, "every form carries a CSRF token"
    return match.group(1)


async def log_in(http: httpx.AsyncClient, email: str, password: str = PASSWORD) -> httpx.Response:
    page = await http.get("/login")
    return await http.post(
        "/login",
        data={
            "email": email,
            "password": password,
            "csrf_token": csrf_of(page.text),
            "next": "/plans",
        },
    )


@asynccontextmanager
async def signed_in(
    base_url: str, email: str, password: str = PASSWORD
) -> AsyncIterator[httpx.AsyncClient]:
    """An HTTP client logged in as `email` for the length of the block."""
    async with httpx.AsyncClient(base_url=base_url, timeout=60) as http:
        assert (await log_in(http, email, password)).status_code == 303
        yield http


async def post_json(
    http: httpx.AsyncClient, path: str, body: dict[str, object], *, token: bool = True
) -> httpx.Response:
    """A JSON POST as the plan page's fetches send it (comments, messages), with the form
    token taken from a page unless `token` is False."""
    if token:
        page = await http.get("/plans")  # any page: the CSRF cookie and token
        body = {"csrf_token": csrf_of(page.text), **body}
    return await http.post(path, json=body, headers={"accept": "application/json"})
