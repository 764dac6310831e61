"""The admin subgraph's contract: SDL and its staff-only fields, staff sign-in (its own
issuer and JWKS, limits, refresh, disabled accounts), staff management by scope, and staff
actions through their owners (moderation, subscription): one append-only audit row per
action, also when the owner refuses and when a click is retried with the same key."""

from __future__ import annotations

import argparse
import io
import json
import secrets
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from typing import Any

import graphql
import httpx
import jwt
import psycopg
import pytest

from kindred.credentials import TokenIssuer
from kindred.sdl import REPO, export
from kindred.staff import Role, Scope
from subgraphs.admin import cli, service
from subgraphs.moderation import handlers as moderation_handlers
from subgraphs.user import events as user_events
from subgraphs.user.models import Account
from tests.contract.conftest import STRIPE_TEST_SECRET, Served
from tests.support import contract_database, error_codes, gql, register, staff_token
from tests.support_stripe import StripeStub, subscription_event

PASSWORD = "a long staff password"
LOGIN = """
mutation($e: String!, $p: String!) {
  staffLogin(email: $e, password: $p) {
    accessToken refreshToken tokenType expiresIn staff { id email role scopes version }
  }
}"""
REFRESH = """
mutation($t: String!) { staffRefreshToken(refreshToken: $t) { accessToken refreshToken } }"""
CREATE = """
mutation($i: CreateStaffInput!) { createStaff(input: $i) { id email role disabled version } }"""
CHANGE_ROLE = """
mutation($s: ID!, $r: StaffRole!, $v: Int) {
  changeStaffRole(staffId: $s, role: $r, expectedVersion: $v) { id role version }
}"""
DISABLE = "mutation($s: ID!) { disableStaff(staffId: $s) { id disabled version } }"
ENTRY = """id staffId staffEmail action targetType targetId idempotencyKey request before after
outcome errorCode errorMessage"""
ACT = f"""
mutation($c: ID!, $d: CaseDecision!, $r: String!, $k: String!, $u: DateTime) {{
  actOnCase(caseId: $c, decision: $d, reason: $r, idempotencyKey: $k, until: $u) {{ {ENTRY} }}
}}"""
SUSPEND = f"""
mutation($u: ID!, $until: DateTime!, $r: String!, $k: String!) {{
  suspendMember(userId: $u, until: $until, reason: $r, idempotencyKey: $k) {{ {ENTRY} }}
}}"""
REFUND = f"""
mutation($u: ID!, $r: String!, $k: String!) {{
  refundSubscription(userId: $u, reason: $r, idempotencyKey: $k) {{ {ENTRY} }}
}}"""
AUDIT = f"""
query($s: ID, $t: ID, $first: Int, $after: String) {{
  auditLog(staffId: $s, target: $t, first: $first, after: $after) {{
    edges {{ node {{ {ENTRY} }} }} pageInfo {{ hasNextPage endCursor }}
  }}
}}"""
REVIEW = f"""
mutation($c: ID!, $k: String!) {{ reviewCase(caseId: $c, idempotencyKey: $k) {{ {ENTRY} }} }}"""
DECIDE = f"""
mutation($a: ID!, $d: AppealDecision!, $k: String!) {{
  actOnAppeal(appealId: $a, decision: $d, idempotencyKey: $k) {{ {ENTRY} }}
}}"""
REPORT = "mutation($u: ID!) { report(userId: $u, reason: SPAM) { id } }"
APPEAL = 'mutation($a: ID!) { appealAction(actionId: $a, text: "It was a joke") { id } }'


@pytest.fixture
def client(admin_served: Served) -> httpx.AsyncClient:
    return admin_served.client


