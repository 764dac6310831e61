"""The subscription subgraph's contract: SDL, plans, own-only reads, and the payment
provider's webhook: signatures (forged deliveries change nothing), idempotency on the
provider's event id, out-of-order events, refunds and period ends that end entitlements by
themselves, and `subscription.changed` exactly as the other subgraphs read it."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import httpx
import psycopg
import pytest

from kindred.credentials import TokenIssuer
from kindred.events import Event
from kindred.member_state import Entitlement as PlatformEntitlement
from kindred.sdl import REPO, export
from kindred.staff import Role, Scope
from kindred.topics import Topic
from subgraphs.subscription.schema import Entitlement
from tests.contract.conftest import STRIPE_TEST_SECRET, Served
from tests.support import action_token, contract_database, error_codes, gql, staff_token
from tests.support_stripe import (
    StripeStub,
    charge_refunded,
    event,
    invoice_paid,
    stripe_signature,
    subscription_event,
)

READ = """
query($r: [_Any!]!) { _entities(representations: $r) { ... on User {
  entitlements
  subscription { plan status entitlements currentPeriodEnd entitledUntil cancelAtPeriodEnd
                 version }
} } }"""
ENTITY = "query($r: [_Any!]!) { _entities(representations: $r) { ... on User { %s } } }"
PREMIUM = ["SEE_WHO_LIKED_YOU", "WIDER_DISTANCE"]
DAY = 86400


@pytest.fixture
def client(subscription_served: Served) -> httpx.AsyncClient:
    return subscription_served.client


@pytest.fixture
def stub(client: httpx.AsyncClient) -> StripeStub:
    return StripeStub(client, STRIPE_TEST_SECRET)


@pytest.fixture
def db(infra: Any, subscription_served: Served) -> Iterator[psycopg.Connection[Any]]:
    with contract_database(infra, "subscription") as connection:
        yield connection


def _ids() -> tuple[str, str, str]:
    """A new member, their provider subscription id and customer id."""
    tag = uuid.uuid4().hex[:14]
    return str(uuid.uuid4()), f"sub_{tag}", f"cus_{tag}"


async def read(client: httpx.AsyncClient, issuer: TokenIssuer, member: str) -> dict[str, Any]:
    body = await gql(
        client,
        READ,
        {"r": [{"__typename": "User", "id": member}]},
        token=issuer.access_token(uuid.UUID(member)),
    )
    assert "errors" not in body, body
    user: dict[str, Any] = body["data"]["_entities"][0]
    return user


def changes(db: psycopg.Connection[Any], member: str) -> list[Event]:
    """The member's `subscription.changed` events in the outbox, oldest first."""
    rows = db.execute(
        "SELECT value FROM outbox WHERE topic = %s AND key = %s ORDER BY id",
        (Topic.SUBSCRIPTION_CHANGED.value, member),
    ).fetchall()
    return [Event.from_json(bytes(row[0])) for row in rows]


def state(db: psycopg.Connection[Any], member: str) -> tuple[Any, ...]:
    """Everything a delivery about the member could change: their row, the provider events
    recorded for them, their outbox rows."""
    row = db.execute("SELECT * FROM subscriptions WHERE user_id = %s", (member,)).fetchone()
    seen = db.execute(
        "SELECT count(*) FROM provider_events WHERE user_id = %s", (member,)
    ).fetchone()
    return row, seen, len(changes(db, member))


def outcome(response: httpx.Response) -> str:
    assert response.status_code == 200, response.text
    answer: str = response.json()["outcome"]
    return answer


def refused(response: httpx.Response) -> bool:
    return (
        response.status_code == 400
        and response.headers["content-type"].startswith("application/json")
        and isinstance(response.json().get("error"), str)
    )


# -- the SDL, plans and reads ------------------------------------------------------------


