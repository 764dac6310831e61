"""The analytics subgraph's contract: the SDL, staff-only access by scope, the range rules, and
the handlers through the platform's idempotent consumer: every figure counted exactly once
despite redelivered events and facts published twice, equal to a plain count over the events.

Each test counts on days of its own far in the past, so the end-to-end tests (today) and the
other tests never share a day with it."""

from __future__ import annotations

import dataclasses
import random
import uuid
from collections import defaultdict
from collections.abc import AsyncIterator, Callable
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

import httpx
import psycopg
import pytest

from kindred.credentials import TokenIssuer
from kindred.events import Event
from kindred.kafka import EventConsumer
from kindred.sdl import REPO, export
from kindred.staff import Role, Scope
from kindred.topics import Topic
from subgraphs.analytics import service
from subgraphs.analytics.handlers import HANDLERS
from tests.contract.conftest import Served
from tests.support import error_codes, gql, staff_token

FIGURES = (
    "signups activeMembers queueJoins matches matchesWithConversation matchConversationRate "
    "messages reports premiumConversions"
)
ANALYTICS = (
    "query($from: Date!, $to: Date!) { analytics(from: $from, to: $to) { from to "
    "days { date " + FIGURES + " } totals { " + FIGURES + " } } }"
)


@pytest.fixture
def client(analytics_served: Served) -> httpx.AsyncClient:
    return analytics_served.client


@pytest.fixture
def db(infra: Any) -> Any:
    with psycopg.connect(infra.database_url("analytics_db"), autocommit=True) as connection:
        yield connection


@pytest.fixture
def reader(staff_issuer: TokenIssuer) -> str:
    """An admin: every scope, analytics:read among them."""
    return staff_token(staff_issuer, Role.ADMIN)


@pytest.fixture
async def consumer(analytics_served: Served, infra: Any) -> AsyncIterator[EventConsumer]:
    """The platform's consumer over the subgraph's handlers, driven by hand (never started:
    the end-to-end stack's analytics subgraph owns the group)."""
    consumer = EventConsumer(
        name="analytics-contract",
        database=analytics_served.platform.db,
        bootstrap=infra.kafka_bootstrap,
        handlers=HANDLERS,
        producer=analytics_served.platform.producer,
    )
    yield consumer
    await consumer.stop()


async def deliver(consumer: EventConsumer, event: Event) -> bool:
    """Applies `event` as the consumer does (inbox row and handler in one unit of work);
    False if the inbox says it was applied before."""
    return await consumer._apply(HANDLERS[event.topic], event)


def a_day_of_its_own() -> date:
    """A random day in the 20th century: no other test counts on it."""
    return date(1901, 1, 1) + timedelta(days=random.SystemRandom().randrange(36_000))


def at(day: date, hour: int = 12) -> datetime:
    return datetime.combine(day, time(hour), tzinfo=UTC)


async def report(
    client: httpx.AsyncClient, token: str | None, start: date, end: date
) -> dict[str, Any]:
    return await gql(
        client, ANALYTICS, {"from": start.isoformat(), "to": end.isoformat()}, token=token
    )


async def figures(client: httpx.AsyncClient, token: str, start: date, end: date) -> dict[str, Any]:
    body = await report(client, token, start, end)
    assert "errors" not in body, body
    result: dict[str, Any] = body["data"]["analytics"]
    return result


# -- events as their owners publish them ----------------------------------------------


def profile(user: uuid.UUID, version: int, when: datetime) -> Event:
    return Event(
        topic=Topic.USER_PROFILE_UPDATED,
        aggregate_id=str(user),
        aggregate_version=version,
        payload={"user_id": str(user), "display_name": "Robin"},
        occurred_at=when,
    )


def joined(user: uuid.UUID, when: datetime) -> Event:
    return Event(
        topic=Topic.QUEUE_ENTRY_JOINED,
        aggregate_id=str(user),
        aggregate_version=1,
        payload={"user_id": str(user), "joined_at": when.isoformat()},
        occurred_at=when,
    )


def matched(match: uuid.UUID, users: list[uuid.UUID], when: datetime) -> Event:
    return Event(
        topic=Topic.QUEUE_MATCH_CREATED,
        aggregate_id=str(match),
        aggregate_version=1,
        payload={
            "match_id": str(match),
            "user_ids": [str(u) for u in users],
            "score": 0.5,
            "created_at": when.isoformat(),
        },
        occurred_at=when,
    )


