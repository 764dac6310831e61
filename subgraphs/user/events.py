"""The events the user subgraph publishes, built from an account."""

from __future__ import annotations

from typing import Any

from kindred.events import Event
from kindred.topics import Topic
from subgraphs.user.models import Account, Device


def profile_snapshot(account: Account) -> dict[str, Any]:
    """The profile fields other subgraphs may copy (never credentials or email).

    Preferences are the member's own on the API, but matching needs them: they travel
    in events (internal) and are never shown to another member. The bio travels for
    moderation's screening.
    """
    return {
        "user_id": str(account.id),
        "display_name": account.display_name,
        "bio": account.bio,
        "birthdate": account.birthdate.isoformat(),
        "gender": account.gender,
        "latitude": account.latitude,
        "longitude": account.longitude,
        "interests": list(account.interests),
        "languages": list(account.languages),
        "min_age": account.min_age,
        "max_age": account.max_age,
        "genders_sought": list(account.genders_sought),
        "max_distance_km": account.max_distance_km,
    }


def profile_updated(account: Account) -> Event:
    """The whole profile at its new version (a snapshot, so consumers need no history)."""
    return Event(
        topic=Topic.USER_PROFILE_UPDATED,
        aggregate_id=str(account.id),
        aggregate_version=account.version,
        payload=profile_snapshot(account),
    )


def user_deleted(account: Account) -> Event:
    return Event(
        topic=Topic.USER_DELETED,
        aggregate_id=str(account.id),
        aggregate_version=account.version,
        payload={"user_id": str(account.id)},
    )


def _device_payload(device: Device) -> dict[str, Any]:
    return {
        "device_id": str(device.id),
        "user_id": str(device.user_id),
        "token": device.token,
        "platform": device.platform,
    }


def device_registered(device: Device) -> Event:
    """A push token now belongs to this member (the notification subgraph copies it).

    Keyed by the token, at the device's version: a token's events stay in order even
    when it moves from one member to another.
    """
    return Event(
        topic=Topic.USER_DEVICE_REGISTERED,
        aggregate_id=device.token,
        aggregate_version=device.version,
        payload=_device_payload(device),
    )


def device_removed(device: Device) -> Event:
    """A push token is gone (removed by its member, their account closed, or dead)."""
    return Event(
        topic=Topic.USER_DEVICE_REMOVED,
        aggregate_id=device.token,
        aggregate_version=device.version,
        payload=_device_payload(device),
    )
