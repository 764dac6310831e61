"""The queuing subgraph's tables."""

from __future__ import annotations

import uuid
from datetime import date, datetime

from sqlmodel import Field, SQLModel

import kindred.columns as columns


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
    interests: list[str] = columns.text_list()
    languages: list[str] = columns.text_list()
    deleted: bool = False
    synced_version: int
    synced_at: datetime = columns.timestamp()


class QueueEntry(SQLModel, table=True):
    """A member waiting to be matched."""

    __tablename__ = "queue_entries"

    user_id: uuid.UUID = Field(primary_key=True)
    joined_at: datetime = columns.timestamp()
