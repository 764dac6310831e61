"""The communication subgraph's contract: SDL, entities, who may read and write, sending rules,
receipts, pagination, and the match saga's create and cancel handlers."""

from __future__ import annotations

import dataclasses
import json
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest

from kindred.credentials import TokenIssuer
from kindred.devstack.process import free_port
from kindred.events import Event
from kindred.realtime import Realtime
from kindred.sdl import REPO, export
from kindred.topics import Topic
from subgraphs.communication import live, service
from subgraphs.communication.app import SUBGRAPH as COMMUNICATION
from subgraphs.communication.handlers import (
    HANDLERS,
    on_connected,
    on_match_cancelled,
    on_match_created,
)
from tests.contract.conftest import Served, serve_trusting
from tests.support import error_codes, gql

SEND = """
mutation($c: ID!, $t: String!, $k: String!) {
  sendMessage(conversationId: $c, text: $t, clientMessageId: $k) {
    id text kind sequence clientMessageId sender { id } conversationId
  }
}"""
CONVERSATION = """
query($id: ID!) {
  conversation(id: $id) {
    id status matchId participants { id } unreadCount
    lastMessage { text kind sender { id } }
    readReceipts { user { id } lastReadMessageId lastReadAt }
  }
}"""
MESSAGES = """
query($id: ID!, $first: Int, $after: String) {
  conversation(id: $id) {
    messages(first: $first, after: $after) {
      edges { cursor node { text sequence } } pageInfo { hasNextPage endCursor }
    }
  }
}"""
MARK_READ = """
mutation($c: ID!, $m: ID) {
  markConversationRead(conversationId: $c, messageId: $m) { unreadCount }
}"""
ENTITIES = "query($r: [_Any!]!) { _entities(representations: $r) { %s } }"


@pytest.fixture(scope="module")
async def communication(
    infra: Any, contract_data_dir: Path, issuer: TokenIssuer
) -> AsyncIterator[Served]:
    async with serve_trusting(
        COMMUNICATION, infra=infra, data_dir=contract_data_dir, issuer=issuer
    ) as served:
        yield served


@pytest.fixture
def client(communication: Served) -> httpx.AsyncClient:
    return communication.client


@pytest.fixture
def db(infra: Any) -> Any:
    with psycopg.connect(infra.database_url("communication_db"), autocommit=True) as connection:
        yield connection


@dataclasses.dataclass
class Pair:
    conversation_id: str
    a: uuid.UUID
    b: uuid.UUID
    token_a: str
    token_b: str


async def open_pair(served: Served, issuer: TokenIssuer, *, greeting: str | None = None) -> Pair:
    """Two new members in a new conversation, made through the service as a like would."""
    a, b = uuid.uuid4(), uuid.uuid4()
    async with served.platform.db.unit_of_work() as uow:
        conversation = await service.open_conversation(
            uow, participant_ids=[a, b], greeting=greeting
        )
        await uow.commit()
    return Pair(str(conversation.id), a, b, issuer.access_token(a), issuer.access_token(b))


async def send(
    client: httpx.AsyncClient, pair: Pair, text: str, *, key: str | None = None, token: str = ""
) -> dict[str, Any]:
    variables = {"c": pair.conversation_id, "t": text, "k": key or uuid.uuid4().hex}
    return await gql(client, SEND, variables, token=token or pair.token_a)


def _match_event(topic: Topic, match_id: uuid.UUID, users: list[uuid.UUID]) -> Event:
    payload: dict[str, Any] = {"match_id": str(match_id), "user_ids": [str(u) for u in users]}
    if topic == Topic.QUEUE_MATCH_CREATED:
        payload |= {"score": 0.9, "created_at": datetime.now(UTC).isoformat()}
    else:
        payload["reason"] = "no conversation"
    return Event(topic=topic, aggregate_id=str(match_id), aggregate_version=1, payload=payload)