@pytest.fixture
async def owner_calls(admin_served: Served) -> AsyncIterator[list[httpx.Request]]:
    """The requests the admin subgraph sends the owners during the test."""
    sent: list[httpx.Request] = []

    async def keep(request: httpx.Request) -> None:
        sent.append(request)

    http = admin_served.platform.http
    hooks = http.event_hooks
    http.event_hooks = {**hooks, "request": [*hooks.get("request", []), keep]}
    yield sent
    http.event_hooks = hooks


def owner_mutations(sent: list[httpx.Request], field: str) -> list[dict[str, Any]]:
    """The claims of the bearer token of each request that called the owner's `field`."""
    claims = []
    for request in sent:
        if field in json.loads(request.content)["query"]:
            token = request.headers["authorization"].removeprefix("Bearer ")
            claims.append(jwt.decode(token, options={"verify_signature": False}))
    return claims


@pytest.fixture
def db(infra: Any, admin_served: Served) -> Iterator[psycopg.Connection[Any]]:
    with contract_database(infra, "admin") as connection:
        yield connection


def _ok(body: dict[str, Any]) -> dict[str, Any]:
    assert "errors" not in body, body
    data: dict[str, Any] = body["data"]
    return data


def _refused(body: dict[str, Any], code: str) -> dict[str, Any]:
    assert error_codes(body) == [code], body
    extensions: dict[str, Any] = body["errors"][0]["extensions"]
    return extensions


async def new_staff(served: Served, role: Role) -> tuple[str, str]:
    """A staff account of `role` made in the database: (its id, its email)."""
    email = f"staff-{uuid.uuid4().hex[:12]}@kindred.test"
    async with served.platform.db.session() as session, session.begin():
        staff = await service.create_staff(
            session, email=email, password=PASSWORD, display_name="Sam", role=role.value
        )
    return str(staff.id), email


async def signed_in(client: httpx.AsyncClient, served: Served, role: Role) -> tuple[str, str]:
    """A new staff member of `role`, signed in: (their id, their access token)."""
    staff_id, email = await new_staff(served, role)
    login = _ok(await staff_login(client, email, PASSWORD))["staffLogin"]
    return staff_id, login["accessToken"]


async def staff_login(client: httpx.AsyncClient, email: str, password: str) -> dict[str, Any]:
    """`staffLogin` from an address of its own (through the trusted proxy's header), so
    the tests' sign-ins do not add up against one address's limit."""
    address = f"198.51.100.{secrets.randbelow(250) + 1}"
    return await gql(client, LOGIN, {"e": email, "p": password}, address=address)


def audit_rows(db: psycopg.Connection[Any], **where: Any) -> list[Any]:
    clause = " AND ".join(f"{name} = %s" for name in where) or "true"
    return db.execute(
        f"SELECT action, outcome, error_code FROM audit_log WHERE {clause}", tuple(where.values())
    ).fetchall()


async def known_member(user_served: Served, moderation_served: Served) -> uuid.UUID:
    """A registered member whom moderation knows (as its consumer would have learnt)."""
    member = uuid.UUID((await register(user_served.client)).id)
    async with user_served.platform.db.session() as session:
        account = await session.get(Account, member)
    assert account is not None
    async with moderation_served.platform.db.unit_of_work() as uow:
        await moderation_handlers.HANDLERS[user_events.profile_updated(account).topic](
            uow, user_events.profile_updated(account)
        )
        await uow.commit()
    return member


async def open_case(
    user_served: Served, moderation_served: Served, issuer: TokenIssuer
) -> tuple[uuid.UUID, str]:
    member = await known_member(user_served, moderation_served)
    body = await gql(
        moderation_served.client,
        REPORT,
        {"u": str(member)},
        token=issuer.access_token(uuid.uuid4()),
    )
    _ok(body)
    async with moderation_served.platform.db.read() as conn:
        [row] = list(
            await conn.exec_driver_sql(
                "SELECT id FROM cases WHERE user_id = %(u)s AND closed_at IS NULL", {"u": member}
            )
        )
    return member, str(row[0])


