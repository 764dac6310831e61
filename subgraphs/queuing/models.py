"""The queuing subgraph's tables."""

from __future__ import annotations

import uuid
from datetime import date, datetime

from sqlalchemy import Column, Index, String, Uuid, text
from sqlalchemy.dialects.postgresql import ARRAY
from sqlmodel import Field, SQLModel

import kindred.columns as columns


class ProfileCopy(SQLModel, table=True):
    """The denormalized slice of a member's profile (and preferences) that matching needs.

    Fed by `user.profile.updated` and fresh reads; `synced_version` is the
    user subgraph's version it was built from, so older news never wins.
    """

    __tablename__ = "profile_copies"

    user_id: uuid.UUID = Field(primary_key=True)
    birthdate: date
    gender: str
    latitude: float | None = None
    longitude: float | None = None
    interests: list[str] = columns.text_list()
    languages: list[str] = columns.text_list()
    min_age: int = 18
    max_age: int = 99
    genders_sought: list[str] = columns.text_list()
    max_distance_km: int = 50
    deleted: bool = False
    synced_version: int
    synced_at: datetime = columns.timestamp()


class QueueEntry(SQLModel, table=True):
    """A member waiting to be matched."""

    __tablename__ = "queue_entries"

    user_id: uuid.UUID = Field(primary_key=True)
    joined_at: datetime = columns.timestamp()


class Match(SQLModel, table=True):
    """A pairing made by the matcher; its `status` is also the state of its saga.

    PENDING while the saga runs (conversation and notifications outstanding), ACTIVE
    once every step answered, CANCELLED when it was compensated, ENDED when a member
    went back to the queue. `attempts` and `next_attempt_at` drive the step retries.
    """

    __tablename__ = "matches"

    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    user_ids: list[uuid.UUID] = Field(sa_column=Column(ARRAY(Uuid), nullable=False))
    score: float
    distance_km: float
    status: str = "PENDING"
    conversation_id: uuid.UUID | None = None
    notified_user_ids: list[str] = Field(
        default_factory=list, sa_column=Column(ARRAY(String), nullable=False)
    )
    attempts: int = 1
    next_attempt_at: datetime = columns.timestamp()
    cancel_reason: str | None = None
    version: int = 1
    created_at: datetime = columns.timestamp()
    updated_at: datetime = columns.timestamp()


class MatchParticipant(SQLModel, table=True):
    """One member's side of a match; `open` while the match is PENDING or ACTIVE.

    A unique index on open rows is the database's promise that nobody is ever in two
    live matches, whatever the matchers do.
    """

    __tablename__ = "match_participants"
    __table_args__ = (
        Index(
            "ix_match_participants_one_open", "user_id", unique=True, postgresql_where=text("open")
        ),
        Index("ix_match_participants_newest", "user_id", "created_at", "match_id"),
    )

    match_id: uuid.UUID = Field(primary_key=True)
    user_id: uuid.UUID = Field(primary_key=True)
    open: bool = True
    # When the member joined the queue: a compensated match gives them their place back.
    queued_since: datetime = columns.timestamp()
    created_at: datetime = columns.timestamp()


class PairExclusion(SQLModel, table=True):
    """Two members the matcher must keep apart (a block, or a pass until `until`).

    The hook for the interaction subgraph's events; the matcher reads it every tick.
    Suspensions and entitlements are the platform's read models (kindred.member_state).
    """

    __tablename__ = "pair_exclusions"

    user_id: uuid.UUID = Field(primary_key=True)
    other_user_id: uuid.UUID = Field(primary_key=True)
    reason: str = Field(primary_key=True)
    until: datetime | None = columns.timestamp(nullable=True)
    # The version of the owner's relation this row was built from; older news never wins.
    version: int = 0