async def _handle(served: Served, handler: Any, event: Event) -> None:
    async with served.platform.db.unit_of_work() as uow:
        await handler(uow, event)
        await uow.commit()


# -- the SDL and entities -------------------------------------------------------------


async def test_the_served_sdl_is_the_committed_one(client: httpx.AsyncClient) -> None:
    body = await gql(client, "{ _service { sdl } }")
    committed = (REPO / "subgraphs" / "communication" / "schema.graphql").read_text()
    assert body["data"]["_service"]["sdl"].rstrip() == committed.rstrip()
    assert export("communication") == committed, "run `make compose` to refresh the SDL"
    assert 'type Conversation @key(fields: "id")' in committed
    assert 'type Match @key(fields: "id")' in committed


async def test_entities_resolve_conversations_matches_and_users(
    communication: Served, client: httpx.AsyncClient, issuer: TokenIssuer
) -> None:
    match_id = uuid.uuid4()
    a, b = uuid.uuid4(), uuid.uuid4()
    await _handle(
        communication, on_match_created, _match_event(Topic.QUEUE_MATCH_CREATED, match_id, [a, b])
    )
    token = issuer.access_token(a)
    selection = (
        "... on Match { id conversation { id matchId lastMessage { kind text } } } "
        "... on User { id unreadMessageCount conversations { edges { node { matchId } } } }"
    )
    body = await gql(
        client,
        ENTITIES % selection,
        {"r": [{"__typename": "Match", "id": str(match_id)}, {"__typename": "User", "id": str(a)}]},
        token=token,
    )
    assert "errors" not in body, body
    match, user = body["data"]["_entities"]
    conversation_id = match["conversation"]["id"]
    assert match["conversation"]["lastMessage"] == {
        "kind": "SYSTEM",
        "text": service.MATCH_GREETING,
    }
    assert user["unreadMessageCount"] == 1
    assert user["conversations"]["edges"] == [{"node": {"matchId": str(match_id)}}]

    conversation = await gql(
        client,
        ENTITIES % "... on Conversation { id participants { id } }",
        {"r": [{"__typename": "Conversation", "id": conversation_id}]},
        token=token,
    )
    assert conversation["data"]["_entities"] == [
        {"id": conversation_id, "participants": [{"id": str(a)}, {"id": str(b)}]}
    ]


# -- who may read and write -----------------------------------------------------------


async def test_a_non_participant_is_told_not_found_for_everything(
    communication: Served, client: httpx.AsyncClient, issuer: TokenIssuer, db: Any
) -> None:
    pair = await open_pair(communication, issuer)
    stranger = issuer.access_token(uuid.uuid4())
    unknown = str(uuid.uuid4())
    for conversation_id in (pair.conversation_id, unknown):
        variables = {"id": conversation_id}
        assert error_codes(await gql(client, CONVERSATION, variables, token=stranger)) == [
            "NOT_FOUND"
        ]
        sent = await gql(client, SEND, {"c": conversation_id, "t": "hi", "k": "k1"}, token=stranger)
        assert error_codes(sent) == ["NOT_FOUND"]
        read = await gql(client, MARK_READ, {"c": conversation_id}, token=stranger)
        assert error_codes(read) == ["NOT_FOUND"]
        entities = await gql(
            client,
            ENTITIES % "... on Conversation { id }",
            {"r": [{"__typename": "Conversation", "id": conversation_id}]},
            token=stranger,
        )
        assert error_codes(entities) == ["NOT_FOUND"]
    count = db.execute(
        "SELECT count(*) FROM messages WHERE conversation_id = %s", (pair.conversation_id,)
    ).fetchone()
    assert count == (0,)


async def test_a_member_list_is_their_own(client: httpx.AsyncClient, issuer: TokenIssuer) -> None:
    owner = str(uuid.uuid4())
    body = await gql(
        client,
        ENTITIES % "... on User { unreadMessageCount }",
        {"r": [{"__typename": "User", "id": owner}]},
        token=issuer.access_token(uuid.uuid4()),
    )
    assert error_codes(body) == ["FORBIDDEN"]
    anonymous = await gql(client, CONVERSATION, {"id": str(uuid.uuid4())})
    assert error_codes(anonymous) == ["UNAUTHENTICATED"]


