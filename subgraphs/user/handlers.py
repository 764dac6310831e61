"""The events the user subgraph handles: push tokens the provider says are dead, blocks
(`user(id)` hides a member from whoever they block or are blocked by) and moderation's
suspensions (a banned member may not sign in)."""

from __future__ import annotations

from kindred import member_state
from kindred.db import UnitOfWork
from kindred.events import Event
from kindred.kafka import Handler
from kindred.topics import Topic
from subgraphs.user import service


async def on_device_unregistered(uow: UnitOfWork, event: Event) -> None:
    await service.forget_dead_device(
        uow, token=str(event.payload["token"]), version=int(event.payload["version"])
    )


HANDLERS: dict[str, Handler] = {
    Topic.NOTIFICATION_DEVICE_UNREGISTERED: on_device_unregistered,
    Topic.INTERACTION_RECORDED: member_state.on_block_recorded,
    Topic.USER_SUSPENDED: member_state.on_user_suspended,
    Topic.USER_REINSTATED: member_state.on_user_reinstated,
}
