"""The moderation subgraph's GraphQL types and the DataLoaders behind their fields."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

import strawberry
from strawberry.types import Info

from kindred.context import RequestContext
from kindred.graphql import describe_values
from kindred.ids import parse_id
from kindred.pagination import After, Connection, First, connection, page_size
from kindred.shared_types import GONE_MEMBER, USER_DESCRIPTION
from kindred.staff import Scope
from subgraphs.moderation import cases, service

Ctx = Info[RequestContext, None]

strawberry.enum(
    service.ReportReason,
    name="ReportReason",
    description="Why a member is reported: HARASSMENT, HATE_SPEECH, SPAM, SCAM, "
    "INAPPROPRIATE_CONTENT, FAKE_PROFILE, UNDERAGE or OTHER (which needs `details`).",
)
describe_values(
    service.ReportReason,
    HARASSMENT="Bullying, threats or unwanted sexual attention.",
    HATE_SPEECH="Attacks on a group or a person for who they are.",
    SPAM="Unwanted advertising or repeated messages.",
    SCAM="Attempts to get money or personal details by deceit.",
    INAPPROPRIATE_CONTENT="Sexual, violent or otherwise unsuitable content.",
    FAKE_PROFILE="Someone pretending to be who they are not.",
    UNDERAGE="A member who seems to be under 18.",
    OTHER="Anything else; `details` says what.",
)
ReportReason = service.ReportReason
strawberry.enum(
    cases.CaseStatus,
    name="CaseStatus",
    description="Where a case is: OPEN (new evidence joins it), IN_REVIEW (a moderator is on "
    "it), ACTIONED (closed with a warning, suspension or ban) or DISMISSED (closed, no action).",
)
describe_values(
    cases.CaseStatus,
    OPEN="New; new reports and flags join it.",
    IN_REVIEW="A moderator is looking at it.",
    ACTIONED="Closed with a warning, a suspension or a ban.",
    DISMISSED="Closed with no action on the member.",
)
CaseStatus = cases.CaseStatus
strawberry.enum(
    cases.ActionKind,
    name="ModerationActionKind",
    description="What a moderator decides: WARN, SUSPEND (until a time), BAN (indefinitely) "
    "or DISMISS (the case, with no action on the member).",
)
describe_values(
    cases.ActionKind,
    WARN="The member is warned; nothing else changes.",
    SUSPEND="The member is suspended until a given time.",
    BAN="The member is banned indefinitely.",
    DISMISS="The case is closed with no action on the member.",
)
ModerationActionKind = cases.ActionKind
strawberry.enum(
    cases.StandingStatus,
    name="StandingStatus",
    description="A member's standing: ACTIVE, SUSPENDED (until a time: no queue, no "
    "messages) or BANNED (no sign-in either).",
)
describe_values(
    cases.StandingStatus,
    ACTIVE="In good standing: no restriction.",
    SUSPENDED="Until a time: no queue and no messages.",
    BANNED="Indefinitely: no sign-in either.",
)
StandingStatus = cases.StandingStatus
strawberry.enum(
    cases.AppealStatus,
    name="AppealStatus",
    description="An appeal: PENDING until a moderator decides, then UPHELD (the action "
    "stands) or OVERTURNED (it is undone).",
)
describe_values(
    cases.AppealStatus,
    PENDING="Waiting for a moderator to decide.",
    UPHELD="Decided: the action stands.",
    OVERTURNED="Decided: the action is undone.",
)
AppealStatus = cases.AppealStatus
strawberry.enum(
    service.FlagSource,
    name="FlagSource",
    description="Where screening found the text: a MESSAGE the member sent, or their PROFILE_BIO.",
)
describe_values(
    service.FlagSource,
    MESSAGE="A chat message the member sent.",
    PROFILE_BIO="The member's profile bio.",
)
FlagSource = service.FlagSource


def staff_id(info: Ctx) -> uuid.UUID:
    """The id of the staff member calling (a staff field has checked their scopes)."""
    return uuid.UUID(info.context.require_identity().user_id)


def own_or_staff(info: Ctx, user_id: str, *, what: str) -> uuid.UUID:
    """`user_id` if it is the caller (by an access token, or by the appeal token of a banned
    member reading why), or the caller is staff who may read members (`members:read`);
    `FORBIDDEN` otherwise."""
    identity = info.context.require_identity(appeal=True)
    if identity.staff:
        info.context.require_scope(Scope.MEMBERS_READ, what=f"read a member's {what}")
        return parse_id(user_id)
    return info.context.require_self(user_id, what=what, appeal=True)


def _id(value: uuid.UUID | None) -> strawberry.ID | None:
    return strawberry.ID(str(value)) if value is not None else None


@strawberry.type(description="Where a member stands with moderation now.")
class ModerationStatus:
    status: StandingStatus = strawberry.field(
        description="ACTIVE, SUSPENDED or BANNED (a suspension past its end is over)."
    )
    until: datetime | None = strawberry.field(
        description="When a suspension ends; null when ACTIVE or BANNED."
    )
    reason: str | None = strawberry.field(
        description="The moderator's reason for the suspension or ban; null when ACTIVE."
    )


@strawberry.federation.type(keys=["id"], description=USER_DESCRIPTION)
class User:
    id: strawberry.ID

    @strawberry.field(
        description="The member's standing with moderation; own only (FORBIDDEN for anyone "
        "else's; staff with members:read see every member's). A banned member's appeal "
        "token reads it too."
    )
    async def moderation_status(self, info: Ctx) -> ModerationStatus:
        member = own_or_staff(info, self.id, what="moderation status")
        return await standing_of(info, member)

    @strawberry.field(
        description="The warnings, suspensions and bans taken on the member, newest first, "
        "each with its appeal; own only (staff with members:read see every member's). A "
        "banned member's appeal token reads it too."
    )
    async def moderation_actions(
        self, info: Ctx, first: First = None, after: After = None
    ) -> Connection[ModerationAction]:
        member = own_or_staff(info, self.id, what="moderation actions")
        return await actions_of(info, member, first=first, after=after)

    @classmethod
    def resolve_reference(cls, id: strawberry.ID) -> User:
        return cls(id=id)


def _user(id_: uuid.UUID) -> User:
    return User(id=strawberry.ID(str(id_)))


async def standing_of(info: Ctx, member: uuid.UUID) -> ModerationStatus:
    """The member's standing now (the caller may read it: checked before)."""
    row = await info.context.read_batched("standings", service.standings_of, member)
    status = service.standing_status(row)
    if row is None or status == cases.StandingStatus.ACTIVE:
        return ModerationStatus(status=status, until=None, reason=None)
    return ModerationStatus(
        status=status,
        until=row.until if status == cases.StandingStatus.SUSPENDED else None,
        reason=row.reason,
    )