async def test_the_served_sdl_is_the_committed_one(client: httpx.AsyncClient) -> None:
    body = await gql(client, "{ _service { sdl } }")
    committed = (REPO / "subgraphs" / "subscription" / "schema.graphql").read_text()
    assert body["data"]["_service"]["sdl"].rstrip() == committed.rstrip()
    assert export("subscription") == committed, "run `make compose` to refresh the SDL"
    assert 'type User @key(fields: "id")' in committed


async def test_plans_say_what_each_grants(client: httpx.AsyncClient) -> None:
    body = await gql(client, "{ plans { plan entitlements } }")
    assert body["data"]["plans"] == [
        {"plan": "FREE", "entitlements": []},
        {"plan": "PREMIUM", "entitlements": PREMIUM},
    ]
    # The schema's names are the platform's, which other subgraphs act on.
    assert {e.value for e in Entitlement} == {e.value for e in PlatformEntitlement}


async def test_a_member_who_never_subscribed_is_free(
    client: httpx.AsyncClient, issuer: TokenIssuer
) -> None:
    member, _, _ = _ids()
    user = await read(client, issuer, member)
    assert user["entitlements"] == []
    assert user["subscription"] == {
        "plan": "FREE",
        "status": "NONE",
        "entitlements": [],
        "currentPeriodEnd": None,
        "entitledUntil": None,
        "cancelAtPeriodEnd": False,
        "version": 0,
    }


async def test_nobody_reads_another_members_subscription(
    client: httpx.AsyncClient, issuer: TokenIssuer, stub: StripeStub
) -> None:
    member, subscription_id, customer = _ids()
    created = subscription_event(
        "created", user_id=member, subscription_id=subscription_id, customer=customer
    )
    assert outcome(await stub.send(created)) == "APPLIED"
    representation = {"r": [{"__typename": "User", "id": member}]}
    stranger = issuer.access_token(uuid.uuid4())
    for field in ("subscription { plan }", "entitlements"):
        query = ENTITY % field
        assert error_codes(await gql(client, query, representation, token=stranger)) == [
            "FORBIDDEN"
        ]
        assert error_codes(await gql(client, query, representation)) == ["UNAUTHENTICATED"]
    mine = await gql(
        client,
        ENTITY % "entitlements",
        representation,
        token=issuer.access_token(uuid.UUID(member)),
    )
    assert mine["data"]["_entities"] == [{"entitlements": PREMIUM}]


# -- the webhook: signatures -------------------------------------------------------------


async def test_forged_deliveries_are_refused_and_change_nothing(
    client: httpx.AsyncClient, issuer: TokenIssuer, stub: StripeStub, db: Any
) -> None:
    member, subscription_id, customer = _ids()
    genuine = subscription_event(
        "created", user_id=member, subscription_id=subscription_id, customer=customer
    )
    body = stub.encode(genuine)
    now = int(time.time())
    good = stripe_signature(STRIPE_TEST_SECRET, body, now)
    forgeries = [
        await stub.send_signed_with(genuine, "whsec_someone_else"),
        await stub.send_tampered(genuine, status="active", metadata={"user_id": str(uuid.uuid4())}),
        # Well past the 300 s tolerance either way, however slowly the deliveries go out.
        await stub.send_signed_at(genuine, now - 360),  # an old capture, replayed
        await stub.send_signed_at(genuine, now + 360),
        await stub.send_with_header(genuine, None),
        await stub.send_with_header(genuine, ""),
        await stub.send_with_header(genuine, f"t={now}"),
        await stub.send_with_header(genuine, f"v1={good}"),
        await stub.send_with_header(genuine, f"t={now},v0={good}"),
        await stub.send_with_header(genuine, f"t={now},v1={good[:-2]}"),
        await stub.send_with_header(genuine, "garbage"),
        await stub.send_with_header(genuine, f"t=abc,v1={good}"),
    ]
    for response in forgeries:
        assert refused(response), (response.status_code, response.text)
    assert state(db, member) == (None, (0,), 0)
    seen = db.execute("SELECT count(*) FROM provider_events WHERE event_id = %s", (genuine["id"],))
    assert seen.fetchone() == (0,)
    assert (await read(client, issuer, member))["entitlements"] == []

    # The same event, genuinely signed (here during a secret roll: one of two v1 matches).
    rolled = f"t={now},v1={'0' * 64},v1={good}"
    assert outcome(await stub.send_with_header(genuine, rolled)) == "APPLIED"
    assert (await read(client, issuer, member))["entitlements"] == PREMIUM


