"""The events the queuing subgraph handles: profile news, blocks and passes (pairs the
matcher keeps apart), the saga's answers and moderation's suspensions (a suspended member
leaves the queue and may not join)."""

from __future__ import annotations

import uuid
from datetime import datetime

from kindred import member_state
from kindred.db import UnitOfWork
from kindred.events import Event
from kindred.kafka import Handler
from kindred.topics import Topic
from subgraphs.queuing import saga_steps, service


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


async def on_interaction_recorded(uow: UnitOfWork, event: Event) -> None:
    payload = event.payload
    pass_until = payload.get("pass_until")
    await service.apply_interaction(
        uow.session,
        actor_id=uuid.UUID(payload["actor_id"]),
        target_id=uuid.UUID(payload["target_id"]),
        kind=str(payload["kind"]),
        version=int(payload["version"]),
        blocked=bool(payload["blocked"]),
        pass_until=datetime.fromisoformat(pass_until) if pass_until else None,
        occurred_at=datetime.fromisoformat(payload["occurred_at"]),
    )


async def on_conversation_created(uow: UnitOfWork, event: Event) -> None:
    match_id = event.payload.get("match_id")
    if match_id:  # conversations that come from elsewhere (a mutual like) are not ours
        await saga_steps.conversation_opened(
            uow,
            match_id=uuid.UUID(match_id),
            conversation_id=uuid.UUID(event.payload["conversation_id"]),
        )


async def on_notification_created(uow: UnitOfWork, event: Event) -> None:
    match_id = event.payload.get("match_id")
    if event.payload.get("type") == "MATCH_CREATED" and match_id:
        await saga_steps.member_notified(
            uow, match_id=uuid.UUID(match_id), user_id=str(event.payload["user_id"])
        )


async def on_user_suspended(uow: UnitOfWork, event: Event) -> None:
    await member_state.on_user_suspended(uow, event)
    # The read model decides, so a stale suspension (already lifted) takes nobody out.
    user_id = uuid.UUID(event.payload["user_id"])
    if await member_state.is_suspended(uow.session, user_id):
        await service.leave(uow.session, user_id=user_id)


HANDLERS: dict[str, Handler] = {
    Topic.USER_PROFILE_UPDATED: on_profile_updated,
    Topic.USER_DELETED: on_user_deleted,
    Topic.INTERACTION_RECORDED: on_interaction_recorded,
    Topic.CONVERSATION_CREATED: on_conversation_created,
    Topic.NOTIFICATION_CREATED: on_notification_created,
    Topic.USER_SUSPENDED: on_user_suspended,
    Topic.USER_REINSTATED: member_state.on_user_reinstated,
    # Premium widens the matcher's distance limit (the `entitlements` read model).
    Topic.SUBSCRIPTION_CHANGED: member_state.on_subscription_changed,
}