async def actions_of(
    info: Ctx, member: uuid.UUID, *, first: int | None, after: str | None
) -> Connection[ModerationAction]:
    """One page of the actions taken on the member, newest first (the caller may read
    them: checked before)."""
    size = page_size(first)
    async with info.context.platform.db.read() as conn:
        rows = await service.actions_of(conn, user_id=member, first=size, after=after)
    return connection(
        rows, first=size, node=ModerationAction.from_row, key=lambda row: (row.created_at, row.id)
    )


@strawberry.type(description="A member's report of another member.")
class Report:
    id: strawberry.ID = strawberry.field(description="Stable id of the report.")
    reporter: User | None = strawberry.field(description=f"Who filed it{GONE_MEMBER}.")
    reported_user: User | None = strawberry.field(description=f"Whom it is about{GONE_MEMBER}.")
    reason: ReportReason = strawberry.field(description="Why the member was reported.")
    details: str | None = strawberry.field(description="What happened, in the reporter's words.")
    conversation_id: strawberry.ID | None = strawberry.field(
        description="The conversation it is about, if any."
    )
    message_id: strawberry.ID | None = strawberry.field(
        description="The message it is about, if any."
    )
    case_status: CaseStatus = strawberry.field(
        description="Where the case it was filed into stands: OPEN, IN_REVIEW, ACTIONED or "
        "DISMISSED."
    )
    created_at: datetime = strawberry.field(description="When it was filed.")

    @classmethod
    def from_row(cls, row: Any) -> Report:
        report = row
        return cls(
            id=strawberry.ID(str(report.id)),
            reporter=_user(report.reporter_id),
            reported_user=_user(report.reported_user_id),
            reason=service.ReportReason(report.reason),
            details=report.details,
            conversation_id=_id(report.conversation_id),
            message_id=_id(report.message_id),
            case_status=cases.CaseStatus(row.case_status),
            created_at=report.created_at,
        )


@strawberry.type(description="Screening found screened terms in a member's text: the evidence.")
class ScreeningFlag:
    id: strawberry.ID = strawberry.field(description="Stable id of the flag.")
    user: User | None = strawberry.field(description=f"Who wrote the text{GONE_MEMBER}.")
    source: FlagSource = strawberry.field(description="Where the text was.")
    terms: list[str] = strawberry.field(description="The screened terms found, as listed.")
    text: str = strawberry.field(description="The text as written (up to 2,000 characters).")
    conversation_id: strawberry.ID | None = strawberry.field(
        description="For a MESSAGE, its conversation."
    )
    message_id: strawberry.ID | None = strawberry.field(description="For a MESSAGE, its id.")
    created_at: datetime = strawberry.field(description="When screening raised it.")

    @classmethod
    def from_row(cls, row: Any) -> ScreeningFlag:
        return cls(
            id=strawberry.ID(str(row.id)),
            user=_user(row.user_id),
            source=service.FlagSource(row.source),
            terms=list(row.terms),
            text=row.text,
            conversation_id=_id(row.conversation_id),
            message_id=_id(row.message_id),
            created_at=row.created_at,
        )