def _in(seconds: float) -> str:
    from datetime import UTC, datetime, timedelta

    return (datetime.now(UTC) + timedelta(seconds=seconds)).isoformat()


# -- the SDL ------------------------------------------------------------------------------


async def test_the_served_sdl_is_the_committed_one(client: httpx.AsyncClient) -> None:
    body = await gql(client, "{ _service { sdl } }")
    committed = (REPO / "subgraphs" / "admin" / "schema.graphql").read_text()
    assert body["data"]["_service"]["sdl"].rstrip() == committed.rstrip()
    assert export("admin") == committed, "run `make compose` to refresh the SDL"
    for field, scope in (
        ("auditLog", Scope.AUDIT_READ),
        ("staffAccounts", Scope.STAFF_MANAGE),
        ("actOnCase", Scope.CASES_ACT),
        ("reviewCase", Scope.CASES_ACT),
        ("actOnAppeal", Scope.CASES_ACT),
        ("suspendMember", Scope.MEMBERS_SUSPEND),
        ("refundSubscription", Scope.BILLING_REFUND),
    ):
        assert _directives(committed, field) == [
            "@authenticated",
            f'@requiresScopes(scopes: [["{scope.value}"]])',
        ]
    assert _directives(committed, "staffLogin") == []


def _directives(sdl: str, field: str) -> list[str]:
    """The directives on a root field of the SDL, as written."""
    document = graphql.parse(sdl)
    for definition in document.definitions:
        if isinstance(definition, graphql.ObjectTypeDefinitionNode):
            for node in definition.fields or ():
                if node.name.value == field:
                    return [graphql.print_ast(directive) for directive in node.directives or ()]
    raise AssertionError(f"no field {field}")


# -- sign-in -------------------------------------------------------------------------------


async def test_staff_sign_in_with_tokens_of_their_own_issuer_and_scopes(
    client: httpx.AsyncClient, admin_served: Served, issuer: TokenIssuer
) -> None:
    staff_id, email = await new_staff(admin_served, Role.SUPPORT)
    login = _ok(await staff_login(client, email.upper(), PASSWORD))["staffLogin"]
    assert login["staff"]["role"] == "SUPPORT"
    assert login["staff"]["scopes"] == ["billing:refund", "cases:read", "members:read"]
    assert login["expiresIn"] == admin_served.platform.settings.staff_access_token_ttl_seconds
    jwks = (await client.get("/.well-known/jwks.json")).json()
    key = jwt.PyJWK(jwks["keys"][0])
    claims = jwt.decode(login["accessToken"], key=key, algorithms=["ES256"], audience="kindred")
    assert claims["iss"] == "kindred-admin" and claims["sub"] == staff_id
    assert claims["roles"] == ["support"]
    assert claims["scope"] == "billing:refund cases:read members:read"
    # The member issuer's key is not the staff key.
    assert jwks["keys"][0]["kid"] not in [k["kid"] for k in issuer.jwks()["keys"]]
    me = await gql(client, "{ staffMe { id email } }", token=login["accessToken"])
    assert _ok(me)["staffMe"] == {"id": staff_id, "email": email}
    member = await gql(client, "{ staffMe { id } }", token=issuer.access_token(uuid.uuid4()))
    _refused(member, "FORBIDDEN")

    rotated = _ok(await gql(client, REFRESH, {"t": login["refreshToken"]}))["staffRefreshToken"]
    # A spent refresh token coming back ends every session of the account.
    _refused(await gql(client, REFRESH, {"t": login["refreshToken"]}), "UNAUTHENTICATED")
    _refused(await gql(client, REFRESH, {"t": rotated["refreshToken"]}), "UNAUTHENTICATED")


