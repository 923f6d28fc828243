"""Logging in over real HTTP, shared by the page tests (the `web` fixture is in conftest)."""

from __future__ import annotations

import re

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
