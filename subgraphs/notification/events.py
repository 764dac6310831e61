"""The events the notification subgraph publishes (what it handles is in `handlers.py`)."""

from __future__ import annotations

from dataclasses import dataclass

from kindred.events import Event
from kindred.topics import Topic
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
