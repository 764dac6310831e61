"""The queuing subgraph's tables."""

from __future__ import annotations

import uuid
from datetime import date, datetime

from sqlalchemy import Column, DateTime, String
from sqlalchemy.dialects.postgresql import ARRAY
from sqlmodel import Field, SQLModel


class ProfileCopy(SQLModel, table=True):
    """The denormalized slice of a member's profile that matching needs.

    Fed by `user.profile.updated` and fresh reads; `synced_version` is the
    user subgraph's version it was built from, so older news never wins.
    """

    __tablename__ = "profile_copies"

    user_id: uuid.UUID = Field(primary_key=True)
    birthdate: date
    gender: str
    latitude: float | None = None
    longitude: float | None = None
    interests: list[str] = Field(
        default_factory=list, sa_column=Column(ARRAY(String), nullable=False)
    )
    languages: list[str] = Field(
        default_factory=list, sa_column=Column(ARRAY(String), nullable=False)
    )
    deleted: bool = False
    synced_version: int
    synced_at: datetime = Field(sa_column=Column(DateTime(timezone=True), nullable=False))


class QueueEntry(SQLModel, table=True):
    """A member waiting to be matched."""

    __tablename__ = "queue_entries"

    user_id: uuid.UUID = Field(primary_key=True)
    joined_at: datetime = Field(sa_column=Column(DateTime(timezone=True), nullable=False))
