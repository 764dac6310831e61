"""The transactional outbox: event rows written in the same transaction as the change.

The relay (`kindred.relay`) publishes them; this module knows nothing of Kafka.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Column, Index, LargeBinary, insert, text
from sqlalchemy.dialects.postgresql import JSONB
from sqlmodel import Field, SQLModel
from sqlmodel.ext.asyncio.session import AsyncSession

import kindred.columns as columns
from kindred.events import Event

# PostgreSQL NOTIFY channel: a commit that wrote outbox rows wakes the relay.
OUTBOX_CHANNEL = "kindred_outbox"


class OutboxMessage(SQLModel, table=True):
    """An event waiting to be published (published_at is null) or already sent."""

    __tablename__ = "outbox"
    __table_args__ = (
        Index(
            "ix_outbox_pending",
            "id",
            postgresql_where=text("published_at IS NULL AND failed_at IS NULL"),
        ),
    )

    id: int | None = Field(default=None, primary_key=True)
    event_id: uuid.UUID = Field(unique=True)
    topic: str
    key: str
    value: bytes = Field(sa_column=Column(LargeBinary, nullable=False))
    headers: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSONB, nullable=False))
    created_at: datetime = columns.timestamp()
    published_at: datetime | None = columns.timestamp(nullable=True)
    # Set when the broker refuses the event for good; kept (with last_error) for an operator.
    failed_at: datetime | None = columns.timestamp(nullable=True)
    attempts: int = 0
    last_error: str | None = None


async def write_to_outbox(
    session: AsyncSession, events: Sequence[tuple[Event, dict[str, str]]]
) -> None:
    """Adds `events`, each with the trace context it was raised in, to the transaction.

    One batched insert in the given order (ids rise with it, and the relay publishes
    by id), however many events a unit of work raised.
    """
    rows = [
        {
            "event_id": event.event_id,
            "topic": event.topic,
            "key": event.key,
            "value": event.to_json(),
            "headers": trace_headers,
            "created_at": event.occurred_at,
            "attempts": 0,
        }
        for event, trace_headers in events
    ]
    await (await session.connection()).execute(insert(OutboxMessage), rows)
