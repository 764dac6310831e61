"""The interaction subgraph's tables.

They live on their own SQLModel registry: other subgraphs' models (with tables of the
same names, such as `entitlements`) are imported into one process by the tests.
"""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import CheckConstraint, Index, text
from sqlalchemy.orm import registry
from sqlmodel import Field, SQLModel

import kindred.columns as columns


class InteractionTable(SQLModel, registry=registry()):
    """Base of this subgraph's tables: a metadata of their own."""


class MatchRecord(InteractionTable, table=True):
    """The read model of matches (fed by `queue.match.created`): reactions and ratings are
    only between members who were matched at least once. `user_a` < `user_b`."""

    __tablename__ = "matches"
    __table_args__ = (Index("ix_matches_pair", "user_a", "user_b", "matched_at"),)

    match_id: uuid.UUID = Field(primary_key=True)
    user_a: uuid.UUID
    user_b: uuid.UUID
    matched_at: datetime = columns.timestamp()


class Relation(InteractionTable, table=True):
    """What `actor_id` decided about `target_id`: their standing reaction (LIKE, PASS or
    none), whether they block them, and until when a pass keeps the two apart.

    `version` goes up by one on every change (the `interaction.recorded` events carry it);
    a reaction takes row locks on both directions of the pair, so two members reacting to
    each other at once are applied one after the other.
    """

    __tablename__ = "relations"
    __table_args__ = (
        Index(
            "ix_relations_liked_by",
            "target_id",
            "reacted_at",
            "actor_id",
            postgresql_where=text("reaction = 'LIKE'"),
        ),
        Index("ix_relations_blocked", "actor_id", "blocked_at", postgresql_where=text("blocked")),
    )

    actor_id: uuid.UUID = Field(primary_key=True)
    target_id: uuid.UUID = Field(primary_key=True)
    reaction: str | None = None
    reacted_at: datetime | None = columns.timestamp(nullable=True)
    pass_until: datetime | None = columns.timestamp(nullable=True)
    blocked: bool = False
    blocked_at: datetime | None = columns.timestamp(nullable=True)
    match_id: uuid.UUID | None = None
    version: int = 0
    updated_at: datetime = columns.timestamp()


class Connection(InteractionTable, table=True):
    """Two members who liked each other: one row per pair (`user_a` < `user_b`).

    ACTIVE until either blocks the other (ENDED); a later mutual like makes the same
    connection ACTIVE again, with a new `version`.
    """

    __tablename__ = "connections"
    __table_args__ = (
        Index("ix_connections_pair", "user_a", "user_b", unique=True),
        Index("ix_connections_b", "user_b"),
        CheckConstraint("user_a < user_b", name="ck_connections_ordered"),
    )

    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    user_a: uuid.UUID
    user_b: uuid.UUID
    match_id: uuid.UUID | None = None
    status: str = "ACTIVE"
    version: int = 1
    connected_at: datetime = columns.timestamp()
    ended_at: datetime | None = columns.timestamp(nullable=True)


class Rating(InteractionTable, table=True):
    """How a member rated the conversation of one of their matches (1 to 5); private."""

    __tablename__ = "ratings"

    match_id: uuid.UUID = Field(primary_key=True)
    rater_id: uuid.UUID = Field(primary_key=True)
    target_id: uuid.UUID
    rating: int
    comment: str | None = None
    rated_at: datetime = columns.timestamp()