async def test_wrong_passwords_are_limited_per_account(
    client: httpx.AsyncClient, admin_served: Served
) -> None:
    _, email = await new_staff(admin_served, Role.SUPPORT)
    failures = admin_served.platform.settings.login_account_failures
    for _ in range(failures):
        _refused(await staff_login(client, email, "wrong password!"), "UNAUTHENTICATED")
    limited = _refused(await staff_login(client, email, PASSWORD), "RATE_LIMITED")
    assert limited["retryAfter"] >= 1


async def test_a_disabled_account_cannot_sign_in_or_act(
    client: httpx.AsyncClient, admin_served: Served, db: Any
) -> None:
    _, admin = await signed_in(client, admin_served, Role.ADMIN)
    staff_id, email = await new_staff(admin_served, Role.MODERATOR)
    before = _ok(await staff_login(client, email, PASSWORD))["staffLogin"]
    disabled = _ok(await gql(client, DISABLE, {"s": staff_id}, token=admin))["disableStaff"]
    assert disabled["disabled"] is True
    refused = _refused(await staff_login(client, email, PASSWORD), "FORBIDDEN")
    assert refused["reason"] == "DISABLED"
    _refused(await gql(client, REFRESH, {"t": before["refreshToken"]}), "UNAUTHENTICATED")
    # Its access token still verifies for a few minutes, but staff actions check the account.
    act = {"c": str(uuid.uuid4()), "d": "WARN", "r": "x", "k": "k"}
    _refused(await gql(client, ACT, act, token=before["accessToken"]), "FORBIDDEN")
    assert audit_rows(db, staff_id=staff_id) == []
    assert audit_rows(db, target_id=staff_id) == [("DISABLE_STAFF", "SUCCEEDED", None)]


async def test_refreshing_for_a_disabled_account_is_refused_and_leaves_the_token_unspent(
    client: httpx.AsyncClient, admin_served: Served, db: Any
) -> None:
    # Disabling ends the sessions too; here the account is disabled behind the sessions'
    # back, so the refresh reaches the account check.
    staff_id, email = await new_staff(admin_served, Role.SUPPORT)
    login = _ok(await staff_login(client, email, PASSWORD))["staffLogin"]
    db.execute("UPDATE staff SET disabled_at = now() WHERE id = %s", (staff_id,))
    refused = _refused(await gql(client, REFRESH, {"t": login["refreshToken"]}), "FORBIDDEN")
    assert refused["reason"] == "DISABLED"
    db.execute("UPDATE staff SET disabled_at = NULL WHERE id = %s", (staff_id,))
    _ok(await gql(client, REFRESH, {"t": login["refreshToken"]}))


# -- staff management ------------------------------------------------------------------------


async def test_admins_manage_staff_and_every_change_is_audited(
    client: httpx.AsyncClient, admin_served: Served, db: Any, issuer: TokenIssuer
) -> None:
    admin_id, admin = await signed_in(client, admin_served, Role.ADMIN)
    _, support = await signed_in(client, admin_served, Role.SUPPORT)
    email = f"new-{uuid.uuid4().hex[:10]}@kindred.test"
    new = {"email": email, "password": PASSWORD, "displayName": "Kim", "role": "SUPPORT"}
    for token, code in (
        (None, "UNAUTHENTICATED"),
        (issuer.access_token(uuid.uuid4()), "FORBIDDEN"),
        (support, "FORBIDDEN"),
    ):
        _refused(await gql(client, CREATE, {"i": new}, token=token), code)
    created = _ok(await gql(client, CREATE, {"i": new}, token=admin))["createStaff"]
    assert (created["role"], created["version"]) == ("SUPPORT", 1)
    _refused(await gql(client, CREATE, {"i": new}, token=admin), "CONFLICT")
    short = {**new, "email": f"x{email}", "password": "short"}
    _refused(await gql(client, CREATE, {"i": short}, token=admin), "BAD_USER_INPUT")

    stale = {"s": created["id"], "r": "MODERATOR", "v": 7}
    _refused(await gql(client, CHANGE_ROLE, stale, token=admin), "CONFLICT")
    changed = _ok(await gql(client, CHANGE_ROLE, {**stale, "v": 1}, token=admin))
    assert changed["changeStaffRole"] == {"id": created["id"], "role": "MODERATOR", "version": 2}
    own = {"s": admin_id, "r": "SUPPORT"}
    _refused(await gql(client, CHANGE_ROLE, own, token=admin), "FORBIDDEN")

    assert sorted(audit_rows(db, target_id=created["id"])) == [
        ("CHANGE_STAFF_ROLE", "REFUSED", "CONFLICT"),
        ("CHANGE_STAFF_ROLE", "SUCCEEDED", None),
        ("CREATE_STAFF", "SUCCEEDED", None),
    ]
    assert audit_rows(db, target_id=email) == [("CREATE_STAFF", "REFUSED", "CONFLICT")]
    login = _ok(await staff_login(client, email, PASSWORD))["staffLogin"]
    assert "cases:act" in login["staff"]["scopes"]


