"""Moderation through the one endpoint: a report, a moderator's suspension that every
subgraph obeys until it ends by itself, a ban that ends signing in (but not appealing, with
the appeal token `login` answers), and screening that raises a case from a message with the
evidence."""

from __future__ import annotations

import secrets
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from kindred.devstack.stack import Stack
from kindred.staff import Role
from tests.communication_support import SubscriptionClosed, subscription
from tests.e2e.conftest import wait_for_consumer
from tests.matchmaking_support import put_match_created
from tests.staff_support import new_staff
from tests.support import Member, error_codes, eventually, gql, register

# Long enough to see the refusals after the events travel, short enough to wait out.
SUSPENSION_SECONDS = 10

REPORT = """
mutation($u: ID!, $c: ID) {
  report(userId: $u, reason: HARASSMENT, details: "Insults", conversationId: $c) { id caseStatus }
}"""
CASES = """
{ moderationCases(status: OPEN, first: 100) { edges { node {
    id user { id displayName }
    flags { edges { node { source terms text conversationId messageId } } }
} } } }"""
# Moderators act through the admin subgraph, which writes the audit log and calls moderation.
ACT = """
mutation($c: ID!, $a: CaseDecision!, $u: DateTime, $k: String!) {
  actOnCase(caseId: $c, decision: $a, reason: "Abusive messages", until: $u, idempotencyKey: $k) {
    id outcome
  }
}"""
JOIN = "mutation { joinQueue { syncedVersion } }"
ENTRY = "{ me { queueEntry { syncedVersion } moderationStatus { status until } } }"
SEND = """
mutation($c: ID!, $t: String!, $k: String!) {
  sendMessage(conversationId: $c, text: $t, clientMessageId: $k) { id }
}"""
CHATS = "{ me { conversations { edges { node { id } } } } }"
LOGIN = "mutation($e: String!, $p: String!) { login(email: $e, password: $p) { accessToken } }"
MINE = """
{ myModerationStatus { status reason }
  myModerationActions { edges { node { id action appeal { status } } } } }"""
APPEAL = 'mutation($a: ID!) { appealAction(actionId: $a, text: "It was not me") { id status } }'
OVERTURN = """
mutation($a: ID!, $k: String!) {
  actOnAppeal(appealId: $a, decision: OVERTURNED, idempotencyKey: $k) { id outcome }
}"""
STANDING = """
{ me { moderationStatus { status until }
       moderationActions { edges { node { id overturned appeal { status } } } } } }"""
TYPING = "subscription($c: ID!) { typing(conversationId: $c) { at } }"


@pytest.fixture(scope="module")
def moderation_stack(stack: Stack) -> Stack:
    """The stack once every consumer of moderation's events (and of messages) is assigned."""
    for name in ("moderation", "communication", "user"):
        wait_for_consumer(stack, name)
    return stack


@pytest.fixture
async def gateway(moderation_stack: Stack) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=moderation_stack.gateway_url, timeout=15.0) as client:
        yield client


@pytest.fixture(scope="module")
def moderator(moderation_stack: Stack) -> str:
    """A moderator's access token, from `staffLogin` through the gateway."""
    return new_staff(moderation_stack.gateway_url, Role.MODERATOR).access_token


async def matched_pair(stack: Stack, gateway: httpx.AsyncClient) -> tuple[Member, Member, str]:
    """Two new members (without a location: the matcher never pairs them) with a
    conversation; returns its id."""
    ann = await register(gateway, displayName="Ann")
    bob = await register(gateway, displayName="Bob")
    await put_match_created(stack.kafka_bootstrap, [ann.id, bob.id])

    async def conversations() -> list[str]:
        body = await gql(gateway, CHATS, token=ann.access_token)
        return [edge["node"]["id"] for edge in body["data"]["me"]["conversations"]["edges"]]

    [conversation] = await eventually(conversations, within=30, what="the conversation")
    return ann, bob, conversation


async def open_case_of(
    gateway: httpx.AsyncClient, moderator: str, member: Member, *, what: str = "the case"
) -> dict[str, Any]:
    """The member's open case, as a moderator lists it (waits for it to appear)."""

    async def find() -> dict[str, Any] | None:
        body = await gql(gateway, CASES, token=moderator)
        assert "errors" not in body, body
        edges = body["data"]["moderationCases"]["edges"]
        # A case about a member whose account is gone has a null user.
        mine = (e["node"] for e in edges if (e["node"]["user"] or {}).get("id") == member.id)
        return next(mine, None)

    case: dict[str, Any] = await eventually(find, within=30, what=what)
    return case