async def test_malformed_events_are_refused_even_when_signed(
    stub: StripeStub, db: Any, client: httpx.AsyncClient
) -> None:
    member, subscription_id, _ = _ids()

    def good(**changes: Any) -> dict[str, Any]:
        payload = subscription_event("created", user_id=member, subscription_id=subscription_id)
        payload["data"]["object"].update(changes)
        return payload

    bodies: list[bytes] = [
        b"not json",
        b"[]",
        b'{"object": "event"}',
        stub.encode({**good(), "object": "charge"}),
        stub.encode({**good(), "created": "yesterday"}),
        stub.encode({**good(), "data": {}}),
        stub.encode(good(status="sleeping")),
        stub.encode(good(current_period_end="soon")),
        stub.encode(good(cancel_at_period_end="no")),
        stub.encode(good(metadata={"user_id": "not-a-member"})),
        b"\xff\xfe",
    ]
    for body in bodies:
        response = await stub.post(body, {"Stripe-Signature": stub.header(body)})
        assert refused(response), (body, response.status_code, response.text)
    assert state(db, member) == (None, (0,), 0)
    # Not a POST: no change either, and no server error.
    response = await client.get("/webhooks/stripe")
    assert response.status_code == 405


# -- the webhook: changes, idempotency, ordering -------------------------------------------


async def test_a_subscription_makes_the_member_premium_and_says_so_once(
    client: httpx.AsyncClient, issuer: TokenIssuer, stub: StripeStub, db: Any
) -> None:
    member, subscription_id, customer = _ids()
    period_end = int(time.time()) + 30 * DAY
    created = subscription_event(
        "created",
        user_id=member,
        subscription_id=subscription_id,
        customer=customer,
        period_end=period_end,
    )
    response = await stub.send(created)
    assert response.json() == {"received": True, "id": created["id"], "outcome": "APPLIED"}
    end = datetime.fromtimestamp(period_end, UTC)
    user = await read(client, issuer, member)
    assert user["entitlements"] == PREMIUM
    assert user["subscription"] == {
        "plan": "PREMIUM",
        "status": "ACTIVE",
        "entitlements": PREMIUM,
        "currentPeriodEnd": end.isoformat(),
        "entitledUntil": end.isoformat(),
        "cancelAtPeriodEnd": False,
        "version": 1,
    }
    [changed] = changes(db, member)
    assert changed.aggregate_id == member and changed.aggregate_version == 1
    assert changed.payload == {
        "user_id": member,
        "plan": "PREMIUM",
        "status": "ACTIVE",
        "entitlements": PREMIUM,
        "entitled_until": end.isoformat(),
        "provider_event_id": created["id"],
    }


async def test_a_replayed_or_retried_event_is_applied_once(
    client: httpx.AsyncClient, issuer: TokenIssuer, stub: StripeStub, db: Any
) -> None:
    member, subscription_id, customer = _ids()
    created = subscription_event(
        "created", user_id=member, subscription_id=subscription_id, customer=customer
    )
    assert outcome(await stub.send(created)) == "APPLIED"
    after_first = state(db, member)
    assert outcome(await stub.replay()) == "DUPLICATE"  # the same bytes and signature
    assert outcome(await stub.send(created)) == "DUPLICATE"  # the provider's retry, signed anew
    assert state(db, member) == after_first
    assert len(changes(db, member)) == 1
    assert (await read(client, issuer, member))["subscription"]["version"] == 1