# -- staff actions through their owners ----------------------------------------------------


async def test_acting_on_a_case_is_done_by_moderation_and_audited_once(
    client: httpx.AsyncClient,
    admin_served: Served,
    user_served: Served,
    moderation_served: Served,
    issuer: TokenIssuer,
    db: Any,
    owner_calls: list[httpx.Request],
) -> None:
    member, case_id = await open_case(user_served, moderation_served, issuer)
    moderator_id, moderator = await signed_in(client, admin_served, Role.MODERATOR)
    _, support = await signed_in(client, admin_served, Role.SUPPORT)
    variables = {"c": case_id, "d": "WARN", "r": "Be kind.", "k": str(uuid.uuid4())}
    _refused(await gql(client, ACT, variables, token=support), "FORBIDDEN")
    _refused(await gql(client, ACT, variables, token=issuer.access_token(member)), "FORBIDDEN")
    assert audit_rows(db, target_id=case_id) == []

    entry = _ok(await gql(client, ACT, variables, token=moderator))["actOnCase"]
    assert entry["outcome"] == "SUCCEEDED" and entry["staffId"] == moderator_id
    assert entry["before"]["status"] == "OPEN"
    assert entry["after"]["action"] == "WARN" and entry["after"]["caseId"] == case_id
    # Moderation was called with an action token for this entry, not the moderator's own.
    [claims] = owner_mutations(owner_calls, "takeModerationAction")
    assert claims["kindred_audit"] == entry["id"] and claims["sub"] == moderator_id
    assert claims["scope"] == "cases:act" and "roles" not in claims
    assert claims["exp"] - claims["iat"] == 60
    again = _ok(await gql(client, ACT, variables, token=moderator))["actOnCase"]
    assert again["id"] == entry["id"]
    assert len(owner_mutations(owner_calls, "takeModerationAction")) == 1
    assert audit_rows(db, target_id=case_id) == [("ACT_ON_CASE", "SUCCEEDED", None)]
    # The same key for other arguments is a mistake, not a retry.
    other = {**variables, "d": "BAN"}
    _refused(await gql(client, ACT, other, token=moderator), "BAD_USER_INPUT")

    # Moderation refuses a closed case: recorded, and the error comes back with its row.
    closed = {**variables, "d": "BAN", "k": str(uuid.uuid4())}
    refusal = _refused(await gql(client, ACT, closed, token=moderator), "CONFLICT")
    _refused(await gql(client, ACT, closed, token=moderator), "CONFLICT")
    rows = audit_rows(db, target_id=case_id)
    assert sorted(rows) == [
        ("ACT_ON_CASE", "REFUSED", "CONFLICT"),
        ("ACT_ON_CASE", "SUCCEEDED", None),
    ]
    stored = db.execute("SELECT outcome FROM audit_log WHERE id = %s", (refusal["auditId"],))
    assert stored.fetchone() == ("REFUSED",)


