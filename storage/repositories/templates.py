"""A municipality's plan templates (issue 14), kept by its KE: named sets of life areas (name,
hint, default sub-headings) and default text for the content zone's sections.

Every call names the municipality, and a template of another municipality is the same
`None`/`NotFound` as one that does not exist: the KE of A never reaches B's templates.
A template is only ever copied into a new plan ("Ny plan"); nothing here touches a plan.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import delete, func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from storage.db import write_session
from storage.errors import InvalidValue, NotFound
from storage.models import Municipality, PlanTemplate, PlanTemplateArea, utcnow

TEMPLATE_NAME_MAX = 200
AREA_NAME_MAX = 300
TEXT_MAX = 20_000


@dataclass(frozen=True, slots=True)
class TemplateArea:
    id: int
    name: str
    hint: str
    subheadings: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class TemplateRecord:
    id: int
    municipality_id: int
    name: str
    position: int
    about_me: str
    resources: str
    needs: str
    areas: tuple[TemplateArea, ...]


@dataclass(frozen=True, slots=True)
class TemplateInput:
    """A checked template (server/ke/templates.py checks names, the repository the limits)."""

    name: str
    about_me: str
    resources: str
    needs: str
    areas: Sequence[tuple[str, str, Sequence[str]]]  # (name, hint, sub-headings), in order


def _check(new: TemplateInput) -> None:
    if not new.name.strip() or len(new.name) > TEMPLATE_NAME_MAX:
        raise InvalidValue("a template's name must be 1 to 200 characters")
    names = [name.casefold() for name, _h, _s in new.areas]
    if any(not n.strip() or len(n) > AREA_NAME_MAX for n in names):
        raise InvalidValue("a template's life area needs a name of 1 to 300 characters")
    if len(set(names)) != len(names):
        raise InvalidValue("two life areas of a template have the same name")
    texts = [new.about_me, new.resources, new.needs]
    texts += [h for _n, h, _s in new.areas] + ["\n".join(s) for _n, _h, s in new.areas]
    if any(len(text) > TEXT_MAX for text in texts):
        raise InvalidValue(f"a template's text is longer than {TEXT_MAX} characters")


def _record(template: PlanTemplate, areas: Sequence[PlanTemplateArea]) -> TemplateRecord:
    return TemplateRecord(
        template.id,
        template.municipality_id,
        template.name,
        template.position,
        template.about_me,
        template.resources,
        template.needs,
        tuple(
            TemplateArea(a.id, a.name, a.hint, tuple(s for s in a.subheadings.split("\n") if s))
            for a in areas
        ),
    )


class PlanTemplateRepo:
    def __init__(self, sessionmaker: async_sessionmaker[AsyncSession]) -> None:
        self._sessionmaker = sessionmaker

    async def of(self, municipality_id: int) -> list[TemplateRecord]:
        """The municipality's templates in the KE's order, each with its areas."""
        async with self._sessionmaker() as session:
            templates = list(
                await session.scalars(
                    select(PlanTemplate)
                    .where(PlanTemplate.municipality_id == municipality_id)
                    .order_by(PlanTemplate.position, PlanTemplate.id)
                )
            )
            areas = await self._areas(session, [t.id for t in templates])
        return [_record(t, areas.get(t.id, [])) for t in templates]

    async def get(self, municipality_id: int, template_id: int) -> TemplateRecord | None:
        async with self._sessionmaker() as session:
            template = await self._own(session, municipality_id, template_id)
            if template is None:
                return None
            areas = await self._areas(session, [template.id])
        return _record(template, areas.get(template.id, []))

    @staticmethod
    async def _own(
        session: AsyncSession, municipality_id: int, template_id: int
    ) -> PlanTemplate | None:
        return await session.scalar(
            select(PlanTemplate).where(
                PlanTemplate.id == template_id, PlanTemplate.municipality_id == municipality_id
            )
        )

    @staticmethod
    async def _areas(
        session: AsyncSession, template_ids: list[int]
    ) -> dict[int, list[PlanTemplateArea]]:
        found: dict[int, list[PlanTemplateArea]] = {}
        if not template_ids:
            return found
        rows = await session.scalars(
            select(PlanTemplateArea)
            .where(PlanTemplateArea.template_id.in_(template_ids))
            .order_by(PlanTemplateArea.position, PlanTemplateArea.id)
        )
        for area in rows:
            found.setdefault(area.template_id, []).append(area)
        return found

    async def save(self, municipality_id: int, template_id: int | None, new: TemplateInput) -> int:
        """Create (template_id None) or replace a template with its areas, in one
        transaction; the template's id. NotFound: not this municipality's template."""
        _check(new)
        async with write_session(self._sessionmaker) as session:
            if template_id is None:
                if await session.get(Municipality, municipality_id) is None:
                    raise NotFound(f"municipality {municipality_id} does not exist")
                last = await session.scalar(
                    select(func.max(PlanTemplate.position)).where(
                        PlanTemplate.municipality_id == municipality_id
                    )
                )
                template = PlanTemplate(
                    municipality_id=municipality_id, position=(last or 0) + 1, name=new.name
                )
                session.add(template)
            else:
                found = await self._own(session, municipality_id, template_id)
                if found is None:
                    raise NotFound(f"template {template_id} does not exist")
                template = found
                await session.execute(
                    delete(PlanTemplateArea).where(PlanTemplateArea.template_id == template.id)
                )
            template.name = new.name
            template.about_me = new.about_me
            template.resources = new.resources
            template.needs = new.needs
            template.updated_at = utcnow()
            await session.flush()
            for position, (name, hint, subheadings) in enumerate(new.areas):
                session.add(
                    PlanTemplateArea(
                        template_id=template.id,
                        position=position,
                        name=name,
                        hint=hint,
                        subheadings="\n".join(subheadings),
                    )
                )
            return template.id

    async def delete(self, municipality_id: int, template_id: int) -> bool:
        async with write_session(self._sessionmaker) as session:
            template = await self._own(session, municipality_id, template_id)
            if template is None:
                return False
            await session.execute(
                delete(PlanTemplateArea).where(PlanTemplateArea.template_id == template.id)
            )
            await session.delete(template)
            return True

    async def move(self, municipality_id: int, template_id: int, step: int) -> bool:
        """Swap the template with its neighbour up (-1) or down (+1); False at either end.
        NotFound: not this municipality's template."""
        async with write_session(self._sessionmaker) as session:
            templates = list(
                await session.scalars(
                    select(PlanTemplate)
                    .where(PlanTemplate.municipality_id == municipality_id)
                    .order_by(PlanTemplate.position, PlanTemplate.id)
                )
            )
            index = next((i for i, t in enumerate(templates) if t.id == template_id), None)
            if index is None:
                raise NotFound(f"template {template_id} does not exist")
            other = index + step
            if other < 0 or other >= len(templates):
                return False
            templates[index], templates[other] = templates[other], templates[index]
            for position, template in enumerate(templates):
                template.position = position
            return True
