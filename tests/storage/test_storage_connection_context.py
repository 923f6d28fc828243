"""One query answers a WebSocket join: plan, zone, role and name, or None without saying why."""

from __future__ import annotations

from tests.storage.conftest import Store


async def test_connection_context(store: Store) -> None:
    municipality = await store.plans.get_or_create_municipality("Eksempelvik kommune")
    plan = await store.plans.create_plan(municipality, "Plan for Åse 🌱", "Åse Ødegård")
    other = await store.plans.create_plan(municipality, "Annen plan", "Ola Nordmann")
    await store.plans.add_zone(plan.id, "area", "skole", "Skole og læring 📚", 0)
    member = await store.users.create("aase@eksempelvik.no", "Åse Ødegård")
    outsider = await store.users.create("ola@eksempelvik.no", "Ola Nordmann")
    await store.plans.add_member(plan.id, member.id, "deltaker")
    await store.plans.add_member(other.id, outsider.id, "koordinator")

    context = await store.plans.connection_context(plan.id, "area", "skole", member.id)
    assert context is not None
    zone = await store.plans.get_zone(plan.id, "area", "skole")
    assert zone is not None
    assert (context.zone_id, context.role, context.user_name) == (
        zone.id,
        "deltaker",
        "Åse Ødegård",
    )
    current = await store.plans.access_versions([plan.id])
    assert context.access_version == current[plan.id]

    assert await store.plans.connection_context(plan.id, "area", "skole", outsider.id) is None
    assert await store.plans.connection_context(plan.id, "area", "fritid", member.id) is None
    assert await store.plans.connection_context(other.id, "content", "", member.id) is None
    missing = "00000000-0000-4000-8000-000000000000"
    assert await store.plans.connection_context(missing, "content", "", member.id) is None