async def test_reviewing_a_case_and_deciding_an_appeal_are_audited_once(
    client: httpx.AsyncClient,
    admin_served: Served,
    user_served: Served,
    moderation_served: Served,
    issuer: TokenIssuer,
    db: Any,
    owner_calls: list[httpx.Request],
) -> None:
    member, case_id = await open_case(user_served, moderation_served, issuer)
    moderator_id, moderator = await signed_in(client, admin_served, Role.MODERATOR)
    _, support = await signed_in(client, admin_served, Role.SUPPORT)
    review = {"c": case_id, "k": str(uuid.uuid4())}
    _refused(await gql(client, REVIEW, review, token=support), "FORBIDDEN")
    reviewed = _ok(await gql(client, REVIEW, review, token=moderator))["reviewCase"]
    assert (reviewed["action"], reviewed["targetType"]) == ("REVIEW_CASE", "CASE")
    assert reviewed["before"]["status"] == "OPEN" and reviewed["after"]["status"] == "IN_REVIEW"
    assert _ok(await gql(client, REVIEW, review, token=moderator))["reviewCase"] == reviewed
    [claims] = owner_mutations(owner_calls, "startCaseReview")
    assert (claims["kindred_audit"], claims["sub"]) == (reviewed["id"], moderator_id)
    # Reviewing it again (a new click) is refused by moderation, and recorded.
    again = {**review, "k": str(uuid.uuid4())}
    _refused(await gql(client, REVIEW, again, token=moderator), "CONFLICT")

    ban = {"c": case_id, "d": "BAN", "r": "Spam.", "k": str(uuid.uuid4())}
    action = _ok(await gql(client, ACT, ban, token=moderator))["actOnCase"]["after"]
    member_token = issuer.access_token(member)
    body = await gql(moderation_served.client, APPEAL, {"a": action["id"]}, token=member_token)
    appeal_id = _ok(body)["appealAction"]["id"]
    decide = {"a": appeal_id, "d": "OVERTURNED", "k": str(uuid.uuid4())}
    _refused(await gql(client, DECIDE, decide, token=support), "FORBIDDEN")
    decided = _ok(await gql(client, DECIDE, decide, token=moderator))["actOnAppeal"]
    assert (decided["action"], decided["targetType"]) == ("DECIDE_APPEAL", "APPEAL")
    assert decided["before"]["status"] == "PENDING"
    assert decided["after"]["status"] == "OVERTURNED"
    assert decided["after"]["actionId"] == action["id"]
    assert _ok(await gql(client, DECIDE, decide, token=moderator))["actOnAppeal"] == decided
    [claims] = owner_mutations(owner_calls, "decideAppeal")
    assert claims["kindred_audit"] == decided["id"] and claims["scope"] == "cases:act"
    assert sorted(audit_rows(db, target_id=case_id)) == [
        ("ACT_ON_CASE", "SUCCEEDED", None),
        ("REVIEW_CASE", "REFUSED", "CONFLICT"),
        ("REVIEW_CASE", "SUCCEEDED", None),
    ]
    assert audit_rows(db, target_id=appeal_id) == [("DECIDE_APPEAL", "SUCCEEDED", None)]


async def test_suspending_a_member_is_done_by_moderation_and_audited_once(
    client: httpx.AsyncClient,
    admin_served: Served,
    user_served: Served,
    moderation_served: Served,
    db: Any,
    owner_calls: list[httpx.Request],
) -> None:
    member = await known_member(user_served, moderation_served)
    _, moderator = await signed_in(client, admin_served, Role.MODERATOR)
    key = str(uuid.uuid4())
    variables = {"u": str(member), "until": _in(3600), "r": "Spam.", "k": key}
    entry = _ok(await gql(client, SUSPEND, variables, token=moderator))["suspendMember"]
    assert entry["before"] == {"status": "ACTIVE", "until": None, "reason": None}
    [claims] = owner_mutations(owner_calls, "imposeSuspension")
    assert (claims["kindred_audit"], claims["scope"]) == (entry["id"], "members:suspend")
    assert entry["after"]["action"] == "SUSPEND"
    _ok(await gql(client, SUSPEND, variables, token=moderator))
    assert audit_rows(db, target_id=str(member)) == [("SUSPEND_MEMBER", "SUCCEEDED", None)]
    async with moderation_served.platform.db.read() as conn:
        count = await conn.exec_driver_sql(
            "SELECT count(*) FROM actions WHERE user_id = %(u)s", {"u": member}
        )
        assert count.scalar() == 1


