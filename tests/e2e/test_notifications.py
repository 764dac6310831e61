"""Notifications through the one endpoint: a member's device reaches the notification
subgraph's read model, a match on the broker tells both members, pushes go out, and
marking read brings the count to zero."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from functools import partial
from typing import Any

import httpx
import psycopg
import pytest

from kindred.devstack.stack import Stack
from tests.e2e.conftest import wait_for_consumer
from tests.matchmaking_support import put_match_created
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

    match_id = await put_match_created(infra.kafka_bootstrap, [ana.id, ben.id])
    for member, other in ((ana, ben), (ben, ana)):
        # The count and the list are read concurrently, each on a connection of its own:
        # a request in the instant the notification commits may see one and not the other.
        told = await eventually(
            partial(_data, gateway, member, NOTIFICATIONS),
            lambda data: (
                data["me"]["unreadNotificationCount"] == 1
                and len(data["me"]["notifications"]["edges"]) == 1
            ),
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
