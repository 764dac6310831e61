"""When parts fail: Redis down, a consumer killed mid-stream, duplicate and stale events."""

from __future__ import annotations

import asyncio
from functools import partial
from typing import Any

import httpx
import psycopg
from aiokafka import AIOKafkaProducer

from kindred.devstack.stack import Stack
from kindred.events import Event
from kindred.topics import Topic
from tests.e2e.conftest import wait_for_consumer
from tests.support import Member, eventually, gql, register

UPDATE = """
mutation($input: ProfileInput!, $v: Int!) {
  updateProfile(input: $input, expectedVersion: $v) { version }
}"""


async def _update(gateway: httpx.AsyncClient, member: Member, version: int, **fields: Any) -> int:
    body = await gql(gateway, UPDATE, {"input": fields, "v": version}, token=member.access_token)
    assert "errors" not in body, body
    return int(body["data"]["updateProfile"]["version"])


def _copy(queuing_db: psycopg.Connection[Any], member: Member) -> tuple[int, list[str]] | None:
    row = queuing_db.execute(
        "SELECT synced_version, interests FROM profile_copies WHERE user_id = %s", (member.id,)
    ).fetchone()
    return (row[0], row[1]) if row else None


async def test_the_api_keeps_answering_with_redis_stopped(
    gateway: httpx.AsyncClient, infra: Any
) -> None:
    member = await register(gateway, displayName="Cached")
    assert "errors" not in await gql(gateway, "{ me { displayName } }", token=member.access_token)
    infra.stop_redis()
    try:
        me = await gql(gateway, "{ me { displayName version } }", token=member.access_token)
        assert me == {"data": {"me": {"displayName": "Cached", "version": 1}}}
        assert await _update(gateway, member, 1, displayName="Uncached") == 2
        me = await gql(gateway, "{ me { displayName version } }", token=member.access_token)
        assert me == {"data": {"me": {"displayName": "Uncached", "version": 2}}}
    finally:
        infra.start_redis()
    # The cache comes back without serving what changed while it was away.
    me = await gql(gateway, "{ me { displayName version } }", token=member.access_token)
    assert me == {"data": {"me": {"displayName": "Uncached", "version": 2}}}


async def test_duplicate_and_out_of_order_events_change_nothing(
    gateway: httpx.AsyncClient,
    infra: Any,
    user_db: psycopg.Connection[Any],
    queuing_db: psycopg.Connection[Any],
) -> None:
    member = await register(gateway)
    await gql(gateway, "mutation { joinQueue { syncedVersion } }", token=member.access_token)
    await _update(gateway, member, 1, interests=["real"])
    await eventually(lambda: _copy(queuing_db, member), lambda copy: copy == (2, ["real"]))

    row = user_db.execute(
        "SELECT value FROM outbox WHERE key = %s ORDER BY id DESC LIMIT 1", (member.id,)
    ).fetchone()
    assert row is not None
    latest = Event.from_json(bytes(row[0]))
    duplicate = Event(  # the same event id with other content: must be recognised and skipped
        topic=latest.topic,
        aggregate_id=latest.aggregate_id,
        aggregate_version=latest.aggregate_version,
        payload={**latest.payload, "interests": ["duplicate"]},
        event_id=latest.event_id,
    )
    stale = Event(
        topic=Topic.USER_PROFILE_UPDATED,
        aggregate_id=member.id,
        aggregate_version=1,
        payload={**latest.payload, "interests": ["stale"]},
    )
    marker = Event(
        topic=Topic.USER_PROFILE_UPDATED,
        aggregate_id=member.id,
        aggregate_version=0,
        payload={**latest.payload, "interests": ["marker"]},
    )
    producer = AIOKafkaProducer(bootstrap_servers=infra.kafka_bootstrap, enable_idempotence=False)
    await producer.start()
    try:
        for event in (duplicate, stale, marker):
            await producer.send_and_wait(event.topic, event.to_json(), key=event.key.encode())
    finally:
        await producer.stop()

    def marker_seen() -> bool:
        return (
            queuing_db.execute(
                "SELECT 1 FROM inbox WHERE event_id = %s", (marker.event_id,)
            ).fetchone()
            is not None
        )

    # Same key, same partition: once the marker is handled, so are the two before it.
    await eventually(marker_seen, bool)
    assert _copy(queuing_db, member) == (2, ["real"])
    processed = queuing_db.execute(
        "SELECT count(*) FROM inbox WHERE event_id = %s", (latest.event_id,)
    ).fetchone()
    assert processed == (1,)


async def test_a_consumer_killed_mid_stream_resumes_without_loss(
    gateway: httpx.AsyncClient, stack: Stack, queuing_db: psycopg.Connection[Any]
) -> None:
    # Queuing in a process of its own (the stack may serve every subgraph from one): the
    # SIGKILL below must take down the consumer and nothing else.
    await asyncio.to_thread(stack.own_process, "queuing")
    await asyncio.to_thread(wait_for_consumer, stack, "queuing")
    members = [await register(gateway) for _ in range(8)]
    for member in members:
        await gql(gateway, "mutation { joinQueue { syncedVersion } }", token=member.access_token)
    rounds = 6

    async def keep_updating() -> None:
        for round_ in range(rounds):
            await asyncio.gather(
                *(
                    _update(gateway, member, round_ + 1, interests=[f"round-{round_}"])
                    for member in members
                )
            )
            await asyncio.sleep(0.05)

    writer = asyncio.create_task(keep_updating())
    await asyncio.sleep(0.15)
    process = stack.subgraphs["queuing"]
    process.stop(grace=0, sig=9)  # SIGKILL: no clean shutdown, no offset commit
    stack.subgraphs.pop("queuing")
    await writer
    await asyncio.to_thread(stack.start_subgraph, "queuing")
    await asyncio.to_thread(wait_for_consumer, stack, "queuing")

    expected = (rounds + 1, [f"round-{rounds - 1}"])
    for member in members:
        await eventually(
            partial(_copy, queuing_db, member),
            lambda copy: copy == expected,
            within=60,
        )
    applied = queuing_db.execute(
        "SELECT count(*), count(DISTINCT event_id) FROM inbox WHERE consumer = 'queuing-subgraph'"
    ).fetchone()
    assert applied is not None and applied[0] == applied[1]


async def test_joining_while_the_user_subgraph_is_down_is_unavailable_and_changes_nothing(
    gateway: httpx.AsyncClient, stack: Stack, queuing_db: psycopg.Connection[Any]
) -> None:
    member = await register(gateway)
    # Queuing has the user subgraph's keys once it has seen one token.
    assert "errors" not in await gql(gateway, "{ queueLength }", token=member.access_token)
    await asyncio.to_thread(stack.stop_subgraph, "user")
    try:
        async with httpx.AsyncClient(base_url=stack.subgraph_url("queuing")) as queuing:
            body = await gql(queuing, "mutation { joinQueue { age } }", token=member.access_token)
    finally:
        await asyncio.to_thread(stack.start_subgraph, "user")
    assert [e["extensions"]["code"] for e in body["errors"]] == ["SERVICE_UNAVAILABLE"]
    entries = queuing_db.execute(
        "SELECT count(*) FROM queue_entries WHERE user_id = %s", (member.id,)
    ).fetchone()
    assert entries == (0,)
    joined = await gql(
        gateway, "mutation { joinQueue { syncedVersion } }", token=member.access_token
    )
    assert joined == {"data": {"joinQueue": {"syncedVersion": 1}}}