# -- sending --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "key", "field"),
    [
        ("", None, "text"),
        ("  \n\t ", None, "text"),
        ("x" * 2001, None, "text"),
        ("bell\x07", None, "text"),
        ("nul\x00", None, "text"),
        ("fine", "k" * 65, "clientMessageId"),
        ("fine", "", "clientMessageId"),
    ],
)
async def test_bad_text_is_bad_user_input_and_stores_nothing(
    communication: Served,
    client: httpx.AsyncClient,
    issuer: TokenIssuer,
    db: Any,
    text: str,
    key: str | None,
    field: str,
) -> None:
    pair = await open_pair(communication, issuer)
    variables = {"c": pair.conversation_id, "t": text, "k": "k" if key is None else key}
    body = await gql(client, SEND, variables, token=pair.token_a)
    assert error_codes(body) == ["BAD_USER_INPUT"]
    assert body["errors"][0]["extensions"]["field"] == field
    rows = db.execute(
        "SELECT (SELECT count(*) FROM messages WHERE conversation_id = %s),"
        " (SELECT count(*) FROM outbox WHERE key = %s)",
        (pair.conversation_id, pair.conversation_id),
    ).fetchone()
    assert rows == (0, 1)  # only its conversation.created


async def test_the_longest_text_with_newlines_and_tabs_is_fine(
    communication: Served, client: httpx.AsyncClient, issuer: TokenIssuer
) -> None:
    pair = await open_pair(communication, issuer)
    text = "a\tb\n" + "é" * 1996
    body = await send(client, pair, text)
    assert body["data"]["sendMessage"]["text"] == text


async def test_a_retried_send_returns_the_stored_message_and_stores_nothing(
    communication: Served, client: httpx.AsyncClient, issuer: TokenIssuer, db: Any
) -> None:
    pair = await open_pair(communication, issuer)
    first = await send(client, pair, "hello", key="retry-1")
    again = await send(client, pair, "hello (edited by a bug)", key="retry-1")
    assert again["data"]["sendMessage"] == first["data"]["sendMessage"]
    message = first["data"]["sendMessage"]
    assert message["sender"] == {"id": str(pair.a)}
    assert (message["kind"], message["sequence"], message["clientMessageId"]) == (
        "TEXT",
        1,
        "retry-1",
    )
    # The same key from the other member is another message.
    other = await send(client, pair, "hi", key="retry-1", token=pair.token_b)
    assert other["data"]["sendMessage"]["sequence"] == 2
    counts = db.execute(
        "SELECT (SELECT count(*) FROM messages WHERE conversation_id = %s),"
        " (SELECT count(*) FROM outbox WHERE key = %s AND topic = 'message.sent')",
        (pair.conversation_id, pair.conversation_id),
    ).fetchone()
    assert counts == (2, 2)


async def test_message_sent_names_the_recipients_not_watching(
    communication: Served, client: httpx.AsyncClient, issuer: TokenIssuer, db: Any, infra: Any
) -> None:
    pair = await open_pair(communication, issuer)
    await send(client, pair, "are you there?")
    realtime = Realtime(infra.redis_url, namespace="communication")
    try:
        async with realtime.present(live.watchers(uuid.UUID(pair.conversation_id)), str(pair.b)):
            await send(client, pair, "now you are")
    finally:
        await realtime.close()
    rows = db.execute(
        "SELECT convert_from(value, 'UTF8')::jsonb FROM outbox"
        " WHERE key = %s AND topic = 'message.sent' ORDER BY id",
        (pair.conversation_id,),
    ).fetchall()
    envelopes = [row[0] if isinstance(row[0], dict) else json.loads(row[0]) for row in rows]
    assert [e["aggregate_version"] for e in envelopes] == [1, 2]
    first, second = (e["payload"] for e in envelopes)
    assert first["recipient_ids"] == [str(pair.b)] and first["offline_recipient_ids"] == [
        str(pair.b)
    ]
    assert second["offline_recipient_ids"] == []
    assert second["sender_id"] == str(pair.a) and second["text"] == "now you are"


