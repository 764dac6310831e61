"""Old published outbox rows and old inbox rows are pruned; everything else stays."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

from sqlmodel import select

from kindred.db import Database
from kindred.kafka import InboxEntry
from kindred.outbox import OutboxMessage
from kindred.retention import prune


def _outbox(created: datetime, published: datetime | None) -> OutboxMessage:
    return OutboxMessage(
        event_id=uuid.uuid4(),
        topic="t",
        key="k",
        value=b"{}",
        headers={},
        created_at=created,
        published_at=published,
    )


async def test_pruning_keeps_what_is_recent_or_unpublished(database: Database) -> None:
    now = datetime.now(UTC)
    old, recent = now - timedelta(days=40), now - timedelta(days=1)
    keep_outbox = [_outbox(recent, recent), _outbox(old, None)]
    drop_outbox = [_outbox(old, old)]
    keep_inbox = [InboxEntry(consumer="c", event_id=uuid.uuid4(), topic="t", processed_at=recent)]
    drop_inbox = [InboxEntry(consumer="c", event_id=uuid.uuid4(), topic="t", processed_at=old)]
    async with database.session() as session, session.begin():
        session.add_all([*keep_outbox, *drop_outbox, *keep_inbox, *drop_inbox])

    assert await prune(database, now=now) == (1, 1)

    async with database.session() as session:
        outbox_ids = set((await session.exec(select(OutboxMessage.id))).all())
        inbox_ids = set((await session.exec(select(InboxEntry.event_id))).all())
    assert outbox_ids == {row.id for row in keep_outbox}
    assert inbox_ids == {row.event_id for row in keep_inbox}
    assert await prune(database, now=now) == (0, 0)