async def test_an_older_event_after_a_newer_one_changes_nothing(
    client: httpx.AsyncClient, issuer: TokenIssuer, stub: StripeStub, db: Any
) -> None:
    member, subscription_id, customer = _ids()
    t = int(time.time())
    ids: dict[str, Any] = {
        "user_id": member,
        "subscription_id": subscription_id,
        "customer": customer,
    }
    # The provider sent created (t-10), then updated (t: will cancel at period end), then
    # deleted (t+10); they arrive updated, created, deleted, then a late update.
    updated = subscription_event("updated", cancel_at_period_end=True, created=t, **ids)
    created = subscription_event("created", created=t - 10, **ids)
    deleted = subscription_event("deleted", status="canceled", created=t + 10, **ids)
    late = subscription_event("updated", created=t + 5, **ids)

    assert outcome(await stub.send(updated)) == "APPLIED"
    assert outcome(await stub.send(created)) == "STALE"
    subscription = (await read(client, issuer, member))["subscription"]
    assert subscription["cancelAtPeriodEnd"] is True and subscription["version"] == 1
    assert len(changes(db, member)) == 1

    assert outcome(await stub.send(deleted)) == "APPLIED"
    assert outcome(await stub.send(late)) == "STALE"
    user = await read(client, issuer, member)
    assert user["entitlements"] == []
    assert user["subscription"]["plan"] == "FREE"
    assert user["subscription"]["status"] == "CANCELED"
    assert user["subscription"]["version"] == 2
    last = changes(db, member)[-1]
    assert last.aggregate_version == 2
    assert last.payload["entitlements"] == [] and last.payload["plan"] == "FREE"
    assert last.payload["entitled_until"] is None and last.payload["status"] == "CANCELED"
    outcomes = db.execute(
        "SELECT event_id, outcome FROM provider_events WHERE user_id = %s", (member,)
    ).fetchall()
    assert dict(outcomes) == {
        updated["id"]: "APPLIED",
        created["id"]: "STALE",
        deleted["id"]: "APPLIED",
        late["id"]: "STALE",
    }


async def test_a_refund_ends_entitlements_now_and_a_new_payment_restores_them(
    client: httpx.AsyncClient, issuer: TokenIssuer, stub: StripeStub, db: Any
) -> None:
    member, subscription_id, customer = _ids()
    t = int(time.time())
    created = subscription_event(
        "created",
        user_id=member,
        subscription_id=subscription_id,
        customer=customer,
        period_end=t + 30 * DAY,
        created=t - 20,
    )
    assert outcome(await stub.send(created)) == "APPLIED"
    # A partial refund is goodwill: the period still counts.
    partial = charge_refunded(customer=customer, refunded=False, created=t - 15)
    assert outcome(await stub.send(partial)) == "IGNORED"
    assert (await read(client, issuer, member))["entitlements"] == PREMIUM

    # Found by the provider's customer id: the charge carries no member id.
    refund = charge_refunded(customer=customer, created=t - 10)
    assert outcome(await stub.send(refund)) == "APPLIED"
    user = await read(client, issuer, member)
    assert user["entitlements"] == [] and user["subscription"]["plan"] == "FREE"
    assert user["subscription"]["status"] == "ACTIVE"  # the provider has not cancelled (yet)
    refunded = changes(db, member)[-1]
    assert refunded.payload["entitlements"] == [] and refunded.payload["entitled_until"] is None
    assert refunded.aggregate_version == 2

    # The next period, paid: premium again, until its end.
    renewal = invoice_paid(
        subscription_id=subscription_id, customer=customer, period_end=t + 60 * DAY, created=t
    )
    assert outcome(await stub.send(renewal)) == "APPLIED"
    subscription = (await read(client, issuer, member))["subscription"]
    assert subscription["entitlements"] == PREMIUM
    assert subscription["entitledUntil"] == datetime.fromtimestamp(t + 60 * DAY, UTC).isoformat()
    assert changes(db, member)[-1].aggregate_version == 3