async def test_a_block_or_a_suspension_refuses_the_send(
    communication: Served, client: httpx.AsyncClient, issuer: TokenIssuer, db: Any
) -> None:
    pair = await open_pair(communication, issuer)
    now = datetime.now(UTC)
    db.execute(
        "INSERT INTO blocks (user_id, blocked_user_id, active, version) VALUES (%s, %s, true, 1)",
        (pair.b, pair.a),
    )
    assert error_codes(await send(client, pair, "hi")) == ["FORBIDDEN"]
    assert error_codes(await send(client, pair, "hi", token=pair.token_b)) == ["FORBIDDEN"]
    db.execute("UPDATE blocks SET active = false, version = 2 WHERE user_id = %s", (pair.b,))

    db.execute(
        "INSERT INTO suspensions (user_id, until, version) VALUES (%s, %s, 1)",
        (pair.a, now + timedelta(days=1)),
    )
    assert error_codes(await send(client, pair, "hi")) == ["FORBIDDEN"]
    db.execute("UPDATE suspensions SET until = %s WHERE user_id = %s", (now, pair.a))
    assert "errors" not in await send(client, pair, "the suspension is over")
    count = db.execute(
        "SELECT count(*) FROM messages WHERE conversation_id = %s", (pair.conversation_id,)
    ).fetchone()
    assert count == (1,)


# -- receipts and pages ---------------------------------------------------------------


async def test_reading_moves_the_receipt_forward_only_and_unread_counts_follow(
    communication: Served, client: httpx.AsyncClient, issuer: TokenIssuer
) -> None:
    pair = await open_pair(communication, issuer, greeting="Say hello.")
    ids = [(await send(client, pair, f"m{i}"))["data"]["sendMessage"]["id"] for i in range(3)]

    async def view(token: str) -> dict[str, Any]:
        body = await gql(client, CONVERSATION, {"id": pair.conversation_id}, token=token)
        assert "errors" not in body, body
        conversation: dict[str, Any] = body["data"]["conversation"]
        return conversation

    assert (await view(pair.token_a))["unreadCount"] == 0  # writing is reading
    assert (await view(pair.token_b))["unreadCount"] == 4  # the greeting and three messages
    body = await gql(
        client, MARK_READ, {"c": pair.conversation_id, "m": ids[1]}, token=pair.token_b
    )
    assert body["data"]["markConversationRead"]["unreadCount"] == 1
    back = await gql(
        client, MARK_READ, {"c": pair.conversation_id, "m": ids[0]}, token=pair.token_b
    )
    assert back["data"]["markConversationRead"]["unreadCount"] == 1
    receipts = {r["user"]["id"]: r for r in (await view(pair.token_a))["readReceipts"]}
    assert receipts[str(pair.b)]["lastReadMessageId"] == ids[1]
    assert receipts[str(pair.a)]["lastReadMessageId"] == ids[2]
    latest = await gql(client, MARK_READ, {"c": pair.conversation_id}, token=pair.token_b)
    assert latest["data"]["markConversationRead"]["unreadCount"] == 0
    elsewhere = await gql(
        client, MARK_READ, {"c": pair.conversation_id, "m": str(uuid.uuid4())}, token=pair.token_b
    )
    assert error_codes(elsewhere) == ["BAD_USER_INPUT"]
    assert elsewhere["errors"][0]["extensions"]["field"] == "messageId"


