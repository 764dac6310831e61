"""Staff through the one endpoint: `staffLogin`, members never reaching a staff field (not
through the gateway, not on a subgraph's own port), each role reaching only its scopes, and
every staff action (act on a case, suspend, refund) in the audit log exactly once, also
when the click is retried with the same idempotency key, and no way around the audit log:
a staff member calling an owner's mutation directly is refused."""

from __future__ import annotations

import time
import uuid
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import psycopg
import pytest

from kindred.devstack.stack import Stack
from kindred.settings import load_settings
from kindred.staff import Role
from tests.e2e.conftest import wait_for_consumer
from tests.staff_support import Staff, dev_admin, new_staff
from tests.support import Member, error_codes, eventually, gql, register
from tests.support_stripe import StripeStub, subscription_event

# One staff field per subgraph that has them, with the subgraph that serves it.
STAFF_FIELDS: list[tuple[str, str, dict[str, Any]]] = [
    ("user", "query($id: ID!) { staffMember(id: $id) { email } }", {"id": str(uuid.uuid4())}),
    ("moderation", "{ moderationCases { edges { node { id } } } }", {}),
    (
        "moderation",
        "mutation($u: ID!, $t: DateTime!) { imposeSuspension(userId: $u, until: $t, "
        'reason: "x", requestKey: "k") { id } }',
        {"u": str(uuid.uuid4()), "t": "2099-01-01T00:00:00Z"},
    ),
    (
        "subscription",
        'mutation($u: ID!) { recordStaffRefund(userId: $u, reason: "x", requestKey: "k") { id } }',
        {"u": str(uuid.uuid4())},
    ),
    ("admin", "{ auditLog { edges { node { id } } } }", {}),
    ("analytics", '{ analytics(from: "2026-01-01", to: "2026-01-02") { __typename } }', {}),
    ("admin", "{ staffAccounts { edges { node { id } } } }", {}),
    (
        "admin",
        'mutation($c: ID!) { actOnCase(caseId: $c, decision: WARN, reason: "x", '
        'idempotencyKey: "k") { id } }',
        {"c": str(uuid.uuid4())},
    ),
]
ENTRY = "id action targetId outcome errorCode before after idempotencyKey"
ACT = f"""
mutation($c: ID!, $r: String!, $k: String!) {{
  actOnCase(caseId: $c, decision: WARN, reason: $r, idempotencyKey: $k) {{ {ENTRY} }}
}}"""
SUSPEND = f"""
mutation($u: ID!, $t: DateTime!, $k: String!) {{
  suspendMember(userId: $u, until: $t, reason: "Spam.", idempotencyKey: $k) {{ {ENTRY} }}
}}"""
REFUND = f"""
mutation($u: ID!, $k: String!) {{
  refundSubscription(userId: $u, reason: "Charged twice.", idempotencyKey: $k) {{ {ENTRY} }}
}}"""
AUDIT = f"query($t: ID!) {{ auditLog(target: $t) {{ edges {{ node {{ {ENTRY} }} }} }} }}"
MEMBER = """
query($id: ID!) { staffMember(id: $id) { email state
  user { displayName moderationStatus { status } subscription { plan } } } }"""
REPORT = "mutation($u: ID!) { report(userId: $u, reason: SPAM) { id } }"
CASES = "{ moderationCases(status: OPEN, first: 100) { edges { node { id user { id } } } } }"
CASE = "query($id: ID!) { moderationCase(id: $id) { status actions { id } } }"
# The owners' audited mutations, as a staff member might try to call them directly.
TAKE_ACTION = """
mutation($c: ID!) { takeModerationAction(caseId: $c, action: BAN, reason: "x") { id } }"""
IMPOSE = """
mutation($u: ID!, $t: DateTime!) {
  imposeSuspension(userId: $u, until: $t, reason: "x", requestKey: "direct") { id }
}"""
RECORD_REFUND = """
mutation($u: ID!) { recordStaffRefund(userId: $u, reason: "x", requestKey: "direct") { id } }"""


@pytest.fixture(scope="module")
def staff_stack(stack: Stack) -> Stack:
    for name in ("moderation", "user"):
        wait_for_consumer(stack, name)
    return stack


@pytest.fixture
async def gateway(staff_stack: Stack) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=staff_stack.gateway_url, timeout=30.0) as client:
        yield client


@pytest.fixture(scope="module")
def staff(staff_stack: Stack) -> dict[Role, Staff]:
    """One signed-in staff member per role (the admin is the one the dev stack seeds)."""
    admin = dev_admin(staff_stack.gateway_url)
    return {
        Role.ADMIN: admin,
        Role.SUPPORT: new_staff(staff_stack.gateway_url, Role.SUPPORT, admin),
        Role.MODERATOR: new_staff(staff_stack.gateway_url, Role.MODERATOR, admin),
    }


