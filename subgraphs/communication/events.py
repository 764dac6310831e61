"""The events the communication subgraph publishes (what it handles is in `handlers.py`)."""

from __future__ import annotations

from collections.abc import Iterable

from kindred.events import Event
from kindred.topics import Topic
from subgraphs.communication.models import Conversation, Message


def conversation_created(conversation: Conversation) -> Event:
    """A conversation opened; for a match it is the saga's answer (sent again on a repeat).
    A connection's lasting conversation has `connection_id` and no `match_id`."""
    return Event(
        topic=Topic.CONVERSATION_CREATED,
        aggregate_id=str(conversation.id),
        aggregate_version=1,
        payload={
            "conversation_id": str(conversation.id),
            "match_id": str(conversation.match_id) if conversation.match_id else None,
            "connection_id": (
                str(conversation.connection_id) if conversation.connection_id else None
            ),
            "participant_ids": [str(member) for member in conversation.participant_ids],
            "created_at": conversation.created_at.isoformat(),
        },
    )


def message_sent(
    message: Message, *, recipient_ids: Iterable[str], offline_recipient_ids: Iterable[str]
) -> Event:
    """A member wrote; notification tells the recipients who were not watching."""
    return Event(
        topic=Topic.MESSAGE_SENT,
        aggregate_id=str(message.conversation_id),
        aggregate_version=message.seq,
        payload={
            "message_id": str(message.id),
            "conversation_id": str(message.conversation_id),
            "sender_id": str(message.sender_id),
            "recipient_ids": sorted(recipient_ids),
            "offline_recipient_ids": sorted(offline_recipient_ids),
            "text": message.text,
            "created_at": message.created_at.isoformat(),
        },
    )
