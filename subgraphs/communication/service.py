"""What the communication subgraph does: open and close conversations, send and read messages."""

from __future__ import annotations

import unicodedata
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import Row, and_, func, or_, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from kindred import member_state
from kindred.db import UnitOfWork
from kindred.errors import BadUserInput, Forbidden, NotFound
from kindred.pagination import older_than
from subgraphs.communication import events
from subgraphs.communication.models import (
    CancelledMatch,
    Conversation,
    Member,
    Message,
)

MAX_TEXT_LENGTH = 2000
MAX_CLIENT_MESSAGE_ID_LENGTH = 64
MATCH_GREETING = "You matched! Say hello."
CONNECTION_GREETING = "You liked each other! This conversation stays open."
_ALLOWED_CONTROLS = {"\n", "\t"}
_TICK = timedelta(microseconds=1)


def _now() -> datetime:
    return datetime.now(UTC)


# -- input rules ----------------------------------------------------------------------


def check_text(text: str) -> None:
    """`BAD_USER_INPUT` on `text` unless it is 1 to 2,000 characters with something visible."""
    if not text.strip():
        raise BadUserInput("A message needs some text.", field="text")
    if len(text) > MAX_TEXT_LENGTH:
        raise BadUserInput(f"A message is at most {MAX_TEXT_LENGTH} characters.", field="text")
    if any(unicodedata.category(c) == "Cc" and c not in _ALLOWED_CONTROLS for c in text):
        raise BadUserInput(
            "A message may not hold control characters (newlines and tabs are fine).",
            field="text",
        )


def check_client_message_id(client_message_id: str) -> None:
    """`BAD_USER_INPUT` on `clientMessageId` unless it is 1 to 64 characters."""
    if not client_message_id or len(client_message_id) > MAX_CLIENT_MESSAGE_ID_LENGTH:
        raise BadUserInput(
            f"`clientMessageId` must be 1 to {MAX_CLIENT_MESSAGE_ID_LENGTH} characters.",
            field="clientMessageId",
        )


# -- opening and closing --------------------------------------------------------------


async def open_conversation(
    uow: UnitOfWork,
    *,
    participant_ids: Sequence[uuid.UUID],
    match_id: uuid.UUID | None = None,
    connection_id: uuid.UUID | None = None,
    greeting: str | None = None,
) -> Conversation:
    """Opens a conversation (with its SYSTEM `greeting`, if any) and publishes it, in `uow`.

    For a match or a connection that already has one, returns the existing one instead.
    """
    now = _now()
    conversation = Conversation(
        participant_ids=list(participant_ids),
        match_id=match_id,
        connection_id=connection_id,
        created_at=now,
        last_activity_at=now,
        last_seq=1 if greeting else 0,
    )
    values = conversation.model_dump()
    inserted = (
        await uow.session.exec(
            insert(Conversation)
            .values(**values)
            .on_conflict_do_nothing()
            .returning(col(Conversation.id))
        )
    ).first()
    if inserted is None:
        if connection_id is not None:
            existing = await conversation_for_connection(uow.session, connection_id=connection_id)
        else:
            existing = await conversation_for_match(uow.session, match_id=match_id)
        assert existing is not None, "a conflict is only possible on the match or connection id"
        return existing
    for member in participant_ids:
        uow.session.add(Member(conversation_id=conversation.id, user_id=member))
    if greeting:
        uow.session.add(
            Message(
                conversation_id=conversation.id, seq=1, kind="SYSTEM", text=greeting, created_at=now
            )
        )
    uow.publish(events.conversation_created(conversation))
    return conversation


async def conversation_for_match(
    session: AsyncSession, *, match_id: uuid.UUID | None
) -> Conversation | None:
    statement = select(Conversation).where(col(Conversation.match_id) == match_id)
    return (await session.exec(statement)).first()


