"""The versioned JSON envelope every Kindred event travels in."""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

SCHEMA_VERSION = 1


class InvalidEvent(ValueError):
    """A message that is not a well-formed Kindred event envelope."""


@dataclass(frozen=True)
class Event:
    """A fact about one aggregate, at one version of it."""

    topic: str
    aggregate_id: str
    aggregate_version: int
    payload: dict[str, Any]
    event_id: uuid.UUID = field(default_factory=uuid.uuid4)
    occurred_at: datetime = field(default_factory=lambda: datetime.now(UTC))
    schema_version: int = SCHEMA_VERSION

    @property
    def type(self) -> str:
        return self.topic

    @property
    def key(self) -> str:
        """The Kafka key: one aggregate's events stay in one partition, in order."""
        return self.aggregate_id

    def to_dict(self) -> dict[str, Any]:
        return {
            "event_id": str(self.event_id),
            "type": self.type,
            "schema_version": self.schema_version,
            "occurred_at": self.occurred_at.isoformat(),
            "aggregate_id": self.aggregate_id,
            "aggregate_version": self.aggregate_version,
            "payload": self.payload,
        }

    def to_json(self) -> bytes:
        return json.dumps(self.to_dict(), separators=(",", ":")).encode()

    @classmethod
    def from_json(cls, raw: bytes | None) -> Event:
        """Parses an envelope, or raises `InvalidEvent` saying what is wrong with it."""
        if raw is None:
            raise InvalidEvent("empty message")
        try:
            data = json.loads(raw)
            return cls(
                topic=str(data["type"]),
                aggregate_id=str(data["aggregate_id"]),
                aggregate_version=int(data["aggregate_version"]),
                payload=dict(data["payload"]),
                event_id=uuid.UUID(str(data["event_id"])),
                occurred_at=datetime.fromisoformat(str(data["occurred_at"])),
                schema_version=int(data.get("schema_version", SCHEMA_VERSION)),
            )
        except (ValueError, KeyError, TypeError) as error:
            raise InvalidEvent(f"not a Kindred event envelope: {error!r}") from error
