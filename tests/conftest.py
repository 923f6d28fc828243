from __future__ import annotations

import os
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from server.services import Repositories
from server.settings import Settings
from tests.support.live import LiveServer, live_server
from tests.support.passwords import hash_password
from tests.support.postgres import drop_templates, fresh_postgres_database, postgres_base_url
from tests.support.sqlite import migrated_sqlite_file
from tests.support.web import PASSWORD
from tests.support.world import ROLE_USERS, World, build_world

if TYPE_CHECKING:
    from tests.support.mail import Inbox

REQUIRE_SERVICES = os.environ.get("SAMPLAN_REQUIRE_SERVICES") == "1"


def skip_or_fail(reason: str) -> None:
    """Skip on a laptop without the service; fail in CI, where it must be there."""
    if REQUIRE_SERVICES:
        pytest.fail(f"{reason} (SAMPLAN_REQUIRE_SERVICES=1)")
    pytest.skip(reason)


def make_settings(tmp_path: Path, **overrides: object) -> Settings:
    values: dict[str, object] = {
        "var_dir": tmp_path / "var",
        "database_url": f"sqlite+aiosqlite:///{tmp_path / 'samplan.sqlite3'}",
        "secret_key": "test-secret-ikke-hemmelig",
        "room_grace_seconds": 0.3,
        "access_poll_seconds": 0.1,
        # log-in back-off in tenths of a second: tests wait it out instead of seconds
        "login_backoff_base_seconds": 0.05,
        "login_backoff_max_seconds": 0.5,
        **overrides,
    }
    return Settings(**values)  # type: ignore[arg-type]


def pytest_sessionfinish(session: pytest.Session) -> None:
    drop_templates()  # the migrated PostgreSQL template this process made, if any


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """Modules marked `both_databases` run every test that starts a server twice: on the
    embedded SQLite default and on PostgreSQL (issue 15: the server, not only storage, is
    tested on both). Without SAMPLAN_TEST_POSTGRES_URL the PostgreSQL half skips (fails in CI)."""
    if "server_database" in metafunc.fixturenames and metafunc.definition.get_closest_marker(
        "both_databases"
    ):
        metafunc.parametrize(
            "server_database",
            ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)],
            indirect=True,
        )


@pytest.fixture
async def server_database(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[str]:
    """The URL of the database the `settings` fixture's server runs on."""
    if getattr(request, "param", "sqlite") == "sqlite":
        # a copy of a file already at the migrations' head (tests/support/sqlite.py)
        yield f"sqlite+aiosqlite:///{await migrated_sqlite_file(tmp_path / 'samplan.sqlite3')}"
        return
    base = postgres_base_url()
    if base is None:
        skip_or_fail("SAMPLAN_TEST_POSTGRES_URL is not set")
        raise AssertionError("unreachable")
    async with fresh_postgres_database(base, migrated=True) as url:
        yield url


@pytest.fixture
def settings(tmp_path: Path, server_database: str) -> Settings:
    return make_settings(tmp_path, database_url=server_database)


@pytest.fixture
async def world(settings: Settings) -> World:
    repos = await Repositories.open(settings)
    try:
        return await build_world(repos, settings.resolved_secret_key())
    finally:
        await repos.close()


@pytest.fixture
async def server(settings: Settings, world: World) -> AsyncIterator[LiveServer]:
    async with live_server(settings) as live:
        yield live


@pytest.fixture
async def web(server: LiveServer, world: World) -> LiveServer:
    """The live server with every role user's password set to tests.support.web.PASSWORD."""
    for role in ROLE_USERS:
        await server.services.repos.users.set_password_hash(
            world.users[role], hash_password(PASSWORD)
        )
    return server


@pytest.fixture
def inbox() -> Iterator[Inbox]:
    """A real SMTP server (tests/support/mail.py); a module's `settings` sends to it."""
    from tests.support.mail import running_inbox

    with running_inbox() as handler:
        yield handler
