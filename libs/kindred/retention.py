"""Keeps the outbox and inbox from growing forever."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlmodel import col, delete

from kindred.db import Database
from kindred.kafka import InboxEntry
from kindred.outbox import OutboxMessage

# Published events are only kept for an operator to look at.
OUTBOX_RETENTION = timedelta(days=7)
# Longer than the broker keeps messages, so any redelivery still finds its inbox row.
INBOX_RETENTION = timedelta(days=30)


async def prune(database: Database, *, now: datetime | None = None) -> tuple[int, int]:
    """Deletes published outbox rows and inbox rows past retention; returns both counts."""
    now = now or datetime.now(UTC)
    async with database.session() as session, session.begin():
        outbox = await session.exec(
            delete(OutboxMessage)
            .where(col(OutboxMessage.published_at) < now - OUTBOX_RETENTION)
            .returning(col(OutboxMessage.id))
        )
        inbox = await session.exec(
            delete(InboxEntry)
            .where(col(InboxEntry.processed_at) < now - INBOX_RETENTION)
            .returning(col(InboxEntry.event_id))
        )
        return len(outbox.all()), len(inbox.all())
