"""Members who fit each other (or not), placed where no other test's members are."""

from __future__ import annotations

import random
import uuid
from datetime import UTC, datetime
from typing import Any

import httpx

from kindred.events import Event
from kindred.kafka import EventProducer
from kindred.topics import Topic
from tests.support import Member, gql, register

UPDATE = """
mutation($input: ProfileInput!) {
  updateProfile(input: $input, expectedVersion: 1) { version }
}"""


def secluded_spot() -> dict[str, float]:
    """A random point in the South Pacific: members of different tests never meet there."""
    rng = random.SystemRandom()
    return {"latitude": rng.uniform(-50.0, -20.0), "longitude": rng.uniform(-150.0, -100.0)}


async def matchable_member(
    gateway: httpx.AsyncClient,
    *,
    name: str,
    gender: str,
    seeks: list[str],
    location: dict[str, float],
    languages: list[str] | None = None,
    **profile: Any,
) -> Member:
    """A registered member with a location, languages and preferences set (version 2)."""
    member = await register(gateway, displayName=name, gender=gender, birthdate="1995-05-05")
    body = await gql(
        gateway,
        UPDATE,
        {
            "input": {
                "location": location,
                "languages": languages or ["pt"],
                "interests": ["surfing", "tea"],
                "preferences": {"gendersSought": seeks, "maxDistanceKm": 20},
                **profile,
            }
        },
        token=member.access_token,
    )
    assert "errors" not in body, body
    return member


async def join_queue(gateway: httpx.AsyncClient, member: Member) -> None:
    body = await gql(gateway, "mutation { joinQueue { syncedVersion } }", token=member.access_token)
    assert body["data"]["joinQueue"]["syncedVersion"] == 2, body


async def put_match_created(bootstrap: str, user_ids: list[str], *, score: float = 0.9) -> str:
    """Publishes a `queue.match.created` for these members, as the queuing subgraph's saga
    does, and returns the new match's id (for tests of the subgraphs that react to it)."""
    match_id = str(uuid.uuid4())
    event = Event(
        topic=Topic.QUEUE_MATCH_CREATED,
        aggregate_id=match_id,
        aggregate_version=1,
        payload={
            "match_id": match_id,
            "user_ids": user_ids,
            "score": score,
            "created_at": datetime.now(UTC).isoformat(),
        },
    )
    producer = EventProducer(bootstrap)
    await producer.start()
    try:
        await (await producer.send(event.topic, key=match_id, value=event.to_json(), headers=[]))
    finally:
        await producer.stop()
    return match_id