async def test_messages_page_newest_first_with_cursors(
    communication: Served, client: httpx.AsyncClient, issuer: TokenIssuer
) -> None:
    pair = await open_pair(communication, issuer)
    for i in range(5):
        await send(client, pair, f"m{i}")
    seen: list[int] = []
    after = None
    while True:
        variables = {"id": pair.conversation_id, "first": 2, "after": after}
        body = await gql(client, MESSAGES, variables, token=pair.token_b)
        page = body["data"]["conversation"]["messages"]
        seen += [edge["node"]["sequence"] for edge in page["edges"]]
        if not page["pageInfo"]["hasNextPage"]:
            break
        after = page["pageInfo"]["endCursor"]
    assert seen == [5, 4, 3, 2, 1]
    bad = await gql(
        client, MESSAGES, {"id": pair.conversation_id, "after": "nope"}, token=pair.token_b
    )
    assert error_codes(bad) == ["BAD_USER_INPUT"]


async def test_conversations_list_latest_activity_first(
    communication: Served, client: httpx.AsyncClient, issuer: TokenIssuer
) -> None:
    member = uuid.uuid4()
    opened = []
    for _ in range(3):
        async with communication.platform.db.unit_of_work() as uow:
            conversation = await service.open_conversation(
                uow, participant_ids=[member, uuid.uuid4()]
            )
            await uow.commit()
        opened.append(str(conversation.id))
    token = issuer.access_token(member)
    # A message makes the oldest conversation the most recent.
    await gql(client, SEND, {"c": opened[0], "t": "back", "k": "b"}, token=token)
    query = """query($r: [_Any!]!, $after: String) { _entities(representations: $r) {
      ... on User { conversations(first: 2, after: $after) {
        edges { node { id unreadCount lastMessage { text } } } pageInfo { hasNextPage endCursor }
      } } } }"""
    representation = {"r": [{"__typename": "User", "id": str(member)}]}
    first = (await gql(client, query, representation, token=token))["data"]["_entities"][0]
    page = first["conversations"]
    assert [e["node"]["id"] for e in page["edges"]] == [opened[0], opened[2]]
    assert page["edges"][0]["node"]["lastMessage"] == {"text": "back"}
    assert page["pageInfo"]["hasNextPage"]
    after = page["pageInfo"]["endCursor"]
    second = await gql(client, query, {**representation, "after": after}, token=token)
    rest = second["data"]["_entities"][0]["conversations"]
    assert [e["node"]["id"] for e in rest["edges"]] == [opened[1]]
    assert not rest["pageInfo"]["hasNextPage"]


# -- the match saga's handlers --------------------------------------------------------


async def test_a_match_opens_one_conversation_with_its_greeting_and_repeats_answer_again(
    communication: Served, db: Any
) -> None:
    match_id, users = uuid.uuid4(), [uuid.uuid4(), uuid.uuid4()]
    created = _match_event(Topic.QUEUE_MATCH_CREATED, match_id, users)
    await _handle(communication, on_match_created, created)
    # The saga re-sends with a new event id: nothing new, but the answer again.
    await _handle(
        communication, on_match_created, dataclasses.replace(created, event_id=uuid.uuid4())
    )
    # One transaction wrote the conversation and its greeting (the outbox row's xmin moves
    # when the relay marks it published; the failed-handler test covers it).
    rows = db.execute(
        "SELECT c.id, c.status, c.participant_ids, m.kind, m.text, m.seq, m.sender_id,"
        " c.xmin::text = m.xmin::text"
        " FROM conversations c JOIN messages m ON m.conversation_id = c.id WHERE c.match_id = %s",
        (match_id,),
    ).fetchall()
    assert len(rows) == 1
    conversation_id, status, participants, kind, text, seq, sender, same_transaction = rows[0]
    assert (status, participants, kind, text, seq, sender) == (
        "OPEN",
        users,
        "SYSTEM",
        service.MATCH_GREETING,
        1,
        None,
    )
    assert same_transaction
    answers = db.execute(
        "SELECT convert_from(value, 'UTF8')::jsonb -> 'payload' FROM outbox"
        " WHERE topic = 'conversation.created' AND key = %s",
        (str(conversation_id),),
    ).fetchall()
    assert len(answers) == 2
    assert answers[0][0] == {
        "conversation_id": str(conversation_id),
        "match_id": str(match_id),
        "connection_id": None,
        "participant_ids": [str(u) for u in users],
        "created_at": answers[0][0]["created_at"],
    }


