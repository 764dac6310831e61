"""What the notification subgraph does: tell members things once, keep the device read model,
queue pushes, and let members read and mark their notifications."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import Row, func, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from kindred.member_state import newer_or_different
from kindred.pagination import older_than
from subgraphs.notification.models import CancelledMatch, Delivery, Device, Notification

# A message preview in a notification: enough to recognise it, short enough for a lock screen.
PREVIEW_CHARS = 120


class NotificationType(StrEnum):
    MATCH_CREATED = "MATCH_CREATED"
    MATCH_CANCELLED = "MATCH_CANCELLED"
    MESSAGE_RECEIVED = "MESSAGE_RECEIVED"


MATCH_TITLE = "It's a match!"
MATCH_BODY = "Someone who fits you is waiting: say hello."
CANCELLED_TITLE = "Match cancelled"
CANCELLED_BODY = "Your match could not be set up; you are back in the queue"
MESSAGE_TITLE = "New message"


def _now() -> datetime:
    return datetime.now(UTC)


def _other(user_ids: Sequence[uuid.UUID], member: uuid.UUID) -> str | None:
    return next((str(other) for other in user_ids if other != member), None)


async def notify(
    session: AsyncSession,
    *,
    user_id: uuid.UUID,
    type: NotificationType,
    title: str,
    body: str,
    data: dict[str, Any],
    match_id: uuid.UUID | None = None,
    message_id: uuid.UUID | None = None,
) -> Notification | None:
    """Creates the notification and queues its pushes; None if it existed (same business key)."""
    now = _now()
    statement = (
        insert(Notification)
        .values(
            id=uuid.uuid4(),
            user_id=user_id,
            type=type.value,
            title=title,
            body=body,
            data=data,
            match_id=match_id,
            message_id=message_id,
            created_at=now,
        )
        .on_conflict_do_nothing()
        .returning(Notification)
    )
    notification = (await session.exec(statement)).scalars().first()
    if notification is not None:
        await queue_pushes(session, notification=notification)
    return notification


async def queue_pushes(session: AsyncSession, *, notification: Notification) -> None:
    """One PENDING delivery per device the member has now."""
    tokens = await session.exec(
        select(Device.token).where(
            col(Device.user_id) == notification.user_id, ~col(Device.removed)
        )
    )
    now = _now()
    rows = [
        {
            "id": uuid.uuid4(),
            "notification_id": notification.id,
            "user_id": notification.user_id,
            "token": token,
            "status": "PENDING",
            "attempts": 0,
            "next_attempt_at": now,
            "created_at": now,
            "updated_at": now,
        }
        for token in tokens.all()
    ]
    if rows:
        await session.exec(insert(Delivery).values(rows).on_conflict_do_nothing())


async def notify_match(
    session: AsyncSession, *, match_id: uuid.UUID, user_ids: Sequence[uuid.UUID]
) -> list[Notification]:
    """Tells each member of a new match, once; the match's MATCH_CREATED notifications.

    A cancelled match gets none, even when its `queue.match.created` comes again.
    """
    if await session.get(CancelledMatch, match_id) is not None:
        return []
    for member in user_ids:
        await notify(
            session,
            user_id=member,
            type=NotificationType.MATCH_CREATED,
            title=MATCH_TITLE,
            body=MATCH_BODY,
            data={"matchId": str(match_id), "otherUserId": _other(user_ids, member)},
            match_id=match_id,
        )
    existing = await session.exec(
        select(Notification)
        .where(
            col(Notification.match_id) == match_id,
            col(Notification.type) == NotificationType.MATCH_CREATED.value,
        )
        .order_by(col(Notification.user_id))
    )
    return list(existing.all())


async def cancel_match(
    session: AsyncSession,
    *,
    match_id: uuid.UUID,
    user_ids: Sequence[uuid.UUID],
    reason: str | None,
) -> list[Notification]:
    """Tells each member the match was called off, once; the new notifications.

    The match's MATCH_CREATED notifications are marked read and their pushes stopped.
    """
    now = _now()
    first_time = await session.exec(
        insert(CancelledMatch)
        .values(match_id=match_id, cancelled_at=now)
        .on_conflict_do_nothing()
        .returning(col(CancelledMatch.match_id))
    )
    if first_time.first() is None:
        return []
    created = await session.exec(
        update(Notification)
        .where(
            col(Notification.match_id) == match_id,
            col(Notification.type) == NotificationType.MATCH_CREATED.value,
            col(Notification.read_at).is_(None),
        )
        .values(read_at=now)
        .returning(col(Notification.id))
    )
    await _stop_pushes(
        session,
        col(Delivery.notification_id).in_(list(created.scalars().all())),
        reason="match cancelled",
    )
    told = []
    for member in user_ids:
        notification = await notify(
            session,
            user_id=member,
            type=NotificationType.MATCH_CANCELLED,
            title=CANCELLED_TITLE,
            body=CANCELLED_BODY,
            data={
                "matchId": str(match_id),
                "otherUserId": _other(user_ids, member),
                "reason": reason,
            },
            match_id=match_id,
        )
        if notification is not None:
            told.append(notification)
    return told


async def notify_message(
    session: AsyncSession,
    *,
    message_id: uuid.UUID,
    conversation_id: uuid.UUID,
    sender_id: uuid.UUID | None,
    offline_recipient_ids: Sequence[uuid.UUID],
    text: str,
) -> list[Notification]:
    """Tells each recipient who was not watching the conversation, once per message."""
    preview = text if len(text) <= PREVIEW_CHARS else text[: PREVIEW_CHARS - 1] + "…"
    told = []
    for member in offline_recipient_ids:
        notification = await notify(
            session,
            user_id=member,
            type=NotificationType.MESSAGE_RECEIVED,
            title=MESSAGE_TITLE,
            body=preview,
            data={
                "conversationId": str(conversation_id),
                "messageId": str(message_id),
                "senderId": str(sender_id) if sender_id else None,
            },
            message_id=message_id,
        )
        if notification is not None:
            told.append(notification)
    return told


async def apply_device(
    session: AsyncSession,
    *,
    token: str,
    device_id: uuid.UUID,
    user_id: uuid.UUID,
    platform: str,
    version: int,
    removed: bool,
) -> bool:
    """Stores the device at `version` unless the read model has it as new or newer."""
    values = {
        "device_id": device_id,
        "user_id": user_id,
        "platform": platform,
        "version": version,
        "removed": removed,
        "updated_at": _now(),
    }
    upsert = insert(Device).values(token=token, **values)
    statement = upsert.on_conflict_do_update(
        index_elements=["token"],
        set_=values,
        where=newer_or_different(
            Device.__table__,  # type: ignore[attr-defined]
            upsert.excluded,
            "version",
            ["device_id", "user_id", "platform", "removed"],
        ),
    ).returning(col(Device.token))
    applied = (await session.exec(statement)).first() is not None
    if applied and removed:
        await _stop_pushes(session, col(Delivery.token) == token, reason="device removed")
    return applied


async def forget_dead_token(session: AsyncSession, *, token: str) -> Device | None:
    """Marks a token the provider called dead as removed; the device, if it was active."""
    device = (
        (
            await session.exec(
                update(Device)
                .where(col(Device.token) == token, ~col(Device.removed))
                .values(removed=True, updated_at=_now())
                .returning(Device)
            )
        )
        .scalars()
        .first()
    )
    await _stop_pushes(
        session, col(Delivery.token) == token, reason="token unregistered", status="DEAD_TOKEN"
    )
    return device


async def _stop_pushes(
    session: AsyncSession, where: Any, *, reason: str, status: str = "FAILED"
) -> None:
    await session.exec(
        update(Delivery)
        .where(where, col(Delivery.status) == "PENDING")
        .values(status=status, last_error=reason, updated_at=_now())
    )


async def mark_read(
    session: AsyncSession, *, user_id: uuid.UUID, ids: Sequence[uuid.UUID] | None
) -> int:
    """Marks the member's unread notifications (these ids, or all if None) read; how many."""
    statement = (
        update(Notification)
        .where(col(Notification.user_id) == user_id, col(Notification.read_at).is_(None))
        .values(read_at=_now())
        .returning(col(Notification.id))
    )
    if ids is not None:
        statement = statement.where(col(Notification.id).in_(ids))
    return len((await session.exec(statement)).all())


