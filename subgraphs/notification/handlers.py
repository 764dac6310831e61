"""The events the notification subgraph handles: matches, messages and push tokens."""

from __future__ import annotations

import uuid

from kindred.db import UnitOfWork
from kindred.events import Event
from kindred.kafka import Handler
from kindred.topics import Topic
from subgraphs.notification import events, service


async def on_match_created(uow: UnitOfWork, event: Event) -> None:
    # Every MATCH_CREATED of the match is announced again: a repeat is the saga asking.
    for notification in await service.notify_match(
        uow.session,
        match_id=uuid.UUID(event.payload["match_id"]),
        user_ids=[uuid.UUID(member) for member in event.payload["user_ids"]],
    ):
        uow.publish(events.notification_created(notification))


async def on_match_cancelled(uow: UnitOfWork, event: Event) -> None:
    for notification in await service.cancel_match(
        uow.session,
        match_id=uuid.UUID(event.payload["match_id"]),
        user_ids=[uuid.UUID(member) for member in event.payload["user_ids"]],
        reason=event.payload.get("reason"),
    ):
        uow.publish(events.notification_created(notification))


async def on_message_sent(uow: UnitOfWork, event: Event) -> None:
    payload = event.payload
    for notification in await service.notify_message(
        uow.session,
        message_id=uuid.UUID(payload["message_id"]),
        conversation_id=uuid.UUID(payload["conversation_id"]),
        sender_id=uuid.UUID(payload["sender_id"]) if payload.get("sender_id") else None,
        offline_recipient_ids=[uuid.UUID(member) for member in payload["offline_recipient_ids"]],
        text=str(payload.get("text", "")),
    ):
        uow.publish(events.notification_created(notification))


async def on_device_registered(uow: UnitOfWork, event: Event) -> None:
    await _apply_device(uow, event, removed=False)


async def on_device_removed(uow: UnitOfWork, event: Event) -> None:
    await _apply_device(uow, event, removed=True)


async def _apply_device(uow: UnitOfWork, event: Event, *, removed: bool) -> None:
    payload = event.payload
    await service.apply_device(
        uow.session,
        token=payload["token"],
        device_id=uuid.UUID(payload["device_id"]),
        user_id=uuid.UUID(payload["user_id"]),
        platform=payload["platform"],
        version=event.aggregate_version,
        removed=removed,
    )


HANDLERS: dict[str, Handler] = {
    Topic.QUEUE_MATCH_CREATED: on_match_created,
    Topic.QUEUE_MATCH_CANCELLED: on_match_cancelled,
    Topic.MESSAGE_SENT: on_message_sent,
    Topic.USER_DEVICE_REGISTERED: on_device_registered,
    Topic.USER_DEVICE_REMOVED: on_device_removed,
}