@pytest.fixture
def admin_db(infra: Any) -> Iterator[psycopg.Connection[Any]]:
    with psycopg.connect(infra.database_url("admin_db"), autocommit=True) as connection:
        yield connection


def audit_count(db: psycopg.Connection[Any], target: str, outcome: str = "SUCCEEDED") -> int:
    row = db.execute(
        "SELECT count(*) FROM audit_log WHERE target_id = %s AND outcome = %s", (target, outcome)
    ).fetchone()
    assert row is not None
    return int(row[0])


async def reported_case(gateway: httpx.AsyncClient, moderator: Staff) -> tuple[Member, str]:
    """A new member, reported once (when moderation knows them): their open case."""
    offender, reporter = await register(gateway), await register(gateway)
    await eventually(
        lambda: gql(gateway, REPORT, {"u": offender.id}, token=reporter.access_token),
        lambda body: "errors" not in body,
        within=30,
        what="moderation knows the member",
    )
    body = await gql(gateway, CASES, token=moderator.access_token)
    [case] = [
        edge["node"]["id"]
        for edge in body["data"]["moderationCases"]["edges"]
        if edge["node"]["user"]["id"] == offender.id
    ]
    return offender, case


async def test_staff_sign_in_and_members_never_reach_a_staff_field(
    staff_stack: Stack, gateway: httpx.AsyncClient, staff: dict[Role, Staff]
) -> None:
    member = await register(gateway)
    for subgraph, query, variables in STAFF_FIELDS:
        for url in (staff_stack.gateway_url, staff_stack.subgraph_url(subgraph)):
            async with httpx.AsyncClient(base_url=url, timeout=30.0) as client:
                as_member = await gql(client, query, variables, token=member.access_token)
                assert error_codes(as_member) == ["FORBIDDEN"], (url, query, as_member)
                assert not any((as_member.get("data") or {}).values()), as_member
                anonymous = await gql(client, query, variables)
                assert error_codes(anonymous) == ["UNAUTHENTICATED"], (url, query, anonymous)

    # Staff see the member's account with their standing and subscription (three subgraphs).
    body = await gql(gateway, MEMBER, {"id": member.id}, token=staff[Role.SUPPORT].access_token)
    assert "errors" not in body, body
    assert body["data"]["staffMember"] == {
        "email": member.email,
        "state": "ACTIVE",
        "user": {
            "displayName": "Robin",
            "moderationStatus": {"status": "ACTIVE"},
            "subscription": {"plan": "FREE"},
        },
    }


async def test_each_role_reaches_only_its_scopes(
    gateway: httpx.AsyncClient, staff: dict[Role, Staff]
) -> None:
    key = str(uuid.uuid4())
    unknown = str(uuid.uuid4())
    until = (datetime.now(UTC) + timedelta(hours=1)).isoformat()
    operations = {
        "act": (ACT, {"c": unknown, "r": "x", "k": key}),
        "suspend": (SUSPEND, {"u": unknown, "t": until, "k": key}),
        "refund": (REFUND, {"u": unknown, "k": key}),
        "audit": (AUDIT, {"t": unknown}),
        "cases": (CASES, {}),
        "member": (MEMBER, {"id": unknown}),
        "analytics": ('{ analytics(from: "2026-01-01", to: "2026-01-02") { __typename } }', {}),
    }
    allowed = {
        Role.SUPPORT: {"refund", "cases", "member"},
        Role.MODERATOR: {"act", "suspend", "cases", "member"},
        Role.ADMIN: set(operations),
    }
    for role, may in allowed.items():
        for name, (query, variables) in operations.items():
            codes = error_codes(
                await gql(gateway, query, variables, token=staff[role].access_token)
            )
            if name in may:
                # Let through: the owner answers for the made-up target (or there is none).
                assert "FORBIDDEN" not in codes, (role, name, codes)
            else:
                assert codes == ["FORBIDDEN"], (role, name, codes)


