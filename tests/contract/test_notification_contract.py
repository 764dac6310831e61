"""The notification subgraph's contract: SDL, entities, own-only reads, pagination, marking
read, the event handlers' idempotency by business key, the device read model's ordering
and the push worker with the log provider."""

from __future__ import annotations

import dataclasses
import uuid
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest

from kindred.credentials import TokenIssuer
from kindred.events import Event
from kindred.sdl import REPO, export
from kindred.topics import Topic
from subgraphs.notification import delivery, handlers
from subgraphs.notification.app import SUBGRAPH as NOTIFICATION
from subgraphs.notification.push import LogProvider
from subgraphs.user.handlers import HANDLERS as USER_HANDLERS
from tests.contract.conftest import Served, serve_trusting
from tests.support import error_codes, gql, register

NOTIFICATIONS = """
query($r: [_Any!]!, $first: Int, $after: String, $unread: Boolean) {
  _entities(representations: $r) { ... on User {
    unreadNotificationCount
    notifications(first: $first, after: $after, unreadOnly: $unread) {
      edges { cursor node { id type title body data read } }
      pageInfo { hasNextPage endCursor }
    }
  } }
}"""
MARK = "mutation($ids: [ID!], $all: Boolean) { markNotificationsRead(ids: $ids, all: $all) }"
ENTITY = "query($r: [_Any!]!) { _entities(representations: $r) { %s } }"
ONE = "query($id: ID!) { notification(id: $id) { id type read } }"


@pytest.fixture(scope="module")
async def notification(
    infra: Any, contract_data_dir: Path, issuer: TokenIssuer
) -> AsyncIterator[Served]:
    async with serve_trusting(
        NOTIFICATION, infra=infra, data_dir=contract_data_dir, issuer=issuer
    ) as served:
        yield served


@pytest.fixture
def client(notification: Served) -> httpx.AsyncClient:
    return notification.client


@pytest.fixture
def db(infra: Any, notification: Served) -> Iterator[psycopg.Connection[Any]]:
    with psycopg.connect(infra.database_url("notification_db"), autocommit=True) as connection:
        yield connection


def _event(topic: Topic, aggregate_id: str, payload: dict[str, Any], version: int = 1) -> Event:
    return Event(topic=topic, aggregate_id=aggregate_id, aggregate_version=version, payload=payload)


def match_created(match_id: uuid.UUID, a: uuid.UUID, b: uuid.UUID) -> Event:
    payload = {
        "match_id": str(match_id),
        "user_ids": [str(a), str(b)],
        "score": 0.8,
        "created_at": datetime.now(UTC).isoformat(),
    }
    return _event(Topic.QUEUE_MATCH_CREATED, str(match_id), payload)


def match_cancelled(match_id: uuid.UUID, a: uuid.UUID, b: uuid.UUID) -> Event:
    payload = {"match_id": str(match_id), "user_ids": [str(a), str(b)], "reason": "timeout"}
    return _event(Topic.QUEUE_MATCH_CANCELLED, str(match_id), payload, version=2)


def message_sent(sender: uuid.UUID, recipients: list[uuid.UUID], offline: list[uuid.UUID]) -> Event:
    conversation_id = uuid.uuid4()
    payload = {
        "message_id": str(uuid.uuid4()),
        "conversation_id": str(conversation_id),
        "sender_id": str(sender),
        "recipient_ids": [str(r) for r in recipients],
        "offline_recipient_ids": [str(r) for r in offline],
        "text": "Tea or surfing first?",
        "created_at": datetime.now(UTC).isoformat(),
    }
    return _event(Topic.MESSAGE_SENT, str(conversation_id), payload)


def device_event(
    topic: Topic, token: str, user_id: uuid.UUID, version: int, platform: str = "ANDROID"
) -> Event:
    payload = {
        "device_id": str(uuid.uuid5(uuid.NAMESPACE_URL, token)),
        "user_id": str(user_id),
        "token": token,
        "platform": platform,
    }
    return _event(topic, token, payload, version=version)


async def handle(served: Served, event: Event) -> None:
    """Applies `event` as the consumer would: its handler in one unit of work."""
    async with served.platform.db.unit_of_work() as uow:
        await handlers.HANDLERS[event.topic](uow, event)
        await uow.commit()


