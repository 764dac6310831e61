"""The events the user subgraph publishes, built from an account."""

from __future__ import annotations

from typing import Any

from kindred.events import Event
from kindred.topics import Topic
from subgraphs.user.models import Account


def profile_snapshot(account: Account) -> dict[str, Any]:
    """The public profile fields other subgraphs may copy (never credentials)."""
    return {
        "user_id": str(account.id),
        "display_name": account.display_name,
        "birthdate": account.birthdate.isoformat(),
        "gender": account.gender,
        "latitude": account.latitude,
        "longitude": account.longitude,
        "interests": list(account.interests),
        "languages": list(account.languages),
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
