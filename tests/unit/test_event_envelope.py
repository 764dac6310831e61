"""The event envelope survives the wire and refuses what is not one."""

import json
import uuid

import pytest

from kindred.events import Event, InvalidEvent
from kindred.topics import Topic, all_topic_names


def test_an_event_round_trips_through_json() -> None:
    event = Event(
        topic=Topic.USER_PROFILE_UPDATED,
        aggregate_id="u-1",
        aggregate_version=7,
        payload={"gender": "WOMAN"},
    )
    decoded = Event.from_json(event.to_json())
    assert decoded == event
    assert decoded.key == "u-1"


def test_the_envelope_has_every_documented_field() -> None:
    event = Event(topic="user.deleted", aggregate_id="u-2", aggregate_version=3, payload={})
    assert set(json.loads(event.to_json())) == {
        "event_id",
        "type",
        "schema_version",
        "occurred_at",
        "aggregate_id",
        "aggregate_version",
        "payload",
    }


@pytest.mark.parametrize(
    "raw",
    [
        None,
        b"not json",
        b"[]",
        b'{"type": "x"}',
        json.dumps(
            {
                "event_id": "nope",
                "type": "x",
                "occurred_at": "2026-01-01T00:00:00+00:00",
                "aggregate_id": "a",
                "aggregate_version": 1,
                "payload": {},
            }
        ).encode(),
        json.dumps(
            {
                "event_id": str(uuid.uuid4()),
                "type": "x",
                "occurred_at": "2026-01-01T00:00:00+00:00",
                "aggregate_id": "a",
                "aggregate_version": "seven",
                "payload": {},
            }
        ).encode(),
    ],
)
def test_anything_else_is_an_invalid_event(raw: bytes | None) -> None:
    with pytest.raises(InvalidEvent):
        Event.from_json(raw)


def test_every_topic_has_a_dead_letter_topic() -> None:
    names = all_topic_names()
    assert "user.profile.updated" in names
    assert "user.profile.updated.dlq" in names
    assert len(names) == 2 * len(Topic)