async def test_an_invoice_paid_extends_the_period(
    client: httpx.AsyncClient, issuer: TokenIssuer, stub: StripeStub, db: Any
) -> None:
    member, subscription_id, customer = _ids()
    t = int(time.time())
    first = subscription_event(
        "created",
        user_id=member,
        subscription_id=subscription_id,
        customer=customer,
        period_end=t + DAY,
        created=t - 10,
    )
    assert outcome(await stub.send(first)) == "APPLIED"
    paid = invoice_paid(
        subscription_id=subscription_id, customer=customer, period_end=t + 31 * DAY, created=t
    )
    assert outcome(await stub.send(paid)) == "APPLIED"
    subscription = (await read(client, issuer, member))["subscription"]
    extended = datetime.fromtimestamp(t + 31 * DAY, UTC).isoformat()
    assert subscription["currentPeriodEnd"] == extended
    assert changes(db, member)[-1].payload["entitled_until"] == extended
    # An invoice for an earlier period, paid late, shortens nothing.
    older = invoice_paid(
        subscription_id=subscription_id, customer=customer, period_end=t + DAY, created=t + 1
    )
    assert outcome(await stub.send(older)) == "UNCHANGED"
    assert (await read(client, issuer, member))["subscription"]["currentPeriodEnd"] == extended
    assert len(changes(db, member)) == 2


async def test_the_period_end_ends_entitlements_without_any_job(
    client: httpx.AsyncClient, issuer: TokenIssuer, stub: StripeStub, db: Any
) -> None:
    member, subscription_id, customer = _ids()
    created = subscription_event(
        "created", user_id=member, subscription_id=subscription_id, customer=customer
    )
    assert outcome(await stub.send(created)) == "APPLIED"
    assert (await read(client, issuer, member))["entitlements"] == PREMIUM
    # The paid period ran out a moment ago; no renewal came. Nothing runs, nothing is sent.
    db.execute(
        "UPDATE subscriptions SET current_period_end = now() - interval '1 second' "
        "WHERE user_id = %s",
        (member,),
    )
    user = await read(client, issuer, member)
    assert user["entitlements"] == []
    assert user["subscription"]["plan"] == "FREE" and user["subscription"]["entitledUntil"] is None
    assert len(changes(db, member)) == 1
    # What other subgraphs were told carries the same end: their copies lapse alike.
    assert changes(db, member)[0].payload["entitled_until"] is not None


async def test_events_we_do_not_act_on_are_acknowledged_and_recorded(
    stub: StripeStub, db: Any
) -> None:
    unknown = event("customer.created", {"id": "cus_x", "object": "customer"})
    assert outcome(await stub.send(unknown)) == "IGNORED"
    _, subscription_id, customer = _ids()
    nobody = subscription_event(
        "created", user_id=None, subscription_id=subscription_id, customer=customer
    )
    assert outcome(await stub.send(nobody)) == "IGNORED"
    assert outcome(await stub.send(nobody)) == "DUPLICATE"
    rows = db.execute(
        "SELECT outcome FROM provider_events WHERE event_id = ANY(%s)",
        ([unknown["id"], nobody["id"]],),
    ).fetchall()
    assert rows == [("IGNORED",), ("IGNORED",)]


async def test_an_old_subscription_ending_leaves_its_replacement_alone(
    client: httpx.AsyncClient, issuer: TokenIssuer, stub: StripeStub
) -> None:
    member, old_id, customer = _ids()
    new_id = old_id + "_2"
    t = int(time.time())
    ids: dict[str, Any] = {"user_id": member, "customer": customer}
    assert (
        outcome(
            await stub.send(subscription_event("created", subscription_id=new_id, created=t, **ids))
        )
        == "APPLIED"
    )
    ended = subscription_event(
        "deleted", subscription_id=old_id, status="canceled", created=t + 5, **ids
    )
    assert outcome(await stub.send(ended)) == "IGNORED"
    assert (await read(client, issuer, member))["entitlements"] == PREMIUM


