"""The history subgraph's GraphQL types: a timeline entry and its kinds."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Any

import strawberry
from strawberry.types import Info

from kindred.context import RequestContext
from kindred.errors import BadUserInput
from kindred.graphql import describe_values
from kindred.pagination import After, Connection, First, connection, page_size
from kindred.shared_types import USER_DESCRIPTION
from subgraphs.history import service

Ctx = Info[RequestContext, None]


# The domain's kinds, named HistoryKind in the schema.
HistoryKind = service.Kind
strawberry.enum(HistoryKind, name="HistoryKind", description="What a timeline entry records.")
describe_values(
    HistoryKind,
    MATCHED="The matcher paired you with `user` (`matchId`).",
    MATCH_CANCELLED="A match could not be set up and was called off; you went back to the queue.",
    CONVERSATION_STARTED="A conversation with `user` opened (`conversationId`; for a match "
    "`matchId`, for a connection `connectionId`).",
    CONNECTED="You and `user` liked each other (`connectionId`).",
    LIKED="You liked `user`.",
    PASSED="You passed on `user`.",
    BLOCKED="You blocked `user`.",
    UNBLOCKED="You lifted your block of `user`.",
    RATED="You rated the conversation of a match with `user` (`rating`).",
    MODERATION_ACTION="A moderator warned, suspended or banned you (`moderationAction`, "
    "`reason`, `until`; appeal it with `actionId`).",
    SUSPENDED="Your account was suspended until `until`.",
    BANNED="Your account was banned until further notice.",
    REINSTATED="Your suspension or ban ended.",
    APPEAL_DECIDED="A moderator decided your appeal (`appealOutcome`).",
    SUBSCRIPTION_CHANGED="Your subscription changed (`plan`, `subscriptionStatus`, "
    "`entitledUntil`).",
)


def _id(value: Any) -> strawberry.ID | None:
    return strawberry.ID(str(value)) if value else None


def _time(value: Any) -> datetime | None:
    return datetime.fromisoformat(value) if value else None


@strawberry.type(
    description="Something that happened to you, as its event told it: one entry per event, "
    "newest first. Only the fields its `kind` speaks of are set; the rest are null."
)
class HistoryEntry:
    id: strawberry.ID = strawberry.field(
        description="Stable id of the entry (the same after a rebuild from the event log)."
    )
    kind: HistoryKind = strawberry.field(description="What happened.")
    occurred_at: datetime = strawberry.field(description="When it happened.")
    user: User | None = strawberry.field(
        description="The other member it involved, if any (the one matched, met, liked, "
        "passed on, blocked or rated)."
    )
    match_id: strawberry.ID | None = strawberry.field(description="The match it concerns.")
    conversation_id: strawberry.ID | None = strawberry.field(
        description="The conversation that opened (CONVERSATION_STARTED)."
    )
    connection_id: strawberry.ID | None = strawberry.field(
        description="The connection it concerns (CONNECTED, a connection's conversation)."
    )
    rating: int | None = strawberry.field(description="Your rating, 1 to 5 (RATED).")
    action_id: strawberry.ID | None = strawberry.field(
        description="The moderation action it concerns (appeal with it)."
    )
    moderation_action: str | None = strawberry.field(
        description="WARN, SUSPEND or BAN, as the moderation subgraph's `ModerationActionKind` "
        "(MODERATION_ACTION)."
    )
    reason: str | None = strawberry.field(
        description="The moderator's reason, as you see it (MODERATION_ACTION, SUSPENDED, BANNED)."
    )
    until: datetime | None = strawberry.field(
        description="When a suspension ends (MODERATION_ACTION of SUSPEND, SUSPENDED)."
    )
    appeal_id: strawberry.ID | None = strawberry.field(
        description="The appeal decided (APPEAL_DECIDED)."
    )
    appeal_outcome: str | None = strawberry.field(
        description="UPHELD (the action stands) or OVERTURNED (it was undone) (APPEAL_DECIDED)."
    )
    plan: str | None = strawberry.field(
        description="Your plan after the change, FREE or PREMIUM (SUBSCRIPTION_CHANGED)."
    )
    subscription_status: str | None = strawberry.field(
        description="The payment provider's status, as `SubscriptionStatus` names it "
        "(SUBSCRIPTION_CHANGED)."
    )
    entitled_until: datetime | None = strawberry.field(
        description="Until when the plan's entitlements hold (SUBSCRIPTION_CHANGED)."
    )
    event_id: strawberry.ID = strawberry.field(description="The event it was made from.")

    @classmethod
    def from_row(cls, row: Any) -> HistoryEntry:
        details: dict[str, Any] = row.details or {}
        other: uuid.UUID | None = row.other_member_id
        return cls(
            id=strawberry.ID(str(service.entry_id(row.member_id, row.source_event_id))),
            kind=HistoryKind(row.kind),
            occurred_at=row.occurred_at,
            user=User(id=strawberry.ID(str(other))) if other else None,
            match_id=_id(details.get("match_id")),
            conversation_id=_id(details.get("conversation_id")),
            connection_id=_id(details.get("connection_id")),
            rating=details.get("rating"),
            action_id=_id(details.get("action_id")),
            moderation_action=details.get("action"),
            reason=details.get("reason"),
            until=_time(details.get("until")),
            appeal_id=_id(details.get("appeal_id")),
            appeal_outcome=details.get("outcome"),
            plan=details.get("plan"),
            subscription_status=details.get("status"),
            entitled_until=_time(details.get("entitled_until")),
            event_id=strawberry.ID(str(row.source_event_id)),
        )


@strawberry.federation.type(keys=["id"], description=USER_DESCRIPTION)
class User:
    id: strawberry.ID

    @strawberry.field(
        description="Your timeline, newest first: matches, conversations started, your own "
        "reactions, moderation decisions about you and subscription changes; own only "
        "(anyone else gets FORBIDDEN)."
    )
    async def history(
        self,
        info: Ctx,
        first: First = None,
        after: After = None,
        kinds: Annotated[
            list[HistoryKind] | None,
            strawberry.argument(description="Only entries of these kinds (all if left out)."),
        ] = None,
        since: Annotated[
            datetime | None,
            strawberry.argument(description="Only entries that happened at or after this time."),
        ] = None,
        until: Annotated[
            datetime | None,
            strawberry.argument(
                description="Only entries that happened before this time (after `since`)."
            ),
        ] = None,
    ) -> Connection[HistoryEntry]:
        member = info.context.require_self(self.id, what="history")
        size = page_size(first)
        service.check_window(since, until)
        if kinds is not None and not kinds:
            raise BadUserInput("Name at least one kind, or leave `kinds` out.", field="kinds")
        async with info.context.platform.db.read() as conn:
            rows = await service.timeline_of(
                conn,
                member_id=member,
                first=size,
                after=after,
                kinds=kinds,
                since=since,
                until=until,
            )
        return connection(
            rows,
            first=size,
            node=HistoryEntry.from_row,
            key=lambda row: (row.occurred_at, row.source_event_id),
        )

    @classmethod
    def resolve_reference(cls, id: strawberry.ID) -> User:
        return cls(id=id)