async def page(
    client: httpx.AsyncClient, token: str, user_id: uuid.UUID, **variables: Any
) -> dict[str, Any]:
    body = await gql(
        client,
        NOTIFICATIONS,
        {"r": [{"__typename": "User", "id": str(user_id)}], **variables},
        token=token,
    )
    assert "errors" not in body, body
    user: dict[str, Any] = body["data"]["_entities"][0]
    return user


def _rows(db: psycopg.Connection[Any], sql: str, *args: Any) -> list[tuple[Any, ...]]:
    return db.execute(sql, args).fetchall()


def _published(db: psycopg.Connection[Any], topic: str, needle: str) -> int:
    row = db.execute(
        "SELECT count(*) FROM outbox WHERE topic = %s AND position(%s in convert_from(value, "
        "'UTF8')) > 0",
        (topic, needle),
    ).fetchone()
    assert row is not None
    return int(row[0])


# -- the SDL and entities -------------------------------------------------------------


async def test_the_served_sdl_is_the_committed_one(client: httpx.AsyncClient) -> None:
    body = await gql(client, "{ _service { sdl } }")
    committed = (REPO / "subgraphs" / "notification" / "schema.graphql").read_text()
    assert body["data"]["_service"]["sdl"].rstrip() == committed.rstrip()
    assert export("notification") == committed, "run `make compose` to refresh the SDL"
    assert 'type Notification @key(fields: "id")' in committed
    assert 'type User @key(fields: "id")' in committed


async def test_entities_resolve_own_notifications_and_hide_others(
    notification: Served, client: httpx.AsyncClient, issuer: TokenIssuer
) -> None:
    a, b = uuid.uuid4(), uuid.uuid4()
    match_id = uuid.uuid4()
    await handle(notification, match_created(match_id, a, b))
    mine = await page(client, issuer.access_token(a), a)
    [edge] = mine["notifications"]["edges"]
    assert mine["unreadNotificationCount"] == 1
    assert edge["node"]["type"] == "MATCH_CREATED"
    assert edge["node"]["title"] == "It's a match!"
    assert edge["node"]["data"] == {"matchId": str(match_id), "otherUserId": str(b)}
    assert edge["node"]["read"] is False
    note_id = edge["node"]["id"]

    entity = (
        "query($r: [_Any!]!) { _entities(representations: $r) { ... on Notification { id type } } }"
    )
    variables = {"r": [{"__typename": "Notification", "id": note_id}]}
    own = await gql(client, entity, variables, token=issuer.access_token(a))
    assert own["data"]["_entities"] == [{"id": note_id, "type": "MATCH_CREATED"}]
    for token in (issuer.access_token(b), issuer.access_token(uuid.uuid4())):
        assert error_codes(await gql(client, entity, variables, token=token)) == ["NOT_FOUND"]
        assert error_codes(await gql(client, ONE, {"id": note_id}, token=token)) == ["NOT_FOUND"]
    unknown = await gql(client, ONE, {"id": str(uuid.uuid4())}, token=issuer.access_token(a))
    assert error_codes(unknown) == ["NOT_FOUND"]
    bad = await gql(client, ONE, {"id": "nope"}, token=issuer.access_token(a))
    assert error_codes(bad) == ["BAD_USER_INPUT"]
    assert bad["errors"][0]["extensions"]["field"] == "id"


async def test_only_the_member_reads_their_notifications(
    client: httpx.AsyncClient, issuer: TokenIssuer
) -> None:
    member = uuid.uuid4()
    stranger = issuer.access_token(uuid.uuid4())
    for field in ("unreadNotificationCount", "notifications { edges { cursor } }"):
        query = ENTITY % f"... on User {{ {field} }}"
        variables = {"r": [{"__typename": "User", "id": str(member)}]}
        assert error_codes(await gql(client, query, variables, token=stranger)) == ["FORBIDDEN"]
        assert error_codes(await gql(client, query, variables)) == ["UNAUTHENTICATED"]
    assert error_codes(await gql(client, MARK, {"all": True})) == ["UNAUTHENTICATED"]


# -- pagination and marking read --------------------------------------------------------


