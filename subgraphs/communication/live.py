"""Which live channel and presence group a conversation's messages and typing go to."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from subgraphs.communication.models import Message


def messages_channel(conversation_id: uuid.UUID) -> str:
    return f"conversation:{conversation_id}:messages"


def typing_channel(conversation_id: uuid.UUID) -> str:
    return f"conversation:{conversation_id}:typing"


def watchers(conversation_id: uuid.UUID) -> str:
    """The presence group of members with an open `messageReceived` on the conversation."""
    return f"conversation:{conversation_id}"


def message_to_wire(message: Message) -> dict[str, Any]:
    return {
        "id": str(message.id),
        "conversation_id": str(message.conversation_id),
        "seq": message.seq,
        "sender_id": str(message.sender_id) if message.sender_id else None,
        "kind": message.kind,
        "text": message.text,
        "client_message_id": message.client_message_id,
        "created_at": message.created_at.isoformat(),
    }


def message_from_wire(data: dict[str, Any]) -> Message:
    return Message(
        id=uuid.UUID(data["id"]),
        conversation_id=uuid.UUID(data["conversation_id"]),
        seq=int(data["seq"]),
        sender_id=uuid.UUID(data["sender_id"]) if data["sender_id"] else None,
        kind=data["kind"],
        text=data["text"],
        client_message_id=data["client_message_id"],
        created_at=datetime.fromisoformat(data["created_at"]),
    )
