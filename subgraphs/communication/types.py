"""The communication subgraph's GraphQL types and the DataLoaders behind their fields."""

from __future__ import annotations

import uuid
from datetime import datetime
from enum import Enum
from typing import Any

import strawberry
from strawberry.types import Info

from kindred.context import RequestContext
from kindred.errors import NotFound
from kindred.graphql import describe_values
from kindred.ids import parse_id
from kindred.pagination import After, Connection, First, connection, page_size
from kindred.shared_types import GONE_MEMBER, USER_DESCRIPTION
from subgraphs.communication import service

Ctx = Info[RequestContext, None]

# The queuing subgraph owns `Match`; composition wants both descriptions alike.
MATCH_DESCRIPTION = "A pairing of two members made by the matcher."


@strawberry.enum(description="Whether a conversation takes new messages.")
class ConversationStatus(Enum):
    OPEN = "OPEN"
    CLOSED = "CLOSED"


describe_values(
    ConversationStatus,
    OPEN="Takes new messages.",
    CLOSED="Takes no more messages (the match ended or a member left).",
)


@strawberry.enum(description="Who wrote a message: a member (TEXT) or Kindred itself (SYSTEM).")
class MessageKind(Enum):
    TEXT = "TEXT"
    SYSTEM = "SYSTEM"


describe_values(
    MessageKind,
    TEXT="Written by a member.",
    SYSTEM="Written by Kindred itself.",
)


async def load_conversation(info: Ctx, conversation_id: uuid.UUID) -> Conversation | None:
    """The conversation if the caller takes part in it; None otherwise (it may not exist)."""
    viewer = info.context.caller_id()
    row = await info.context.read_batched(
        "conversations", service.conversations_by_id, conversation_id
    )
    if row is None or viewer not in row.participant_ids:
        return None
    return Conversation.from_row(row)


async def visible_conversation(info: Ctx, id: strawberry.ID, field: str = "id") -> Conversation:
    """The conversation `id`, or `NOT_FOUND` for a caller who is not in it (existence hidden)."""
    conversation = await load_conversation(info, parse_id(id, field=field))
    if conversation is None:
        raise NotFound("No such conversation.")
    return conversation


@strawberry.federation.type(keys=["id"], description=USER_DESCRIPTION)
class User:
    id: strawberry.ID

    @strawberry.field(
        description="The member's conversations, latest activity first; own only (FORBIDDEN "
        "for anyone else's)."
    )
    async def conversations(
        self, info: Ctx, first: First = None, after: After = None
    ) -> Connection[Conversation]:
        member = info.context.require_self(self.id, what="conversations")
        size = page_size(first)
        async with info.context.platform.db.read() as conn:
            rows = await service.conversations_of(conn, user_id=member, first=size, after=after)
        return connection(
            rows,
            first=size,
            node=Conversation.from_row,
            key=lambda row: (row.last_activity_at, row.id),
        )

    @strawberry.field(
        description="How many messages the member has not read, over all their conversations; "
        "own only."
    )
    async def unread_message_count(self, info: Ctx) -> int:
        count: int = await info.context.read_batched(
            "unread_totals",
            service.unread_totals,
            info.context.require_self(self.id, what="conversations"),
        )
        return count

    @classmethod
    def resolve_reference(cls, id: strawberry.ID) -> User:
        return cls(id=id)


def _user(id_: uuid.UUID | None) -> User | None:
    return User(id=strawberry.ID(str(id_))) if id_ else None


@strawberry.type(description="One message of a conversation.")
class Message:
    id: strawberry.ID = strawberry.field(description="Stable id of the message.")
    conversation_id: strawberry.ID = strawberry.field(description="The conversation it is in.")
    sequence: int = strawberry.field(
        description="Its place in the conversation: 1 for the first message, then 2, 3…"
    )
    sender: User | None = strawberry.field(description="Who wrote it; null for SYSTEM messages.")
    kind: MessageKind = strawberry.field(description="TEXT from a member, SYSTEM from Kindred.")
    text: str = strawberry.field(description="What it says (up to 2,000 characters).")
    created_at: datetime = strawberry.field(description="When it was stored.")
    client_message_id: str | None = strawberry.field(
        description="The sender's id for the send (retries with it store nothing new); "
        "null for SYSTEM messages."
    )

    @strawberry.field(description="The conversation it is in.")
    async def conversation(self, info: Ctx) -> Conversation:
        return await visible_conversation(info, self.conversation_id)

    @classmethod
    def from_row(cls, row: Any) -> Message:
        return cls(
            id=strawberry.ID(str(row.id)),
            conversation_id=strawberry.ID(str(row.conversation_id)),
            sequence=row.seq,
            sender=_user(row.sender_id),
            kind=MessageKind(row.kind),
            text=row.text,
            created_at=row.created_at,
            client_message_id=row.client_message_id,
        )


