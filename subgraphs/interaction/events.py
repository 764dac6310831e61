"""The events the interaction subgraph publishes (what it handles is in `handlers.py`)."""

from __future__ import annotations

import uuid
from datetime import datetime

from kindred.events import Event
from kindred.topics import Topic
from subgraphs.interaction.models import Connection, Relation


def interaction_recorded(
    relation: Relation,
    *,
    kind: str,
    occurred_at: datetime,
    match_id: uuid.UUID | None = None,
    rating: int | None = None,
) -> Event:
    """The actor's relation to the target changed (`version` is the relation's, after it):
    matching keeps blocked and passed pairs apart, chat refuses blocked ones."""
    match = match_id or relation.match_id
    pass_until = relation.pass_until if kind == "PASS" else None
    return Event(
        topic=Topic.INTERACTION_RECORDED,
        aggregate_id=str(relation.actor_id),
        aggregate_version=relation.version,
        occurred_at=occurred_at,
        payload={
            "actor_id": str(relation.actor_id),
            "target_id": str(relation.target_id),
            "kind": kind,
            "version": relation.version,
            "blocked": relation.blocked,
            "pass_until": pass_until.isoformat() if pass_until else None,
            "match_id": str(match) if match else None,
            "rating": rating,
            "occurred_at": occurred_at.isoformat(),
        },
    )


def connected(connection: Connection) -> Event:
    """Two members liked each other: communication opens their lasting conversation."""
    return Event(
        topic=Topic.INTERACTION_CONNECTED,
        aggregate_id=str(connection.id),
        aggregate_version=connection.version,
        payload={
            "connection_id": str(connection.id),
            "user_ids": sorted([str(connection.user_a), str(connection.user_b)]),
            "match_id": str(connection.match_id) if connection.match_id else None,
            "connected_at": connection.connected_at.isoformat(),
        },
    )