async def test_notifications_page_newest_first_without_gaps(
    notification: Served, client: httpx.AsyncClient, issuer: TokenIssuer
) -> None:
    member, sender = uuid.uuid4(), uuid.uuid4()
    sent = [message_sent(sender, [member], [member]) for _ in range(5)]
    for event in sent:
        await handle(notification, event)
    token = issuer.access_token(member)
    seen: list[str] = []
    after = None
    while True:
        user = await page(client, token, member, first=2, after=after)
        connection = user["notifications"]
        seen += [edge["node"]["data"]["messageId"] for edge in connection["edges"]]
        if not connection["pageInfo"]["hasNextPage"]:
            break
        after = connection["pageInfo"]["endCursor"]
    assert seen == [event.payload["message_id"] for event in reversed(sent)]

    for variables, field in (
        ({"first": 0}, "first"),
        ({"first": 101}, "first"),
        ({"after": "x"}, "after"),
    ):
        body = await gql(
            client,
            NOTIFICATIONS,
            {"r": [{"__typename": "User", "id": str(member)}], **variables},
            token=token,
        )
        assert error_codes(body) == ["BAD_USER_INPUT"]
        assert body["errors"][0]["extensions"]["field"] == field


async def test_marking_read_changes_only_the_callers_notifications(
    notification: Served, client: httpx.AsyncClient, issuer: TokenIssuer, db: Any
) -> None:
    a, b = uuid.uuid4(), uuid.uuid4()
    for _ in range(3):
        await handle(notification, message_sent(b, [a], [a]))
    await handle(notification, message_sent(a, [b], [b]))
    token_a, token_b = issuer.access_token(a), issuer.access_token(b)
    ids_a = [e["node"]["id"] for e in (await page(client, token_a, a))["notifications"]["edges"]]
    [id_b] = [e["node"]["id"] for e in (await page(client, token_b, b))["notifications"]["edges"]]

    # Someone else's id changes nothing and says nothing about it.
    assert (await gql(client, MARK, {"ids": [id_b]}, token=token_a))["data"] == {
        "markNotificationsRead": 0
    }
    assert (await page(client, token_b, b))["unreadNotificationCount"] == 1

    marked = await gql(client, MARK, {"ids": [ids_a[0], ids_a[0]]}, token=token_a)
    assert marked["data"] == {"markNotificationsRead": 1}
    again = await gql(client, MARK, {"ids": [ids_a[0]]}, token=token_a)
    assert again["data"] == {"markNotificationsRead": 0}
    unread = await page(client, token_a, a, unread=True)
    assert [e["node"]["id"] for e in unread["notifications"]["edges"]] == ids_a[1:]
    assert unread["unreadNotificationCount"] == 2

    assert (await gql(client, MARK, {"all": True}, token=token_a))["data"] == {
        "markNotificationsRead": 2
    }
    assert (await page(client, token_a, a))["unreadNotificationCount"] == 0
    assert (await page(client, token_b, b))["unreadNotificationCount"] == 1

    for variables in (
        {},
        {"ids": ["not-an-id"]},
        {"ids": [id_b], "all": True},
        {"ids": ["x"] * 101},
    ):
        body = await gql(client, MARK, variables, token=token_b)
        assert error_codes(body) == ["BAD_USER_INPUT"], variables
        assert body["errors"][0]["extensions"]["field"] == "ids"
    assert (await page(client, token_b, b))["unreadNotificationCount"] == 1


# -- the handlers ------------------------------------------------------------------------


async def test_a_repeated_match_creates_nothing_new_but_answers_again(
    notification: Served, db: Any
) -> None:
    a, b = uuid.uuid4(), uuid.uuid4()
    match_id = uuid.uuid4()
    await handle(notification, match_created(match_id, a, b))
    await handle(notification, match_created(match_id, a, b))  # the saga asks again
    rows = _rows(
        db, "SELECT user_id, type FROM notifications WHERE match_id = %s ORDER BY user_id", match_id
    )
    assert sorted(rows) == sorted([(a, "MATCH_CREATED"), (b, "MATCH_CREATED")])
    # Both members' notification.created went out each time: the saga always gets its answer.
    assert _published(db, "notification.created", str(match_id)) == 4
    keys = {
        row[0]
        for row in _rows(
            db,
            "SELECT key FROM outbox WHERE topic = 'notification.created' "
            "AND position(%s in convert_from(value, 'UTF8')) > 0",
            str(match_id),
        )
    }
    assert keys == {str(a), str(b)}


