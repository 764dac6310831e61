"""The subscription subgraph's operations: reading a member's subscription and applying the
payment provider's events to it."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import Row, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from kindred.db import UnitOfWork
from kindred.errors import BadUserInput, Conflict
from subgraphs.subscription import events, stripe
from subgraphs.subscription.models import MemberSubscription, ProviderEvent, StaffRefund
from subgraphs.subscription.plans import (
    ENTITLED_STATUSES,
    Plan,
    Standing,
    SubscriptionStatus,
    standing,
)


class Outcome(StrEnum):
    """What a provider event did."""

    APPLIED = "APPLIED"  # the member's subscription changed (and subscription.changed went out)
    UNCHANGED = "UNCHANGED"  # applied, but nothing the member has changed
    STALE = "STALE"  # older than the last change applied: changes nothing
    IGNORED = "IGNORED"  # a type we do not act on, or no member it belongs to
    DUPLICATE = "DUPLICATE"  # this event id was handled before


SUBSCRIPTION_EVENTS = frozenset(
    {
        "customer.subscription.created",
        "customer.subscription.updated",
        "customer.subscription.deleted",
    }
)
INVOICE_PAID = "invoice.paid"
CHARGE_REFUNDED = "charge.refunded"
# Statuses an invoice payment brings back to active (the provider follows with an update).
_REVIVED_BY_PAYMENT = frozenset(
    {
        SubscriptionStatus.NONE,
        SubscriptionStatus.PAST_DUE,
        SubscriptionStatus.UNPAID,
        SubscriptionStatus.INCOMPLETE,
    }
)


def _now() -> datetime:
    return datetime.now(UTC)


def standing_of(row: Any, *, now: datetime) -> Standing:
    """The member's standing at `now` from their subscription row (None: never subscribed)."""
    if row is None:
        return Standing.free()
    return standing(
        plan=row.plan,
        status=row.status,
        current_period_end=row.current_period_end,
        refunded_period_end=row.refunded_period_end,
        now=now,
    )


async def subscriptions_by_user(
    connection: AsyncConnection, user_ids: Sequence[uuid.UUID]
) -> list[Row[Any] | None]:
    """These members' subscription rows, in order (None for a member without one), in one query."""
    rows = await connection.execute(
        select(MemberSubscription).where(col(MemberSubscription.user_id).in_(user_ids))
    )
    found: dict[uuid.UUID, Row[Any]] = {row.user_id: row for row in rows}
    return [found.get(user_id) for user_id in user_ids]


@dataclass(frozen=True)
class _Snapshot:
    """What a member has, as far as a change is visible to them or to other subgraphs."""

    plan: str
    status: str
    current_period_end: datetime | None
    cancel_at_period_end: bool
    refunded_period_end: datetime | None
    standing: Standing


def _snapshot(row: MemberSubscription, now: datetime) -> _Snapshot:
    return _Snapshot(
        row.plan,
        row.status,
        row.current_period_end,
        row.cancel_at_period_end,
        row.refunded_period_end,
        standing_of(row, now=now),
    )


async def _claim(session: AsyncSession, event: stripe.StripeEvent, now: datetime) -> bool:
    """Records the provider event as handled; False if it was already (a retry or a replay)."""
    claimed = await session.exec(
        insert(ProviderEvent)
        .values(
            event_id=event.id,
            type=event.type,
            created=event.created,
            outcome=Outcome.IGNORED.value,
            received_at=now,
        )
        .on_conflict_do_nothing()
        .returning(col(ProviderEvent.event_id))
    )
    return claimed.first() is not None


async def _record(
    session: AsyncSession, event: stripe.StripeEvent, outcome: Outcome, user_id: uuid.UUID | None
) -> Outcome:
    await session.exec(
        update(ProviderEvent)
        .where(col(ProviderEvent.event_id) == event.id)
        .values(outcome=outcome.value, user_id=user_id)
    )
    return outcome


async def _member_by(
    session: AsyncSession, *, subscription: str | None = None, customer: str | None = None
) -> uuid.UUID | None:
    """The member whose row carries this provider subscription or customer id."""
    for column, value in (
        (MemberSubscription.provider_subscription_id, subscription),
        (MemberSubscription.provider_customer_id, customer),
    ):
        if value is not None:
            found = await session.exec(
                select(MemberSubscription.user_id).where(col(column) == value).limit(1)
            )
            user_id = found.first()
            if user_id is not None:
                return user_id
    return None


async def _locked_row(
    session: AsyncSession, user_id: uuid.UUID, now: datetime
) -> MemberSubscription:
    """The member's row, created FREE if new, locked until the transaction ends."""
    await session.exec(
        insert(MemberSubscription)
        .values(
            user_id=user_id,
            plan=Plan.FREE.value,
            status=SubscriptionStatus.NONE.value,
            cancel_at_period_end=False,
            version=0,
            created_at=now,
            updated_at=now,
        )
        .on_conflict_do_nothing()
    )
    row = await session.get(
        MemberSubscription, user_id, with_for_update=True, populate_existing=True
    )
    assert row is not None
    return row


