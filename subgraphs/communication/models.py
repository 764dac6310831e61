"""The communication subgraph's tables."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import Column, Index, Uuid, text
from sqlalchemy.dialects.postgresql import ARRAY
from sqlmodel import Field, SQLModel

import kindred.columns as columns


class Conversation(SQLModel, table=True):
    """A chat between members; `last_seq` numbers its messages 1, 2, 3…

    Sends lock the row to take the next number, so a conversation's messages have one
    order. `match_id` is unique: one conversation per match; so is `connection_id`: one
    lasting conversation per connection (two members who liked each other).
    """

    __tablename__ = "conversations"

    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    match_id: uuid.UUID | None = Field(default=None, unique=True)
    connection_id: uuid.UUID | None = Field(default=None, unique=True)
    participant_ids: list[uuid.UUID] = Field(sa_column=Column(ARRAY(Uuid), nullable=False))
    status: str = "OPEN"
    last_seq: int = 0
    created_at: datetime = columns.timestamp()
    last_activity_at: datetime = columns.timestamp()
    closed_at: datetime | None = columns.timestamp(nullable=True)


class Member(SQLModel, table=True):
    """One participant of a conversation, with their read receipt (how far they read)."""

    __tablename__ = "conversation_members"
    __table_args__ = (Index("ix_conversation_members_user", "user_id"),)

    conversation_id: uuid.UUID = Field(primary_key=True)
    user_id: uuid.UUID = Field(primary_key=True)
    last_read_seq: int = 0
    last_read_message_id: uuid.UUID | None = None
    last_read_at: datetime | None = columns.timestamp(nullable=True)


class Message(SQLModel, table=True):
    """A message; SYSTEM ones have no sender. `client_message_id` makes a send retryable."""

    __tablename__ = "messages"
    __table_args__ = (
        Index("ix_messages_seq", "conversation_id", "seq", unique=True),
        Index("ix_messages_newest", "conversation_id", "created_at", "id"),
        Index(
            "ix_messages_client_id",
            "conversation_id",
            "sender_id",
            "client_message_id",
            unique=True,
            postgresql_where=text("client_message_id IS NOT NULL"),
        ),
    )

    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    conversation_id: uuid.UUID
    seq: int
    sender_id: uuid.UUID | None = None
    kind: str
    text: str
    client_message_id: str | None = None
    created_at: datetime = columns.timestamp()


class CancelledMatch(SQLModel, table=True):
    """A match the saga called off: its conversation is closed, or never opened."""

    __tablename__ = "cancelled_matches"

    match_id: uuid.UUID = Field(primary_key=True)
    reason: str | None = None
    cancelled_at: datetime = columns.timestamp()