async def notifications_of(
    connection: AsyncConnection,
    *,
    user_id: uuid.UUID,
    first: int,
    after: str | None,
    unread_only: bool,
) -> list[Row[Any]]:
    """Up to `first + 1` of the member's notifications, newest first, after the cursor."""
    statement = (
        select(Notification)
        .where(col(Notification.user_id) == user_id)
        .order_by(col(Notification.created_at).desc(), col(Notification.id).desc())
        .limit(first + 1)
    )
    if unread_only:
        statement = statement.where(col(Notification.read_at).is_(None))
    cursor = older_than(
        col(Notification.created_at), col(Notification.id), after, id_type=uuid.UUID
    )
    if cursor is not None:
        statement = statement.where(cursor)
    return list((await connection.execute(statement)).all())


async def notifications_by_id(
    connection: AsyncConnection, ids: Sequence[uuid.UUID]
) -> list[Row[Any] | None]:
    """These notifications, in order (None for an unknown id), in one query."""
    rows = await connection.execute(select(Notification).where(col(Notification.id).in_(ids)))
    found: dict[uuid.UUID, Row[Any]] = {row.id: row for row in rows}
    return [found.get(notification_id) for notification_id in ids]


async def unread_counts(connection: AsyncConnection, user_ids: Sequence[uuid.UUID]) -> list[int]:
    """Each member's number of unread notifications, in one query."""
    rows = await connection.execute(
        select(col(Notification.user_id), func.count())
        .where(col(Notification.user_id).in_(user_ids), col(Notification.read_at).is_(None))
        .group_by(col(Notification.user_id))
    )
    counts: dict[uuid.UUID, int] = {row[0]: int(row[1]) for row in rows}
    return [counts.get(user_id, 0) for user_id in user_ids]