async def test_a_failed_match_handler_leaves_nothing_behind(communication: Served, db: Any) -> None:
    match_id = uuid.uuid4()
    event = _match_event(Topic.QUEUE_MATCH_CREATED, match_id, [uuid.uuid4(), uuid.uuid4()])
    with pytest.raises(RuntimeError):
        async with communication.platform.db.unit_of_work() as uow:
            await on_match_created(uow, event)
            raise RuntimeError("the consumer crashed before its commit")
    count = db.execute(
        "SELECT (SELECT count(*) FROM conversations WHERE match_id = %s),"
        " (SELECT count(*) FROM outbox WHERE convert_from(value, 'UTF8') LIKE %s)",
        (match_id, f"%{match_id}%"),
    ).fetchone()
    assert count == (0, 0)


async def test_cancelling_closes_the_conversation_and_refuses_sends(
    communication: Served, client: httpx.AsyncClient, issuer: TokenIssuer, db: Any
) -> None:
    match_id, users = uuid.uuid4(), [uuid.uuid4(), uuid.uuid4()]
    await _handle(
        communication, on_match_created, _match_event(Topic.QUEUE_MATCH_CREATED, match_id, users)
    )
    await _handle(
        communication,
        on_match_cancelled,
        _match_event(Topic.QUEUE_MATCH_CANCELLED, match_id, users),
    )
    [(conversation_id, status)] = db.execute(
        "SELECT id, status FROM conversations WHERE match_id = %s", (match_id,)
    ).fetchall()
    assert status == "CLOSED"
    body = await gql(
        client,
        SEND,
        {"c": str(conversation_id), "t": "hello?", "k": "late"},
        token=issuer.access_token(users[0]),
    )
    assert error_codes(body) == ["FORBIDDEN"]
    # A late repeat of the create changes nothing and answers nothing.
    await _handle(
        communication, on_match_created, _match_event(Topic.QUEUE_MATCH_CREATED, match_id, users)
    )
    assert db.execute(
        "SELECT status FROM conversations WHERE match_id = %s", (match_id,)
    ).fetchall() == [("CLOSED",)]
    answers = db.execute(
        "SELECT count(*) FROM outbox WHERE topic = 'conversation.created' AND key = %s",
        (str(conversation_id),),
    ).fetchone()
    assert answers == (1,)


async def test_a_cancel_before_the_create_keeps_the_conversation_from_opening(
    communication: Served, db: Any
) -> None:
    match_id, users = uuid.uuid4(), [uuid.uuid4(), uuid.uuid4()]
    await _handle(
        communication,
        on_match_cancelled,
        _match_event(Topic.QUEUE_MATCH_CANCELLED, match_id, users),
    )
    await _handle(
        communication, on_match_created, _match_event(Topic.QUEUE_MATCH_CREATED, match_id, users)
    )
    assert db.execute(
        "SELECT count(*) FROM conversations WHERE match_id = %s", (match_id,)
    ).fetchone() == (0,)


async def test_without_redis_a_send_is_stored_and_everyone_counts_as_offline(
    infra: Any, contract_data_dir: Path, issuer: TokenIssuer, communication: Served, db: Any
) -> None:
    pair = await open_pair(communication, issuer)
    async with serve_trusting(
        COMMUNICATION,
        infra=infra,
        data_dir=contract_data_dir,
        issuer=issuer,
        redis_url=f"redis://127.0.0.1:{free_port()}/0",
    ) as without_redis:
        body = await send(without_redis.client, pair, "stored anyway")
    assert body["data"]["sendMessage"]["text"] == "stored anyway"
    [(payload,)] = db.execute(
        "SELECT convert_from(value, 'UTF8')::jsonb -> 'payload' FROM outbox"
        " WHERE key = %s AND topic = 'message.sent'",
        (pair.conversation_id,),
    ).fetchall()
    assert payload["offline_recipient_ids"] == [str(pair.b)]