def conversation(match: uuid.UUID | None, when: datetime) -> Event:
    conversation_id = uuid.uuid4()
    return Event(
        topic=Topic.CONVERSATION_CREATED,
        aggregate_id=str(conversation_id),
        aggregate_version=1,
        payload={
            "conversation_id": str(conversation_id),
            "match_id": str(match) if match else None,
            "connection_id": None if match else str(uuid.uuid4()),
            "participant_ids": [],
            "created_at": when.isoformat(),
        },
        occurred_at=when,
    )


def message(sender: uuid.UUID, when: datetime) -> Event:
    conversation_id = uuid.uuid4()
    return Event(
        topic=Topic.MESSAGE_SENT,
        aggregate_id=str(conversation_id),
        aggregate_version=1,
        payload={
            "message_id": str(uuid.uuid4()),
            "conversation_id": str(conversation_id),
            "sender_id": str(sender),
            "recipient_ids": [],
            "offline_recipient_ids": [],
            "text": "hi",
            "created_at": when.isoformat(),
        },
        occurred_at=when,
    )


def reacted(actor: uuid.UUID, when: datetime) -> Event:
    return Event(
        topic=Topic.INTERACTION_RECORDED,
        aggregate_id=str(actor),
        aggregate_version=1,
        payload={
            "actor_id": str(actor),
            "target_id": str(uuid.uuid4()),
            "kind": "LIKE",
            "occurred_at": when.isoformat(),
        },
        occurred_at=when,
    )


def reported(when: datetime) -> Event:
    report_id = uuid.uuid4()
    return Event(
        topic=Topic.MODERATION_REPORT_FILED,
        aggregate_id=str(report_id),
        aggregate_version=1,
        payload={
            "report_id": str(report_id),
            "case_id": str(uuid.uuid4()),
            "reason": "SPAM",
            "created_at": when.isoformat(),
        },
        occurred_at=when,
    )


def plan(user: uuid.UUID, name: str, version: int, when: datetime) -> Event:
    return Event(
        topic=Topic.SUBSCRIPTION_CHANGED,
        aggregate_id=str(user),
        aggregate_version=version,
        payload={"user_id": str(user), "plan": name, "status": "ACTIVE", "entitlements": []},
        occurred_at=when,
    )


def republished(event: Event) -> Event:
    """The same fact published again: a new event id (the saga's repeat, a repair)."""
    return dataclasses.replace(event, event_id=uuid.uuid4())


# -- the SDL and who may read -----------------------------------------------------------


async def test_the_served_sdl_is_the_committed_one_and_says_staff_only(
    client: httpx.AsyncClient,
) -> None:
    body = await gql(client, "{ _service { sdl } }")
    committed = (REPO / "subgraphs" / "analytics" / "schema.graphql").read_text()
    assert body["data"]["_service"]["sdl"].rstrip() == committed.rstrip()
    assert export("analytics") == committed, "run `make compose` to refresh the SDL"
    assert '@authenticated @requiresScopes(scopes: [["analytics:read"]])' in committed


async def test_only_staff_holding_analytics_read_may_read(
    client: httpx.AsyncClient, issuer: TokenIssuer, staff_issuer: TokenIssuer
) -> None:
    day = a_day_of_its_own()
    assert error_codes(await report(client, None, day, day)) == ["UNAUTHENTICATED"]
    member = issuer.access_token(uuid.uuid4())
    assert error_codes(await report(client, member, day, day)) == ["FORBIDDEN"]
    # A member's token never grants a scope, whatever it claims.
    claims_roles = issuer.access_token(uuid.uuid4(), roles=["admin"])
    assert error_codes(await report(client, claims_roles, day, day)) == ["FORBIDDEN"]
    for role in (Role.SUPPORT, Role.MODERATOR):
        refused = await report(client, staff_token(staff_issuer, role), day, day)
        assert error_codes(refused) == ["FORBIDDEN"], role
        assert refused["data"] is None
    only_scope = staff_issuer.access_token(uuid.uuid4(), scopes=[Scope.ANALYTICS_READ.value])
    for token in (only_scope, staff_token(staff_issuer, Role.ADMIN)):
        answer = await figures(client, token, day, day)
        assert answer["from"] == answer["to"] == day.isoformat()


