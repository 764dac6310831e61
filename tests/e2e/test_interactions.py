"""Reactions through the one endpoint: a block or a pass keeps two members apart in the real
matcher (while a third who fits is matched), a block also stops their messages and hides
each from the other, and a mutual like gives both a lasting conversation."""

from __future__ import annotations

import uuid
from functools import partial
from typing import Any

import httpx
import psycopg
import pytest

from kindred.devstack.stack import Stack
from tests.e2e.conftest import wait_for_consumer
from tests.matchmaking_support import (
    join_queue,
    matchable_member,
    put_match_created,
    secluded_spot,
)
from tests.support import Member, error_codes, eventually, gql, register

CURRENT_MATCH = "{ me { currentMatch { id status participants { id } conversation { id } } } }"
SEND = """
mutation($c: ID!, $t: String!, $k: String!) {
  sendMessage(conversationId: $c, text: $t, clientMessageId: $k) { id }
}"""
USER = "query($id: ID!) { user(id: $id) { id displayName } }"


def _reaction_mutation(kind: str) -> str:
    return "mutation($u: ID!) { " + kind + "(userId: $u) { reaction blocked connected } }"


CONNECTIONS = (
    "{ me { connections { edges { node { connectionId matchId user { displayName } } } } } }"
)
CONVERSATIONS = """
{ me { conversations { edges { node { id connectionId matchId participants { displayName }
                                      lastMessage { text } } } } } }"""


@pytest.fixture(scope="module")
def interaction_stack(stack: Stack) -> Stack:
    """The stack once every consumer these tests rely on has its partitions."""
    for subgraph in ("interaction", "communication", "notification", "user"):
        wait_for_consumer(stack, subgraph)
    return stack


@pytest.fixture
async def gateway(interaction_stack: Stack) -> Any:
    async with httpx.AsyncClient(base_url=interaction_stack.gateway_url, timeout=15.0) as client:
        yield client


async def _data(gateway: httpx.AsyncClient, member: Member, query: str, **variables: Any) -> Any:
    body = await gql(gateway, query, variables, token=member.access_token)
    assert "errors" not in body, body
    return body["data"]


async def _current_match(gateway: httpx.AsyncClient, member: Member) -> dict[str, Any] | None:
    match: dict[str, Any] | None = (await _data(gateway, member, CURRENT_MATCH))["me"][
        "currentMatch"
    ]
    return match


async def _active_match(gateway: httpx.AsyncClient, member: Member) -> dict[str, Any]:
    match: dict[str, Any] = await eventually(
        lambda: _current_match(gateway, member),
        lambda found: (found or {}).get("status") == "ACTIVE",
        within=45.0,
        what="an ACTIVE match",
    )
    return match


async def _react(
    gateway: httpx.AsyncClient, member: Member, kind: str, other: Member
) -> dict[str, Any]:
    """`kind` of `other`, retried while the interaction subgraph has not heard of the match."""
    body = await eventually(
        lambda: gql(gateway, _reaction_mutation(kind), {"u": other.id}, token=member.access_token),
        lambda answer: "NOT_FOUND" not in error_codes(answer),
        within=30.0,
        what=f"{kind} accepted",
    )
    assert "errors" not in body, body
    reaction: dict[str, Any] = body["data"][kind]
    return reaction


def _excluded(queuing_db: psycopg.Connection[Any], a: Member, b: Member, reason: str) -> bool:
    row = queuing_db.execute(
        "SELECT 1 FROM pair_exclusions WHERE user_id = %s AND other_user_id = %s"
        " AND reason = %s AND (until IS NULL OR until > now())",
        (a.id, b.id, reason),
    ).fetchone()
    return row is not None


@pytest.mark.parametrize("kind", ["block", "pass"])
async def test_after_a_block_or_a_pass_the_two_are_not_matched_again(
    interaction_stack: Stack,
    gateway: httpx.AsyncClient,
    queuing_db: psycopg.Connection[Any],
    kind: str,
) -> None:
    spot = secluded_spot()
    ana = await matchable_member(gateway, name="Ana", gender="WOMAN", seeks=["MAN"], location=spot)
    ben = await matchable_member(gateway, name="Ben", gender="MAN", seeks=["WOMAN"], location=spot)
    for member in (ana, ben):
        await join_queue(gateway, member)
    match = await _active_match(gateway, ana)
    assert {p["id"] for p in match["participants"]} == {ana.id, ben.id}

    reaction = await _react(gateway, ana, kind, ben)
    assert reaction["blocked"] == (kind == "block")
    await eventually(
        lambda: _excluded(queuing_db, ana, ben, kind.upper()), what="the matcher's exclusion"
    )

    if kind == "block":
        conversation_id = match["conversation"]["id"]
        # A new send each try: a retry of one the block came too late for (the same
        # clientMessageId) is answered with that message, as sent.
        refused = await eventually(
            lambda: gql(
                gateway,
                SEND,
                {"c": conversation_id, "t": "hi?", "k": uuid.uuid4().hex},
                token=ben.access_token,
            ),
            lambda answer: error_codes(answer) == ["FORBIDDEN"],
            what="the send refused",
        )
        assert "errors" in refused
        for caller, other in ((ben, ana), (ana, ben)):
            await eventually(
                partial(gql, gateway, USER, {"id": other.id}, token=caller.access_token),
                lambda answer: error_codes(answer) == ["NOT_FOUND"],
                what="user(id) hidden",
            )
        blocked = await _data(
            gateway, ana, "{ me { blockedUsers { edges { node { user { displayName } } } } } }"
        )
        assert blocked["me"]["blockedUsers"]["edges"] == [
            {"node": {"user": {"displayName": "Ben"}}}
        ]

    # Both go back to the queue, and Cleo, who fits Ben but shares none of his interests,
    # joins too: without the exclusion the matcher would prefer Ana for Ben.
    cleo = await matchable_member(
        gateway, name="Cleo", gender="WOMAN", seeks=["MAN"], location=spot, interests=["chess"]
    )
    for member in (ana, ben, cleo):
        await join_queue(gateway, member)
    again = await _active_match(gateway, ben)
    assert {p["id"] for p in again["participants"]} == {ben.id, cleo.id}
    assert await _current_match(gateway, ana) is None
    waiting = await _data(gateway, ana, "{ me { queueEntry { age } } }")
    assert waiting["me"]["queueEntry"] is not None