async def test_every_staff_action_is_in_the_audit_log_once(
    staff_stack: Stack,
    gateway: httpx.AsyncClient,
    staff: dict[Role, Staff],
    admin_db: psycopg.Connection[Any],
) -> None:
    moderator, support, admin = staff[Role.MODERATOR], staff[Role.SUPPORT], staff[Role.ADMIN]
    offender, case = await reported_case(gateway, moderator)
    act = {"c": case, "r": "Be kind.", "k": str(uuid.uuid4())}
    first = await gql(gateway, ACT, act, token=moderator.access_token)
    assert "errors" not in first, first
    retried = await gql(gateway, ACT, act, token=moderator.access_token)
    assert retried["data"]["actOnCase"]["id"] == first["data"]["actOnCase"]["id"]
    assert first["data"]["actOnCase"]["before"]["status"] == "OPEN"

    until = (datetime.now(UTC) + timedelta(hours=1)).isoformat()
    suspend = {"u": offender.id, "t": until, "k": str(uuid.uuid4())}
    suspended = [await gql(gateway, SUSPEND, suspend, token=moderator.access_token) for _ in "ab"]
    assert all("errors" not in body for body in suspended), suspended

    member = await register(gateway)
    secret = load_settings("subscription").stripe_webhook_secret
    async with httpx.AsyncClient(base_url=staff_stack.subgraph_url("subscription")) as client:
        tag = uuid.uuid4().hex[:12]
        await StripeStub(client, secret).send(
            subscription_event(
                "created",
                user_id=member.id,
                subscription_id=f"sub_{tag}",
                customer=f"cus_{tag}",
                period_end=int(time.time()) + 86400,
            )
        )
    refund = {"u": member.id, "k": str(uuid.uuid4())}
    refunded = [await gql(gateway, REFUND, refund, token=support.access_token) for _ in "ab"]
    assert all("errors" not in body for body in refunded), refunded
    assert refunded[0]["data"]["refundSubscription"]["after"]["subscription"]["plan"] == "FREE"

    for target in (case, offender.id, member.id):
        body = await gql(gateway, AUDIT, {"t": target}, token=admin.access_token)
        entries = [edge["node"] for edge in body["data"]["auditLog"]["edges"]]
        assert [entry["outcome"] for entry in entries] == ["SUCCEEDED"], (target, entries)
        assert audit_count(admin_db, target) == 1
    # A refused action is recorded too, once: acting again on the closed case.
    again = {**act, "k": str(uuid.uuid4())}
    for _ in range(2):
        assert error_codes(await gql(gateway, ACT, again, token=moderator.access_token)) == [
            "CONFLICT"
        ]
    assert audit_count(admin_db, case, "REFUSED") == 1


async def test_staff_cannot_act_around_the_audit_log(
    staff_stack: Stack,
    gateway: httpx.AsyncClient,
    staff: dict[Role, Staff],
    admin_db: psycopg.Connection[Any],
) -> None:
    moderator, support = staff[Role.MODERATOR], staff[Role.SUPPORT]
    offender, case = await reported_case(gateway, moderator)
    until = (datetime.now(UTC) + timedelta(hours=1)).isoformat()
    direct = [
        ("moderation", TAKE_ACTION, {"c": case}, moderator, "actOnCase"),
        ("moderation", IMPOSE, {"u": offender.id, "t": until}, moderator, "suspendMember"),
        ("subscription", RECORD_REFUND, {"u": offender.id}, support, "refundSubscription"),
    ]
    for subgraph, query, variables, who, via in direct:
        for url in (staff_stack.gateway_url, staff_stack.subgraph_url(subgraph)):
            async with httpx.AsyncClient(base_url=url, timeout=30.0) as client:
                body = await gql(client, query, variables, token=who.access_token)
            assert error_codes(body) == ["FORBIDDEN"], (url, query, body)
            extensions = body["errors"][0]["extensions"]
            assert (extensions["reason"], extensions["via"]) == ("NOT_AUDITED", via), body
            assert not any((body.get("data") or {}).values()), body
    # Nothing changed, and nothing was audited.
    state = await gql(gateway, CASE, {"id": case}, token=moderator.access_token)
    assert state["data"]["moderationCase"] == {"status": "OPEN", "actions": []}, state
    member = await gql(gateway, MEMBER, {"id": offender.id}, token=moderator.access_token)
    assert member["data"]["staffMember"]["user"]["moderationStatus"]["status"] == "ACTIVE"
    assert audit_count(admin_db, case) == audit_count(admin_db, offender.id) == 0

    # Through the admin subgraph it is done, and audited once.
    act = {"c": case, "r": "Be kind.", "k": str(uuid.uuid4())}
    acted = await gql(gateway, ACT, act, token=moderator.access_token)
    assert "errors" not in acted, acted
    assert acted["data"]["actOnCase"]["outcome"] == "SUCCEEDED"
    state = await gql(gateway, CASE, {"id": case}, token=moderator.access_token)
    assert state["data"]["moderationCase"]["status"] == "ACTIONED"
    assert len(state["data"]["moderationCase"]["actions"]) == 1
    assert audit_count(admin_db, case) == 1