async def file_report(
    gateway: httpx.AsyncClient, reporter: Member, offender: Member, conversation: str | None = None
) -> dict[str, Any]:
    """The reporter's report of the offender, once moderation has heard of the offender
    (their profile event): until then the id is no member to it (NOT_FOUND)."""
    variables = {"u": offender.id, "c": conversation}
    body: dict[str, Any] = await eventually(
        lambda: gql(gateway, REPORT, variables, token=reporter.access_token),
        lambda body: error_codes(body) != ["NOT_FOUND"],
        what="moderation knows the member",
    )
    assert "errors" not in body, body
    return body


async def sign_in(gateway: httpx.AsyncClient, member: Member) -> dict[str, Any]:
    """`login` as the member, each time from an address of its own: waiting for an event by
    signing in again and again is not the guessing the per-address sign-in limit counts."""
    variables = {"e": member.email, "p": member.password}
    return await gql(gateway, LOGIN, variables, address=f"198.51.100.{secrets.randbelow(250) + 1}")


async def send(gateway: httpx.AsyncClient, member: Member, conversation: str, text: str) -> Any:
    variables = {"c": conversation, "t": text, "k": uuid.uuid4().hex}
    return await gql(gateway, SEND, variables, token=member.access_token)


async def test_a_suspended_member_cannot_queue_or_send_until_the_period_ends(
    moderation_stack: Stack, gateway: httpx.AsyncClient, moderator: str
) -> None:
    ann, bob, conversation = await matched_pair(moderation_stack, gateway)
    assert "errors" not in await gql(gateway, JOIN, token=ann.access_token)
    filed = await file_report(gateway, bob, ann, conversation)
    assert filed["data"]["report"]["caseStatus"] == "OPEN", filed

    case = await open_case_of(gateway, moderator, ann)
    until = datetime.now(UTC) + timedelta(seconds=SUSPENSION_SECONDS)
    variables = {"c": case["id"], "a": "SUSPEND", "u": until.isoformat(), "k": uuid.uuid4().hex}
    acted = await gql(gateway, ACT, variables, token=moderator)
    assert "errors" not in acted, acted

    # Every subgraph hears `user.suspended`: the queue entry goes, joining and sending stop.
    entry = await eventually(
        lambda: gql(gateway, ENTRY, token=ann.access_token),
        lambda body: body["data"]["me"]["queueEntry"] is None,
        what="the queue entry removed",
    )
    assert entry["data"]["me"]["moderationStatus"]["status"] == "SUSPENDED"
    refused = await eventually(
        lambda: gql(gateway, JOIN, token=ann.access_token),
        lambda body: error_codes(body) == ["FORBIDDEN"],
        what="joinQueue refused",
    )
    assert refused["errors"][0]["extensions"]["reason"] == "SUSPENDED"
    assert datetime.fromisoformat(refused["errors"][0]["extensions"]["until"]) == until
    sent = await eventually(
        lambda: send(gateway, ann, conversation, "Still here"),
        lambda body: error_codes(body) == ["FORBIDDEN"],
        what="sendMessage refused",
    )
    assert "suspended" in sent["errors"][0]["message"]
    # The other member is not affected.
    assert "errors" not in await send(gateway, bob, conversation, "Hello?")

    # The suspension ends by itself at its end time.
    rejoined = await eventually(
        lambda: gql(gateway, JOIN, token=ann.access_token),
        lambda body: "errors" not in body,
        within=SUSPENSION_SECONDS + 30,
        what="joinQueue allowed again",
    )
    assert datetime.now(UTC) >= until, rejoined
    assert "errors" not in await send(gateway, ann, conversation, "Sorry, Bob")
    status = await gql(gateway, ENTRY, token=ann.access_token)
    assert status["data"]["me"]["moderationStatus"] == {"status": "ACTIVE", "until": None}


