"""A plan with one user in every role, built through the real repositories."""

from __future__ import annotations

from dataclasses import dataclass, field

from server.core.tokens import issue_plan_token
from server.services import Repositories

ROLE_USERS = {
    "planeier": ("jonas.berg@eksempelvik.test", "Jonas Berg"),
    "verge": ("line.berg@eksempelvik.test", "Line Berg"),
    "koordinator": ("kari.nilsen@eksempelvik.test", "Kari Nilsen"),
    "deltaker": ("ase.odegard@eksempelvik.test", "Åse Ødegård"),
    "leser": ("per.lund@eksempelvik.test", "Per Lund"),
}
OUTSIDER = ("ola.nordmann@eksempelvik.test", "Ola Nordmann")
AREAS = {"skole": "Skole og læring", "fritid": "Fritid ⚽"}
MEETING = "mote-2026-01-15"


@dataclass
class World:
    plan_id: str
    other_plan_id: str
    users: dict[str, int] = field(default_factory=dict)  # role (or "outsider") -> user id
    zones: dict[str, int] = field(default_factory=dict)  # room suffix -> zone id
    secret: str = ""

    def token(self, role: str, plan_id: str | None = None, ttl: int = 3600) -> str:
        return issue_plan_token(self.secret, self.users[role], plan_id or self.plan_id, ttl)

    def room(self, suffix: str, plan_id: str | None = None) -> str:
        return f"plan/{plan_id or self.plan_id}/{suffix}"


ZONE_SUFFIXES = ["content", "comments", *(f"area/{k}" for k in AREAS), f"minutes/{MEETING}"]


async def build_world(repos: Repositories, secret: str) -> World:
    municipality = await repos.plans.get_or_create_municipality("Eksempelvik kommune")
    plan = await repos.plans.create_plan(
        municipality, "Individuell plan for Jonas Berg", "Jonas Berg"
    )
    other = await repos.plans.create_plan(municipality, "Individuell plan for Åse", "Åse Ødegård")
    world = World(plan.id, other.id, secret=secret)
    for position, (key, title) in enumerate(AREAS.items()):
        await repos.plans.add_zone(plan.id, "area", key, title, position)
    await repos.plans.add_zone(plan.id, "minutes", MEETING, "Ansvarsgruppemøte 15.01.2026", 0)
    for role, (email, name) in ROLE_USERS.items():
        user = await repos.users.create(email, name)
        world.users[role] = user.id
        await repos.plans.add_member(plan.id, user.id, role)
    # The planeier consents to share the whole plan with the deltaker and the leser, so every
    # role can open every zone its role allows (tests/test_consent.py takes consent away).
    for role in ("deltaker", "leser"):
        await repos.consents.give(plan.id, world.users[role], "all", None, world.users["planeier"])
    outsider = await repos.users.create(*OUTSIDER)
    world.users["outsider"] = outsider.id
    await repos.plans.add_member(other.id, outsider.id, "koordinator")
    for suffix in ZONE_SUFFIXES:
        kind, _, key = suffix.partition("/")
        zone = await repos.plans.get_zone(plan.id, kind, key)
        assert zone is not None
        world.zones[suffix] = zone.id
    return world
