"""The communication subgraph's GraphQL schema: conversations, sending, reading, live updates."""

from __future__ import annotations

import uuid
from collections.abc import AsyncGenerator, Callable
from datetime import UTC, datetime
from typing import Annotated

import strawberry
from redis.exceptions import RedisError

from kindred.errors import Unavailable
from kindred.graphql import build_schema
from kindred.ids import parse_id
from kindred.realtime import Feed
from subgraphs.communication import live, service
from subgraphs.communication.types import (
    Conversation,
    Ctx,
    Match,
    Message,
    TypingEvent,
    User,
    visible_conversation,
)

ConversationId = Annotated[
    strawberry.ID, strawberry.argument(description="The conversation (one you take part in).")
]


@strawberry.type
class Query:
    @strawberry.field(
        description="A conversation you take part in; NOT_FOUND for any other id (whether or "
        "not it exists)."
    )
    async def conversation(self, info: Ctx, id: ConversationId) -> Conversation:
        return await visible_conversation(info, id)


@strawberry.type
class Mutation:
    @strawberry.mutation(
        description="Sends a message. Retrying with the same `clientMessageId` returns the "
        "stored message and stores nothing new. Text: 1 to 2,000 characters, not only "
        "whitespace, no control characters but newline and tab. A CLOSED conversation, a "
        "block between the members or a suspension is FORBIDDEN."
    )
    async def send_message(
        self,
        info: Ctx,
        conversation_id: ConversationId,
        text: Annotated[str, strawberry.argument(description="What to say.")],
        client_message_id: Annotated[
            str,
            strawberry.argument(
                description="Your id for this send (up to 64 characters), reused on a retry."
            ),
        ],
    ) -> Message:
        sender = info.context.caller_id()
        service.check_text(text)
        service.check_client_message_id(client_message_id)
        conversation_key = parse_id(conversation_id, field="conversationId")
        realtime = info.context.require_realtime()
        # Read before the row lock: who watches live decides who gets a push instead.
        present = await realtime.members_present(live.watchers(conversation_key))
        async with info.context.platform.db.unit_of_work() as uow:
            sent = await service.send_message(
                uow,
                conversation_id=conversation_key,
                sender_id=sender,
                text=text,
                client_message_id=client_message_id,
                present=present,
            )
            await uow.commit()
        if sent.new:  # committed first, delivered second
            await realtime.publish(
                live.messages_channel(conversation_key), live.message_to_wire(sent.message)
            )
        return Message.from_row(sent.message)

    @strawberry.mutation(
        description="Moves your read receipt forward to `messageId` (default: the newest "
        "message); never back. Unread counts follow."
    )
    async def mark_conversation_read(
        self,
        info: Ctx,
        conversation_id: ConversationId,
        message_id: Annotated[
            strawberry.ID | None,
            strawberry.argument(description="The newest message you have read."),
        ] = None,
    ) -> Conversation:
        viewer = info.context.caller_id()
        conversation_key = parse_id(conversation_id, field="conversationId")
        message_key = parse_id(message_id, field="messageId") if message_id else None
        async with info.context.platform.db.session() as session, session.begin():
            await service.mark_read(
                session, conversation_id=conversation_key, user_id=viewer, message_id=message_key
            )
        return await visible_conversation(info, conversation_id, field="conversationId")

    @strawberry.mutation(
        description="Tells the other participants you are typing (live only, not stored); "
        "false if it could not be sent."
    )
    async def set_typing(self, info: Ctx, conversation_id: ConversationId) -> bool:
        viewer = info.context.caller_id()
        conversation = await visible_conversation(info, conversation_id, field="conversationId")
        return await info.context.require_realtime().publish(
            live.typing_channel(conversation.key),
            {"user_id": str(viewer), "at": datetime.now(UTC).isoformat()},
        )


async def _watch(
    info: Ctx, conversation_id: strawberry.ID, channel: Callable[[uuid.UUID], str]
) -> tuple[uuid.UUID, Feed]:
    """The conversation's live feed if the caller may watch it (else `NOT_FOUND`)."""
    conversation = await visible_conversation(info, conversation_id, field="conversationId")
    try:
        feed = await info.context.require_realtime().subscribe(channel(conversation.key))
    except (RedisError, OSError) as error:
        raise Unavailable("Live updates are unavailable; try again shortly.") from error
    return conversation.key, feed


# Refusals are raised inside the generators, so they travel as a result with errors (which
# the gateway passes on, codes and all) rather than as a protocol-level `error` message.
@strawberry.type
class Subscription:
    @strawberry.subscription(
        description="Each new message of the conversation, as soon as it is stored. While "
        "this is open you count as present: messages to you send no push notification."
    )
    async def message_received(
        self, info: Ctx, conversation_id: ConversationId
    ) -> AsyncGenerator[Message, None]:
        viewer = str(info.context.caller_id())
        key, feed = await _watch(info, conversation_id, live.messages_channel)
        try:
            async with info.context.require_realtime().present(live.watchers(key), viewer):
                async for data in feed:
                    yield Message.from_row(live.message_from_wire(data))
        finally:
            await feed.close()

    @strawberry.subscription(description="The other participants' typing, as it happens.")
    async def typing(
        self, info: Ctx, conversation_id: ConversationId
    ) -> AsyncGenerator[TypingEvent, None]:
        viewer = str(info.context.caller_id())
        key, feed = await _watch(info, conversation_id, live.typing_channel)
        try:
            async for data in feed:
                if data["user_id"] != viewer:  # your own typing is no news to you
                    yield TypingEvent(
                        conversation_id=strawberry.ID(str(key)),
                        user=User(id=strawberry.ID(data["user_id"])),
                        at=datetime.fromisoformat(data["at"]),
                    )
        finally:
            await feed.close()


schema = build_schema(
    query=Query,
    mutation=Mutation,
    subscription=Subscription,
    types=[User, Match, Conversation],
)
