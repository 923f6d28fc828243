"""Every role x zone x read/write cell of DESIGN §3, through a real socket.

The expected table is written out here again, on purpose, from DESIGN §3: if
server/core/access.py drifted from the design, these tests would fail.
"""

from __future__ import annotations

import pytest
from pycrdt import Text

from crdt.client import YClient
from tests.support.clients import connected, log_rows, text_of
from tests.support.database import database_url
from tests.support.live import LiveServer
from tests.support.world import MEETING, World

# Per test, not the module (suite time): the 22 cells check server/core/access.py's table
# against one membership row read the same way on either database, so they run on SQLite
# only; the role change and the removal go through access_version bumps, the watcher's
# polling and another process's writes, which do differ, and run on PostgreSQL too.

DESIGN_TABLE = {  # role -> zone -> "rw" | "r" | None
    "planeier": {"content": "rw", "area/skole": "rw", "comments": "rw", f"minutes/{MEETING}": "r"},
    "verge": {"content": "rw", "area/skole": "rw", "comments": "rw", f"minutes/{MEETING}": "r"},
    "koordinator": {
        "content": "rw",
        "area/skole": "rw",
        "comments": "rw",
        f"minutes/{MEETING}": "rw",
    },
    "deltaker": {"content": "rw", "area/skole": "rw", "comments": "rw", f"minutes/{MEETING}": "rw"},
    "leser": {"content": "r", "area/skole": "r", "comments": "rw", f"minutes/{MEETING}": "r"},
}
# No socket writes the comments zone (DESIGN §2): the server writes it for the signed-in
# person (tests/test_comments.py), so on a socket the table's "rw" for comments is "r".
SOCKET_TABLE = {
    role: {zone: ("r" if zone == "comments" else access) for zone, access in zones.items()}
    for role, zones in DESIGN_TABLE.items()
}
CELLS = [
    (role, zone, access) for role, zones in SOCKET_TABLE.items() for zone, access in zones.items()
]


async def _server_writes(server: LiveServer, zone_id: int, words: str) -> None:
    """Text put at the front of root `t` by the server itself (any zone, comments included)."""
    await server.services.registry.edit(
        zone_id,
        lambda doc: doc.get("t", type=Text).insert(0, words),
        actor=None,
    )


def db_path(server: LiveServer) -> str:
    """The server's database, for a separate reader (tests/support/database.py)."""
    return database_url(server)


@pytest.mark.parametrize(
    ("role", "zone", "access"), CELLS, ids=[f"{r}-{z}-{a}" for r, z, a in CELLS]
)
async def test_role_zone_cell(
    server: LiveServer, world: World, role: str, zone: str, access: str
) -> None:
    path = db_path(server)
    zone_id = world.zones[zone]
    # The server seeds the text; the koordinator watches for changes.
    async with connected(server.ws_url(world.room(zone), world.token("koordinator"))) as watcher:
        await _server_writes(server, zone_id, "Planlagt av Kari ✅")
        await watcher.wait_for(lambda: text_of(watcher) == "Planlagt av Kari ✅")
        assert log_rows(path, zone_id) == 1
        async with connected(server.ws_url(world.room(zone), world.token(role))) as member:
            # read: the member receives the zone's content
            await member.wait_for(lambda: text_of(member) == "Planlagt av Kari ✅")
            member.doc.get("t", type=Text).insert(0, f"{role} skriver æøå 🖊️ ")
            if access == "rw":
                await watcher.wait_for(lambda: f"{role} skriver" in text_of(watcher))
                assert log_rows(path, zone_id) == 2
            else:
                await member.wait_for(lambda: bool(member.denied))
                assert member.denied == ["read-only"]
                # A later edit by a writer arrives: the read-only edit was not applied.
                await _server_writes(server, zone_id, "Etter: ")
                await member.wait_for(lambda: "Etter: " in text_of(member))
                assert f"{role} skriver" not in text_of(watcher)
                room = server.services.registry.rooms[zone_id]
                assert f"{role} skriver" not in str(room.doc.get("t", type=Text))
                assert log_rows(path, zone_id) == 2  # the seed and "Etter: "


@pytest.mark.both_databases
async def test_role_change_takes_effect_on_open_connection(
    server: LiveServer, world: World
) -> None:
    """A deltaker demoted to leser stops being able to write, without reconnecting."""
    room = world.room("content")
    async with (
        connected(server.ws_url(room, world.token("koordinator"))) as watcher,
        connected(server.ws_url(room, world.token("deltaker"))) as member,
    ):
        member.doc.get("t", type=Text).insert(0, "før ")
        await watcher.wait_for(lambda: "før" in text_of(watcher))
        await server.services.plans.add_member(world.plan_id, world.users["deltaker"], "leser")
        await server.services.connections.recheck_plan(world.plan_id)
        member.doc.get("t", type=Text).insert(0, "etter rolleendring ")
        await member.wait_for(lambda: bool(member.denied))
        assert "etter rolleendring" not in text_of(watcher)


@pytest.mark.both_databases
async def test_removed_member_is_disconnected_by_the_watcher(
    server: LiveServer, world: World
) -> None:
    """A membership removed elsewhere (another process) closes the open socket with 4403."""
    client = YClient(server.ws_url(world.room("area/skole"), world.token("deltaker")))
    await client.connect()
    await client.wait_for(client.synced.is_set)
    # Not through the running server's objects: a separate repository, as the CLI would.
    from server.services import Repositories

    repos = await Repositories.open(server.settings, migrate=False)
    try:
        assert await repos.plans.remove_member(world.plan_id, world.users["deltaker"])
    finally:
        await repos.close()
    assert await client.wait_closed(timeout=30) == 4403
    await client.close()


async def test_a_connection_checked_before_an_access_change_is_rechecked_after_it() -> None:
    """A socket whose access was checked at version 1, whose room loaded while the plan went
    to version 2 (a member removed, consent revoked) and which the watcher had already seen
    on another socket, is re-checked: the oldest remembered version wins. Before, the newer
    one stood, and the removed member kept a socket open (seen on PostgreSQL under load)."""
    from server.sync.connections import AccessWatcher

    class Index:
        def __init__(self) -> None:
            self.open: set[str] = set()
            self.rechecked: list[str] = []

        def plans(self) -> list[str]:
            return sorted(self.open)

        async def recheck_plan(self, plan_id: str) -> None:
            self.rechecked.append(plan_id)

    versions = {"plan-åse-🌷": 1}

    async def lookup(plans: object) -> dict[str, int]:
        return dict(versions)

    index = Index()
    watcher = AccessWatcher(index, lookup, 0.1)  # type: ignore[arg-type]
    index.open.add("plan-åse-🌷")
    watcher.remember("plan-åse-🌷", 1)  # another socket, checked before the change
    versions["plan-åse-🌷"] = 2
    await watcher.check_once()
    assert index.rechecked == ["plan-åse-🌷"]
    watcher.remember("plan-åse-🌷", 1)  # the slow joiner, checked at 1, in the index now
    await watcher.check_once()
    assert index.rechecked == ["plan-åse-🌷", "plan-åse-🌷"]
    await watcher.check_once()  # nothing changed since: no more re-checks
    assert index.rechecked == ["plan-åse-🌷", "plan-åse-🌷"]