async def test_a_cancelled_match_is_told_once_and_a_late_creation_does_nothing(
    notification: Served, client: httpx.AsyncClient, issuer: TokenIssuer, db: Any
) -> None:
    a, b = uuid.uuid4(), uuid.uuid4()
    match_id = uuid.uuid4()
    await handle(notification, match_created(match_id, a, b))
    await handle(notification, match_cancelled(match_id, a, b))
    await handle(notification, match_cancelled(match_id, a, b))
    published = _published(db, "notification.created", str(match_id))
    await handle(notification, match_created(match_id, a, b))  # late, after the compensation

    rows = _rows(
        db,
        "SELECT user_id, type, read_at IS NOT NULL FROM notifications WHERE match_id = %s",
        match_id,
    )
    assert sorted(rows) == sorted(
        [
            (a, "MATCH_CREATED", True),
            (b, "MATCH_CREATED", True),
            (a, "MATCH_CANCELLED", False),
            (b, "MATCH_CANCELLED", False),
        ]
    )
    assert _published(db, "notification.created", str(match_id)) == published
    user = await page(client, issuer.access_token(a), a, unread=True)
    [edge] = user["notifications"]["edges"]
    assert edge["node"]["type"] == "MATCH_CANCELLED"
    assert edge["node"]["body"] == "Your match could not be set up; you are back in the queue"

    # A match cancelled before its creation ever arrived gets only the cancellation.
    early = uuid.uuid4()
    await handle(notification, match_cancelled(early, a, b))
    await handle(notification, match_created(early, a, b))
    types = _rows(db, "SELECT DISTINCT type FROM notifications WHERE match_id = %s", early)
    assert types == [("MATCH_CANCELLED",)]


async def test_a_message_notifies_only_recipients_who_were_offline_once(
    notification: Served, db: Any
) -> None:
    sender, online, offline = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    event = message_sent(sender, [online, offline], [offline])
    await handle(notification, event)
    await handle(notification, dataclasses.replace(event, event_id=uuid.uuid4()))
    rows = _rows(
        db,
        "SELECT user_id, type, body, data->>'senderId' FROM notifications WHERE message_id = %s",
        uuid.UUID(event.payload["message_id"]),
    )
    assert rows == [(offline, "MESSAGE_RECEIVED", "Tea or surfing first?", str(sender))]


async def test_the_device_read_model_never_lets_an_older_event_win(
    notification: Served, db: Any
) -> None:
    token, member = f"tok-{uuid.uuid4().hex}", uuid.uuid4()

    def device() -> tuple[Any, ...] | None:
        return db.execute(
            "SELECT user_id, version, removed FROM devices WHERE token = %s", (token,)
        ).fetchone()

    await handle(notification, device_event(Topic.USER_DEVICE_REGISTERED, token, member, 2))
    await handle(notification, device_event(Topic.USER_DEVICE_REMOVED, token, member, 1))
    assert device() == (member, 2, False)
    await handle(notification, device_event(Topic.USER_DEVICE_REMOVED, token, member, 3))
    assert device() == (member, 3, True)
    await handle(notification, device_event(Topic.USER_DEVICE_REGISTERED, token, member, 2))
    assert device() == (member, 3, True)
    other = uuid.uuid4()  # the token moved to another member's phone
    await handle(notification, device_event(Topic.USER_DEVICE_REGISTERED, token, other, 4))
    assert device() == (other, 4, False)


# -- the push worker ---------------------------------------------------------------------