@strawberry.type(description="A member's appeal of an action taken on them (one per action).")
class Appeal:
    id: strawberry.ID = strawberry.field(description="Stable id of the appeal.")
    action_id: strawberry.ID = strawberry.field(description="The action appealed.")
    user: User | None = strawberry.field(description=f"The member who appealed{GONE_MEMBER}.")
    text: str = strawberry.field(description="What the member said.")
    status: AppealStatus = strawberry.field(description="PENDING, UPHELD or OVERTURNED.")
    created_at: datetime = strawberry.field(description="When it was filed.")
    decided_at: datetime | None = strawberry.field(
        description="When it was decided; null if not yet."
    )

    @classmethod
    def from_row(cls, row: Any) -> Appeal:
        return cls(
            id=strawberry.ID(str(row.id)),
            action_id=strawberry.ID(str(row.action_id)),
            user=_user(row.user_id),
            text=row.text,
            status=cases.AppealStatus(row.status),
            created_at=row.created_at,
            decided_at=row.decided_at,
        )


@strawberry.type(description="What a moderator decided on a case.")
class ModerationAction:
    id: strawberry.ID = strawberry.field(description="Stable id of the action (appeal with it).")
    case_id: strawberry.ID = strawberry.field(description="The case it closed.")
    user: User | None = strawberry.field(description=f"The member it was taken on{GONE_MEMBER}.")
    action: ModerationActionKind = strawberry.field(description="WARN, SUSPEND, BAN or DISMISS.")
    until: datetime | None = strawberry.field(description="When a SUSPEND ends; null otherwise.")
    reason: str = strawberry.field(description="The moderator's reason, as the member sees it.")
    created_at: datetime = strawberry.field(description="When it was taken.")
    overturned: bool = strawberry.field(description="True once an appeal overturned it.")

    @classmethod
    def from_row(cls, row: Any) -> ModerationAction:
        return cls(
            id=strawberry.ID(str(row.id)),
            case_id=strawberry.ID(str(row.case_id)),
            user=_user(row.user_id),
            action=cases.ActionKind(row.kind),
            until=row.until,
            reason=row.reason,
            created_at=row.created_at,
            overturned=row.overturned_at is not None,
        )

    @strawberry.field(description="The member's appeal of it; null if none.")
    async def appeal(self, info: Ctx) -> Appeal | None:
        row = await info.context.read_batched(
            "appeals", service.appeals_by_action, parse_id(self.id)
        )
        return Appeal.from_row(row) if row is not None else None


@strawberry.type(
    description="Everything about one member that awaits or had a decision: reports and "
    "screening evidence, and the action that closed it. Staff only (cases:read)."
)
class ModerationCase:
    id: strawberry.ID = strawberry.field(description="Stable id of the case.")
    user: User | None = strawberry.field(description=f"The member it is about{GONE_MEMBER}.")
    status: CaseStatus = strawberry.field(description="OPEN, IN_REVIEW, ACTIONED or DISMISSED.")
    version: int = strawberry.field(description="Grows with every change to the case.")
    opened_at: datetime = strawberry.field(description="When the first evidence came.")
    updated_at: datetime = strawberry.field(description="When it last changed.")
    closed_at: datetime | None = strawberry.field(description="When it was closed; null if open.")

    @classmethod
    def from_row(cls, row: Any) -> ModerationCase:
        return cls(
            id=strawberry.ID(str(row.id)),
            user=_user(row.user_id),
            status=cases.CaseStatus(row.status),
            version=row.version,
            opened_at=row.opened_at,
            updated_at=row.updated_at,
            closed_at=row.closed_at,
        )

    @property
    def key(self) -> uuid.UUID:
        return uuid.UUID(self.id)

    @strawberry.field(description="The reports filed into it, newest first.")
    async def reports(
        self, info: Ctx, first: First = None, after: After = None
    ) -> Connection[Report]:
        size = page_size(first)
        async with info.context.platform.db.read() as conn:
            rows = await service.reports_in_case(conn, case_id=self.key, first=size, after=after)
        return connection(
            rows, first=size, node=Report.from_row, key=lambda row: (row.created_at, row.id)
        )

    @strawberry.field(description="The screening evidence in it, newest first.")
    async def flags(
        self, info: Ctx, first: First = None, after: After = None
    ) -> Connection[ScreeningFlag]:
        size = page_size(first)
        async with info.context.platform.db.read() as conn:
            rows = await service.flags_in_case(conn, case_id=self.key, first=size, after=after)
        return connection(
            rows, first=size, node=ScreeningFlag.from_row, key=lambda row: (row.created_at, row.id)
        )

    @strawberry.field(description="The action that closed it (empty while open).")
    async def actions(self, info: Ctx) -> list[ModerationAction]:
        rows = await info.context.read_batched("case_actions", service.actions_in_cases, self.key)
        return [ModerationAction.from_row(row) for row in rows]
