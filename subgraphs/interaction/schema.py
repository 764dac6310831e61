"""The interaction subgraph's GraphQL schema: reactions, ratings, connections, blocks, likes."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta
from enum import Enum
from typing import Annotated, Any

import strawberry
from strawberry.types import Info

from kindred import member_state
from kindred.context import RequestContext
from kindred.errors import Forbidden
from kindred.graphql import build_schema
from kindred.ids import parse_id
from kindred.member_state import Entitlement
from kindred.pagination import After, Connection, First, connection, page_size
from kindred.shared_types import GONE_MEMBER, USER_DESCRIPTION
from subgraphs.interaction import service
from subgraphs.interaction.service import Kind

Ctx = Info[RequestContext, None]

UserId = Annotated[
    strawberry.ID, strawberry.argument(description="The other member (one you were matched with).")
]


@strawberry.enum(description="A member's standing reaction to another member.")
class ReactionKind(Enum):
    LIKE = strawberry.enum_value("LIKE", description="Wants to stay in touch.")
    PASS = strawberry.enum_value(
        "PASS", description="Not interested: the two are kept apart in matching for a while."
    )


def _user(id_: uuid.UUID) -> User:
    return User(id=strawberry.ID(str(id_)))


@strawberry.type(
    description="Your relation to another member: private, nobody else (not even them) sees "
    "it. The latest reaction wins; a block wins over any reaction."
)
class Reaction:
    user: User | None = strawberry.field(description=f"The member it is about{GONE_MEMBER}.")
    reaction: ReactionKind | None = strawberry.field(
        description="Your standing like or pass; null if none (or cleared by a block)."
    )
    blocked: bool = strawberry.field(description="True while you block this member.")
    pass_until: datetime | None = strawberry.field(
        description="Until when your pass keeps the two of you apart in matching."
    )
    match_id: strawberry.ID | None = strawberry.field(
        description="Your latest match with this member, if any."
    )
    connected: bool = strawberry.field(
        description="True while the two of you are connected (you liked each other)."
    )
    version: int = strawberry.field(description="Goes up by one on every change.")
    updated_at: datetime = strawberry.field(description="When it last changed.")

    @classmethod
    def from_row(cls, row: Any, *, connected: bool) -> Reaction:
        return cls(
            user=_user(row.target_id),
            reaction=ReactionKind(row.reaction) if row.reaction else None,
            blocked=row.blocked,
            pass_until=row.pass_until,
            match_id=strawberry.ID(str(row.match_id)) if row.match_id else None,
            connected=connected,
            version=row.version,
            updated_at=row.updated_at,
        )


@strawberry.type(description="Two members who liked each other: a lasting connection.")
class ConnectedMember:
    connection_id: strawberry.ID = strawberry.field(description="Stable id of the connection.")
    user: User | None = strawberry.field(description=f"The other member{GONE_MEMBER}.")
    match_id: strawberry.ID | None = strawberry.field(
        description="The match that brought the two of you together."
    )
    connected_at: datetime = strawberry.field(description="When the second like came.")


@strawberry.type(description="A member you block: neither of you sees or reaches the other.")
class BlockedMember:
    user: User | None = strawberry.field(description=f"The member you block{GONE_MEMBER}.")
    blocked_at: datetime = strawberry.field(description="When you blocked them.")


@strawberry.type(description="A member who liked you and is waiting for your answer.")
class Like:
    user: User | None = strawberry.field(description=f"Who liked you{GONE_MEMBER}.")
    liked_at: datetime = strawberry.field(description="When they liked you.")


@strawberry.type(description="Your rating of a match's conversation: private to you.")
class ConversationRating:
    match_id: strawberry.ID = strawberry.field(description="The match whose conversation it is.")
    user: User | None = strawberry.field(
        description=f"The other member of that match{GONE_MEMBER}."
    )
    rating: int = strawberry.field(description="From 1 (poor) to 5 (great).")
    comment: str | None = strawberry.field(description="What you added, if anything.")
    rated_at: datetime = strawberry.field(description="When you last rated it.")


@strawberry.federation.type(keys=["id"], description=USER_DESCRIPTION)
class User:
    id: strawberry.ID

    @strawberry.field(
        description="The members you are connected with (you liked each other), newest "
        "first; own only."
    )
    async def connections(
        self, info: Ctx, first: First = None, after: After = None
    ) -> Connection[ConnectedMember]:
        member = info.context.require_self(self.id, what="connections")
        size = page_size(first)
        async with info.context.platform.db.read() as conn:
            rows = await service.connections_of(conn, user_id=member, first=size, after=after)
        return connection(
            rows,
            first=size,
            node=lambda row: ConnectedMember(
                connection_id=strawberry.ID(str(row.id)),
                user=_user(row.user_b if row.user_a == member else row.user_a),
                match_id=strawberry.ID(str(row.match_id)) if row.match_id else None,
                connected_at=row.connected_at,
            ),
            key=lambda row: (row.connected_at, row.id),
        )

    @strawberry.field(description="The members you block, latest first; own only.")
    async def blocked_users(
        self, info: Ctx, first: First = None, after: After = None
    ) -> Connection[BlockedMember]:
        member = info.context.require_self(self.id, what="blocked members")
        size = page_size(first)
        async with info.context.platform.db.read() as conn:
            rows = await service.blocked_by(conn, user_id=member, first=size, after=after)
        return connection(
            rows,
            first=size,
            node=lambda row: BlockedMember(user=_user(row.target_id), blocked_at=row.blocked_at),
            key=lambda row: (row.blocked_at, row.target_id),
        )

    @strawberry.field(
        description="Members who liked you and are waiting for your answer, newest first; "
        "own only, and a Premium feature (the SEE_WHO_LIKED_YOU entitlement; without it "
        "FORBIDDEN). `likedByCount` is free."
    )
    async def liked_by(
        self, info: Ctx, first: First = None, after: After = None
    ) -> Connection[Like]:
        member = info.context.require_self(self.id, what="likes")
        size = page_size(first)
        db = info.context.platform.db
        async with db.session() as session:
            entitlements = await member_state.entitlements_of(session, member)
        if Entitlement.SEE_WHO_LIKED_YOU not in entitlements:
            raise Forbidden(
                "Seeing who liked you is a Premium feature (SEE_WHO_LIKED_YOU); "
                "`likedByCount` is free.",
                entitlement=Entitlement.SEE_WHO_LIKED_YOU.value,
            )
        async with db.read() as conn:
            rows = await service.likes_of(conn, user_id=member, first=size, after=after)
        return connection(
            rows,
            first=size,
            node=lambda row: Like(user=_user(row.actor_id), liked_at=row.reacted_at),
            key=lambda row: (row.reacted_at, row.actor_id),
        )

    @strawberry.field(
        description="How many members liked you and wait for your answer; own only, free."
    )
    async def liked_by_count(self, info: Ctx) -> int:
        member = info.context.require_self(self.id, what="likes")
        async with info.context.platform.db.read() as conn:
            return await service.like_count(conn, user_id=member)

    @classmethod
    def resolve_reference(cls, id: strawberry.ID) -> User:
        return cls(id=id)


@strawberry.type
class Query:
    @strawberry.field(
        description="Your relation to a member (null if you never reacted to them); only "
        "ever your own."
    )
    async def reaction(self, info: Ctx, user_id: UserId) -> Reaction | None:
        viewer = info.context.caller_id()
        target = parse_id(user_id, field="userId")
        async with info.context.platform.db.read() as conn:
            [row] = await service.reactions_of(conn, actor_id=viewer, target_ids=[target])
        return Reaction.from_row(row, connected=row.connected) if row is not None else None


async def _react(info: Ctx, user_id: strawberry.ID, kind: Kind) -> Reaction:
    actor = info.context.caller_id()
    target = parse_id(user_id, field="userId")
    platform = info.context.platform
    window = timedelta(seconds=platform.settings.pass_exclusion_seconds)
    async with platform.db.unit_of_work() as uow:
        outcome = await service.react(
            uow, actor_id=actor, target_id=target, kind=kind, pass_window=window
        )
        await uow.commit()
    return Reaction.from_row(outcome.relation, connected=outcome.connected)


@strawberry.type
class Mutation:
    @strawberry.mutation(
        description="Likes a member you were matched with (NOT_FOUND otherwise). If they "
        "like you too, you are connected and get a lasting conversation. Withdraws your "
        "pass; FORBIDDEN while you block them. Liking again changes nothing."
    )
    async def like(self, info: Ctx, user_id: UserId) -> Reaction:
        return await _react(info, user_id, Kind.LIKE)

    @strawberry.mutation(
        name="pass",
        description="Passes on a member you were matched with (NOT_FOUND otherwise): the "
        "matcher keeps the two of you apart for a while. Withdraws your like (a connection "
        "already made stays); FORBIDDEN while you block them. Passing again within the "
        "window changes nothing.",
    )
    async def pass_(self, info: Ctx, user_id: UserId) -> Reaction:
        return await _react(info, user_id, Kind.PASS)

    @strawberry.mutation(
        description="Blocks a member: you are never matched again, neither can write to "
        "the other, `user(id)` answers NOT_FOUND both ways, and your connection ends. "
        "Clears your like or pass. Blocking again changes nothing."
    )
    async def block(
        self,
        info: Ctx,
        user_id: Annotated[strawberry.ID, strawberry.argument(description="The member.")],
    ) -> Reaction:
        return await _react(info, user_id, Kind.BLOCK)

    @strawberry.mutation(
        description="Lifts your block of a member (a connection it ended stays ended until "
        "you like each other again). Unblocking someone you do not block changes nothing."
    )
    async def unblock(
        self,
        info: Ctx,
        user_id: Annotated[strawberry.ID, strawberry.argument(description="The member.")],
    ) -> Reaction:
        return await _react(info, user_id, Kind.UNBLOCK)

    @strawberry.mutation(
        description="Rates the conversation of one of your matches (NOT_FOUND for any "
        "other match); rating again replaces it. Private: the other member never sees it."
    )
    async def rate_conversation(
        self,
        info: Ctx,
        match_id: Annotated[strawberry.ID, strawberry.argument(description="The match.")],
        rating: Annotated[int, strawberry.argument(description="From 1 (poor) to 5 (great).")],
        comment: Annotated[
            str | None,
            strawberry.argument(description=f"Up to {service.MAX_COMMENT_LENGTH} characters."),
        ] = None,
    ) -> ConversationRating:
        rater = info.context.caller_id()
        match_key = parse_id(match_id, field="matchId")
        async with info.context.platform.db.unit_of_work() as uow:
            stored = await service.rate_conversation(
                uow, rater_id=rater, match_id=match_key, rating=rating, comment=comment
            )
            await uow.commit()
        return ConversationRating(
            match_id=strawberry.ID(str(stored.match_id)),
            user=_user(stored.target_id),
            rating=stored.rating,
            comment=stored.comment,
            rated_at=stored.rated_at,
        )


schema = build_schema(query=Query, mutation=Mutation, types=[User])
