"""The events the notification subgraph publishes, and the `HANDLERS` of those it consumes."""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from kindred.db import UnitOfWork
from kindred.events import Event
from kindred.kafka import Handler
from kindred.topics import Topic
from subgraphs.notification import service
from subgraphs.notification.models import Device, Notification


@dataclass(frozen=True)
class _KeyedByMember(Event):
    """An event about a notification, keyed by its member so one member's stay in order."""

    member_key: str = ""

    @property
    def key(self) -> str:
        return self.member_key


def notification_created(notification: Notification) -> Event:
    """A member was told something; for MATCH_CREATED it is the match saga's answer."""
    return _KeyedByMember(
        topic=Topic.NOTIFICATION_CREATED,
        aggregate_id=str(notification.id),
        aggregate_version=1,
        member_key=str(notification.user_id),
        payload={
            "notification_id": str(notification.id),
            "user_id": str(notification.user_id),
            "type": notification.type,
            "match_id": str(notification.match_id) if notification.match_id else None,
            "created_at": notification.created_at.isoformat(),
        },
    )


def device_unregistered(device: Device, *, reason: str) -> Event:
    """The push provider said this token is dead: the user subgraph removes the device."""
    return Event(
        topic=Topic.NOTIFICATION_DEVICE_UNREGISTERED,
        aggregate_id=str(device.device_id),
        aggregate_version=device.version,
        payload={
            "device_id": str(device.device_id),
            "user_id": str(device.user_id),
            "token": device.token,
            "version": device.version,
            "reason": reason,
        },
    )


async def on_match_created(uow: UnitOfWork, event: Event) -> None:
    # Every MATCH_CREATED of the match is announced again: a repeat is the saga asking.
    for notification in await service.notify_match(
        uow.session,
        match_id=uuid.UUID(event.payload["match_id"]),
        user_ids=[uuid.UUID(member) for member in event.payload["user_ids"]],
    ):
        uow.publish(notification_created(notification))


async def on_match_cancelled(uow: UnitOfWork, event: Event) -> None:
    for notification in await service.cancel_match(
        uow.session,
        match_id=uuid.UUID(event.payload["match_id"]),
        user_ids=[uuid.UUID(member) for member in event.payload["user_ids"]],
        reason=event.payload.get("reason"),
    ):
        uow.publish(notification_created(notification))


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
        uow.publish(notification_created(notification))


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