async def conversation_for_connection(
    session: AsyncSession, *, connection_id: uuid.UUID
) -> Conversation | None:
    statement = select(Conversation).where(col(Conversation.connection_id) == connection_id)
    return (await session.exec(statement)).first()


async def open_for_connection(
    uow: UnitOfWork, *, connection_id: uuid.UUID, user_ids: Sequence[uuid.UUID]
) -> Conversation:
    """The connection's lasting conversation, opened with its greeting the first time.

    A connection made again (after a block and new likes) keeps its conversation; asked
    again, nothing new is stored or published.
    """
    existing = await conversation_for_connection(uow.session, connection_id=connection_id)
    if existing is not None:
        return existing
    return await open_conversation(
        uow, participant_ids=user_ids, connection_id=connection_id, greeting=CONNECTION_GREETING
    )


async def open_for_match(
    uow: UnitOfWork, *, match_id: uuid.UUID, user_ids: Sequence[uuid.UUID]
) -> Conversation | None:
    """The match's conversation, opened with its greeting the first time; None if cancelled.

    Asked again (the saga retries), it answers again: `conversation.created` is re-sent.
    """
    if await uow.session.get(CancelledMatch, match_id) is not None:
        return None
    existing = await conversation_for_match(uow.session, match_id=match_id)
    if existing is not None:
        uow.publish(events.conversation_created(existing))
        return existing
    return await open_conversation(
        uow, participant_ids=user_ids, match_id=match_id, greeting=MATCH_GREETING
    )


async def cancel_match(session: AsyncSession, *, match_id: uuid.UUID, reason: str | None) -> None:
    """Closes the match's conversation, and keeps a later `queue.match.created` from opening one."""
    now = _now()
    await session.exec(
        insert(CancelledMatch)
        .values(match_id=match_id, reason=reason, cancelled_at=now)
        .on_conflict_do_nothing()
    )
    await session.exec(
        update(Conversation)
        .where(col(Conversation.match_id) == match_id, col(Conversation.status) == "OPEN")
        .values(status="CLOSED", closed_at=now)
    )


# -- sending --------------------------------------------------------------------------


@dataclass(frozen=True)
class Sent:
    message: Message
    new: bool


async def _locked(session: AsyncSession, conversation_id: uuid.UUID) -> Conversation | None:
    statement = select(Conversation).where(col(Conversation.id) == conversation_id)
    return (await session.exec(statement.with_for_update())).first()


async def _earlier_send(
    session: AsyncSession, *, conversation_id: uuid.UUID, sender_id: uuid.UUID, client_id: str
) -> Message | None:
    statement = select(Message).where(
        col(Message.conversation_id) == conversation_id,
        col(Message.sender_id) == sender_id,
        col(Message.client_message_id) == client_id,
    )
    return (await session.exec(statement)).first()


async def _may_not_send(
    session: AsyncSession, *, sender_id: uuid.UUID, others: Sequence[uuid.UUID], now: datetime
) -> str | None:
    """Why the sender may not write to `others` now (suspended, blocked), or None."""
    if await member_state.is_suspended(session, sender_id, now=now):
        return "Your account is suspended from sending messages."
    if await member_state.blocked_between(session, sender_id, others):
        return "You cannot write to this member."
    return None