async def test_a_reversed_or_too_long_range_is_bad_input(
    client: httpx.AsyncClient, reader: str
) -> None:
    day = a_day_of_its_own()
    for start, end in ((day, day - timedelta(days=1)), (day, day + timedelta(days=366))):
        body = await report(client, reader, start, end)
        assert error_codes(body) == ["BAD_USER_INPUT"], body
        assert body["errors"][0]["extensions"]["field"] == "to"
    longest = await figures(client, reader, day, day + timedelta(days=365))
    assert len(longest["days"]) == 366
    assert [d["date"] for d in longest["days"][:2]] == [
        day.isoformat(),
        (day + timedelta(days=1)).isoformat(),
    ]
    body = await gql(client, ANALYTICS, {"from": "yesterday", "to": day.isoformat()}, token=reader)
    assert error_codes(body) == ["BAD_USER_INPUT"]


# -- counting -------------------------------------------------------------------------


async def test_a_redelivered_event_and_a_republished_fact_count_once(
    client: httpx.AsyncClient, consumer: EventConsumer, reader: str, db: Any
) -> None:
    day = a_day_of_its_own()
    member = uuid.uuid4()
    sent = message(member, at(day))
    assert await deliver(consumer, sent)
    assert not await deliver(consumer, sent)  # the inbox drops the redelivery
    assert await deliver(consumer, republished(sent))  # applied, but the fact counted already
    signup = profile(member, 1, at(day))
    assert await deliver(consumer, signup)
    assert await deliver(consumer, republished(signup))
    [got] = (await figures(client, reader, day, day))["days"]
    assert (got["messages"], got["signups"], got["activeMembers"]) == (1, 1, 1)
    rows = db.execute("SELECT count(*) FROM active_members WHERE day = %s", (day,)).fetchone()
    assert rows[0] == 1


async def test_the_inbox_row_and_the_figures_commit_together(
    client: httpx.AsyncClient,
    analytics_served: Served,
    infra: Any,
    reader: str,
    db: Any,
) -> None:
    """A handler that fails after counting leaves neither the count nor the inbox row, so
    the retried event counts once."""
    day = a_day_of_its_own()
    sent = message(uuid.uuid4(), at(day))

    async def count_then_fail(uow: Any, event: Event) -> None:
        await HANDLERS[Topic.MESSAGE_SENT](uow, event)
        raise RuntimeError("the process died mid-way")

    failing = EventConsumer(
        name="analytics-contract",
        database=analytics_served.platform.db,
        bootstrap=infra.kafka_bootstrap,
        handlers={Topic.MESSAGE_SENT: count_then_fail},
        producer=analytics_served.platform.producer,
    )
    with pytest.raises(RuntimeError):
        await failing._apply(count_then_fail, sent)
    await failing.stop()
    inbox = db.execute("SELECT count(*) FROM inbox WHERE event_id = %s", (sent.event_id,))
    assert inbox.fetchone()[0] == 0
    assert (await figures(client, reader, day, day))["totals"]["messages"] == 0
    assert await failing._apply(HANDLERS[Topic.MESSAGE_SENT], sent)
    assert (await figures(client, reader, day, day))["totals"]["messages"] == 1


async def test_a_match_counts_its_conversation_on_the_matchs_day_whichever_comes_first(
    client: httpx.AsyncClient, consumer: EventConsumer, reader: str
) -> None:
    day = a_day_of_its_own()
    users = [uuid.uuid4(), uuid.uuid4()]
    early, late, lonely = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    # Its conversation first (another topic, so no order), then the match.
    await deliver(consumer, conversation(early, at(day, 10)))
    await deliver(consumer, matched(early, users, at(day, 9)))
    # Matched just before midnight, its conversation opened the next day.
    await deliver(consumer, matched(late, users, at(day, 23)))
    await deliver(consumer, conversation(late, at(day + timedelta(days=1), 0)))
    await deliver(consumer, matched(lonely, users, at(day, 11)))
    # The saga asks again and communication answers again: neither counts twice.
    await deliver(consumer, republished(matched(late, users, at(day, 23))))
    await deliver(consumer, conversation(late, at(day + timedelta(days=1), 1)))
    # A connection's lasting conversation is no match's.
    await deliver(consumer, conversation(None, at(day, 12)))
    answer = await figures(client, reader, day, day + timedelta(days=1))
    first, second = answer["days"]
    assert (first["matches"], first["matchesWithConversation"]) == (3, 2)
    assert first["matchConversationRate"] == pytest.approx(2 / 3)
    assert (second["matches"], second["matchesWithConversation"]) == (0, 0)
    assert second["matchConversationRate"] is None
    assert answer["totals"]["matchConversationRate"] == pytest.approx(2 / 3)


