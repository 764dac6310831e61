"""The moderation subgraph's GraphQL schema: reports, cases, actions, standings, appeals.

Members report, read their own reports, standing and actions, and appeal. A banned member,
who cannot sign in, reads their standing and actions and appeals with the appeal token
`login` answers them: those fields alone take it (`appeal=True`). Reading cases and appeals
is for staff with cases:read, acting on them with cases:act, and suspending a member
without a case with members:suspend (kindred.staff; FORBIDDEN otherwise). Acting is
audited: only the admin subgraph's staff actions call these mutations, with an action token
naming the audit entry they wrote; a staff member's own token is FORBIDDEN.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from enum import Enum
from types import SimpleNamespace
from typing import Annotated

import strawberry

from kindred.errors import NotFound
from kindred.graphql import build_schema, describe_values
from kindred.ids import parse_id
from kindred.pagination import After, Connection, First, connection, page_size
from kindred.staff import Scope, staff_field, staff_mutation
from subgraphs.moderation import cases, service
from subgraphs.moderation.types import (
    Appeal,
    AppealStatus,
    CaseStatus,
    Ctx,
    ModerationAction,
    ModerationActionKind,
    ModerationCase,
    ModerationStatus,
    Report,
    ReportReason,
    User,
    actions_of,
    staff_id,
    standing_of,
)

CaseId = Annotated[strawberry.ID, strawberry.argument(description="The case.")]


@strawberry.enum(
    description="A moderator's decision on an appeal: UPHELD (the action stands) or "
    "OVERTURNED (it is undone; a suspension or ban it put in force ends now)."
)
class AppealOutcome(Enum):
    UPHELD = "UPHELD"
    OVERTURNED = "OVERTURNED"


describe_values(
    AppealOutcome,
    UPHELD="The action stands.",
    OVERTURNED="The action is undone; a suspension or ban ends now.",
)


async def _case(info: Ctx, case_id: uuid.UUID) -> ModerationCase:
    async with info.context.platform.db.read() as conn:
        [row] = await service.cases_by_id(conn, [case_id])
    if row is None:
        raise NotFound("No such case.", field="id")
    return ModerationCase.from_row(row)


@strawberry.type
class Query:
    @strawberry.field(
        description="The reports you filed, newest first, with where each case stands. "
        "Nobody else's: there is no way to read another member's reports."
    )
    async def my_reports(
        self, info: Ctx, first: First = None, after: After = None
    ) -> Connection[Report]:
        reporter = info.context.caller_id()
        size = page_size(first)
        async with info.context.platform.db.read() as conn:
            rows = await service.reports_of(conn, reporter_id=reporter, first=size, after=after)
        return connection(
            rows, first=size, node=Report.from_row, key=lambda row: (row.created_at, row.id)
        )

    @strawberry.field(
        description="Your standing with moderation now (as `me { moderationStatus }`). A "
        "banned member's appeal token (from `login`) reads it too."
    )
    async def my_moderation_status(self, info: Ctx) -> ModerationStatus:
        return await standing_of(info, info.context.caller_id(appeal=True))

    @strawberry.field(
        description="The warnings, suspensions and bans taken on you, newest first, each with "
        "its appeal (as `me { moderationActions }`). A banned member's appeal token (from "
        "`login`) reads them too, to find the ban to `appealAction`."
    )
    async def my_moderation_actions(
        self, info: Ctx, first: First = None, after: After = None
    ) -> Connection[ModerationAction]:
        return await actions_of(info, info.context.caller_id(appeal=True), first=first, after=after)

    @staff_field(
        scopes=[Scope.CASES_READ], description="Cases, most recently opened first; staff only."
    )
    async def moderation_cases(
        self,
        info: Ctx,
        status: Annotated[
            CaseStatus | None,
            strawberry.argument(description="Only cases in this status."),
        ] = None,
        first: First = None,
        after: After = None,
    ) -> Connection[ModerationCase]:
        size = page_size(first)
        async with info.context.platform.db.read() as conn:
            rows = await service.cases_list(
                conn,
                status=cases.CaseStatus(status.value) if status else None,
                first=size,
                after=after,
            )
        return connection(
            rows,
            first=size,
            node=ModerationCase.from_row,
            key=lambda row: (row.opened_at, row.id),
        )

    @staff_field(scopes=[Scope.CASES_READ], description="One case; staff only.")
    async def moderation_case(self, info: Ctx, id: CaseId) -> ModerationCase:
        return await _case(info, parse_id(id))

    @staff_field(scopes=[Scope.CASES_READ], description="One appeal; staff only.")
    async def moderation_appeal(
        self,
        info: Ctx,
        id: Annotated[strawberry.ID, strawberry.argument(description="The appeal.")],
    ) -> Appeal:
        async with info.context.platform.db.read() as conn:
            [row] = await service.appeals_by_id(conn, [parse_id(id)])
        if row is None:
            raise NotFound("No such appeal.", field="id")
        return Appeal.from_row(row)

    @staff_field(scopes=[Scope.CASES_READ], description="Appeals, newest first; staff only.")
    async def moderation_appeals(
        self,
        info: Ctx,
        status: Annotated[
            AppealStatus | None,
            strawberry.argument(description="Only appeals in this status."),
        ] = None,
        first: First = None,
        after: After = None,
    ) -> Connection[Appeal]:
        size = page_size(first)
        async with info.context.platform.db.read() as conn:
            rows = await service.appeals_list(
                conn,
                status=cases.AppealStatus(status.value) if status else None,
                first=size,
                after=after,
            )
        return connection(
            rows, first=size, node=Appeal.from_row, key=lambda row: (row.created_at, row.id)
        )


@strawberry.type
class Mutation:
    @strawberry.mutation(
        description="Reports a member to moderation; the report joins the member's open case. "
        "Yourself, or OTHER without `details`, is BAD_USER_INPUT; an id that is no member "
        "(unknown or deleted) is NOT_FOUND. A member may file a limited number of reports per "
        "hour (RATE_LIMITED with `retryAfter` past it)."
    )
    async def report(
        self,
        info: Ctx,
        user_id: Annotated[strawberry.ID, strawberry.argument(description="The member reported.")],
        reason: Annotated[ReportReason, strawberry.argument(description="Why you report them.")],
        details: Annotated[
            str | None,
            strawberry.argument(description="What happened (up to 1,000 characters)."),
        ] = None,
        conversation_id: Annotated[
            strawberry.ID | None,
            strawberry.argument(description="The conversation it happened in."),
        ] = None,
        message_id: Annotated[
            strawberry.ID | None, strawberry.argument(description="The message reported.")
        ] = None,
    ) -> Report:
        reporter = info.context.caller_id()
        platform = info.context.platform
        reported = parse_id(user_id, field="userId")
        report, case = await service.file_report(
            platform.db,
            platform.limiter,
            service.report_limit(platform.settings),
            reporter_id=reporter,
            reported_user_id=reported,
            reason=service.ReportReason(reason.value),
            details=details,
            conversation_id=(
                parse_id(conversation_id, field="conversationId") if conversation_id else None
            ),
            message_id=parse_id(message_id, field="messageId") if message_id else None,
        )
        return Report.from_row(SimpleNamespace(**report.model_dump(), case_status=case.status))

    @strawberry.mutation(
        description="Appeals an action taken on you (a warning, suspension or ban), once: a "
        "second appeal of it is CONFLICT. Someone else's action is NOT_FOUND. A banned "
        "member, who cannot sign in, appeals with the appeal token `login` answers them."
    )
    async def appeal_action(
        self,
        info: Ctx,
        action_id: Annotated[strawberry.ID, strawberry.argument(description="The action.")],
        text: Annotated[
            str,
            strawberry.argument(description="Why it should be undone (up to 2,000 characters)."),
        ],
    ) -> Appeal:
        member = info.context.caller_id(appeal=True)
        action_key = parse_id(action_id, field="actionId")
        async with info.context.platform.db.session() as session, session.begin():
            appeal = await service.appeal(session, action_id=action_key, user_id=member, text=text)
        return Appeal.from_row(appeal)

    @staff_mutation(
        scopes=[Scope.CASES_ACT],
        audited_via="reviewCase",
        description="Takes an OPEN case into review (anything else is CONFLICT); staff only.",
    )
    async def start_case_review(self, info: Ctx, case_id: CaseId) -> ModerationCase:
        async with info.context.platform.db.session() as session, session.begin():
            case = await service.start_review(session, case_id=parse_id(case_id, field="caseId"))
        return ModerationCase.from_row(case)

    @staff_mutation(
        scopes=[Scope.CASES_ACT],
        audited_via="actOnCase",
        description="Closes an OPEN or IN_REVIEW case with an action (a closed case is "
        "CONFLICT): WARN; SUSPEND until `until` (in the future, within a year); BAN; or "
        "DISMISS. SUSPEND and BAN take effect at once everywhere; staff only.",
    )
    async def take_moderation_action(
        self,
        info: Ctx,
        case_id: CaseId,
        action: Annotated[ModerationActionKind, strawberry.argument(description="What to do.")],
        reason: Annotated[
            str, strawberry.argument(description="Why (the member sees it; 1 to 1,000 characters).")
        ],
        until: Annotated[
            datetime | None,
            strawberry.argument(description="When a SUSPEND ends; only for SUSPEND."),
        ] = None,
    ) -> ModerationAction:
        moderator = staff_id(info)
        async with info.context.platform.db.unit_of_work() as uow:
            taken = await service.take_action(
                uow,
                case_id=parse_id(case_id, field="caseId"),
                kind=cases.ActionKind(action.value),
                until=until,
                reason=reason,
                moderator_id=moderator,
            )
            await uow.commit()
        return ModerationAction.from_row(taken)

    @staff_mutation(
        scopes=[Scope.CASES_ACT],
        audited_via="actOnAppeal",
        description="Decides a PENDING appeal (a decided one is CONFLICT); OVERTURNED undoes "
        "the action and ends a suspension or ban it put in force. Staff only.",
    )
    async def decide_appeal(
        self,
        info: Ctx,
        appeal_id: Annotated[strawberry.ID, strawberry.argument(description="The appeal.")],
        outcome: Annotated[AppealOutcome, strawberry.argument(description="The decision.")],
    ) -> Appeal:
        moderator = staff_id(info)
        async with info.context.platform.db.unit_of_work() as uow:
            appeal = await service.decide_appeal(
                uow,
                appeal_id=parse_id(appeal_id, field="appealId"),
                outcome=cases.AppealStatus(outcome.value),
                moderator_id=moderator,
            )
            await uow.commit()
        return Appeal.from_row(appeal)

    @staff_mutation(
        scopes=[Scope.MEMBERS_SUSPEND],
        audited_via="suspendMember",
        description="Suspends a member until `until` (in the future, within a year) without "
        "waiting for a report: their open case, or a new one, closes with the suspension. "
        "Once per `requestKey` (the same key answers the same action); staff only.",
    )
    async def impose_suspension(
        self,
        info: Ctx,
        user_id: Annotated[strawberry.ID, strawberry.argument(description="The member.")],
        until: Annotated[datetime, strawberry.argument(description="When it ends.")],
        reason: Annotated[
            str, strawberry.argument(description="Why (the member sees it; 1 to 1,000 characters).")
        ],
        request_key: Annotated[
            str,
            strawberry.argument(description="Names this one request: a retry answers the same."),
        ],
    ) -> ModerationAction:
        async with info.context.platform.db.unit_of_work() as uow:
            taken = await service.impose_suspension(
                uow,
                user_id=parse_id(user_id, field="userId"),
                until=until,
                reason=reason,
                staff_id=staff_id(info),
                request_key=request_key,
            )
            await uow.commit()
        return ModerationAction.from_row(taken)


schema = build_schema(query=Query, mutation=Mutation, types=[User])
