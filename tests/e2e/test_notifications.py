"""Notifications through the one endpoint: a member's device reaches the notification
subgraph's read model, a match on the broker tells both members, pushes go out, and
marking read brings the count to zero."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from functools import partial
from typing import Any

import httpx
import psycopg
import pytest

from kindred.devstack.stack import Stack
from kindred.events import Event
from kindred.kafka import EventProducer
from kindred.topics import Topic
from tests.e2e.conftest import wait_for_consumer
from tests.support import Member, eventually, gql, register

NOTIFICATIONS = """
{ me { unreadNotificationCount notifications { edges { node { type title data } } } } }"""
REGISTER_DEVICE = """
mutation($t: String!) { registerDevice(token: $t, platform: ANDROID) { token platform } }"""
REMOVE_DEVICE = "mutation($t: String!) { removeDevice(token: $t) }"
MARK_ALL = "mutation { markNotificationsRead(all: true) }"


@pytest.fixture
def notification_db(infra: Any) -> Iterator[psycopg.Connection[Any]]:
    with psycopg.connect(infra.database_url("notification_db"), autocommit=True) as connection:
        yield connection


async def _data(gateway: httpx.AsyncClient, member: Member, query: str, **variables: Any) -> Any:
    body = await gql(gateway, query, variables, token=member.access_token)
    assert "errors" not in body, body
    return body["data"]


async def _put_match_on_the_broker(bootstrap: str, a: Member, b: Member) -> str:
    match_id = str(uuid.uuid4())
    event = Event(
        topic=Topic.QUEUE_MATCH_CREATED,
        aggregate_id=match_id,
        aggregate_version=1,
        payload={
            "match_id": match_id,
            "user_ids": [a.id, b.id],
            "score": 0.9,
            "created_at": datetime.now(UTC).isoformat(),
        },
    )
    producer = EventProducer(bootstrap)
    await producer.start()
    try:
        delivery = await producer.send(
            event.topic, key=event.key, value=event.to_json(), headers=[]
        )
        await delivery
    finally:
        await producer.stop()
    return match_id


async def test_a_match_tells_both_members_and_pushes_to_their_device(
    stack: Stack, infra: Any, gateway: httpx.AsyncClient, notification_db: Any
) -> None:
    wait_for_consumer(stack, "notification")
    ana = await register(gateway, displayName="Ana")
    ben = await register(gateway, displayName="Ben")
    token = f"fcm-{uuid.uuid4().hex}"
    registered = await _data(gateway, ana, REGISTER_DEVICE, t=token)
    assert registered["registerDevice"] == {"token": token, "platform": "ANDROID"}

    def device() -> tuple[Any, ...] | None:
        return notification_db.execute(
            "SELECT user_id::text, platform, removed FROM devices WHERE token = %s", (token,)
        ).fetchone()

    await eventually(device, lambda row: row == (ana.id, "ANDROID", False), what="the device copy")

    match_id = await _put_match_on_the_broker(infra.kafka_bootstrap, ana, ben)
    for member, other in ((ana, ben), (ben, ana)):
        told = await eventually(
            partial(_data, gateway, member, NOTIFICATIONS),
            lambda data: data["me"]["unreadNotificationCount"] == 1,
            what="the match notification",
        )
        [note] = [edge["node"] for edge in told["me"]["notifications"]["edges"]]
        assert note == {
            "type": "MATCH_CREATED",
            "title": "It's a match!",
            "data": {"matchId": match_id, "otherUserId": other.id},
        }

    await eventually(
        lambda: notification_db.execute(
            "SELECT status FROM deliveries WHERE token = %s", (token,)
        ).fetchall(),
        lambda rows: rows == [("SENT",)],
        what="the push to Ana's phone",
    )

    assert (await _data(gateway, ana, MARK_ALL))["markNotificationsRead"] == 1
    after = await _data(gateway, ana, NOTIFICATIONS)
    assert after["me"]["unreadNotificationCount"] == 0
    assert (await _data(gateway, ben, NOTIFICATIONS))["me"]["unreadNotificationCount"] == 1

    assert (await _data(gateway, ana, REMOVE_DEVICE, t=token))["removeDevice"] is True
    await eventually(device, lambda row: row is not None and row[2], what="the device removed")