async def test_a_banned_member_cannot_sign_in_but_appeals_with_the_token_login_gives(
    moderation_stack: Stack, gateway: httpx.AsyncClient, moderator: str
) -> None:
    offender = await register(gateway, displayName="Max")
    reporter = await register(gateway, displayName="Kim")
    await file_report(gateway, reporter, offender)
    case = await open_case_of(gateway, moderator, offender)
    variables = {"c": case["id"], "a": "BAN", "k": uuid.uuid4().hex}
    acted = await gql(gateway, ACT, variables, token=moderator)
    assert "errors" not in acted, acted

    refused = await eventually(
        lambda: sign_in(gateway, offender),
        lambda body: error_codes(body) == ["FORBIDDEN"],
        what="login refused",
    )
    assert refused["errors"][0]["extensions"]["reason"] == "BANNED"
    appeal_token = refused["errors"][0]["extensions"]["appealToken"]
    # The reporter signs in as ever.
    login = await gql(gateway, LOGIN, {"e": reporter.email, "p": reporter.password})
    assert "errors" not in login, login

    # The appeal token reads why, and appeals the ban; it is no access token anywhere else.
    mine = await gql(gateway, MINE, token=appeal_token)
    assert "errors" not in mine, mine
    assert mine["data"]["myModerationStatus"] == {"status": "BANNED", "reason": "Abusive messages"}
    [ban] = [edge["node"] for edge in mine["data"]["myModerationActions"]["edges"]]
    assert ban["action"] == "BAN" and ban["appeal"] is None
    for query in ("{ me { id } }", "{ myReports { edges { node { id } } } }"):
        body = await gql(gateway, query, token=appeal_token)
        assert error_codes(body) == ["UNAUTHENTICATED"], body
    with pytest.raises(SubscriptionClosed) as closed:
        chat = f"{moderation_stack.subgraph_url('communication')}/graphql"
        async with subscription(chat, TYPING, {"c": str(uuid.uuid4())}, token=appeal_token):
            pass
    assert closed.value.code == 4401 and "banned member appeal" in closed.value.reason
    appealed = await gql(gateway, APPEAL, {"a": ban["id"]}, token=appeal_token)
    assert "errors" not in appealed, appealed
    appeal = appealed["data"]["appealAction"]
    assert appeal["status"] == "PENDING"

    # A moderator overturns it: the ban ends everywhere, and the member signs in again.
    decision = {"a": appeal["id"], "k": uuid.uuid4().hex}
    decided = await gql(gateway, OVERTURN, decision, token=moderator)
    assert "errors" not in decided, decided
    signed_in = await eventually(
        lambda: sign_in(gateway, offender),
        lambda body: "errors" not in body,
        what="login allowed again",
    )
    token = signed_in["data"]["login"]["accessToken"]
    me = await gql(gateway, STANDING, token=token)
    assert "errors" not in me, me
    assert me["data"]["me"]["moderationStatus"] == {"status": "ACTIVE", "until": None}
    [overturned] = [edge["node"] for edge in me["data"]["me"]["moderationActions"]["edges"]]
    assert overturned == {"id": ban["id"], "overturned": True, "appeal": {"status": "OVERTURNED"}}


async def test_a_message_with_a_disguised_screened_term_raises_a_case_with_the_evidence(
    moderation_stack: Stack, gateway: httpx.AsyncClient, moderator: str
) -> None:
    ann, _, conversation = await matched_pair(moderation_stack, gateway)
    text = "honestly... K í l l   y ö u r s e l f"
    sent = await send(gateway, ann, conversation, text)
    assert "errors" not in sent, sent
    case = await open_case_of(gateway, moderator, ann, what="the screening case")
    assert case["user"]["displayName"] == "Ann"
    [flag] = [edge["node"] for edge in case["flags"]["edges"]]
    assert flag == {
        "source": "MESSAGE",
        "terms": ["kill yourself"],
        "text": text,
        "conversationId": conversation,
        "messageId": sent["data"]["sendMessage"]["id"],
    }


async def test_a_report_outlives_the_reported_members_account(
    gateway: httpx.AsyncClient, moderator: str
) -> None:
    """The reporter's reports and the moderators' cases still list once the reported member
    deletes their account, that member as a null user (a non-null one failed each list)."""
    reporter = await register(gateway)
    offender = await register(gateway)
    filed = await file_report(gateway, reporter, offender)
    case = await open_case_of(gateway, moderator, offender)
    deleted = await gql(gateway, "mutation { deleteAccount }", token=offender.access_token)
    assert deleted == {"data": {"deleteAccount": True}}

    mine = await gql(
        gateway,
        "{ myReports { edges { node { id reportedUser { displayName } } } } }",
        token=reporter.access_token,
    )
    assert mine == {
        "data": {
            "myReports": {
                "edges": [{"node": {"id": filed["data"]["report"]["id"], "reportedUser": None}}]
            }
        }
    }, mine
    cases = await gql(gateway, CASES, token=moderator)
    assert "errors" not in cases, cases
    [listed] = [
        e["node"]
        for e in cases["data"]["moderationCases"]["edges"]
        if e["node"]["id"] == case["id"]
    ]
    assert listed["user"] is None, listed
