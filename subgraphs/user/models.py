"""The user subgraph's tables."""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass, fields
from datetime import date, datetime
from typing import Any

from sqlalchemy import Row
from sqlmodel import Field, SQLModel

import kindred.columns as columns


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
    interests: list[str] = columns.text_list()
    languages: list[str] = columns.text_list()
    min_age: int = 18
    max_age: int = 99
    genders_sought: list[str] = columns.text_list()
    max_distance_km: int = 50
    version: int = 1
    created_at: datetime = columns.timestamp()
    updated_at: datetime = columns.timestamp()
    deleted_at: datetime | None = columns.timestamp(nullable=True)


class RefreshToken(SQLModel, table=True):
    """A refresh token, stored only as its SHA-256; rotated on every use."""

    __tablename__ = "refresh_tokens"

    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    user_id: uuid.UUID = Field(index=True)
    token_hash: str = Field(unique=True)
    created_at: datetime = columns.timestamp()
    expires_at: datetime = columns.timestamp()
    revoked_at: datetime | None = columns.timestamp(nullable=True)


class Device(SQLModel, table=True):
    """A push-notification token of one of a member's devices.

    A removed device keeps its row (`removed_at` set) so `version`, which counts every
    change and orders the device's events, never goes back when the token returns.
    """

    __tablename__ = "devices"

    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    user_id: uuid.UUID = Field(index=True)
    token: str = Field(unique=True)
    platform: str
    version: int = 1
    created_at: datetime = columns.timestamp()
    updated_at: datetime = columns.timestamp()
    removed_at: datetime | None = columns.timestamp(nullable=True)


@dataclass(frozen=True, slots=True)
class AccountView:
    """What reads of an account need (no credentials); cheap to cache and rebuild."""

    id: uuid.UUID
    email: str
    display_name: str
    birthdate: date
    gender: str
    bio: str | None
    latitude: float | None
    longitude: float | None
    interests: list[str]
    languages: list[str]
    min_age: int
    max_age: int
    genders_sought: list[str]
    max_distance_km: int
    version: int
    created_at: datetime
    updated_at: datetime

    @classmethod
    def from_row(cls, row: Account | Row[Any]) -> AccountView:
        return cls(**{name: getattr(row, name) for name in VIEW_FIELDS})

    def to_json(self) -> bytes:
        data = {name: getattr(self, name) for name in VIEW_FIELDS}
        for name in ("id", "birthdate", "created_at", "updated_at"):
            data[name] = str(data[name]) if name == "id" else data[name].isoformat()
        return json.dumps(data, separators=(",", ":")).encode()

    @classmethod
    def from_json(cls, raw: bytes) -> AccountView:
        data = json.loads(raw)
        data["id"] = uuid.UUID(data["id"])
        data["birthdate"] = date.fromisoformat(data["birthdate"])
        data["created_at"] = datetime.fromisoformat(data["created_at"])
        data["updated_at"] = datetime.fromisoformat(data["updated_at"])
        return cls(**data)


VIEW_FIELDS = tuple(field.name for field in fields(AccountView))
