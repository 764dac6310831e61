"""Analytics through the one endpoint: real mutations (two sign-ups, a queue join, a match and
its conversation, a message, a report) move today's figures by exactly what was done, as a
staff member holding analytics:read reads them; members and staff without the scope are
refused, through the gateway and on the subgraph's own port alike."""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest

from kindred.cli.broker import admin_client, offsets_client, partitions
from kindred.credentials import TokenIssuer, load_or_create_signing_key
from kindred.devstack.stack import Stack
from kindred.settings import load_settings
from kindred.staff import Role
from subgraphs.analytics.handlers import HANDLERS as ANALYTICS_HANDLERS
from tests.e2e.conftest import wait_for_consumer
from tests.matchmaking_support import put_match_created
from tests.support import Member, error_codes, eventually, gql, register, staff_token

FIGURES = (
    "signups activeMembers queueJoins matches matchesWithConversation messages reports "
    "premiumConversions"
)
TODAY = "query($d: Date!) { analytics(from: $d, to: $d) { totals { " + FIGURES + " } } }"
CHATS = "{ me { conversations { edges { node { id matchId } } } } }"
SEND = """
mutation($c: ID!, $t: String!, $k: String!) {
  sendMessage(conversationId: $c, text: $t, clientMessageId: $k) { id }
}"""
REPORT = "mutation($u: ID!) { report(userId: $u, reason: SPAM) { id } }"


@pytest.fixture(scope="module")
def analytics_stack(stack: Stack) -> Stack:
    """The stack once every consumer the figures depend on has its partitions."""
    for subgraph in ("analytics", "communication", "moderation", "user"):
        wait_for_consumer(stack, subgraph)
    return stack


@pytest.fixture
async def gateway(analytics_stack: Stack) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=analytics_stack.gateway_url, timeout=15.0) as client:
        yield client


@pytest.fixture
async def direct(analytics_stack: Stack) -> AsyncIterator[httpx.AsyncClient]:
    """The analytics subgraph's own port, past the gateway."""
    url = analytics_stack.subgraph_url("analytics")
    async with httpx.AsyncClient(base_url=url, timeout=15.0) as client:
        yield client


@pytest.fixture(scope="module")
def staff_issuer(analytics_stack: Stack) -> TokenIssuer:
    """Signs staff tokens with the key whose JWKS the stack's subgraphs trust for staff (the
    admin subgraph's, or the one `KINDRED_STAFF_JWKS_URL` publishes)."""
    env = analytics_stack.subgraph_env()
    if "admin" not in analytics_stack.subgraph_ports and not os.environ.get(
        "KINDRED_STAFF_JWKS_URL"
    ):
        pytest.skip("staff tokens need the admin subgraph (or KINDRED_STAFF_JWKS_URL)")
    key = env.get("KINDRED_STAFF_JWT_PRIVATE_KEY_PATH") or str(
        Path(env["KINDRED_DATA_DIR"]) / "keys" / "staff-signing.pem"
    )
    return TokenIssuer(
        load_or_create_signing_key(Path(key)),
        issuer=load_settings("admin").staff_jwt_issuer,
        ttl_seconds=900,
    )


def today() -> str:
    return datetime.now(UTC).date().isoformat()


async def totals(client: httpx.AsyncClient, token: str, day: str) -> dict[str, int]:
    body = await gql(client, TODAY, {"d": day}, token=token)
    assert "errors" not in body, body
    found: dict[str, int] = body["data"]["analytics"]["totals"]
    return found


async def consumed_everything(stack: Stack) -> bool:
    """True when the analytics group has committed every event of every topic it reads, as
    the broker says (the group's committed offsets against the end offsets; a partition it
    has not reached yet counts as behind). The stack's consumer starts with what earlier
    tests published still to read: the day's figures move until it has."""
    async with (
        admin_client(stack.kafka_bootstrap) as admin,
        offsets_client(stack.kafka_bootstrap) as consumer,
    ):
        parts = await partitions(consumer, [str(topic) for topic in ANALYTICS_HANDLERS])
        ends = await consumer.end_offsets(parts)
        committed = await admin.list_consumer_group_offsets("analytics-subgraph", partitions=parts)
    behind = [
        part
        for part in parts
        if ends[part] > 0 and (part not in committed or committed[part].offset < ends[part])
    ]
    return not behind


