"""The transactional outbox: event rows written in the same transaction as the change.

The relay (`kindred.relay`) publishes them; this module knows nothing of Kafka.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Column, Index, LargeBinary, text
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


# Columns as arrays: one statement however many events a unit of work raised (a matcher
# tick raises tens of thousands). `unnest` keeps their order, so ids rise with it and the
# relay, which publishes by id, keeps it too.
_INSERT = text(
    """
    INSERT INTO outbox (event_id, topic, key, value, headers, created_at, attempts)
    SELECT event_id, topic, key, value, CAST(headers AS jsonb), created_at, 0
    FROM unnest(CAST(:event_ids AS uuid[]), CAST(:topics AS text[]), CAST(:keys AS text[]),
                CAST(:values AS bytea[]), CAST(:headers AS text[]),
                CAST(:created_at AS timestamptz[]))
         WITH ORDINALITY AS t(event_id, topic, key, value, headers, created_at, n)
    ORDER BY n
    """
)


async def write_to_outbox(
    session: AsyncSession, events: Sequence[tuple[Event, dict[str, str]]]
) -> None:
    """Adds `events`, each with the trace context it was raised in, to the transaction."""
    connection = await session.connection()
    await connection.execute(
        _INSERT,
        {
            "event_ids": [event.event_id for event, _ in events],
            "topics": [str(event.topic) for event, _ in events],
            "keys": [event.key for event, _ in events],
            "values": [event.to_json() for event, _ in events],
            "headers": [json.dumps(headers) for _, headers in events],
            "created_at": [event.occurred_at for event, _ in events],
        },
    )
