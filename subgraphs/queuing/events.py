"""The events the queuing subgraph handles."""

from __future__ import annotations

import uuid

from kindred.db import UnitOfWork
from kindred.events import Event
from kindred.kafka import Handler
from kindred.topics import Topic
from subgraphs.queuing import service


async def on_profile_updated(uow: UnitOfWork, event: Event) -> None:
    await service.apply_profile(
        uow.session,
        user_id=uuid.UUID(event.aggregate_id),
        version=event.aggregate_version,
        snapshot=event.payload,
    )


async def on_user_deleted(uow: UnitOfWork, event: Event) -> None:
    await service.forget_member(
        uow.session, user_id=uuid.UUID(event.aggregate_id), version=event.aggregate_version
    )


HANDLERS: dict[str, Handler] = {
    Topic.USER_PROFILE_UPDATED: on_profile_updated,
    Topic.USER_DELETED: on_user_deleted,
}