async def join_queue(gateway: httpx.AsyncClient, member: Member) -> None:
    body = await gql(gateway, "mutation { joinQueue { syncedVersion } }", token=member.access_token)
    assert "errors" not in body, body


async def test_the_days_figures_go_up_by_exactly_what_was_done(
    analytics_stack: Stack, gateway: httpx.AsyncClient, staff_issuer: TokenIssuer
) -> None:
    reader = staff_token(staff_issuer, Role.ADMIN)
    day = today()
    await eventually(
        lambda: consumed_everything(analytics_stack), within=60, what="analytics caught up"
    )
    before = await totals(gateway, reader, day)

    # Without a location the matcher never pairs them: the one match is the test's own.
    ann = await register(gateway, displayName="Ann")
    bob = await register(gateway, displayName="Bob")
    await join_queue(gateway, ann)
    await join_queue(gateway, ann)  # already queued: not a join
    left = await gql(gateway, "mutation { leaveQueue }", token=ann.access_token)
    assert left["data"]["leaveQueue"] is True, left
    match_id = await put_match_created(analytics_stack.kafka_bootstrap, [ann.id, bob.id])

    async def conversation() -> str | None:
        body = await gql(gateway, CHATS, token=ann.access_token)
        edges = body["data"]["me"]["conversations"]["edges"]
        return next((e["node"]["id"] for e in edges if e["node"]["matchId"] == match_id), None)

    chat = await eventually(conversation, within=30, what="the match's conversation")
    sent = await gql(
        gateway, SEND, {"c": chat, "t": "Hello!", "k": uuid.uuid4().hex}, token=ann.access_token
    )
    assert "errors" not in sent, sent

    async def reported() -> dict[str, Any]:
        # Moderation learns of Ann from her profile event: NOT_FOUND until then.
        return await gql(gateway, REPORT, {"u": ann.id}, token=bob.access_token)

    await eventually(reported, lambda body: "errors" not in body, within=30, what="the report")

    done = {
        "signups": 2,
        "activeMembers": 2,
        "queueJoins": 1,
        "matches": 1,
        "matchesWithConversation": 1,
        "messages": 1,
        "reports": 1,
        "premiumConversions": 0,
    }
    expected = {name: before[name] + done[name] for name in done}
    await eventually(
        lambda: totals(gateway, reader, day),
        lambda now: now == expected,
        within=45,
        what="today's figures",
    )
    # And no more than that, once every event has been consumed.
    await eventually(
        lambda: consumed_everything(analytics_stack), within=60, what="analytics caught up"
    )
    assert await totals(gateway, reader, day) == expected


@pytest.mark.parametrize("through", ["gateway", "direct"])
async def test_members_and_staff_without_the_scope_are_refused(
    through: str,
    gateway: httpx.AsyncClient,
    direct: httpx.AsyncClient,
    staff_issuer: TokenIssuer,
) -> None:
    client = gateway if through == "gateway" else direct
    member = await register(gateway)
    day = {"d": today()}
    assert error_codes(await gql(client, TODAY, day)) == ["UNAUTHENTICATED"]
    assert error_codes(await gql(client, TODAY, day, token=member.access_token)) == ["FORBIDDEN"]
    moderator = staff_token(staff_issuer, Role.MODERATOR)
    assert error_codes(await gql(client, TODAY, day, token=moderator)) == ["FORBIDDEN"]
    reversed_range = {"from": "2026-01-02", "to": "2026-01-01"}
    query = "query($from: Date!, $to: Date!) { analytics(from: $from, to: $to) { from } }"
    admin = staff_token(staff_issuer, Role.ADMIN)
    body = await gql(client, query, reversed_range, token=admin)
    assert error_codes(body) == ["BAD_USER_INPUT"], body
    assert body["errors"][0]["extensions"]["field"] == "to"
