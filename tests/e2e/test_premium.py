"""Premium end to end: the payment provider's webhook (a local stub signing Stripe-shaped
events, sent to the subscription subgraph's port) makes members premium, and the matcher,
fed by `subscription.changed`, then matches them across a distance the free plan does not
reach. A replayed delivery changes nothing more; a forged one is refused."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx
import psycopg
import pytest

from kindred.devstack.stack import Stack
from kindred.settings import load_settings
from kindred.topics import Topic
from tests.e2e.conftest import wait_for_consumer
from tests.matchmaking_support import (
    join_queue,
    matchable_member,
    put_match_created,
    secluded_spot,
)
from tests.support import Member, error_codes, eventually, gql, register
from tests.support_stripe import StripeStub, charge_refunded, subscription_event

CURRENT_MATCH = "{ me { currentMatch { id participants { id } } } }"
MINE = "{ me { entitlements subscription { plan status version } } }"
THEIRS = "query($id: ID!) { user(id: $id) { subscription { plan } } }"
# Degrees of latitude for about 300 km (over the free cap of 100 km, within 500 km).
FAR_DEGREES = 2.7


@pytest.fixture
async def provider(stack: Stack) -> AsyncIterator[StripeStub]:
    """The stub provider, posting to the subscription subgraph with the stack's secret."""
    secret = load_settings("subscription").stripe_webhook_secret
    async with httpx.AsyncClient(base_url=stack.subgraph_url("subscription"), timeout=15) as client:
        yield StripeStub(client, secret)


@pytest.fixture
def subscription_db(infra: Any) -> Iterator[psycopg.Connection[Any]]:
    with psycopg.connect(infra.database_url("subscription_db"), autocommit=True) as connection:
        yield connection


async def partner_ids(gateway: httpx.AsyncClient, member: Member) -> set[str] | None:
    body = await gql(gateway, CURRENT_MATCH, token=member.access_token)
    assert "errors" not in body, body
    match = body["data"]["me"]["currentMatch"]
    return None if match is None else {p["id"] for p in match["participants"]}


def changes_published(db: psycopg.Connection[Any], member: Member) -> int:
    row = db.execute(
        "SELECT count(*) FROM outbox WHERE topic = %s AND key = %s",
        (Topic.SUBSCRIPTION_CHANGED.value, member.id),
    ).fetchone()
    assert row is not None
    return int(row[0])


