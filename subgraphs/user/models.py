"""The user subgraph's tables."""

from __future__ import annotations

import uuid
from datetime import date, datetime

from sqlalchemy import Column, DateTime, String
from sqlalchemy.dialects.postgresql import ARRAY
from sqlmodel import Field, SQLModel


def _timestamp(nullable: bool = False) -> Column:
    return Column(DateTime(timezone=True), nullable=nullable)


class Account(SQLModel, table=True):
    """A member: credentials and profile; `version` counts every profile change."""

    __tablename__ = "accounts"

    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    email: str = Field(unique=True)
    password_hash: str
    display_name: str
    birthdate: date
    gender: str
    bio: str | None = None
    latitude: float | None = None
    longitude: float | None = None
    interests: list[str] = Field(
        default_factory=list, sa_column=Column(ARRAY(String), nullable=False)
    )
    languages: list[str] = Field(
        default_factory=list, sa_column=Column(ARRAY(String), nullable=False)
    )
    min_age: int = 18
    max_age: int = 99
    genders_sought: list[str] = Field(
        default_factory=list, sa_column=Column(ARRAY(String), nullable=False)
    )
    max_distance_km: int = 50
    version: int = 1
    created_at: datetime = Field(sa_column=_timestamp())
    updated_at: datetime = Field(sa_column=_timestamp())
    deleted_at: datetime | None = Field(default=None, sa_column=_timestamp(nullable=True))


class RefreshToken(SQLModel, table=True):
    """A refresh token, stored only as its SHA-256; rotated on every use."""

    __tablename__ = "refresh_tokens"

    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    user_id: uuid.UUID = Field(index=True)
    token_hash: str = Field(unique=True)
    created_at: datetime = Field(sa_column=_timestamp())
    expires_at: datetime = Field(sa_column=_timestamp())
    revoked_at: datetime | None = Field(default=None, sa_column=_timestamp(nullable=True))


class Device(SQLModel, table=True):
    """A push-notification token of one of a member's devices."""

    __tablename__ = "devices"

    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    user_id: uuid.UUID = Field(index=True)
    token: str = Field(unique=True)
    platform: str
    created_at: datetime = Field(sa_column=_timestamp())
    updated_at: datetime = Field(sa_column=_timestamp())
