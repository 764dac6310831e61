"""The events the communication subgraph handles: the match saga's create and cancel,
connections (a lasting conversation), blocks (sends between blocked members refused) and
moderation's suspensions (a suspended member may not send)."""

from __future__ import annotations

import uuid

from kindred import member_state
from kindred.db import UnitOfWork
from kindred.events import Event
from kindred.kafka import Handler
from kindred.topics import Topic
from subgraphs.communication import service


async def on_match_created(uow: UnitOfWork, event: Event) -> None:
    await service.open_for_match(
        uow,
        match_id=uuid.UUID(event.payload["match_id"]),
        user_ids=[uuid.UUID(member) for member in event.payload["user_ids"]],
    )


async def on_match_cancelled(uow: UnitOfWork, event: Event) -> None:
    await service.cancel_match(
        uow.session,
        match_id=uuid.UUID(event.payload["match_id"]),
        reason=event.payload.get("reason"),
    )


async def on_connected(uow: UnitOfWork, event: Event) -> None:
    await service.open_for_connection(
        uow,
        connection_id=uuid.UUID(event.payload["connection_id"]),
        user_ids=[uuid.UUID(member) for member in event.payload["user_ids"]],
    )


HANDLERS: dict[str, Handler] = {
    Topic.QUEUE_MATCH_CREATED: on_match_created,
    Topic.QUEUE_MATCH_CANCELLED: on_match_cancelled,
    Topic.INTERACTION_CONNECTED: on_connected,
    Topic.INTERACTION_RECORDED: member_state.on_block_recorded,
    Topic.USER_SUSPENDED: member_state.on_user_suspended,
    Topic.USER_REINSTATED: member_state.on_user_reinstated,
}
