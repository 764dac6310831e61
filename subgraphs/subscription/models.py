"""The subscription subgraph's tables."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import Index
from sqlalchemy.orm import registry
from sqlmodel import Field, SQLModel

import kindred.columns as columns


class SubscriptionTable(SQLModel, registry=registry()):
    """Base of this subgraph's tables: a metadata of their own."""


class MemberSubscription(SubscriptionTable, table=True):
    """A member's subscription as the payment provider last told it, one row per member.

    `provider_updated_at` is the provider's timestamp (the event's `created`) of the last
    change applied: an older event changes nothing. `version` counts changes of what the
    member has (plan, status, period, entitlements); `subscription.changed` carries it.
    """

    __tablename__ = "subscriptions"
    __table_args__ = (
        Index("ix_subscriptions_provider_subscription", "provider_subscription_id"),
        Index("ix_subscriptions_provider_customer", "provider_customer_id"),
    )

    user_id: uuid.UUID = Field(primary_key=True)
    plan: str = "FREE"
    status: str = "none"
    provider_subscription_id: str | None = None
    provider_customer_id: str | None = None
    current_period_end: datetime | None = columns.timestamp(nullable=True)
    cancel_at_period_end: bool = False
    # The end of the paid period a refund voided: that period grants nothing any more.
    refunded_period_end: datetime | None = columns.timestamp(nullable=True)
    provider_updated_at: datetime | None = columns.timestamp(nullable=True)
    version: int = 0
    created_at: datetime = columns.timestamp()
    updated_at: datetime = columns.timestamp()


class ProviderEvent(SubscriptionTable, table=True):
    """A provider event already handled (its id is the idempotency key), and what it did:
    APPLIED, UNCHANGED, STALE (older than the last applied) or IGNORED."""

    __tablename__ = "provider_events"

    event_id: str = Field(primary_key=True)
    type: str
    created: datetime = columns.timestamp()
    user_id: uuid.UUID | None = None
    outcome: str = "APPLIED"
    received_at: datetime = columns.timestamp()


class StaffRefund(SubscriptionTable, table=True):
    """A refund staff recorded (the admin subgraph's `refundSubscription`): it voided the
    paid period ending `refunded_period_end`. The provider is not called from here: the
    money goes back through the provider's dashboard, whose `charge.refunded` then changes
    nothing more. One per `request_key`, so a retried request refunds once."""

    __tablename__ = "staff_refunds"
    __table_args__ = (Index("ix_staff_refunds_user", "user_id", "created_at"),)

    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    user_id: uuid.UUID
    staff_id: uuid.UUID
    request_key: str = Field(unique=True)
    reason: str
    refunded_period_end: datetime = columns.timestamp()
    created_at: datetime = columns.timestamp()