async def test_a_premium_conversion_is_a_change_of_plan_in_version_order(
    client: httpx.AsyncClient, consumer: EventConsumer, reader: str
) -> None:
    day = a_day_of_its_own()
    ann, bob, cat = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    stream = [
        plan(ann, "FREE", 1, at(day)),
        plan(ann, "PREMIUM", 2, at(day)),  # converts
        plan(ann, "PREMIUM", 3, at(day)),  # a renewal: no conversion
        plan(ann, "PREMIUM", 2, at(day)),  # old news
        plan(ann, "FREE", 4, at(day)),
        plan(ann, "PREMIUM", 5, at(day)),  # converts again
        plan(bob, "PREMIUM", 1, at(day)),  # first news of bob: converts
        plan(cat, "FREE", 2, at(day)),
        plan(cat, "PREMIUM", 1, at(day)),  # older than what is known: nothing
    ]
    for event in stream:
        await deliver(consumer, event)
    await deliver(consumer, republished(stream[1]))
    assert (await figures(client, reader, day, day))["totals"]["premiumConversions"] == 3


async def test_active_members_are_distinct_per_day_and_over_the_range(
    client: httpx.AsyncClient, consumer: EventConsumer, reader: str
) -> None:
    day = a_day_of_its_own()
    ann, bob = uuid.uuid4(), uuid.uuid4()
    for event in (
        profile(ann, 1, at(day, 8)),
        joined(ann, at(day, 9)),
        message(ann, at(day, 10)),
        reacted(ann, at(day, 11)),
        reacted(bob, at(day, 11)),
        message(ann, at(day + timedelta(days=1), 10)),
        profile(bob, 2, at(day + timedelta(days=2))),
        # The same profile version again (a repair re-publishing it) is no activity.
        profile(ann, 1, at(day + timedelta(days=2))),
    ):
        await deliver(consumer, event)
    answer = await figures(client, reader, day, day + timedelta(days=2))
    assert [d["activeMembers"] for d in answer["days"]] == [2, 1, 1]
    assert answer["totals"]["activeMembers"] == 2


def expected_counts(stream: list[Event]) -> dict[date, dict[str, int]]:
    """The figures by plain counting over the events each fact was published in once."""
    days: dict[date, dict[str, Any]] = defaultdict(lambda: defaultdict(int))
    active: dict[date, set[str]] = defaultdict(set)
    match_day: dict[str, date] = {}
    plans: dict[str, str] = {}
    for event in stream:
        p = event.payload
        when = event.occurred_at.date()
        if event.topic == Topic.USER_PROFILE_UPDATED:
            days[when]["signups"] += event.aggregate_version == 1
            active[when].add(event.aggregate_id)
        elif event.topic == Topic.QUEUE_ENTRY_JOINED:
            days[when]["queueJoins"] += 1
            active[when].add(p["user_id"])
        elif event.topic == Topic.QUEUE_MATCH_CREATED:
            days[when]["matches"] += 1
            match_day[p["match_id"]] = when
        elif event.topic == Topic.MESSAGE_SENT:
            days[when]["messages"] += 1
            active[when].add(p["sender_id"])
        elif event.topic == Topic.INTERACTION_RECORDED:
            active[when].add(p["actor_id"])
        elif event.topic == Topic.MODERATION_REPORT_FILED:
            days[when]["reports"] += 1
        elif event.topic == Topic.SUBSCRIPTION_CHANGED:
            before = plans.get(p["user_id"])
            days[when]["premiumConversions"] += p["plan"] == "PREMIUM" and before != "PREMIUM"
            plans[p["user_id"]] = p["plan"]
    for event in stream:
        if event.topic == Topic.CONVERSATION_CREATED and event.payload["match_id"]:
            days[match_day[event.payload["match_id"]]]["matchesWithConversation"] += 1
    for day, members in active.items():
        days[day]["activeMembers"] = len(members)
    return {day: dict(values) for day, values in days.items()}


