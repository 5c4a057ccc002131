"""Business rules for saved segments and audience counts.

No SQL and no HTTP here: the repository does the first, endpoints the second."""

from __future__ import annotations

import uuid
from collections.abc import Mapping

from sqlalchemy import ColumnElement

from maily.auth.service import WorkspaceContext
from maily.contacts.fields import FieldSpec
from maily.kit.db import AsyncSession
from maily.kit.errors import NotFound, Unprocessable
from maily.kit.pagination import PageParams
from maily.models import Segment
from maily.segments.compiler import InvalidRules, load_segment_predicate, segment_predicate
from maily.segments.repository import SegmentRepository
from maily.segments.rules import (
    CustomFieldCondition,
    InvalidValue,
    ListCondition,
    Op,
    RuleProblem,
    SegmentRules,
    ValueKind,
    parse_value,
    problem_details,
)
from maily.segments.schemas import SegmentCount, SegmentCreate, SegmentUpdate

# Where the rules sit in every request body that carries them.
RULES_IN_BODY = ("body", "rules")


def _choice_problems(rules: SegmentRules, specs: Mapping[str, FieldSpec]) -> list[RuleProblem]:
    """Values of choice fields that are not among the field's choices."""
    problems = []
    for loc, node in rules.walk():
        if not isinstance(node, CustomFieldCondition):
            continue
        spec = specs.get(node.custom_field)
        if spec is None or spec.type != "choice" or node.op in (Op.is_set, Op.is_not_set):
            continue
        try:
            parse_value(ValueKind.choice, node.op, node.value)
        except InvalidValue:
            continue  # not a choice value at all: the compiler reports it
        try:
            parse_value(ValueKind.choice, node.op, node.value, spec.choices)
        except InvalidValue as exc:
            problems.append(RuleProblem((*loc, "value"), exc.reason, "invalid_choice"))
    return problems


def _tree_order(problem: RuleProblem) -> list[tuple[int, int, str]]:
    return [(0, p, "") if isinstance(p, int) else (1, 0, p) for p in problem.loc]


class SegmentService:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session
        self.segments = SegmentRepository(session)

    async def predicate(self, workspace_id: uuid.UUID, rules: SegmentRules) -> ColumnElement[bool]:
        """Compile rules a caller wrote. Whatever does not fit the workspace — an unknown
        custom field or list, an operator or value wrong for the field's type — is a 422
        naming the path of each bad node."""
        specs = await self.segments.custom_fields(workspace_id)
        problems: list[RuleProblem] = []
        try:
            predicate = segment_predicate(
                workspace_id, rules, {key: spec.type for key, spec in specs.items()}
            )
        except InvalidRules as exc:
            problems.extend(exc.problems)
        problems.extend(_choice_problems(rules, specs))
        lists = [(loc, n) for loc, n in rules.walk() if isinstance(n, ListCondition)]
        known = await self.segments.existing_list_ids(workspace_id, [n.list_id for _, n in lists])
        problems.extend(
            RuleProblem(
                (*loc, "list"), f"there is no list {n.list_id} in this workspace", "unknown_list"
            )
            for loc, n in lists
            if n.list_id not in known
        )
        if problems:
            problems.sort(key=_tree_order)
            raise Unprocessable(
                "the rules do not fit this workspace",
                details=problem_details(problems, RULES_IN_BODY),
            )
        return predicate

    async def get(self, ctx: WorkspaceContext, segment_id: uuid.UUID) -> Segment:
        segment = await self.segments.get(ctx.workspace_id, segment_id)
        if segment is None:
            raise NotFound("segment not found")
        return segment

    async def list(self, ctx: WorkspaceContext, page: PageParams) -> list[Segment]:
        return await self.segments.list(ctx.workspace_id, page)

    async def create(self, ctx: WorkspaceContext, body: SegmentCreate) -> Segment:
        await self.predicate(ctx.workspace_id, body.rules)
        return await self.segments.add(
            Segment(
                workspace_id=ctx.workspace_id,
                name=body.name,
                description=body.description,
                rules=body.rules.to_json(),
            )
        )

    async def update(
        self, ctx: WorkspaceContext, segment_id: uuid.UUID, body: SegmentUpdate
    ) -> Segment:
        segment = await self.get(ctx, segment_id)
        if body.rules is not None:
            await self.predicate(ctx.workspace_id, body.rules)
            segment.rules = body.rules.to_json()
        if body.name is not None:
            segment.name = body.name
        if body.description is not None:
            segment.description = body.description
        return await self.segments.save(segment)

    async def delete(self, ctx: WorkspaceContext, segment_id: uuid.UUID) -> None:
        await self.segments.delete(await self.get(ctx, segment_id))

    async def count(self, ctx: WorkspaceContext, rules: SegmentRules) -> SegmentCount:
        predicate = await self.predicate(ctx.workspace_id, rules)
        total, sendable = await self.segments.count(ctx.workspace_id, predicate)
        return SegmentCount(count=total, sendable=sendable)

    async def count_saved(self, ctx: WorkspaceContext, segment_id: uuid.UUID) -> SegmentCount:
        predicate = await load_segment_predicate(self.session, ctx.workspace_id, segment_id)
        total, sendable = await self.segments.count(ctx.workspace_id, predicate)
        return SegmentCount(count=total, sendable=sendable)
