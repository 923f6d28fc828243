"""The KE administration's routes (issue 14), for server/app.py to add: every one under
/ke/{municipality_id}/, every one answering through server.ke.access.ke_visit first."""

from __future__ import annotations

from starlette.routing import Route

from server.ke.admins import admin_add, admin_remove, admins_page
from server.ke.appoint import koordinator_page, koordinator_submit
from server.ke.coordinators import coordinator_add, coordinator_remove, coordinators_page
from server.ke.moves import move_page, move_submit, moves_page
from server.ke.retention import retention_page, retention_submit
from server.ke.start import start_page, start_submit
from server.ke.statements import statements_page, statements_submit
from server.ke.templates import (
    template_add,
    template_delete,
    template_move,
    template_new,
    template_page,
    template_save,
    templates_page,
)
from server.ke.units import plan_unit, unit_add, unit_delete, unit_rename, units_page

BASE = "/ke/{municipality_id}"


def admin_routes() -> list[Route]:
    return [
        Route(f"{BASE}/admins", admins_page, methods=["GET"]),
        Route(f"{BASE}/admins", admin_add, methods=["POST"]),
        Route(f"{BASE}/admins/{{user_id:id}}/remove", admin_remove, methods=["POST"]),
        Route(f"{BASE}/units", units_page, methods=["GET"]),
        Route(f"{BASE}/units", unit_add, methods=["POST"]),
        Route(f"{BASE}/units/{{unit_id:id}}", unit_rename, methods=["POST"]),
        Route(f"{BASE}/units/{{unit_id:id}}/delete", unit_delete, methods=["POST"]),
        Route(f"{BASE}/coordinators", coordinators_page, methods=["GET"]),
        Route(f"{BASE}/coordinators", coordinator_add, methods=["POST"]),
        Route(f"{BASE}/coordinators/{{user_id:id}}/remove", coordinator_remove, methods=["POST"]),
        Route(f"{BASE}/plans/new", start_page, methods=["GET"]),
        Route(f"{BASE}/plans/new", start_submit, methods=["POST"]),
        Route(f"{BASE}/plans/{{plan_id}}/koordinator", koordinator_page, methods=["GET"]),
        Route(f"{BASE}/plans/{{plan_id}}/koordinator", koordinator_submit, methods=["POST"]),
        Route(f"{BASE}/plans/{{plan_id}}/unit", plan_unit, methods=["POST"]),
        Route(f"{BASE}/plans/{{plan_id}}/move", move_page, methods=["GET"]),
        Route(f"{BASE}/plans/{{plan_id}}/move", move_submit, methods=["POST"]),
        Route(f"{BASE}/moves", moves_page, methods=["GET"]),
        Route(f"{BASE}/retention", retention_page, methods=["GET"]),
        Route(f"{BASE}/retention", retention_submit, methods=["POST"]),
        Route(f"{BASE}/templates", templates_page, methods=["GET"]),
        Route(f"{BASE}/templates", template_add, methods=["POST"]),
        Route(f"{BASE}/templates/new", template_new, methods=["GET"]),
        Route(f"{BASE}/templates/{{template_id:id}}", template_page, methods=["GET"]),
        Route(f"{BASE}/templates/{{template_id:id}}", template_save, methods=["POST"]),
        Route(f"{BASE}/templates/{{template_id:id}}/delete", template_delete, methods=["POST"]),
        Route(f"{BASE}/templates/{{template_id:id}}/move", template_move, methods=["POST"]),
        Route(f"{BASE}/statements", statements_page, methods=["GET"]),
        Route(f"{BASE}/statements", statements_submit, methods=["POST"]),
    ]
