"""The events the history subgraph handles: each makes timeline entries for the members it
concerns (the payloads are the producers' `events.py`). The same handlers serve the live
consumer and the rebuild from the topics (`rebuild.py`)."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from kindred.db import UnitOfWork
from kindred.events import Event
from kindred.kafka import Handler
from kindred.topics import Topic
from subgraphs.history import service
from subgraphs.history.service import Kind, NewEntry

# interaction.recorded's kinds, as the actor's own entries. Only the actor hears of them:
# a member is never told who passed on, liked or blocked them.
REACTIONS: dict[str, Kind] = {
    "LIKE": Kind.LIKED,
    "PASS": Kind.PASSED,
    "BLOCK": Kind.BLOCKED,
    "UNBLOCK": Kind.UNBLOCKED,
    "RATE": Kind.RATED,
}
# Moderation actions a member is told of; a dismissed case says nothing about them.
MEMBER_ACTIONS = frozenset({"WARN", "SUSPEND", "BAN"})


def _when(event: Event, name: str | None = None) -> datetime:
    """The payload's time `name` when it has one (when the fact happened), else the event's."""
    value = event.payload.get(name) if name else None
    return datetime.fromisoformat(value) if value else event.occurred_at


def _members(ids: Sequence[str]) -> list[uuid.UUID]:
    return [uuid.UUID(member) for member in ids]


def _for_each(
    members: Sequence[uuid.UUID],
    kind: Kind,
    *,
    subject: str,
    occurred_at: datetime,
    details: dict[str, Any],
) -> list[NewEntry]:
    """One entry per member, each naming the other member (the first one, of a pair)."""
    return [
        NewEntry(
            member_id=member,
            kind=kind,
            subject=subject,
            occurred_at=occurred_at,
            other_member_id=next((other for other in members if other != member), None),
            details=details,
        )
        for member in members
    ]


async def on_match_created(uow: UnitOfWork, event: Event) -> None:
    payload = event.payload
    entries = _for_each(
        _members(payload["user_ids"]),
        Kind.MATCHED,
        subject=payload["match_id"],
        occurred_at=_when(event, "created_at"),
        details={"match_id": payload["match_id"]},
    )
    await service.record(uow.session, event=event, entries=entries)


async def on_match_cancelled(uow: UnitOfWork, event: Event) -> None:
    payload = event.payload
    entries = _for_each(
        _members(payload["user_ids"]),
        Kind.MATCH_CANCELLED,
        subject=payload["match_id"],
        occurred_at=_when(event),
        details={"match_id": payload["match_id"]},
    )
    await service.record(uow.session, event=event, entries=entries)


async def on_conversation_created(uow: UnitOfWork, event: Event) -> None:
    payload = event.payload
    entries = _for_each(
        _members(payload["participant_ids"]),
        Kind.CONVERSATION_STARTED,
        subject=payload["conversation_id"],
        occurred_at=_when(event, "created_at"),
        details={
            "conversation_id": payload["conversation_id"],
            "match_id": payload.get("match_id"),
            "connection_id": payload.get("connection_id"),
        },
    )
    await service.record(uow.session, event=event, entries=entries)


async def on_connected(uow: UnitOfWork, event: Event) -> None:
    payload = event.payload
    entries = _for_each(
        _members(payload["user_ids"]),
        Kind.CONNECTED,
        # The same connection is made again after a block ends it, at a new version.
        subject=f"{payload['connection_id']}@{event.aggregate_version}",
        occurred_at=_when(event, "connected_at"),
        details={"connection_id": payload["connection_id"], "match_id": payload.get("match_id")},
    )
    await service.record(uow.session, event=event, entries=entries)


async def on_interaction_recorded(uow: UnitOfWork, event: Event) -> None:
    payload = event.payload
    kind = REACTIONS.get(payload["kind"])
    if kind is None:
        return
    entry = NewEntry(
        member_id=uuid.UUID(payload["actor_id"]),
        kind=kind,
        subject=f"{payload['target_id']}@{payload['version']}",
        occurred_at=_when(event, "occurred_at"),
        other_member_id=uuid.UUID(payload["target_id"]),
        details={"match_id": payload.get("match_id"), "rating": payload.get("rating")},
    )
    await service.record(uow.session, event=event, entries=[entry])


async def on_action_taken(uow: UnitOfWork, event: Event) -> None:
    payload = event.payload
    if payload["action"] not in MEMBER_ACTIONS:
        return
    entry = NewEntry(
        member_id=uuid.UUID(payload["user_id"]),
        kind=Kind.MODERATION_ACTION,
        subject=payload["action_id"],
        occurred_at=_when(event),
        details={
            "action_id": payload["action_id"],
            "action": payload["action"],
            "until": payload.get("until"),
            "reason": payload.get("reason"),
        },
    )
    await service.record(uow.session, event=event, entries=[entry])


async def on_user_suspended(uow: UnitOfWork, event: Event) -> None:
    payload = event.payload
    entry = NewEntry(
        member_id=uuid.UUID(payload["user_id"]),
        # A suspension without an end is a ban.
        kind=Kind.SUSPENDED if payload.get("until") else Kind.BANNED,
        subject=f"standing@{event.aggregate_version}",
        occurred_at=_when(event),
        details={
            "action_id": payload.get("action_id"),
            "until": payload.get("until"),
            "reason": payload.get("reason"),
        },
    )
    await service.record(uow.session, event=event, entries=[entry])


async def on_user_reinstated(uow: UnitOfWork, event: Event) -> None:
    payload = event.payload
    entry = NewEntry(
        member_id=uuid.UUID(payload["user_id"]),
        kind=Kind.REINSTATED,
        subject=f"standing@{event.aggregate_version}",
        occurred_at=_when(event),
        details={"action_id": payload.get("action_id")},
    )
    await service.record(uow.session, event=event, entries=[entry])


async def on_appeal_decided(uow: UnitOfWork, event: Event) -> None:
    payload = event.payload
    entry = NewEntry(
        member_id=uuid.UUID(payload["user_id"]),
        kind=Kind.APPEAL_DECIDED,
        subject=payload["appeal_id"],
        occurred_at=_when(event),
        details={
            "appeal_id": payload["appeal_id"],
            "action_id": payload.get("action_id"),
            "outcome": payload.get("outcome"),
        },
    )
    await service.record(uow.session, event=event, entries=[entry])


async def on_subscription_changed(uow: UnitOfWork, event: Event) -> None:
    payload = event.payload
    entry = NewEntry(
        member_id=uuid.UUID(payload["user_id"]),
        kind=Kind.SUBSCRIPTION_CHANGED,
        subject=f"v{event.aggregate_version}",
        occurred_at=_when(event),
        details={
            "plan": payload.get("plan"),
            "status": payload.get("status"),
            "entitled_until": payload.get("entitled_until"),
        },
    )
    await service.record(uow.session, event=event, entries=[entry])


HANDLERS: dict[str, Handler] = {
    Topic.QUEUE_MATCH_CREATED: on_match_created,
    Topic.QUEUE_MATCH_CANCELLED: on_match_cancelled,
    Topic.CONVERSATION_CREATED: on_conversation_created,
    Topic.INTERACTION_CONNECTED: on_connected,
    Topic.INTERACTION_RECORDED: on_interaction_recorded,
    Topic.MODERATION_ACTION_TAKEN: on_action_taken,
    Topic.USER_SUSPENDED: on_user_suspended,
    Topic.USER_REINSTATED: on_user_reinstated,
    Topic.MODERATION_APPEAL_DECIDED: on_appeal_decided,
    Topic.SUBSCRIPTION_CHANGED: on_subscription_changed,
}