async def test_totals_equal_a_count_over_the_events_despite_duplicates(
    client: httpx.AsyncClient, consumer: EventConsumer, reader: str
) -> None:
    rng = random.Random(9)
    first = a_day_of_its_own()
    days = [first + timedelta(days=offset) for offset in range(4)]
    members = [uuid.uuid4() for _ in range(12)]

    def some_time() -> datetime:
        return at(rng.choice(days), rng.randrange(24))

    stream: list[Event] = []
    versions: dict[uuid.UUID, int] = {}
    for member in members:
        versions[member] = 1
        stream.append(profile(member, 1, at(days[0], rng.randrange(24))))
    pick: Callable[[], uuid.UUID] = lambda: rng.choice(members)  # noqa: E731
    for _ in range(120):
        kind = rng.randrange(7)
        if kind == 0:
            member = pick()
            versions[member] += 1
            stream.append(profile(member, versions[member], some_time()))
        elif kind == 1:
            stream.append(joined(pick(), some_time()))
        elif kind == 2:
            match = uuid.uuid4()
            stream.append(matched(match, [pick(), pick()], some_time()))
            if rng.random() < 0.7:
                stream.append(conversation(match, some_time()))
        elif kind == 3:
            stream.append(message(pick(), some_time()))
        elif kind == 4:
            stream.append(reacted(pick(), some_time()))
        elif kind == 5:
            stream.append(reported(some_time()))
        else:
            member = pick()
            versions[member] += 1  # one counter per member is fine: only the order matters
            stream.append(
                plan(member, rng.choice(["FREE", "PREMIUM"]), versions[member], some_time())
            )
    expected = expected_counts(stream)

    delivered: list[Event] = []
    for event in stream:
        delivered.append(event)
        if rng.random() < 0.3:
            delivered.append(event)  # redelivered (same event id)
        if rng.random() < 0.3:
            delivered.append(republished(event))  # published again (new event id)
    applied = [await deliver(consumer, event) for event in delivered]
    assert applied.count(False) == len(delivered) - len({e.event_id for e in delivered})

    answer = await figures(client, reader, days[0], days[-1])
    names = FIGURES.split()
    totals = dict.fromkeys(names, 0)
    for got in answer["days"]:
        want = expected.get(date.fromisoformat(got["date"]), {})
        for name in names:
            if name == "matchConversationRate":
                continue
            assert got[name] == want.get(name, 0), (got["date"], name)
            totals[name] += got[name]
    for name in names:
        if name not in ("matchConversationRate", "activeMembers"):
            assert answer["totals"][name] == totals[name], name
    assert answer["totals"]["activeMembers"] == len(
        {e.aggregate_id for e in stream if e.topic == Topic.USER_PROFILE_UPDATED}
    )
    assert totals["signups"] == len(members)


async def test_keys_against_duplicates_are_forgotten_after_the_inbox_but_figures_stay(
    analytics_served: Served,
    client: httpx.AsyncClient,
    consumer: EventConsumer,
    reader: str,
    db: Any,
) -> None:
    day = a_day_of_its_own()
    member, match = uuid.uuid4(), uuid.uuid4()
    sent = message(member, at(day))
    for event in (sent, matched(match, [member, uuid.uuid4()], at(day)), reported(at(day))):
        await deliver(consumer, event)
    keys = "SELECT count(*) FROM counted_facts WHERE day = %s"
    assert db.execute(keys, (day,)).fetchone()[0] == 2
    # A day later nothing is forgotten: a copy may still come.
    await service.forget_counted(analytics_served.platform.db, now=at(day + timedelta(days=1)))
    assert db.execute(keys, (day,)).fetchone()[0] == 2
    await service.forget_counted(analytics_served.platform.db, now=at(day + timedelta(days=31)))
    assert db.execute(keys, (day,)).fetchone()[0] == 0
    outcome = "SELECT count(*) FROM match_outcomes WHERE match_id = %s"
    assert db.execute(outcome, (match,)).fetchone()[0] == 0
    [got] = (await figures(client, reader, day, day))["days"]
    assert (got["messages"], got["matches"], got["reports"], got["activeMembers"]) == (1, 1, 1, 1)
