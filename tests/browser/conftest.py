"""Fixtures for the browser tests: Debian's Chromium driven by Playwright (never a downloaded
browser) against the real server (uvicorn in this event loop, a temp SQLite file).

One browser per test module: its fixture lives in the module's event loop, so the test
modules run in that loop (`pytestmark = pytest.mark.asyncio(loop_scope="module")`) and the
async fixtures they use (`world`, `server`, …) are redefined here for that loop. Each test
still gets its own server, database and plan; each user gets a new browser context.
"""

from __future__ import annotations

import logging
import os
from collections.abc import AsyncIterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest_asyncio

from server.services import Repositories
from server.settings import Settings
from tests.browser.helpers import (
    PASSWORD,
    TIMEOUT_MS,
    CuttableProxy,
    PlanContent,
    log_in,
    open_plan,
    write_plan_content,
)
from tests.conftest import skip_or_fail
from tests.support.live import LiveServer, live_server
from tests.support.passwords import hash_password
from tests.support.world import OUTSIDER, ROLE_USERS, World, build_world

if TYPE_CHECKING:
    from playwright.async_api import Browser, BrowserContext, Page

log = logging.getLogger("tests.browser")

CHROMIUM = os.environ.get("SAMPLAN_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
    "--disable-sync",
]
HAVE_CHROMIUM = Path(CHROMIUM).exists()
_password_hash: list[str] = []


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def browser() -> AsyncIterator[Browser]:
    try:
        from playwright.async_api import async_playwright
    except ImportError:
        skip_or_fail("Playwright for Python is not installed")
    if not HAVE_CHROMIUM:
        skip_or_fail(f"no Chromium at {CHROMIUM} (apt-get install chromium)")
    playwright = await async_playwright().start()
    try:
        chromium = await playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
    except Exception as exc:
        await playwright.stop()
        skip_or_fail(f"Chromium did not start: {exc}")
    log.info("browser: Chromium %s", chromium.version)
    try:
        yield chromium
    finally:
        await chromium.close()
        await playwright.stop()


@pytest_asyncio.fixture(loop_scope="module")
async def world(settings: Settings) -> World:
    repos = await Repositories.open(settings)
    try:
        return await build_world(repos, settings.resolved_secret_key())
    finally:
        await repos.close()


@pytest_asyncio.fixture(loop_scope="module")
async def server(settings: Settings, world: World) -> AsyncIterator[LiveServer]:
    async with live_server(settings) as live:
        yield live


@pytest_asyncio.fixture(loop_scope="module")
async def plan(server: LiveServer, world: World) -> PlanContent:
    """The plan's content (written before any client joins) and everybody's password."""
    if not _password_hash:
        _password_hash.append(hash_password(PASSWORD))
    for role in [*ROLE_USERS, "outsider"]:
        await server.services.repos.users.set_password_hash(world.users[role], _password_hash[0])
    return await write_plan_content(server, world)


class Browsing:
    """Users in browser contexts against one server; everything is closed at teardown."""

    def __init__(self, browser: Browser, server: LiveServer, world: World) -> None:
        self.browser = browser
        self.server = server
        self.world = world
        self.base = server.http
        self.contexts: list[BrowserContext] = []
        self.proxies: list[CuttableProxy] = []
        self.page_errors: list[str] = []

    async def new_page(self, label: str, **context_options: Any) -> Page:
        options: dict[str, Any] = {
            "locale": "nb-NO",
            "timezone_id": "Europe/Oslo",
            "viewport": {"width": 1280, "height": 900},
            **context_options,
        }
        context = await self.browser.new_context(**options)
        context.set_default_timeout(TIMEOUT_MS)
        self.contexts.append(context)
        page = await context.new_page()
        page.on("pageerror", lambda error: self.page_errors.append(f"{label}: {error}"))
        page.on(
            "console",
            lambda message: (
                log.info("console %s %s: %s", label, message.type, message.text)
                if message.type in ("error", "warning")
                else None
            ),
        )
        return page

    async def user(
        self, role: str, *, base: str | None = None, plan: bool = True, **context_options: Any
    ) -> Page:
        """A new context logged in as the world's user with `role` (or "outsider"),
        on the plan page (synced) unless `plan=False`."""
        email = OUTSIDER[0] if role == "outsider" else ROLE_USERS[role][0]
        page = await self.new_page(role, **context_options)
        await log_in(page, base or self.base, email)
        if plan:
            await open_plan(page, base or self.base, self.world.plan_id)
        return page

    async def proxy(self) -> CuttableProxy:
        proxy = await CuttableProxy(self.server.port).start()
        self.proxies.append(proxy)
        return proxy

    async def close(self) -> None:
        for context in self.contexts:
            try:
                await context.close()
            except Exception as exc:  # a crashed page must not hide the test's own result
                log.warning("closing a browser context failed: %s", exc)
        for proxy in self.proxies:
            await proxy.close()


@pytest_asyncio.fixture(loop_scope="module")
async def browse(
    browser: Browser, server: LiveServer, world: World, plan: PlanContent
) -> AsyncIterator[Browsing]:
    browsing = Browsing(browser, server, world)
    try:
        yield browsing
    finally:
        await browsing.close()
    # An uncaught exception in any page is a bug even when the test's checks passed.
    assert not browsing.page_errors, f"uncaught errors in the page: {browsing.page_errors}"