@strawberry.type(description="How far one participant has read a conversation.")
class ReadReceipt:
    user: User | None = strawberry.field(description=f"The participant{GONE_MEMBER}.")
    last_read_message_id: strawberry.ID | None = strawberry.field(
        description="The newest message they have read; null if none yet."
    )
    last_read_at: datetime | None = strawberry.field(
        description="When they last moved their receipt forward; null if never."
    )


@strawberry.federation.type(
    keys=["id"],
    description="A chat between members, opened by a match, or by two members liking each "
    "other (a lasting conversation).",
)
class Conversation:
    id: strawberry.ID = strawberry.field(description="Stable id of the conversation.")
    participants: list[User | None] = strawberry.field(
        description="The members in it; each null if that member's account no longer exists."
    )
    match_id: strawberry.ID | None = strawberry.field(
        description="The match it was opened for; null when it did not come from a match."
    )
    connection_id: strawberry.ID | None = strawberry.field(
        description="The connection (a mutual like) it lasts for; null for a match's conversation."
    )
    status: ConversationStatus = strawberry.field(
        description="OPEN takes messages; CLOSED (say, the match was called off) refuses them."
    )
    created_at: datetime = strawberry.field(description="When it was opened.")
    last_activity_at: datetime = strawberry.field(description="When its newest message came.")

    @classmethod
    def from_row(cls, row: Any) -> Conversation:
        return cls(
            id=strawberry.ID(str(row.id)),
            participants=[User(id=strawberry.ID(str(member))) for member in row.participant_ids],
            match_id=strawberry.ID(str(row.match_id)) if row.match_id else None,
            connection_id=strawberry.ID(str(row.connection_id)) if row.connection_id else None,
            status=ConversationStatus(row.status),
            created_at=row.created_at,
            last_activity_at=row.last_activity_at,
        )

    @property
    def key(self) -> uuid.UUID:
        return uuid.UUID(self.id)

    @strawberry.field(description="Its newest message; null if it has none.")
    async def last_message(self, info: Ctx) -> Message | None:
        row = await info.context.read_batched("last_messages", service.last_messages, self.key)
        return Message.from_row(row) if row else None

    @strawberry.field(description="How many messages the viewer has not read yet.")
    async def unread_count(self, info: Ctx) -> int:
        viewer = info.context.caller_id()

        async def load(conn: Any, ids: list[uuid.UUID]) -> list[int]:
            return await service.unread_counts(conn, user_id=viewer, conversation_ids=ids)

        count: int = await info.context.read_batched(f"unread_counts:{viewer}", load, self.key)
        return count

    @strawberry.field(description="Its messages, newest first.")
    async def messages(
        self, info: Ctx, first: First = None, after: After = None
    ) -> Connection[Message]:
        size = page_size(first)
        async with info.context.platform.db.read() as conn:
            rows = await service.messages_of(
                conn, conversation_id=self.key, first=size, after=after
            )
        return connection(
            rows, first=size, node=Message.from_row, key=lambda row: (row.created_at, row.id)
        )

    @strawberry.field(description="How far each participant has read.")
    async def read_receipts(self, info: Ctx) -> list[ReadReceipt]:
        rows = await info.context.read_batched("members", service.members_of, self.key)
        return [
            ReadReceipt(
                user=User(id=strawberry.ID(str(row.user_id))),
                last_read_message_id=(
                    strawberry.ID(str(row.last_read_message_id))
                    if row.last_read_message_id
                    else None
                ),
                last_read_at=row.last_read_at,
            )
            for row in rows
        ]

    @classmethod
    async def resolve_reference(cls, info: Ctx, id: strawberry.ID) -> Conversation:
        return await visible_conversation(info, id)


@strawberry.federation.type(keys=["id"], description=MATCH_DESCRIPTION)
class Match:
    id: strawberry.ID = strawberry.field(description="Stable id of the match.")

    @strawberry.field(
        description="The conversation opened for the match; null until it is (or for a "
        "member who is not in it)."
    )
    async def conversation(self, info: Ctx) -> Conversation | None:
        viewer, match_id = info.context.caller_id(), parse_id(self.id)
        row = await info.context.read_batched(
            "match_conversations", service.conversations_by_match, match_id
        )
        if row is None or viewer not in row.participant_ids:
            return None
        return Conversation.from_row(row)

    @classmethod
    def resolve_reference(cls, id: strawberry.ID) -> Match:
        return cls(id=id)


@strawberry.type(description="A participant is typing (sent live, never stored).")
class TypingEvent:
    conversation_id: strawberry.ID = strawberry.field(description="The conversation.")
    user: User | None = strawberry.field(description=f"Who is typing{GONE_MEMBER}.")
    at: datetime = strawberry.field(description="When they said so.")
