"""What the history subgraph does: keeps each member's timeline, made only from events, and
reads it back a page at a time.

An entry belongs to one member and comes from one event; an event about two members
(a match, a conversation, a connection) makes one entry for each. Nothing here asks
another subgraph anything: what an entry shows is what its event said.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import Row, select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlmodel import col
from sqlmodel.ext.asyncio.session import AsyncSession

from kindred.errors import BadUserInput
from kindred.events import Event
from kindred.pagination import older_than
from subgraphs.history.models import HistoryEntry

# Entry ids are derived, so a timeline rebuilt from the topics has the same ids and cursors.
_ENTRY_IDS = uuid.UUID("6f1d3c52-8a0e-4b7e-9d55-2c4a1f0b7e13")


class Kind(StrEnum):
    """What a timeline entry records."""

    MATCHED = "MATCHED"
    MATCH_CANCELLED = "MATCH_CANCELLED"
    CONVERSATION_STARTED = "CONVERSATION_STARTED"
    CONNECTED = "CONNECTED"
    LIKED = "LIKED"
    PASSED = "PASSED"
    BLOCKED = "BLOCKED"
    UNBLOCKED = "UNBLOCKED"
    RATED = "RATED"
    MODERATION_ACTION = "MODERATION_ACTION"
    SUSPENDED = "SUSPENDED"
    BANNED = "BANNED"
    REINSTATED = "REINSTATED"
    APPEAL_DECIDED = "APPEAL_DECIDED"
    SUBSCRIPTION_CHANGED = "SUBSCRIPTION_CHANGED"


@dataclass(frozen=True)
class NewEntry:
    """An entry an event makes for one member. `subject` names the fact (say the match id):
    one entry per member, kind and subject, whichever event brought it first."""

    member_id: uuid.UUID
    kind: Kind
    subject: str
    occurred_at: datetime
    other_member_id: uuid.UUID | None = None
    details: Mapping[str, Any] = field(default_factory=dict)


def entry_id(member_id: uuid.UUID, source_event_id: uuid.UUID) -> uuid.UUID:
    """The stable id of the entry `source_event_id` made for `member_id`."""
    return uuid.uuid5(_ENTRY_IDS, f"{member_id}:{source_event_id}")


async def record(session: AsyncSession, *, event: Event, entries: Sequence[NewEntry]) -> int:
    """Adds the entries `event` makes, skipping any the member already has (the same event
    again, or the same fact from another event); how many were new."""
    if not entries:
        return 0
    now = datetime.now(UTC)
    rows = [
        {
            "member_id": entry.member_id,
            "source_event_id": event.event_id,
            "source_topic": event.topic,
            "kind": entry.kind.value,
            "subject": entry.subject,
            "occurred_at": entry.occurred_at,
            "other_member_id": entry.other_member_id,
            "details": dict(entry.details),
            "recorded_at": now,
        }
        for entry in entries
    ]
    result = await session.exec(
        insert(HistoryEntry)
        .values(rows)
        .on_conflict_do_nothing()
        .returning(col(HistoryEntry.member_id))
    )
    return len(result.all())


def check_window(since: datetime | None, until: datetime | None) -> None:
    """`BAD_USER_INPUT` unless each bound has a time zone and `since` comes before `until`."""
    for name, value in (("since", since), ("until", until)):
        if value is not None and value.tzinfo is None:
            raise BadUserInput(f"`{name}` needs a time zone offset.", field=name)
    if since is not None and until is not None and since >= until:
        raise BadUserInput("`since` must be before `until`.", field="since")


async def timeline_of(
    connection: AsyncConnection,
    *,
    member_id: uuid.UUID,
    first: int,
    after: str | None,
    kinds: Sequence[Kind] | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
) -> list[Row[Any]]:
    """Up to `first + 1` of the member's entries, newest first, after the cursor, of the
    given kinds (all if None) that happened at or after `since` and before `until`."""
    statement = (
        select(HistoryEntry)
        .where(col(HistoryEntry.member_id) == member_id)
        .order_by(col(HistoryEntry.occurred_at).desc(), col(HistoryEntry.source_event_id).desc())
        .limit(first + 1)
    )
    if kinds is not None:
        statement = statement.where(col(HistoryEntry.kind).in_([kind.value for kind in kinds]))
    if since is not None:
        statement = statement.where(col(HistoryEntry.occurred_at) >= since)
    if until is not None:
        statement = statement.where(col(HistoryEntry.occurred_at) < until)
    cursor = older_than(
        col(HistoryEntry.occurred_at), col(HistoryEntry.source_event_id), after, id_type=uuid.UUID
    )
    if cursor is not None:
        statement = statement.where(cursor)
    return list((await connection.execute(statement)).all())


async def has_entries(connection: AsyncConnection) -> bool:
    """Whether the database holds any entry (the rebuild refuses to write into one that does)."""
    statement = select(col(HistoryEntry.member_id)).limit(1)
    return (await connection.execute(statement)).first() is not None
