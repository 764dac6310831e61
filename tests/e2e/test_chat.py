"""Chat through the one endpoint: a match opens a conversation, members read it in one query,
and messages and typing arrive live over graphql-transport-ws, across replicas too."""

from __future__ import annotations

import sys
import uuid
from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx
import pytest

from kindred.devstack.process import ManagedProcess, free_port, wait_until
from kindred.devstack.stack import Stack, http_ok
from kindred.realtime import Realtime
from subgraphs.communication import live
from tests.communication_support import SubscriptionClosed, subscription
from tests.e2e.conftest import wait_for_consumer
from tests.matchmaking_support import put_match_created
from tests.support import Member, error_codes, eventually, gql, register

CHATS = "{ me { conversations { edges { node { id participants { displayName } "
CHATS += "lastMessage { text } } } } } }"
SEND = """
mutation($c: ID!, $t: String!, $k: String!) {
  sendMessage(conversationId: $c, text: $t, clientMessageId: $k) { id }
}"""
MESSAGE_RECEIVED = """
subscription($c: ID!) {
  messageReceived(conversationId: $c) { id text kind sequence sender { id displayName } }
}"""
TYPING = """
subscription($c: ID!) { typing(conversationId: $c) { conversationId user { displayName } at } }
"""


@pytest.fixture(scope="module")
def chat_stack(stack: Stack) -> Stack:
    """The stack once the communication subgraph consumes the match events."""
    wait_for_consumer(stack, "communication")
    return stack


@pytest.fixture
async def gateway(chat_stack: Stack) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=chat_stack.gateway_url, timeout=15.0) as client:
        yield client


@pytest.fixture
async def realtime(chat_stack: Stack) -> AsyncIterator[Realtime]:
    """The communication subgraph's presence, read straight from Redis."""
    hub = Realtime(chat_stack.redis_url, namespace="communication")
    yield hub
    await hub.close()


async def chats(gateway: httpx.AsyncClient, member: Member) -> list[dict[str, Any]]:
    body = await gql(gateway, CHATS, token=member.access_token)
    assert "errors" not in body, body
    return [edge["node"] for edge in body["data"]["me"]["conversations"]["edges"]]


async def matched_pair(stack: Stack, gateway: httpx.AsyncClient) -> tuple[Member, Member, str]:
    """Two new members whose match opened a conversation; returns its id."""
    ann = await register(gateway, displayName="Ann")
    bob = await register(gateway, displayName="Bob")
    await put_match_created(stack.kafka_bootstrap, [ann.id, bob.id], score=0.8)
    [conversation] = await eventually(
        lambda: chats(gateway, ann), lambda found: len(found) == 1, within=30, what="conversation"
    )
    return ann, bob, conversation["id"]


async def watching(realtime: Realtime, conversation_id: str, member: Member) -> None:
    """Waits until the member's `messageReceived` is live (its presence is recorded)."""
    group = live.watchers(uuid.UUID(conversation_id))
    await eventually(
        lambda: realtime.members_present(group),
        lambda present: present is not None and member.id in present,
        what="the subscription going live",
    )


async def test_a_match_opens_a_conversation_both_members_read_in_one_query(
    chat_stack: Stack, gateway: httpx.AsyncClient
) -> None:
    ann, bob, conversation_id = await matched_pair(chat_stack, gateway)
    for member in (ann, bob):
        [conversation] = await chats(gateway, member)
        assert conversation["id"] == conversation_id
        names = sorted(p["displayName"] for p in conversation["participants"])
        assert names == ["Ann", "Bob"]
        assert conversation["lastMessage"] == {"text": "You matched! Say hello."}
    sent = await gql(
        gateway, SEND, {"c": conversation_id, "t": "Hi Bob", "k": "1"}, token=ann.access_token
    )
    assert "errors" not in sent, sent
    [conversation] = await chats(gateway, bob)
    assert conversation["lastMessage"] == {"text": "Hi Bob"}


async def test_a_subscriber_through_the_gateway_gets_each_message_live(
    chat_stack: Stack, gateway: httpx.AsyncClient, realtime: Realtime
) -> None:
    ann, bob, conversation_id = await matched_pair(chat_stack, gateway)
    variables = {"c": conversation_id}
    async with subscription(
        chat_stack.graphql_url, MESSAGE_RECEIVED, variables, token=bob.access_token
    ) as live_messages:
        await watching(realtime, conversation_id, bob)
        for n in range(1, 4):
            body = await gql(
                gateway,
                SEND,
                {"c": conversation_id, "t": f"message {n}", "k": f"k{n}"},
                token=ann.access_token,
            )
            assert "errors" not in body, body
            received = await live_messages.next(within=5)
            assert received == {
                "data": {
                    "messageReceived": {
                        "id": body["data"]["sendMessage"]["id"],
                        "text": f"message {n}",
                        "kind": "TEXT",
                        "sequence": n + 1,  # after the greeting
                        "sender": {"id": ann.id, "displayName": "Ann"},
                    }
                }
            }
    # Closing the subscription ends the presence: the next message is for a push.
    await eventually(
        lambda: realtime.members_present(live.watchers(uuid.UUID(conversation_id))),
        lambda present: present == set(),
        what="presence cleared",
    )