async def send_message(
    uow: UnitOfWork,
    *,
    conversation_id: uuid.UUID,
    sender_id: uuid.UUID,
    text: str,
    client_message_id: str,
    present: set[str] | None,
) -> Sent:
    """Stores a TEXT message and publishes `message.sent`, in `uow`; a retried send is `new=False`.

    `present` are the members watching the conversation live (None: unknown, so all
    recipients count as offline). Not a participant: `NOT_FOUND`; closed, blocked or
    suspended: `FORBIDDEN`.
    """
    session = uow.session
    # The row lock numbers this conversation's messages one at a time, and makes a
    # concurrent retry of the same send wait and then find the first one.
    conversation = await _locked(session, conversation_id)
    if conversation is None or sender_id not in conversation.participant_ids:
        raise NotFound("No such conversation.")
    earlier = await _earlier_send(
        session, conversation_id=conversation_id, sender_id=sender_id, client_id=client_message_id
    )
    if earlier is not None:
        return Sent(earlier, new=False)
    if conversation.status != "OPEN":
        raise Forbidden("This conversation is closed.")
    now = _now()
    others = [member for member in conversation.participant_ids if member != sender_id]
    refusal = await _may_not_send(session, sender_id=sender_id, others=others, now=now)
    if refusal:
        raise Forbidden(refusal)
    # Strictly increasing times keep (created_at, id) cursors in the order of `seq`.
    last = conversation.last_activity_at
    created_at = now if now > last else last + _TICK
    message = Message(
        conversation_id=conversation_id,
        seq=conversation.last_seq + 1,
        sender_id=sender_id,
        kind="TEXT",
        text=text,
        client_message_id=client_message_id,
        created_at=created_at,
    )
    conversation.last_seq = message.seq
    conversation.last_activity_at = created_at
    session.add(conversation)
    session.add(message)
    # Writing is reading: the sender's receipt moves to their own message.
    await session.exec(
        update(Member)
        .where(col(Member.conversation_id) == conversation_id, col(Member.user_id) == sender_id)
        .values(last_read_seq=message.seq, last_read_message_id=message.id, last_read_at=now)
    )
    recipients = {str(member) for member in others}
    offline = recipients - (present or set())
    uow.publish(
        events.message_sent(message, recipient_ids=recipients, offline_recipient_ids=offline)
    )
    return Sent(message, new=True)


# -- read receipts --------------------------------------------------------------------


async def mark_read(
    session: AsyncSession,
    *,
    conversation_id: uuid.UUID,
    user_id: uuid.UUID,
    message_id: uuid.UUID | None,
) -> None:
    """Moves the member's receipt to `message_id` (default: the latest), never back."""
    member = await session.get(Member, (conversation_id, user_id))
    if member is None:
        raise NotFound("No such conversation.")
    statement = select(Message).where(col(Message.conversation_id) == conversation_id)
    if message_id is None:
        statement = statement.order_by(col(Message.seq).desc()).limit(1)
    else:
        statement = statement.where(col(Message.id) == message_id)
    message = (await session.exec(statement)).first()
    if message is None:
        if message_id is None:
            return
        raise BadUserInput("No such message in this conversation.", field="messageId")
    await session.exec(
        update(Member)
        .where(
            col(Member.conversation_id) == conversation_id,
            col(Member.user_id) == user_id,
            col(Member.last_read_seq) < message.seq,
        )
        .values(last_read_seq=message.seq, last_read_message_id=message.id, last_read_at=_now())
    )


# -- reads (one query per batch) ------------------------------------------------------


def _in_order(rows: Any, ids: Sequence[Any], key: str) -> list[Any]:
    found = {getattr(row, key): row for row in rows}
    return [found.get(id_) for id_ in ids]


async def conversations_by_id(
    connection: AsyncConnection, ids: Sequence[uuid.UUID]
) -> list[Row[Any] | None]:
    """These conversations, in order (None for an unknown id)."""
    rows = await connection.execute(select(Conversation).where(col(Conversation.id).in_(ids)))
    return _in_order(rows, ids, "id")


async def conversations_by_match(
    connection: AsyncConnection, match_ids: Sequence[uuid.UUID]
) -> list[Row[Any] | None]:
    """Each match's conversation, in order (None where there is none)."""
    rows = await connection.execute(
        select(Conversation).where(col(Conversation.match_id).in_(match_ids))
    )
    return _in_order(rows, match_ids, "match_id")


