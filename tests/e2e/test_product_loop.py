"""The product loop through the one endpoint: two strangers who fit each other are
matched, see each other, are told, open their conversation and talk in real time."""

from __future__ import annotations

import asyncio
from functools import partial
from typing import Any

import httpx

from kindred.devstack.stack import Stack
from tests.communication_support import subscription
from tests.e2e.conftest import wait_for_consumer
from tests.matchmaking_support import join_queue, matchable_member, secluded_spot
from tests.support import Member, eventually, gql

CURRENT_MATCH = """
{ me { currentMatch { id status score participants { id displayName }
                      conversation { id } } } }"""
NOTIFICATIONS = """
{ me { unreadNotificationCount notifications { edges { node { type title data } } } } }"""
# The seed's "chat with user details", one query across three subgraphs.
CHAT = """
{ me { conversations { edges { node {
  id participants { displayName } lastMessage { text } } } } } }"""
SEND = """
mutation($c: ID!, $t: String!, $k: String!) {
  sendMessage(conversationId: $c, text: $t, clientMessageId: $k) { id text }
}"""
RECEIVED = """
subscription($c: ID!) { messageReceived(conversationId: $c) { id text sender { id } } }"""


async def _data(gateway: httpx.AsyncClient, member: Member, query: str, **variables: Any) -> Any:
    body = await gql(gateway, query, variables, token=member.access_token)
    assert "errors" not in body, body
    return body["data"]


async def _active_match(gateway: httpx.AsyncClient, member: Member) -> dict[str, Any]:
    match: dict[str, Any] = await eventually(
        lambda: _data(gateway, member, CURRENT_MATCH),
        lambda data: (data["me"]["currentMatch"] or {}).get("status") == "ACTIVE",
        within=30.0,
        what="an ACTIVE match",
    )
    return match["me"]["currentMatch"]


async def test_two_who_fit_meet_are_told_and_talk_in_real_time(
    stack: Stack, gateway: httpx.AsyncClient
) -> None:
    for subgraph in ("communication", "notification"):
        wait_for_consumer(stack, subgraph)
    spot = secluded_spot()
    ana = await matchable_member(gateway, name="Ana", gender="WOMAN", seeks=["MAN"], location=spot)
    ben = await matchable_member(gateway, name="Ben", gender="MAN", seeks=["WOMAN"], location=spot)
    # Cy is next to them and speaks their language but seeks no one of their genders.
    cy = await matchable_member(
        gateway, name="Cy", gender="NON_BINARY", seeks=["NON_BINARY"], location=spot
    )
    for member in (ana, ben, cy):
        await join_queue(gateway, member)

    match = await _active_match(gateway, ana)
    assert {p["displayName"] for p in match["participants"]} == {"Ana", "Ben"}
    assert (await _active_match(gateway, ben))["id"] == match["id"]
    conversation_id = match["conversation"]["id"]

    for member, other in ((ana, ben), (ben, ana)):
        told = await eventually(
            partial(_data, gateway, member, NOTIFICATIONS),
            # The count and the list are two reads: wait for both to see it.
            lambda data: (
                data["me"]["unreadNotificationCount"] >= 1
                and len(data["me"]["notifications"]["edges"]) >= 1
            ),
            what="the match notification",
        )
        [note] = [e["node"] for e in told["me"]["notifications"]["edges"]]
        assert note["type"] == "MATCH_CREATED"
        assert note["data"]["matchId"] == match["id"]
        assert note["data"]["otherUserId"] == other.id

    chat = await _data(gateway, ben, CHAT)
    [conversation] = [e["node"] for e in chat["me"]["conversations"]["edges"]]
    assert conversation["id"] == conversation_id
    assert {p["displayName"] for p in conversation["participants"]} == {"Ana", "Ben"}

    async with subscription(
        stack.graphql_url, RECEIVED, {"c": conversation_id}, token=ben.access_token
    ) as live:
        await asyncio.sleep(0.5)  # the subscription reaches the subgraph through the gateway
        for i, text in enumerate(["Hi Ben!", "Tea or surfing first?", "Both."]):
            sent = await _data(gateway, ana, SEND, c=conversation_id, t=text, k=f"k{i}")
            received = await live.next()
            assert received["data"]["messageReceived"] == {
                "id": sent["sendMessage"]["id"],
                "text": text,
                "sender": {"id": ana.id},
            }

    chat = await _data(gateway, ben, CHAT)
    assert chat["me"]["conversations"]["edges"][0]["node"]["lastMessage"]["text"] == "Both."
    # Cy fits neither: still waiting, never matched.
    waiting = await _data(gateway, cy, "{ me { currentMatch { id } queueEntry { age } } }")
    assert waiting["me"]["currentMatch"] is None and waiting["me"]["queueEntry"] is not None
