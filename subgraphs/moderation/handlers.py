"""The events the moderation subgraph handles: messages and profiles to screen, and who
is a member (profiles and deletions)."""

from __future__ import annotations

import functools
import uuid

from kindred.db import UnitOfWork
from kindred.events import Event
from kindred.kafka import Handler
from kindred.settings import load_settings
from kindred.topics import Topic
from subgraphs.moderation import service
from subgraphs.moderation.screening import TermList


@functools.cache
def screened_terms() -> TermList:
    """The process's term list (`KINDRED_SCREENING_TERMS`), read once."""
    return service.term_list(load_settings("moderation"))


async def on_message_sent(uow: UnitOfWork, event: Event) -> None:
    payload = event.payload
    if not payload.get("sender_id"):  # a SYSTEM message is Kindred's own
        return
    await service.screen_message(
        uow.session,
        screened_terms(),
        message_id=uuid.UUID(payload["message_id"]),
        sender_id=uuid.UUID(payload["sender_id"]),
        conversation_id=uuid.UUID(payload["conversation_id"]),
        text=str(payload.get("text") or ""),
    )


async def on_profile_updated(uow: UnitOfWork, event: Event) -> None:
    user_id = uuid.UUID(event.aggregate_id)
    await service.member_seen(uow.session, user_id=user_id, version=event.aggregate_version)
    if not await service.is_member(uow.session, user_id):
        return  # a late profile of a deleted member: no case about someone who is gone
    await service.screen_bio(
        uow.session, screened_terms(), user_id=user_id, bio=event.payload.get("bio")
    )


async def on_user_deleted(uow: UnitOfWork, event: Event) -> None:
    await service.member_deleted(
        uow.session, user_id=uuid.UUID(event.aggregate_id), version=event.aggregate_version
    )


HANDLERS: dict[str, Handler] = {
    Topic.MESSAGE_SENT: on_message_sent,
    Topic.USER_PROFILE_UPDATED: on_profile_updated,
    Topic.USER_DELETED: on_user_deleted,
}