# -- interactions: lasting conversations and blocks -----------------------------------


def _connected_event(connection_id: uuid.UUID, users: list[uuid.UUID]) -> Event:
    return Event(
        topic=Topic.INTERACTION_CONNECTED,
        aggregate_id=str(connection_id),
        aggregate_version=1,
        payload={
            "connection_id": str(connection_id),
            "user_ids": sorted(str(u) for u in users),
            "match_id": str(uuid.uuid4()),
            "connected_at": datetime.now(UTC).isoformat(),
        },
    )


def _recorded_event(actor: uuid.UUID, target: uuid.UUID, kind: str, version: int) -> Event:
    return Event(
        topic=Topic.INTERACTION_RECORDED,
        aggregate_id=str(actor),
        aggregate_version=version,
        payload={
            "actor_id": str(actor),
            "target_id": str(target),
            "kind": kind,
            "version": version,
            "blocked": kind == "BLOCK",
            "pass_until": None,
            "match_id": None,
            "rating": None,
            "occurred_at": datetime.now(UTC).isoformat(),
        },
    )


async def test_a_connection_opens_one_lasting_conversation(
    communication: Served, client: httpx.AsyncClient, issuer: TokenIssuer, db: Any
) -> None:
    connection_id, users = uuid.uuid4(), sorted([uuid.uuid4(), uuid.uuid4()])
    event = _connected_event(connection_id, users)
    await _handle(communication, on_connected, event)
    # Again (a redelivery, or the same connection made again after a block): nothing new.
    await _handle(communication, on_connected, dataclasses.replace(event, event_id=uuid.uuid4()))
    [(conversation_id, match_id, participants, status)] = db.execute(
        "SELECT id, match_id, participant_ids, status FROM conversations WHERE connection_id = %s",
        (connection_id,),
    ).fetchall()
    assert (match_id, participants, status) == (None, users, "OPEN")
    [(payload,)] = db.execute(
        "SELECT convert_from(value, 'UTF8')::jsonb -> 'payload' FROM outbox"
        " WHERE topic = 'conversation.created' AND key = %s",
        (str(conversation_id),),
    ).fetchall()
    assert (payload["match_id"], payload["connection_id"]) == (None, str(connection_id))
    body = await gql(
        client,
        "query($id: ID!) { conversation(id: $id) { connectionId matchId lastMessage { text } } }",
        {"id": str(conversation_id)},
        token=issuer.access_token(users[0]),
    )
    assert body["data"]["conversation"] == {
        "connectionId": str(connection_id),
        "matchId": None,
        "lastMessage": {"text": service.CONNECTION_GREETING},
    }


async def test_a_recorded_block_refuses_sends_both_ways_until_unblocked(
    communication: Served, client: httpx.AsyncClient, issuer: TokenIssuer
) -> None:
    pair = await open_pair(communication, issuer)
    handler = HANDLERS[Topic.INTERACTION_RECORDED]
    block = _recorded_event(pair.a, pair.b, "BLOCK", 1)
    await _handle(communication, handler, block)
    await _handle(communication, handler, dataclasses.replace(block, event_id=uuid.uuid4()))
    assert error_codes(await send(client, pair, "hi")) == ["FORBIDDEN"]
    assert error_codes(await send(client, pair, "hi", token=pair.token_b)) == ["FORBIDDEN"]
    await _handle(communication, handler, _recorded_event(pair.a, pair.b, "UNBLOCK", 2))
    # The older block arriving late changes nothing: the unblock stands.
    await _handle(communication, handler, dataclasses.replace(block, event_id=uuid.uuid4()))
    assert "errors" not in await send(client, pair, "hello again")