async def test_typing_reaches_the_other_participant(
    chat_stack: Stack, gateway: httpx.AsyncClient
) -> None:
    ann, bob, conversation_id = await matched_pair(chat_stack, gateway)
    typing = "mutation($c: ID!) { setTyping(conversationId: $c) }"
    async with subscription(
        chat_stack.graphql_url, TYPING, {"c": conversation_id}, token=bob.access_token
    ) as events:
        # Typing is not stored: keep typing until the subscription is live.
        async def typed() -> dict[str, Any] | None:
            await gql(gateway, typing, {"c": conversation_id}, token=ann.access_token)
            try:
                return await events.next(within=0.5)
            except TimeoutError:
                return None

        event = await eventually(typed, what="a typing event")
    assert event["data"]["typing"]["user"] == {"displayName": "Ann"}
    assert event["data"]["typing"]["conversationId"] == conversation_id


async def test_a_non_participant_or_anonymous_subscriber_is_refused(
    chat_stack: Stack, gateway: httpx.AsyncClient
) -> None:
    _, _, conversation_id = await matched_pair(chat_stack, gateway)
    stranger = await register(gateway, displayName="Eve")
    variables = {"c": conversation_id}
    async with subscription(
        chat_stack.graphql_url, MESSAGE_RECEIVED, variables, token=stranger.access_token
    ) as refused:
        assert error_codes(await refused.next()) == ["NOT_FOUND"]
    async with subscription(chat_stack.graphql_url, MESSAGE_RECEIVED, variables) as anonymous:
        assert error_codes(await anonymous.next()) == ["UNAUTHENTICATED"]
    async with subscription(
        chat_stack.graphql_url, MESSAGE_RECEIVED, variables, token="not-a-token"
    ) as forged:
        # The subgraph refuses the connection; the gateway answers at once, not after retries.
        assert (await forged.next(within=5))["errors"]
    # Straight to the subgraph, a connection without a valid token is refused outright.
    subgraph = f"{chat_stack.subgraph_url('communication')}/graphql"
    for token in (None, "not-a-token"):
        with pytest.raises(SubscriptionClosed) as closed:
            async with subscription(subgraph, MESSAGE_RECEIVED, variables, token=token):
                pass
        assert closed.value.code == 4401


@pytest.fixture
def replica(chat_stack: Stack) -> Iterator[str]:
    """A second communication process on the same databases and Redis; its /graphql URL."""
    port = free_port()
    argv = [sys.executable, "-m", "uvicorn", "tests.communication_replica:app"]
    argv += ["--host", "127.0.0.1", "--port", str(port), "--no-access-log"]
    env = chat_stack.subgraph_env()
    env.update(KINDRED_PORT=str(port), KINDRED_INSTANCE_ID=f"communication-replica-{port}")
    process = ManagedProcess(
        "communication-replica",
        argv,
        log_path=chat_stack.log_dir / "communication-replica.log",
        env=env,
        cwd=chat_stack.repo_root,
        echo=False,
    )
    try:
        wait_until(
            lambda: http_ok(f"http://127.0.0.1:{port}/health"),
            timeout=60,
            process=process,
            what="the communication replica answering GET /health",
        )
        yield f"http://127.0.0.1:{port}/graphql"
    finally:
        process.stop(grace=10.0)


async def test_a_message_sent_to_one_replica_reaches_a_subscriber_on_another(
    chat_stack: Stack, gateway: httpx.AsyncClient, realtime: Realtime, replica: str
) -> None:
    ann, bob, conversation_id = await matched_pair(chat_stack, gateway)
    async with subscription(
        replica,
        MESSAGE_RECEIVED.replace(" displayName", ""),
        {"c": conversation_id},
        token=bob.access_token,
    ) as on_replica:
        await watching(realtime, conversation_id, bob)
        # Sent through the gateway, so to the stack's own communication process.
        body = await gql(
            gateway, SEND, {"c": conversation_id, "t": "across", "k": "x"}, token=ann.access_token
        )
        assert "errors" not in body, body
        received = await on_replica.next(within=5)
    message = received["data"]["messageReceived"]
    assert (message["id"], message["text"]) == (body["data"]["sendMessage"]["id"], "across")
    assert message["sender"] == {"id": ann.id}