async def last_messages(
    connection: AsyncConnection, conversation_ids: Sequence[uuid.UUID]
) -> list[Row[Any] | None]:
    """Each conversation's newest message, in order."""
    rows = await connection.execute(
        select(Message)
        .join(
            Conversation,
            and_(
                col(Conversation.id) == col(Message.conversation_id),
                col(Conversation.last_seq) == col(Message.seq),
            ),
        )
        .where(col(Conversation.id).in_(conversation_ids))
    )
    return _in_order(rows, conversation_ids, "conversation_id")


def _unread() -> Any:
    """Messages past the member's receipt that someone else (or the system) wrote."""
    return and_(
        col(Message.conversation_id) == col(Member.conversation_id),
        col(Message.seq) > col(Member.last_read_seq),
        or_(col(Message.sender_id).is_(None), col(Message.sender_id) != col(Member.user_id)),
    )


async def unread_counts(
    connection: AsyncConnection, *, user_id: uuid.UUID, conversation_ids: Sequence[uuid.UUID]
) -> list[int]:
    """How many messages of each conversation the member has not read, in order."""
    rows = await connection.execute(
        select(col(Member.conversation_id), func.count(col(Message.id)).label("unread"))
        .join_from(Member, Message, _unread())
        .where(col(Member.user_id) == user_id, col(Member.conversation_id).in_(conversation_ids))
        .group_by(col(Member.conversation_id))
    )
    found = {row.conversation_id: row.unread for row in rows}
    return [int(found.get(id_, 0)) for id_ in conversation_ids]


async def unread_totals(connection: AsyncConnection, user_ids: Sequence[uuid.UUID]) -> list[int]:
    """How many messages each member has not read, over all their conversations."""
    rows = await connection.execute(
        select(col(Member.user_id), func.count(col(Message.id)).label("unread"))
        .join_from(Member, Message, _unread())
        .where(col(Member.user_id).in_(user_ids))
        .group_by(col(Member.user_id))
    )
    found = {row.user_id: row.unread for row in rows}
    return [int(found.get(id_, 0)) for id_ in user_ids]


async def members_of(
    connection: AsyncConnection, conversation_ids: Sequence[uuid.UUID]
) -> list[list[Row[Any]]]:
    """Each conversation's members with their read receipts, in order."""
    rows = await connection.execute(
        select(Member)
        .where(col(Member.conversation_id).in_(conversation_ids))
        .order_by(col(Member.user_id))
    )
    grouped: dict[uuid.UUID, list[Row[Any]]] = {id_: [] for id_ in conversation_ids}
    for row in rows:
        grouped[row.conversation_id].append(row)
    return [grouped[id_] for id_ in conversation_ids]


async def messages_of(
    connection: AsyncConnection, *, conversation_id: uuid.UUID, first: int, after: str | None
) -> list[Row[Any]]:
    """Up to `first + 1` of the conversation's messages, newest first, after the cursor."""
    statement = (
        select(Message)
        .where(col(Message.conversation_id) == conversation_id)
        .order_by(col(Message.created_at).desc(), col(Message.id).desc())
        .limit(first + 1)
    )
    cursor = older_than(col(Message.created_at), col(Message.id), after, id_type=uuid.UUID)
    if cursor is not None:
        statement = statement.where(cursor)
    return list((await connection.execute(statement)).all())


async def conversations_of(
    connection: AsyncConnection, *, user_id: uuid.UUID, first: int, after: str | None
) -> list[Row[Any]]:
    """Up to `first + 1` of the member's conversations, latest activity first, after the cursor."""
    statement = (
        select(Conversation)
        .join(Member, col(Member.conversation_id) == col(Conversation.id))
        .where(col(Member.user_id) == user_id)
        .order_by(col(Conversation.last_activity_at).desc(), col(Conversation.id).desc())
        .limit(first + 1)
    )
    cursor = older_than(
        col(Conversation.last_activity_at), col(Conversation.id), after, id_type=uuid.UUID
    )
    if cursor is not None:
        statement = statement.where(cursor)
    return list((await connection.execute(statement)).all())