async def test_the_worker_pushes_each_new_notification_to_each_device_once(
    notification: Served, db: Any
) -> None:
    a, b = uuid.uuid4(), uuid.uuid4()
    phone, tablet, gone = (f"{name}-{uuid.uuid4().hex}" for name in ("phone", "tablet", "gone"))
    await handle(notification, device_event(Topic.USER_DEVICE_REGISTERED, phone, a, 1))
    await handle(notification, device_event(Topic.USER_DEVICE_REGISTERED, tablet, a, 1, "IOS"))
    await handle(notification, device_event(Topic.USER_DEVICE_REGISTERED, gone, a, 1))
    await handle(notification, device_event(Topic.USER_DEVICE_REMOVED, gone, a, 2))
    match_id = uuid.uuid4()
    await handle(notification, match_created(match_id, a, b))
    await handle(notification, match_created(match_id, a, b))

    def deliveries() -> list[tuple[Any, ...]]:
        return _rows(
            db,
            "SELECT d.token, d.status, d.attempts FROM deliveries d "
            "JOIN notifications n ON n.id = d.notification_id WHERE n.match_id = %s "
            "ORDER BY d.token",
            match_id,
        )

    assert deliveries() == sorted([(phone, "PENDING", 0), (tablet, "PENDING", 0)])
    policy = delivery.RetryPolicy()
    while await delivery.deliver_due(notification.platform.db, LogProvider(), policy):
        pass
    assert deliveries() == sorted([(phone, "SENT", 1), (tablet, "SENT", 1)])
    attempts = _rows(
        db,
        "SELECT a.outcome FROM delivery_attempts a JOIN deliveries d ON d.id = a.delivery_id "
        "WHERE d.token IN (%s, %s)",
        phone,
        tablet,
    )
    assert attempts == [("SENT",), ("SENT",)]


# -- the user subgraph's device events -----------------------------------------------------

DEVICE = "mutation($t: String!) { registerDevice(token: $t, platform: IOS) { token } }"
REMOVE = "mutation($t: String!) { removeDevice(token: $t) }"


def _device_events(db: psycopg.Connection[Any], token: str) -> list[tuple[str, int]]:
    rows = db.execute(
        "SELECT topic, (convert_from(value, 'UTF8')::jsonb->>'aggregate_version')::int "
        "FROM outbox WHERE key = %s ORDER BY id",
        (token,),
    ).fetchall()
    return [(str(topic), int(version)) for topic, version in rows]


async def test_the_user_subgraph_announces_each_device_change_at_a_new_version(
    user_served: Served, infra: Any
) -> None:
    client = user_served.client
    member, other = await register(client), await register(client)
    token = f"tok-{uuid.uuid4().hex}"
    with psycopg.connect(infra.database_url("user_db"), autocommit=True) as db:
        await gql(client, DEVICE, {"t": token}, token=member.access_token)
        await gql(client, DEVICE, {"t": token}, token=member.access_token)  # unchanged
        assert (await gql(client, REMOVE, {"t": token}, token=other.access_token))["data"] == {
            "removeDevice": False
        }
        removed = await gql(client, REMOVE, {"t": token}, token=member.access_token)
        assert removed["data"] == {"removeDevice": True}
        again = await gql(client, REMOVE, {"t": token}, token=member.access_token)
        assert again["data"] == {"removeDevice": False}
        await gql(client, DEVICE, {"t": token}, token=other.access_token)  # a new owner
        assert _device_events(db, token) == [
            ("user.device.registered", 1),
            ("user.device.removed", 2),
            ("user.device.registered", 3),
        ]
        blank = await gql(client, REMOVE, {"t": " "}, token=member.access_token)
        assert error_codes(blank) == ["BAD_USER_INPUT"]

        # The provider's verdict on an older registration does not remove the new one.
        async def unregistered(version: int) -> None:
            payload = {"token": token, "user_id": member.id, "version": version}
            event = _event(Topic.NOTIFICATION_DEVICE_UNREGISTERED, token, payload, version)
            async with user_served.platform.db.unit_of_work() as uow:
                await USER_HANDLERS[event.topic](uow, event)
                await uow.commit()

        await unregistered(1)
        assert _device_events(db, token)[-1] == ("user.device.registered", 3)
        await unregistered(3)
        assert _device_events(db, token)[-1] == ("user.device.removed", 4)

        await gql(client, DEVICE, {"t": token}, token=other.access_token)
        await gql(client, "mutation { deleteAccount }", token=other.access_token)
        assert _device_events(db, token)[-2:] == [
            ("user.device.registered", 5),
            ("user.device.removed", 6),
        ]
