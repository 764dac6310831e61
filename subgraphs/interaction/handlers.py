"""The events the interaction subgraph handles: matches (who may react to whom) and
subscriptions (who may see who liked them)."""

from __future__ import annotations

import uuid
from datetime import datetime

from kindred import member_state
from kindred.db import UnitOfWork
from kindred.events import Event
from kindred.kafka import Handler
from kindred.topics import Topic
from subgraphs.interaction import service


async def on_match_created(uow: UnitOfWork, event: Event) -> None:
    await service.record_match(
        uow.session,
        match_id=uuid.UUID(event.payload["match_id"]),
        user_ids=[uuid.UUID(member) for member in event.payload["user_ids"]],
        matched_at=datetime.fromisoformat(event.payload["created_at"]),
    )


# The platform's entitlements read model: `likedBy` needs SEE_WHO_LIKED_YOU.
on_subscription_changed = member_state.on_subscription_changed

HANDLERS: dict[str, Handler] = {
    Topic.QUEUE_MATCH_CREATED: on_match_created,
    Topic.SUBSCRIPTION_CHANGED: on_subscription_changed,
}
