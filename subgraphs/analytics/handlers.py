"""The events the analytics subgraph counts, each into its daily figures.

Each handler runs in the consumer's unit of work together with the event's inbox row
(kindred.kafka.EventConsumer), so a figure moves exactly once per event id; the service
keys each figure by the fact, so a fact published again under a new id counts once too.
A fact is counted on the UTC day it happened (its own timestamp where the payload has one).
"""

from __future__ import annotations

import uuid
from datetime import datetime

from kindred.db import UnitOfWork
from kindred.events import Event
from kindred.kafka import Handler
from kindred.topics import Topic
from subgraphs.analytics import service
from subgraphs.analytics.service import Figure, day_of


def _moment(event: Event, field: str) -> datetime:
    """The payload's timestamp `field`, or the event's own time if it has none."""
    value = event.payload.get(field)
    return datetime.fromisoformat(value) if value else event.occurred_at


async def on_profile_updated(uow: UnitOfWork, event: Event) -> None:
    await service.profile_updated(
        uow.session,
        user_id=uuid.UUID(event.aggregate_id),
        version=event.aggregate_version,
        day=day_of(event.occurred_at),
    )


async def on_queue_entry_joined(uow: UnitOfWork, event: Event) -> None:
    member = uuid.UUID(event.payload["user_id"])
    joined_at = _moment(event, "joined_at")
    day = day_of(joined_at)
    key = f"{member}@{joined_at.isoformat()}"
    await service.count_fact(uow.session, figure=Figure.QUEUE_JOINS, key=key, day=day)
    await service.mark_active(uow.session, user_id=member, day=day)


async def on_match_created(uow: UnitOfWork, event: Event) -> None:
    await service.match_created(
        uow.session,
        match_id=uuid.UUID(event.payload["match_id"]),
        day=day_of(_moment(event, "created_at")),
    )


async def on_conversation_created(uow: UnitOfWork, event: Event) -> None:
    # A connection's lasting conversation has no match: it is not a match's outcome.
    if event.payload.get("match_id"):
        await service.conversation_created(
            uow.session, match_id=uuid.UUID(event.payload["match_id"])
        )


async def on_message_sent(uow: UnitOfWork, event: Event) -> None:
    day = day_of(_moment(event, "created_at"))
    key = event.payload["message_id"]
    await service.count_fact(uow.session, figure=Figure.MESSAGES, key=key, day=day)
    await service.mark_active(uow.session, user_id=uuid.UUID(event.payload["sender_id"]), day=day)


async def on_interaction_recorded(uow: UnitOfWork, event: Event) -> None:
    await service.mark_active(
        uow.session,
        user_id=uuid.UUID(event.payload["actor_id"]),
        day=day_of(_moment(event, "occurred_at")),
    )


async def on_report_filed(uow: UnitOfWork, event: Event) -> None:
    await service.count_fact(
        uow.session,
        figure=Figure.REPORTS,
        key=event.payload["report_id"],
        day=day_of(_moment(event, "created_at")),
    )


async def on_subscription_changed(uow: UnitOfWork, event: Event) -> None:
    await service.plan_changed(
        uow.session,
        user_id=uuid.UUID(event.payload["user_id"]),
        plan=event.payload["plan"],
        version=event.aggregate_version,
        day=day_of(event.occurred_at),
    )


HANDLERS: dict[str, Handler] = {
    Topic.USER_PROFILE_UPDATED: on_profile_updated,
    Topic.QUEUE_ENTRY_JOINED: on_queue_entry_joined,
    Topic.QUEUE_MATCH_CREATED: on_match_created,
    Topic.CONVERSATION_CREATED: on_conversation_created,
    Topic.MESSAGE_SENT: on_message_sent,
    Topic.INTERACTION_RECORDED: on_interaction_recorded,
    Topic.MODERATION_REPORT_FILED: on_report_filed,
    Topic.SUBSCRIPTION_CHANGED: on_subscription_changed,
}
