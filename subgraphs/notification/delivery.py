"""The push worker: claims due deliveries, sends them through the provider, records each try.

Its whole state is in the `deliveries` rows, so a restarted worker carries on where the
last one stopped; a claim is a lease (the row's `next_attempt_at` pushed out), so a
worker that dies mid-send leaves the delivery to be tried again, never lost.
"""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import Row, update
from sqlmodel import col, select

from kindred.db import Database, UnitOfWork
from subgraphs.notification import events, service
from subgraphs.notification.models import Delivery, DeliveryAttempt, Notification
from subgraphs.notification.push import PushOutcome, PushProvider, PushResult

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class RetryPolicy:
    """How the worker paces retries: exponential backoff, at most `max_attempts` tries."""

    base_seconds: float = 2.0
    max_seconds: float = 600.0
    max_attempts: int = 8
    batch_size: int = 50
    # A claimed delivery is left alone this long; then another worker may take it.
    lease_seconds: float = 60.0

    def backoff(self, attempts: int, retry_after: float | None) -> float:
        """Seconds before try `attempts + 1`; the provider's `Retry-After` if it asks for more."""
        delay = min(self.max_seconds, self.base_seconds * 2 ** (attempts - 1))
        return max(delay, retry_after or 0.0)


def _now() -> datetime:
    return datetime.now(UTC)


async def claim_due(database: Database, policy: RetryPolicy) -> list[Row[Any]]:
    """Leases up to a batch of due PENDING deliveries, with what to send, skipping rows
    another worker holds."""
    now = _now()
    due = (
        select(col(Delivery.id))
        .where(col(Delivery.status) == "PENDING", col(Delivery.next_attempt_at) <= now)
        .order_by(col(Delivery.next_attempt_at))
        .limit(policy.batch_size)
        .with_for_update(skip_locked=True)
    )
    async with database.unit_of_work() as uow:
        claimed = await uow.session.exec(
            update(Delivery)
            .where(col(Delivery.id).in_(due), col(Notification.id) == col(Delivery.notification_id))
            .values(next_attempt_at=now + timedelta(seconds=policy.lease_seconds))
            .returning(
                col(Delivery.id),
                col(Delivery.token),
                col(Delivery.attempts),
                col(Notification.id).label("notification_id"),
                col(Notification.type),
                col(Notification.title),
                col(Notification.body),
                col(Notification.data),
            )
        )
        leased = list(claimed.all())
        await uow.commit()
    return leased


def push_data(row: Row[Any]) -> dict[str, str]:
    """The push's data: the notification's, as strings, with its id and type."""
    data = {key: str(value) for key, value in (row.data or {}).items() if value is not None}
    return {**data, "notificationId": str(row.notification_id), "type": row.type}


async def deliver_due(database: Database, provider: PushProvider, policy: RetryPolicy) -> int:
    """Sends one batch of due deliveries; how many were tried."""
    claimed = await claim_due(database, policy)
    for row in claimed:
        try:
            result = await provider.send(row.token, row.title, row.body, push_data(row))
        except Exception as error:
            # A provider bug must not stop the batch: the try is recorded as a retry.
            log.exception("push provider raised")
            result = PushResult(PushOutcome.RETRY, error_code="PROVIDER", error=repr(error)[:500])
        async with database.unit_of_work() as uow:
            await record(
                uow, delivery_id=row.id, attempts=row.attempts, result=result, policy=policy
            )
            await uow.commit()
    return len(claimed)


async def record(
    uow: UnitOfWork,
    *,
    delivery_id: uuid.UUID,
    attempts: int,
    result: PushResult,
    policy: RetryPolicy,
) -> str | None:
    """Records one try and moves the delivery on; its new status, or None if another worker
    recorded this try first (its lease had run out)."""
    now = _now()
    tried = attempts + 1
    status, next_at = "PENDING", now
    if result.outcome == PushOutcome.SENT:
        status = "SENT"
    elif result.outcome == PushOutcome.DEAD_TOKEN:
        status = "DEAD_TOKEN"
    elif result.outcome == PushOutcome.FAILED or tried >= policy.max_attempts:
        status = "FAILED"
    else:
        next_at = now + timedelta(seconds=policy.backoff(tried, result.retry_after))
    moved = await uow.session.exec(
        update(Delivery)
        .where(
            col(Delivery.id) == delivery_id,
            col(Delivery.status) == "PENDING",
            col(Delivery.attempts) == attempts,
        )
        .values(
            status=status,
            attempts=tried,
            next_attempt_at=next_at,
            last_error=_describe(result),
            updated_at=now,
        )
        .returning(col(Delivery.token))
    )
    token = moved.first()
    if token is None:
        return None
    uow.session.add(
        DeliveryAttempt(
            delivery_id=delivery_id,
            attempted_at=now,
            outcome=result.outcome.value,
            http_status=result.http_status,
            error_code=result.error_code,
            error=result.error,
        )
    )
    if status == "DEAD_TOKEN":
        device = await service.forget_dead_token(uow.session, token=token[0])
        if device is not None:
            uow.publish(events.device_unregistered(device, reason=result.error_code or "DEAD"))
    return status


def _describe(result: PushResult) -> str | None:
    if result.outcome == PushOutcome.SENT:
        return None
    return " ".join(str(part) for part in (result.error_code, result.error) if part) or None