async def test_refunds_are_done_by_subscription_and_audited_once(
    client: httpx.AsyncClient,
    admin_served: Served,
    subscription_served: Served,
    db: Any,
    owner_calls: list[httpx.Request],
) -> None:
    member = str(uuid.uuid4())
    stub = StripeStub(subscription_served.client, STRIPE_TEST_SECRET)
    tag = uuid.uuid4().hex[:12]
    await stub.send(
        subscription_event(
            "created",
            user_id=member,
            subscription_id=f"sub_{tag}",
            customer=f"cus_{tag}",
            period_end=int(time.time()) + 86400,
        )
    )
    _, moderator = await signed_in(client, admin_served, Role.MODERATOR)
    _, support = await signed_in(client, admin_served, Role.SUPPORT)
    variables = {"u": member, "r": "Charged twice.", "k": str(uuid.uuid4())}
    _refused(await gql(client, REFUND, variables, token=moderator), "FORBIDDEN")
    entry = _ok(await gql(client, REFUND, variables, token=support))["refundSubscription"]
    [claims] = owner_mutations(owner_calls, "recordStaffRefund")
    assert (claims["kindred_audit"], claims["scope"]) == (entry["id"], "billing:refund")
    assert entry["before"]["plan"] == "PREMIUM" and entry["after"]["subscription"]["plan"] == "FREE"
    _ok(await gql(client, REFUND, variables, token=support))
    # A second refund (a new click) finds nothing to refund: refused, and recorded.
    _refused(await gql(client, REFUND, {**variables, "k": "another"}, token=support), "CONFLICT")
    assert sorted(audit_rows(db, target_id=member)) == [
        ("REFUND_SUBSCRIPTION", "REFUSED", "CONFLICT"),
        ("REFUND_SUBSCRIPTION", "SUCCEEDED", None),
    ]


async def test_an_unreachable_owner_is_recorded_as_failed_and_may_be_retried(
    client: httpx.AsyncClient, admin_served: Served, db: Any
) -> None:
    _, moderator = await signed_in(client, admin_served, Role.MODERATOR)
    platform = admin_served.platform
    working = platform.http
    platform.http = httpx.AsyncClient(transport=httpx.MockTransport(_unreachable))
    case = str(uuid.uuid4())
    variables = {"c": case, "d": "WARN", "r": "x", "k": "retry-me"}
    try:
        _refused(await gql(client, ACT, variables, token=moderator), "SERVICE_UNAVAILABLE")
    finally:
        await platform.http.aclose()
        platform.http = working
    # Tried again once the owner answers: it answers NOT_FOUND for this made-up case.
    _refused(await gql(client, ACT, variables, token=moderator), "NOT_FOUND")
    assert sorted(audit_rows(db, target_id=case)) == [
        ("ACT_ON_CASE", "FAILED", "SERVICE_UNAVAILABLE"),
        ("ACT_ON_CASE", "REFUSED", "NOT_FOUND"),
    ]


def _unreachable(request: httpx.Request) -> httpx.Response:
    raise httpx.ConnectError("connection refused", request=request)


# -- the audit log ---------------------------------------------------------------------------