# -- refunds by staff --------------------------------------------------------------------

REFUND = """
mutation($u: ID!, $r: String!, $k: String!) {
  recordStaffRefund(userId: $u, reason: $r, requestKey: $k) {
    id refundedPeriodEnd user { id } subscription { plan entitlements entitledUntil version }
  }
}"""


async def test_staff_refund_ends_premium_now_once_per_request_key(
    client: httpx.AsyncClient,
    issuer: TokenIssuer,
    staff_issuer: TokenIssuer,
    stub: StripeStub,
    db: Any,
) -> None:
    member, subscription_id, customer = _ids()
    period_end = int(time.time()) + 30 * DAY
    await stub.send(
        subscription_event(
            "created",
            user_id=member,
            subscription_id=subscription_id,
            customer=customer,
            period_end=period_end,
        )
    )
    # Only through the admin subgraph's `refundSubscription`, with its action token: a
    # support member's own token (billing:refund and all) is refused.
    support = action_token(staff_issuer, "recordStaffRefund", Scope.BILLING_REFUND)
    variables = {"u": member, "r": "Charged twice.", "k": "refund-1"}
    for token, code in (
        (None, "UNAUTHENTICATED"),
        (issuer.access_token(uuid.UUID(member)), "FORBIDDEN"),
        (staff_token(staff_issuer, Role.MODERATOR), "FORBIDDEN"),
        (staff_token(staff_issuer, Role.SUPPORT), "FORBIDDEN"),
        (action_token(staff_issuer, "recordStaffRefund", Scope.CASES_ACT), "FORBIDDEN"),
        (action_token(staff_issuer, "takeModerationAction", Scope.BILLING_REFUND), "FORBIDDEN"),
    ):
        body = await gql(client, REFUND, variables, token=token)
        assert error_codes(body) == [code], body
    own = await gql(client, REFUND, variables, token=staff_token(staff_issuer, Role.SUPPORT))
    assert own["errors"][0]["extensions"]["via"] == "refundSubscription", own
    assert len(changes(db, member)) == 1

    body = await gql(client, REFUND, variables, token=support)
    assert "errors" not in body, body
    refund = body["data"]["recordStaffRefund"]
    assert refund["subscription"] == {
        "plan": "FREE",
        "entitlements": [],
        "entitledUntil": None,
        "version": 2,
    }
    assert refund["refundedPeriodEnd"] == datetime.fromtimestamp(period_end, UTC).isoformat()
    assert (await read(client, issuer, member))["entitlements"] == []
    [_, changed] = changes(db, member)
    assert changed.aggregate_version == 2 and changed.payload["entitlements"] == []

    again = await gql(client, REFUND, variables, token=support)
    assert again["data"]["recordStaffRefund"]["id"] == refund["id"]
    assert len(changes(db, member)) == 2
    # Nothing left to refund: CONFLICT, and nothing changes.
    other = await gql(client, REFUND, {**variables, "k": "refund-2"}, token=support)
    assert error_codes(other) == ["CONFLICT"], other
    blank = await gql(client, REFUND, {**variables, "r": " ", "k": "refund-3"}, token=support)
    assert error_codes(blank) == ["BAD_USER_INPUT"], blank
    count = db.execute("SELECT count(*) FROM staff_refunds WHERE user_id = %s", (member,))
    assert count.fetchone() == (1,)
    assert len(changes(db, member)) == 2


async def test_staff_with_members_read_see_a_members_subscription(
    client: httpx.AsyncClient, staff_issuer: TokenIssuer
) -> None:
    member = str(uuid.uuid4())
    query = ENTITY % "subscription { plan } entitlements"
    variables = {"r": [{"__typename": "User", "id": member}]}
    body = await gql(client, query, variables, token=staff_token(staff_issuer, Role.SUPPORT))
    assert body["data"]["_entities"] == [{"subscription": {"plan": "FREE"}, "entitlements": []}]