def _apply_subscription(row: MemberSubscription, obj: stripe.SubscriptionObject) -> bool:
    """Takes the provider's subscription as it is now; False if it must be left alone."""
    entitled_now = row.status in ENTITLED_STATUSES
    if (
        row.provider_subscription_id not in (None, obj.id)
        and entitled_now
        and obj.status not in ENTITLED_STATUSES
    ):
        return False  # an old subscription ending does not end the one that replaced it
    row.plan = Plan.PREMIUM.value
    row.status = obj.status
    row.provider_subscription_id = obj.id
    row.provider_customer_id = obj.customer or row.provider_customer_id
    row.current_period_end = obj.current_period_end
    row.cancel_at_period_end = obj.cancel_at_period_end
    return True


def _apply_invoice(row: MemberSubscription, obj: stripe.InvoiceObject) -> None:
    """A paid invoice extends the period to the end of what it paid for."""
    row.plan = Plan.PREMIUM.value
    row.provider_subscription_id = obj.subscription or row.provider_subscription_id
    row.provider_customer_id = obj.customer or row.provider_customer_id
    if obj.period_end is not None and (
        row.current_period_end is None or obj.period_end > row.current_period_end
    ):
        row.current_period_end = obj.period_end
    if row.status in _REVIVED_BY_PAYMENT:
        row.status = SubscriptionStatus.ACTIVE.value


def _apply_refund(row: MemberSubscription, refunded_at: datetime) -> None:
    """A full refund voids the paid period: its entitlements end now."""
    row.refunded_period_end = row.current_period_end or refunded_at


async def apply_provider_event(
    uow: UnitOfWork, *, event: stripe.StripeEvent, now: datetime | None = None
) -> Outcome:
    """Applies one verified provider event, once per event id and never over a newer one;
    publishes `subscription.changed` when what the member has changed."""
    now = now or _now()
    session = uow.session
    if not await _claim(session, event, now):
        return Outcome.DUPLICATE
    if event.type in SUBSCRIPTION_EVENTS:
        subscription = stripe.subscription_object(event.object)
        user_id = subscription.user_id or await _member_by(
            session, subscription=subscription.id, customer=subscription.customer
        )
    elif event.type == INVOICE_PAID:
        invoice = stripe.invoice_object(event.object)
        user_id = invoice.user_id or await _member_by(
            session, subscription=invoice.subscription, customer=invoice.customer
        )
    elif event.type == CHARGE_REFUNDED:
        charge = stripe.charge_object(event.object)
        if not charge.fully_refunded:
            return await _record(session, event, Outcome.IGNORED, charge.user_id)
        user_id = charge.user_id or await _member_by(session, customer=charge.customer)
    else:
        return await _record(session, event, Outcome.IGNORED, None)
    if user_id is None:
        return await _record(session, event, Outcome.IGNORED, None)

    row = await _locked_row(session, user_id, now)
    if row.provider_updated_at is not None and event.created < row.provider_updated_at:
        return await _record(session, event, Outcome.STALE, user_id)
    before = _snapshot(row, now)
    if event.type in SUBSCRIPTION_EVENTS:
        if not _apply_subscription(row, subscription):
            return await _record(session, event, Outcome.IGNORED, user_id)
    elif event.type == INVOICE_PAID:
        _apply_invoice(row, invoice)
    else:
        _apply_refund(row, event.created)
    row.provider_updated_at = event.created
    after = _snapshot(row, now)
    outcome = Outcome.UNCHANGED
    if after != before:
        row.version += 1
        row.updated_at = now
        outcome = Outcome.APPLIED
        uow.publish(events.subscription_changed(row, after.standing, provider_event_id=event.id))
    session.add(row)
    return await _record(session, event, outcome, user_id)


MAX_REFUND_REASON = 1000
MAX_REQUEST_KEY = 200


async def refund_by_staff(
    uow: UnitOfWork,
    *,
    user_id: uuid.UUID,
    staff_id: uuid.UUID,
    reason: str,
    request_key: str,
    now: datetime | None = None,
) -> tuple[StaffRefund, MemberSubscription]:
    """Voids the member's paid period now (their entitlements end), records the refund and
    publishes `subscription.changed`. Once per `request_key` (the same key answers the
    same refund); a member with no paid period in force is `CONFLICT`."""
    if not reason.strip() or len(reason) > MAX_REFUND_REASON:
        raise BadUserInput(f"Give a reason of 1 to {MAX_REFUND_REASON} characters.", field="reason")
    if not 1 <= len(request_key) <= MAX_REQUEST_KEY:
        raise BadUserInput(
            f"The request key must have 1 to {MAX_REQUEST_KEY} characters.", field="requestKey"
        )
    now = now or _now()
    session = uow.session
    row = await _locked_row(session, user_id, now)
    done = (
        await session.exec(select(StaffRefund).where(col(StaffRefund.request_key) == request_key))
    ).first()
    if done is not None:
        return done, row
    before = _snapshot(row, now)
    if before.standing.entitled_until is None or row.current_period_end is None:
        raise Conflict("The member has no paid period in force to refund.", field="userId")
    _apply_refund(row, now)
    after = _snapshot(row, now)
    row.version += 1
    row.updated_at = now
    session.add(row)
    refund = StaffRefund(
        user_id=user_id,
        staff_id=staff_id,
        request_key=request_key,
        reason=reason,
        refunded_period_end=row.current_period_end,
        created_at=now,
    )
    session.add(refund)
    uow.publish(events.subscription_changed(row, after.standing, provider_event_id=None))
    return refund, row
