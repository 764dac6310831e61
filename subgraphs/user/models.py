"""The user subgraph's tables."""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass, fields
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
    def from_row(cls, row: Account) -> AccountView:
        return cls(**{name: getattr(row, name) for name in _VIEW_FIELDS})

    def to_json(self) -> bytes:
        data = {name: getattr(self, name) for name in _VIEW_FIELDS}
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


_VIEW_FIELDS = tuple(field.name for field in fields(AccountView))
