"""The plan page's sections that other capabilities own: the meetings list, the published
minutes.

The plan page shows them without importing those capabilities: the app registers each by the
name the template reads (server/app.py), and the page asks every registered section for its
part of the context.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from starlette.datastructures import State
from starlette.requests import Request

from server.web.visit import PlanVisit

PlanSection = Callable[[PlanVisit], Awaitable[dict[str, Any]]]


def register_sections(state: State, sections: Mapping[str, PlanSection]) -> None:
    state.plan_sections = dict(sections)


async def plan_sections(request: Request, visit: PlanVisit) -> dict[str, dict[str, Any]]:
    sections: Mapping[str, PlanSection] = getattr(request.app.state, "plan_sections", {})
    return {name: await section(visit) for name, section in sections.items()}