async def test_the_audit_log_is_append_only(
    client: httpx.AsyncClient, admin_served: Served, db: Any
) -> None:
    _, admin = await signed_in(client, admin_served, Role.ADMIN)
    new = {
        "email": f"a-{uuid.uuid4().hex[:10]}@kindred.test",
        "password": PASSWORD,
        "displayName": "Lee",
        "role": "SUPPORT",
    }
    _ok(await gql(client, CREATE, {"i": new}, token=admin))
    for statement in (
        "UPDATE audit_log SET outcome = 'FAILED'",
        "DELETE FROM audit_log",
        "TRUNCATE audit_log",
    ):
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            db.execute(statement)
    assert audit_rows(db, outcome="FAILED", action="CREATE_STAFF") == []


async def test_the_audit_log_is_read_with_audit_read_by_staff_or_target(
    client: httpx.AsyncClient, admin_served: Served, staff_issuer: TokenIssuer
) -> None:
    admin_id, admin = await signed_in(client, admin_served, Role.ADMIN)
    made = []
    for _ in range(3):
        new = {
            "email": f"p-{uuid.uuid4().hex[:10]}@kindred.test",
            "password": PASSWORD,
            "displayName": "Ari",
            "role": "SUPPORT",
        }
        made.append(_ok(await gql(client, CREATE, {"i": new}, token=admin))["createStaff"]["id"])
    _refused(
        await gql(client, AUDIT, {}, token=staff_token(staff_issuer, Role.MODERATOR)), "FORBIDDEN"
    )
    first = _ok(await gql(client, AUDIT, {"s": admin_id, "first": 2}, token=admin))["auditLog"]
    assert [edge["node"]["targetId"] for edge in first["edges"]] == made[::-1][:2]
    assert first["pageInfo"]["hasNextPage"]
    after = first["pageInfo"]["endCursor"]
    rest = _ok(await gql(client, AUDIT, {"s": admin_id, "after": after}, token=admin))["auditLog"]
    assert [edge["node"]["targetId"] for edge in rest["edges"]] == [made[0]]
    one = _ok(await gql(client, AUDIT, {"t": made[1]}, token=admin))["auditLog"]["edges"]
    assert [(e["node"]["action"], e["node"]["staffId"]) for e in one] == [
        ("CREATE_STAFF", admin_id)
    ]


# -- bootstrapping ---------------------------------------------------------------------------


async def test_the_first_admin_is_made_from_the_command_line(
    client: httpx.AsyncClient,
    admin_served: Served,
    db: Any,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    email = f"first-{uuid.uuid4().hex[:10]}@kindred.test"
    monkeypatch.setenv("KINDRED_ADMIN_DATABASE_URL", admin_served.platform.settings.database_url)
    argv = ["staff", "create", "--email", email, "--role", "admin", "--password-stdin"]
    monkeypatch.setattr("sys.stdin", io.StringIO(f"{PASSWORD}\n"))
    assert await cli.run_create(cli_args(argv)) == 0
    assert "created admin" in capsys.readouterr().out
    login = _ok(await staff_login(client, email, PASSWORD))["staffLogin"]
    assert "staff:manage" in login["staff"]["scopes"]
    assert audit_rows(db, target_id=login["staff"]["id"]) == [("CREATE_STAFF", "SUCCEEDED", None)]

    monkeypatch.setattr("sys.stdin", io.StringIO(f"{PASSWORD}\n"))
    assert await cli.run_create(cli_args(argv)) == 1
    assert "already exists" in capsys.readouterr().err
    monkeypatch.setattr("sys.stdin", io.StringIO("short\n"))
    other = [*argv[:3], f"x{email}", *argv[4:]]
    assert await cli.run_create(cli_args(other)) == 1
    assert "password" in capsys.readouterr().err


def cli_args(argv: list[str]) -> argparse.Namespace:
    root = argparse.ArgumentParser(prog="kindred")
    cli.register(root.add_subparsers(dest="command", required=True))
    return root.parse_args(argv)