async def test_premium_members_match_across_a_distance_the_free_plan_does_not_reach(
    stack: Stack,
    gateway: httpx.AsyncClient,
    provider: StripeStub,
    queuing_db: psycopg.Connection[Any],
    subscription_db: psycopg.Connection[Any],
) -> None:
    spot = secluded_spot()
    far = {"latitude": spot["latitude"] + FAR_DEGREES, "longitude": spot["longitude"]}
    # A pair close together, far from the others (about 900 km), to show the matcher ticks.
    near = {"latitude": spot["latitude"] + 8.0, "longitude": spot["longitude"]}
    nearby = {"latitude": near["latitude"] + 0.05, "longitude": near["longitude"]}

    async def member(name: str, gender: str, seeks: str, at: dict[str, float]) -> Member:
        return await matchable_member(
            gateway,
            name=name,
            gender=gender,
            seeks=[seeks],
            location=at,
            preferences={"gendersSought": [seeks], "maxDistanceKm": 500},
        )

    ana = await member("Ana", "WOMAN", "MAN", spot)
    ben = await member("Ben", "MAN", "WOMAN", far)
    cleo = await member("Cleo", "WOMAN", "MAN", near)
    dan = await member("Dan", "MAN", "WOMAN", nearby)
    for someone in (ana, ben, cleo, dan):
        await join_queue(gateway, someone)

    # A tick matched the near pair while Ana and Ben were queued: 300 km is beyond the free cap.
    await eventually(
        lambda: partner_ids(gateway, cleo),
        lambda found: found == {cleo.id, dan.id},
        within=30,
        what="the near pair's match",
    )
    assert await partner_ids(gateway, ana) is None
    assert await partner_ids(gateway, ben) is None
    mine = await gql(gateway, MINE, token=ana.access_token)
    assert mine["data"]["me"] == {
        "entitlements": [],
        "subscription": {"plan": "FREE", "status": "NONE", "version": 0},
    }

    # The provider tells us both subscribed.
    events = {}
    for someone in (ana, ben):
        events[someone.id] = subscription_event(
            "created", user_id=someone.id, subscription_id=f"sub_{uuid.uuid4().hex[:14]}"
        )
        response = await provider.send(events[someone.id])
        assert response.status_code == 200 and response.json()["outcome"] == "APPLIED"
    ana_delivery = provider.sent[0]

    await eventually(
        lambda: partner_ids(gateway, ana),
        lambda found: found == {ana.id, ben.id},
        within=30,
        what="the premium pair's match",
    )
    entitled = queuing_db.execute(
        "SELECT names FROM entitlements WHERE user_id = %s", (uuid.UUID(ana.id),)
    ).fetchone()
    assert entitled is not None and "WIDER_DISTANCE" in entitled[0]
    mine = await gql(gateway, MINE, token=ana.access_token)
    assert mine["data"]["me"] == {
        "entitlements": ["SEE_WHO_LIKED_YOU", "WIDER_DISTANCE"],
        "subscription": {"plan": "PREMIUM", "status": "ACTIVE", "version": 1},
    }
    # Nobody reads another member's subscription, through the gateway either.
    theirs = await gql(gateway, THEIRS, {"id": ana.id}, token=ben.access_token)
    assert error_codes(theirs) == ["FORBIDDEN"]

    # The same delivery replayed, and the provider's retry: one change, one event.
    assert changes_published(subscription_db, ana) == 1
    replayed = await provider.replay(ana_delivery)
    assert replayed.status_code == 200 and replayed.json()["outcome"] == "DUPLICATE"
    retried = await provider.send(events[ana.id])
    assert retried.status_code == 200 and retried.json()["outcome"] == "DUPLICATE"
    assert changes_published(subscription_db, ana) == 1

    # A forged cancellation: refused, and Ana stays premium.
    cancelled = subscription_event(
        "deleted",
        user_id=ana.id,
        subscription_id=events[ana.id]["data"]["object"]["id"],
        status="canceled",
    )
    forged = await provider.send_signed_with(cancelled, "whsec_not_the_providers")
    assert forged.status_code == 400 and "error" in forged.json()
    tampered = await provider.send_tampered(events[ben.id], status="canceled")
    assert tampered.status_code == 400
    for someone in (ana, ben):
        body = await gql(gateway, MINE, token=someone.access_token)
        assert body["data"]["me"]["subscription"]["plan"] == "PREMIUM"
        assert changes_published(subscription_db, someone) == 1


LIKE = "mutation($u: ID!) { like(userId: $u) { reaction } }"
LIKED_BY = "{ me { likedByCount likedBy { edges { node { user { id displayName } } } } } }"


async def test_premium_shows_who_liked_you_and_a_refund_hides_it_again(
    stack: Stack, gateway: httpx.AsyncClient, provider: StripeStub
) -> None:
    wait_for_consumer(stack, "interaction")
    ann = await register(gateway, displayName="Ann")
    bob = await register(gateway, displayName="Bob")
    await put_match_created(stack.kafka_bootstrap, [ann.id, bob.id])
    liked = await eventually(
        lambda: gql(gateway, LIKE, {"u": ann.id}, token=bob.access_token),
        lambda answer: "errors" not in answer,
        within=30,
        what="Bob's like, once interaction knows the match",
    )
    assert liked["data"]["like"]["reaction"] == "LIKE"

    # Free: the count, but not who.
    free = await gql(gateway, LIKED_BY, token=ann.access_token)
    assert error_codes(free) == ["FORBIDDEN"]
    count = await gql(gateway, "{ me { likedByCount } }", token=ann.access_token)
    assert count["data"]["me"]["likedByCount"] == 1

    premium = subscription_event(
        "created", user_id=ann.id, subscription_id=f"sub_{uuid.uuid4().hex[:14]}"
    )
    assert (await provider.send(premium)).json()["outcome"] == "APPLIED"
    shown = await eventually(
        lambda: gql(gateway, LIKED_BY, token=ann.access_token),
        lambda answer: "errors" not in answer,
        within=30,
        what="likedBy once interaction hears of the subscription",
    )
    edges = shown["data"]["me"]["likedBy"]["edges"]
    assert [edge["node"]["user"] for edge in edges] == [{"id": bob.id, "displayName": "Bob"}]

    # A full refund ends the entitlement at once, in interaction too.
    refund = charge_refunded(customer=premium["data"]["object"]["customer"], user_id=ann.id)
    assert (await provider.send(refund)).json()["outcome"] == "APPLIED"
    await eventually(
        lambda: gql(gateway, LIKED_BY, token=ann.access_token),
        lambda answer: error_codes(answer) == ["FORBIDDEN"],
        within=30,
        what="likedBy refused after the refund",
    )
