"""The notification subgraph's GraphQL schema: `User.notifications`, unread counts, marking read."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Any

import strawberry
from strawberry.scalars import JSON
from strawberry.types import Info

from kindred.context import RequestContext
from kindred.errors import BadUserInput, NotFound
from kindred.graphql import build_schema, describe_values
from kindred.ids import parse_id
from kindred.pagination import After, Connection, First, connection, page_size
from kindred.shared_types import USER_DESCRIPTION
from subgraphs.notification import service

Ctx = Info[RequestContext, None]

MAX_MARK_IDS = 100

NotificationType = strawberry.enum(
    service.NotificationType,
    description="What a notification is about: MATCH_CREATED (a new match), MATCH_CANCELLED "
    "(a match could not be set up) or MESSAGE_RECEIVED (a message while you were away).",
)
describe_values(
    NotificationType,
    MATCH_CREATED="The matcher paired you with someone.",
    MATCH_CANCELLED="A match could not be set up; you are back in the queue.",
    MESSAGE_RECEIVED="A message arrived while you were away.",
)


@strawberry.federation.type(keys=["id"], description="Something a member was told.")
class Notification:
    id: strawberry.ID = strawberry.field(description="Stable id of the notification.")
    type: NotificationType = strawberry.field(description="What it is about.")  # type: ignore[valid-type]
    title: str = strawberry.field(description="Its headline, as pushed to the member's devices.")
    body: str = strawberry.field(description="Its text, as pushed.")
    data: dict[str, Any] = strawberry.field(
        graphql_type=JSON,
        description="Ids to act on, by type: `matchId` and `otherUserId` for matches, "
        "`conversationId`, `messageId` and `senderId` for messages.",
    )
    read: bool = strawberry.field(description="True once the member marked it read.")
    created_at: datetime = strawberry.field(description="When it was created.")

    @classmethod
    def from_row(cls, row: Any) -> Notification:
        return cls(
            id=strawberry.ID(str(row.id)),
            type=service.NotificationType(row.type),
            title=row.title,
            body=row.body,
            data=dict(row.data or {}),
            read=row.read_at is not None,
            created_at=row.created_at,
        )

    @classmethod
    async def resolve_reference(cls, info: Ctx, id: strawberry.ID) -> Notification:
        return await visible_notification(info, id)


async def visible_notification(info: Ctx, id: strawberry.ID) -> Notification:
    """The caller's notification; NOT_FOUND for anyone else's, so ids reveal nothing."""
    caller = info.context.require_identity().user_id
    db = info.context.platform.db

    async def load(ids: list[uuid.UUID]) -> list[Any]:
        async with db.read() as conn:
            return await service.notifications_by_id(conn, ids)

    row = await info.context.loader("notifications", load).load(parse_id(id))
    if row is None or str(row.user_id) != caller:
        raise NotFound("No such notification.", id=str(id))
    return Notification.from_row(row)


@strawberry.federation.type(keys=["id"], description=USER_DESCRIPTION)
class User:
    id: strawberry.ID

    @strawberry.field(description="The member's notifications, newest first; own only.")
    async def notifications(
        self,
        info: Ctx,
        first: First = None,
        after: After = None,
        unread_only: Annotated[
            bool, strawberry.argument(description="Only those not yet marked read.")
        ] = False,
    ) -> Connection[Notification]:
        member = info.context.require_self(self.id, what="notifications")
        size = page_size(first)
        async with info.context.platform.db.read() as conn:
            rows = await service.notifications_of(
                conn, user_id=member, first=size, after=after, unread_only=unread_only
            )
        return connection(
            rows,
            first=size,
            node=Notification.from_row,
            key=lambda row: (row.created_at, row.id),
        )

    @strawberry.field(description="How many of the member's notifications are unread; own only.")
    async def unread_notification_count(self, info: Ctx) -> int:
        member = info.context.require_self(self.id, what="notifications")
        db = info.context.platform.db

        async def load(ids: list[uuid.UUID]) -> list[int]:
            async with db.read() as conn:
                return await service.unread_counts(conn, ids)

        return await info.context.loader("unread_counts", load).load(member)

    @classmethod
    def resolve_reference(cls, id: strawberry.ID) -> User:
        return cls(id=id)


@strawberry.type
class Query:
    @strawberry.field(description="One of your notifications; NOT_FOUND for any other id.")
    async def notification(
        self,
        info: Ctx,
        id: Annotated[strawberry.ID, strawberry.argument(description="The notification.")],
    ) -> Notification:
        return await visible_notification(info, id)


def _ids_to_mark(ids: list[strawberry.ID] | None, all: bool) -> list[uuid.UUID] | None:
    """The ids to mark, or None for all; BAD_USER_INPUT unless exactly one way was chosen."""
    if all:
        if ids:
            raise BadUserInput("Pass either `ids` or `all: true`, not both.", field="ids")
        return None
    if ids is None:
        raise BadUserInput("Pass the `ids` to mark read, or `all: true`.", field="ids")
    if len(ids) > MAX_MARK_IDS:
        raise BadUserInput(f"At most {MAX_MARK_IDS} ids at a time.", field="ids")
    return [parse_id(value, field="ids") for value in ids]


@strawberry.type
class Mutation:
    @strawberry.mutation(
        description="Marks your notifications read: these `ids`, or every one with `all: true`. "
        "Answers how many changed; ids that are not yours, or already read, change nothing."
    )
    async def mark_notifications_read(
        self,
        info: Ctx,
        ids: Annotated[
            list[strawberry.ID] | None,
            strawberry.argument(description=f"Up to {MAX_MARK_IDS} notification ids."),
        ] = None,
        all: Annotated[
            bool, strawberry.argument(description="Mark every unread notification read.")
        ] = False,
    ) -> int:
        member = info.context.caller_id()
        chosen = _ids_to_mark(ids, all)
        async with info.context.platform.db.session() as session, session.begin():
            return await service.mark_read(session, user_id=member, ids=chosen)


schema = build_schema(query=Query, mutation=Mutation, types=[User, Notification])
