"""The events the queuing subgraph publishes (what it handles is in `handlers.py`)."""

from __future__ import annotations

from kindred.events import Event
from kindred.topics import Topic
from subgraphs.queuing.models import Match, QueueEntry


def match_created(match: Match) -> Event:
    """A match was made: communication opens its conversation, notification tells both.

    The saga sends it again (a new event id, the same match) when answers are late.
    """
    return Event(
        topic=Topic.QUEUE_MATCH_CREATED,
        aggregate_id=str(match.id),
        aggregate_version=1,
        payload={
            "match_id": str(match.id),
            "user_ids": [str(member) for member in match.user_ids],
            "score": match.score,
            "created_at": match.created_at.isoformat(),
        },
    )


def match_cancelled(match: Match) -> Event:
    """The saga gave up on a match: whoever acted on it undoes it."""
    return Event(
        topic=Topic.QUEUE_MATCH_CANCELLED,
        aggregate_id=str(match.id),
        aggregate_version=match.version,
        payload={
            "match_id": str(match.id),
            "user_ids": [str(member) for member in match.user_ids],
            "reason": match.cancel_reason,
        },
    )


def entry_joined(entry: QueueEntry) -> Event:
    """A member joined the queue (joining again while queued is not a join): analytics
    counts it. Keyed by the member, so one member's joins stay in order."""
    return Event(
        topic=Topic.QUEUE_ENTRY_JOINED,
        aggregate_id=str(entry.user_id),
        aggregate_version=1,
        payload={"user_id": str(entry.user_id), "joined_at": entry.joined_at.isoformat()},
    )