async def test_a_mutual_like_gives_both_a_lasting_conversation(
    interaction_stack: Stack, gateway: httpx.AsyncClient
) -> None:
    ann = await register(gateway, displayName="Ann")
    bob = await register(gateway, displayName="Bob")
    match_id = await put_match_created(interaction_stack.kafka_bootstrap, [ann.id, bob.id])
    first = await _react(gateway, ann, "like", bob)
    assert (first["reaction"], first["connected"]) == ("LIKE", False)
    second = await _react(gateway, bob, "like", ann)
    assert second["connected"]

    for member, other in ((ann, "Bob"), (bob, "Ann")):
        conversations = await eventually(
            partial(_data, gateway, member, CONVERSATIONS),
            lambda data: any(
                e["node"]["connectionId"] for e in data["me"]["conversations"]["edges"]
            ),
            within=30.0,
            what="the lasting conversation",
        )
        [lasting] = [
            e["node"]
            for e in conversations["me"]["conversations"]["edges"]
            if e["node"]["connectionId"]
        ]
        assert lasting["matchId"] is None
        assert sorted(p["displayName"] for p in lasting["participants"]) == ["Ann", "Bob"]
        connections = await _data(
            gateway,
            member,
            CONNECTIONS,
        )
        [connection] = [e["node"] for e in connections["me"]["connections"]["edges"]]
        assert connection == {
            "connectionId": lasting["connectionId"],
            "matchId": match_id,
            "user": {"displayName": other},
        }
    sent = await _data(
        gateway, ann, SEND, c=lasting["id"], t="Glad we stay in touch", k="lasting-1"
    )
    assert sent["sendMessage"]["id"]

    # Who liked you is Premium: without it, FORBIDDEN through the gateway too.
    refused = await gql(
        gateway, "{ me { likedBy { edges { node { likedAt } } } } }", token=ann.access_token
    )
    assert error_codes(refused) == ["FORBIDDEN"]


async def test_a_member_whose_account_is_gone_is_a_null_user(gateway: httpx.AsyncClient) -> None:
    """`block` takes any id; an id no account has (or no longer has) reads as a null user,
    where it was an internal error that failed the whole answer, block stored all the same."""
    member = await register(gateway)
    nobody = str(uuid.uuid4())
    blocked = await gql(
        gateway,
        "mutation($u: ID!) { block(userId: $u) { blocked user { id displayName } } }",
        {"u": nobody},
        token=member.access_token,
    )
    assert blocked == {"data": {"block": {"blocked": True, "user": None}}}, blocked
    listed = await gql(
        gateway,
        "{ me { blockedUsers { edges { node { user { id displayName } } } } } }",
        token=member.access_token,
    )
    assert listed == {"data": {"me": {"blockedUsers": {"edges": [{"node": {"user": None}}]}}}}


async def test_a_conversation_outlives_the_other_members_account(
    interaction_stack: Stack, gateway: httpx.AsyncClient
) -> None:
    """Once Bob deletes his account, Ann's conversation and connection with him still list,
    with Bob as a null participant (a non-null one failed her whole list)."""
    ann = await register(gateway, displayName="Ann")
    bob = await register(gateway, displayName="Bob")
    await put_match_created(interaction_stack.kafka_bootstrap, [ann.id, bob.id])
    await _react(gateway, ann, "like", bob)
    await _react(gateway, bob, "like", ann)
    await eventually(
        partial(_data, gateway, ann, CONVERSATIONS),
        lambda data: any(e["node"]["connectionId"] for e in data["me"]["conversations"]["edges"]),
        within=30.0,
        what="the lasting conversation",
    )
    deleted = await gql(gateway, "mutation { deleteAccount }", token=bob.access_token)
    assert deleted == {"data": {"deleteAccount": True}}

    edges = (await _data(gateway, ann, CONVERSATIONS))["me"]["conversations"]["edges"]
    [lasting] = [e["node"] for e in edges if e["node"]["connectionId"]]
    assert sorted(lasting["participants"], key=bool) == [None, {"displayName": "Ann"}]
    connections = await _data(gateway, ann, CONNECTIONS)
    assert [e["node"]["user"] for e in connections["me"]["connections"]["edges"]] == [None]
