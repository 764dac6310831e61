"""The history subgraph's one table: the timeline entries.

It lives on its own SQLModel registry: other subgraphs' models are imported into one
process by the tests.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import Column, Index
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import registry
from sqlmodel import Field, SQLModel

import kindred.columns as columns


class HistoryTable(SQLModel, registry=registry()):
    """Base of this subgraph's tables: a metadata of their own."""


class HistoryEntry(HistoryTable, table=True):
    """One thing that happened to a member, made from one event.

    The key is (member, source event): a redelivered or replayed event makes no second
    entry. `subject` names the fact itself (the match, the conversation, the relation at a
    version), unique per member and kind, so an event a producer sends again under a new id
    (the match saga asks twice) is one entry too.
    """

    __tablename__ = "history_entries"
    __table_args__ = (
        Index("ix_history_entries_subject", "member_id", "kind", "subject", unique=True),
        Index("ix_history_entries_timeline", "member_id", "occurred_at", "source_event_id"),
    )

    member_id: uuid.UUID = Field(primary_key=True)
    source_event_id: uuid.UUID = Field(primary_key=True)
    source_topic: str
    kind: str
    subject: str
    occurred_at: datetime = columns.timestamp()
    other_member_id: uuid.UUID | None = None
    details: dict[str, Any] = Field(
        default_factory=dict, sa_column=Column(JSONB, nullable=False, server_default="{}")
    )
    recorded_at: datetime = columns.timestamp()
