"""The notification subgraph's tables.

They live on their own SQLModel registry: `devices` is also the user subgraph's table
name, and both subgraphs' models are imported into one process by the tests.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import Column, Index, text
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import registry
from sqlmodel import Field, SQLModel

import kindred.columns as columns


class NotificationTable(SQLModel, registry=registry()):
    """Base of this subgraph's tables: a metadata of their own."""


class Notification(NotificationTable, table=True):
    """Something a member is told. `match_id` / `message_id` are the business keys that
    make a repeated event create nothing."""

    __tablename__ = "notifications"
    __table_args__ = (
        Index("ix_notifications_newest", "user_id", "created_at", "id"),
        Index("ix_notifications_unread", "user_id", postgresql_where=text("read_at IS NULL")),
        Index(
            "ix_notifications_per_match",
            "match_id",
            "user_id",
            "type",
            unique=True,
            postgresql_where=text("match_id IS NOT NULL"),
        ),
        Index(
            "ix_notifications_per_message",
            "message_id",
            "user_id",
            unique=True,
            postgresql_where=text("message_id IS NOT NULL"),
        ),
    )

    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    user_id: uuid.UUID
    type: str
    title: str
    body: str
    data: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSONB, nullable=False))
    match_id: uuid.UUID | None = None
    message_id: uuid.UUID | None = None
    read_at: datetime | None = columns.timestamp(nullable=True)
    created_at: datetime = columns.timestamp()


class CancelledMatch(NotificationTable, table=True):
    """A match the saga called off: a late or repeated `queue.match.created` does nothing."""

    __tablename__ = "cancelled_matches"

    match_id: uuid.UUID = Field(primary_key=True)
    cancelled_at: datetime = columns.timestamp()


class Device(NotificationTable, table=True):
    """The read model of a member's push token, fed by the user subgraph's device events.

    `version` is the user subgraph's version of the device: an older event never wins.
    `removed` is set by a removal event or when the push provider said the token is dead.
    """

    __tablename__ = "devices"
    __table_args__ = (Index("ix_devices_user", "user_id"),)

    token: str = Field(primary_key=True)
    device_id: uuid.UUID
    user_id: uuid.UUID
    platform: str
    version: int
    removed: bool = False
    updated_at: datetime = columns.timestamp()


class Delivery(NotificationTable, table=True):
    """One notification to push to one device token; the worker's state lives here.

    PENDING until SENT, FAILED (for good, or out of attempts) or DEAD_TOKEN.
    """

    __tablename__ = "deliveries"
    __table_args__ = (
        Index("ix_deliveries_once", "notification_id", "token", unique=True),
        Index("ix_deliveries_due", "next_attempt_at", postgresql_where=text("status = 'PENDING'")),
    )

    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    notification_id: uuid.UUID
    user_id: uuid.UUID
    token: str
    status: str = "PENDING"
    attempts: int = 0
    next_attempt_at: datetime = columns.timestamp()
    last_error: str | None = None
    created_at: datetime = columns.timestamp()
    updated_at: datetime = columns.timestamp()


class DeliveryAttempt(NotificationTable, table=True):
    """One try at a delivery, as the provider answered it."""

    __tablename__ = "delivery_attempts"
    __table_args__ = (Index("ix_delivery_attempts_delivery", "delivery_id", "attempted_at"),)

    id: int | None = Field(default=None, primary_key=True)
    delivery_id: uuid.UUID
    attempted_at: datetime = columns.timestamp()
    outcome: str
    http_status: int | None = None
    error_code: str | None = None
    error: str | None = None
