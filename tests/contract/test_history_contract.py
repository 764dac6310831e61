"""The history subgraph's contract: the SDL, what each event makes of a member's timeline (and
for whom), idempotent handlers (the same event again, or the same fact under a new event id),
and `User.history`: own only, newest first in pages, filtered by kind and time, bad input."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import psycopg
import pytest

from kindred.credentials import TokenIssuer
from kindred.events import Event
from kindred.sdl import REPO, export
from subgraphs.history.handlers import HANDLERS
from tests import history_support as make
from tests.contract.conftest import Served
from tests.support import error_codes, gql

ENTRY = """
  id kind occurredAt user { id } matchId conversationId connectionId rating actionId
  moderationAction reason until appealId appealOutcome plan subscriptionStatus entitledUntil
  eventId
"""
HISTORY = (
    "query($r: [_Any!]!, $first: Int, $after: String, $kinds: [HistoryKind!],"
    " $since: DateTime, $until: DateTime) {"
    " _entities(representations: $r) { ... on User {"
    " history(first: $first, after: $after, kinds: $kinds, since: $since, until: $until) {"
    " edges { cursor node {" + ENTRY + "} } pageInfo { hasNextPage endCursor } } } } }"
)


@pytest.fixture
def client(history_served: Served) -> httpx.AsyncClient:
    return history_served.client


@pytest.fixture
def db(infra: Any) -> Any:
    with psycopg.connect(infra.database_url("history_db"), autocommit=True) as connection:
        yield connection


async def handle(served: Served, event: Event) -> None:
    """`event` through its handler in a unit of work, as the consumer applies it."""
    async with served.platform.db.unit_of_work() as uow:
        await HANDLERS[event.topic](uow, event)
        await uow.commit()


async def history(
    client: httpx.AsyncClient, member: uuid.UUID, token: str, **arguments: Any
) -> dict[str, Any]:
    variables = {"r": [{"__typename": "User", "id": str(member)}], **arguments}
    return await gql(client, HISTORY, variables, token=token)


async def entries(
    client: httpx.AsyncClient, member: uuid.UUID, token: str, **arguments: Any
) -> list[dict[str, Any]]:
    body = await history(client, member, token, **arguments)
    assert "errors" not in body, body
    return [edge["node"] for edge in body["data"]["_entities"][0]["history"]["edges"]]


def rows_of(db: Any, member: uuid.UUID) -> int:
    row = db.execute("SELECT count(*) FROM history_entries WHERE member_id = %s", (member,))
    return int(row.fetchone()[0])


# -- the SDL ---------------------------------------------------------------------------


async def test_the_served_sdl_is_the_committed_one(client: httpx.AsyncClient) -> None:
    body = await gql(client, "{ _service { sdl } }")
    committed = (REPO / "subgraphs" / "history" / "schema.graphql").read_text()
    assert body["data"]["_service"]["sdl"].rstrip() == committed.rstrip()
    assert export("history") == committed, "run `make compose` to refresh the SDL"
    assert 'type User @key(fields: "id")' in committed


# -- what each event makes -------------------------------------------------------------


async def test_a_match_makes_an_entry_for_each_member_naming_the_other_once(
    history_served: Served, client: httpx.AsyncClient, issuer: TokenIssuer, db: Any
) -> None:
    a, b = uuid.uuid4(), uuid.uuid4()
    created = make.match_created(a, b)
    await handle(history_served, created)
    await handle(history_served, created)  # redelivered
    # The saga asks again: a new event id, the same match.
    await handle(history_served, make.match_created(a, b, match_id=uuid.UUID(created.aggregate_id)))
    for member, other in ((a, b), (b, a)):
        [entry] = await entries(client, member, issuer.access_token(member))
        assert entry["kind"] == "MATCHED"
        assert entry["user"] == {"id": str(other)}
        assert entry["matchId"] == created.aggregate_id
        assert entry["eventId"] == str(created.event_id)
        assert entry["occurredAt"] == created.payload["created_at"]
        assert rows_of(db, member) == 1
    cancelled = make.match_cancelled(a, b, uuid.UUID(created.aggregate_id))
    await handle(history_served, cancelled)
    [latest, _] = await entries(client, a, issuer.access_token(a))
    assert (latest["kind"], latest["matchId"], latest["user"]) == (
        "MATCH_CANCELLED",
        created.aggregate_id,
        {"id": str(b)},
    )


async def test_conversations_and_connections_are_told_to_both(
    history_served: Served, client: httpx.AsyncClient, issuer: TokenIssuer
) -> None:
    a, b = uuid.uuid4(), uuid.uuid4()
    match_id = uuid.uuid4()
    opened = make.conversation_created(a, b, match_id=match_id)
    link = make.connected(a, b, match_id=match_id)
    lasting = make.conversation_created(a, b, connection_id=uuid.UUID(link.aggregate_id))
    # After a block ended it, the same connection is made again: a second entry.
    again = make.connected(
        a, b, match_id=match_id, version=2, connection_id=uuid.UUID(link.aggregate_id)
    )
    for event in (opened, link, lasting, again, again, opened):
        await handle(history_served, event)
    for member, other in ((a, b), (b, a)):
        got = await entries(client, member, issuer.access_token(member))
        assert [entry["kind"] for entry in got] == [
            "CONNECTED",
            "CONVERSATION_STARTED",
            "CONNECTED",
            "CONVERSATION_STARTED",
        ]
        assert {entry["user"]["id"] for entry in got} == {str(other)}
        assert got[1]["conversationId"] == lasting.aggregate_id
        assert got[1]["connectionId"] == link.aggregate_id
        assert got[3]["conversationId"] == opened.aggregate_id
        assert got[3]["matchId"] == str(match_id)
        assert got[2]["connectionId"] == link.aggregate_id


async def test_reactions_are_the_actors_own_and_the_other_member_hears_nothing(
    history_served: Served, client: httpx.AsyncClient, issuer: TokenIssuer, db: Any
) -> None:
    a, b = uuid.uuid4(), uuid.uuid4()
    match_id = uuid.uuid4()
    events = [
        make.reaction(a, b, "LIKE", version=1, match_id=match_id),
        make.reaction(a, b, "PASS", version=2, match_id=match_id),
        make.reaction(a, b, "RATE", version=3, match_id=match_id, rating=4),
        make.reaction(a, b, "BLOCK", version=4, match_id=match_id),
        make.reaction(a, b, "UNBLOCK", version=5, match_id=match_id),
        make.reaction(b, a, "PASS", version=1, match_id=match_id),
    ]
    for event in events:
        await handle(history_served, event)
    await handle(history_served, events[0])
    got = await entries(client, a, issuer.access_token(a))
    assert [entry["kind"] for entry in got] == ["UNBLOCKED", "BLOCKED", "RATED", "PASSED", "LIKED"]
    assert {entry["user"]["id"] for entry in got} == {str(b)}
    assert got[2]["rating"] == 4 and got[2]["matchId"] == str(match_id)
    # B's pass is B's own entry; A is never told who passed on, liked or blocked them.
    [own] = await entries(client, b, issuer.access_token(b))
    assert (own["kind"], own["user"]) == ("PASSED", {"id": str(a)})
    assert rows_of(db, a) == 5 and rows_of(db, b) == 1


async def test_moderation_outcomes_reach_only_the_member_acted_on(
    history_served: Served, client: httpx.AsyncClient, issuer: TokenIssuer, db: Any
) -> None:
    member = uuid.uuid4()
    until = (datetime.now(UTC) + timedelta(days=3)).replace(microsecond=0)
    warn = make.action_taken(member, "WARN")
    dismiss = make.action_taken(member, "DISMISS")  # a dismissed case is no news to them
    suspend = make.action_taken(member, "SUSPEND", until=until)
    action_id = uuid.UUID(suspend.payload["action_id"])
    events = [
        warn,
        dismiss,
        suspend,
        make.suspended(member, until=until, version=1, action_id=action_id),
        make.appeal_decided(member, action_id, "OVERTURNED"),
        make.reinstated(member, version=2, action_id=action_id),
        make.suspended(member, until=None, version=3),
    ]
    for event in events:
        await handle(history_served, event)
    got = await entries(client, member, issuer.access_token(member))
    assert [entry["kind"] for entry in got] == [
        "BANNED",
        "REINSTATED",
        "APPEAL_DECIDED",
        "SUSPENDED",
        "MODERATION_ACTION",
        "MODERATION_ACTION",
    ]
    banned, reinstated, decided, suspended, action, warning = got
    assert banned["until"] is None and banned["reason"] == "Insults in chat"
    assert reinstated["actionId"] == str(action_id)
    assert (decided["appealOutcome"], decided["actionId"]) == ("OVERTURNED", str(action_id))
    assert datetime.fromisoformat(suspended["until"]) == until
    assert (action["moderationAction"], action["actionId"]) == ("SUSPEND", str(action_id))
    assert datetime.fromisoformat(action["until"]) == until
    assert warning["moderationAction"] == "WARN" and warning["until"] is None
    assert all(entry["user"] is None for entry in got)
    assert rows_of(db, member) == 6


async def test_subscription_changes_are_kept_once_per_version(
    history_served: Served, client: httpx.AsyncClient, issuer: TokenIssuer
) -> None:
    member = uuid.uuid4()
    premium = make.subscription_changed(member, version=1)
    # The owner publishing its current state again (a repair) is the same change.
    for event in (premium, make.subscription_changed(member, version=1)):
        await handle(history_served, event)
    await handle(history_served, make.subscription_changed(member, version=2, premium=False))
    got = await entries(client, member, issuer.access_token(member))
    assert [(e["plan"], e["subscriptionStatus"]) for e in got] == [
        ("FREE", "CANCELED"),
        ("PREMIUM", "ACTIVE"),
    ]
    assert got[1]["entitledUntil"] == premium.payload["entitled_until"]
    assert got[1]["kind"] == "SUBSCRIPTION_CHANGED"


# -- reading the timeline --------------------------------------------------------------


async def test_a_timeline_is_its_members_own(
    history_served: Served, client: httpx.AsyncClient, issuer: TokenIssuer
) -> None:
    a, b = uuid.uuid4(), uuid.uuid4()
    await handle(history_served, make.match_created(a, b))
    other = await history(client, a, issuer.access_token(b))
    assert error_codes(other) == ["FORBIDDEN"]
    anonymous = await history(client, a, "")
    assert error_codes(anonymous) == ["UNAUTHENTICATED"]
    assert len(await entries(client, a, issuer.access_token(a))) == 1


async def test_pages_run_newest_first_without_gaps_or_repeats(
    history_served: Served, client: httpx.AsyncClient, issuer: TokenIssuer
) -> None:
    member = uuid.uuid4()
    start = datetime.now(UTC) - timedelta(hours=1)
    events = [
        make.match_created(member, uuid.uuid4(), at=start + timedelta(minutes=i)) for i in range(5)
    ]
    for event in events:
        await handle(history_served, event)
    token = issuer.access_token(member)
    seen: list[str] = []
    after = None
    for _ in range(3):
        body = await history(client, member, token, first=2, after=after)
        page = body["data"]["_entities"][0]["history"]
        seen += [edge["node"]["eventId"] for edge in page["edges"]]
        after = page["pageInfo"]["endCursor"]
        if not page["pageInfo"]["hasNextPage"]:
            break
    assert seen == [str(event.event_id) for event in reversed(events)]
    assert not page["pageInfo"]["hasNextPage"]


async def test_filters_by_kind_and_time_window(
    history_served: Served, client: httpx.AsyncClient, issuer: TokenIssuer
) -> None:
    member, other = uuid.uuid4(), uuid.uuid4()
    start = datetime.now(UTC) - timedelta(days=1)
    early = make.match_created(member, other, at=start)
    like = make.reaction(member, other, "LIKE", version=1, at=start + timedelta(hours=1))
    late = make.match_created(member, uuid.uuid4(), at=start + timedelta(hours=2))
    for event in (early, like, late):
        await handle(history_served, event)
    token = issuer.access_token(member)

    def ids(found: list[dict[str, Any]]) -> list[str]:
        return [entry["eventId"] for entry in found]

    assert ids(await entries(client, member, token, kinds=["MATCHED"])) == [
        str(late.event_id),
        str(early.event_id),
    ]
    assert ids(await entries(client, member, token, kinds=["LIKED", "PASSED"])) == [
        str(like.event_id)
    ]
    window = {
        "since": (start + timedelta(minutes=30)).isoformat(),
        "until": (start + timedelta(hours=2)).isoformat(),  # exclusive
    }
    assert ids(await entries(client, member, token, **window)) == [str(like.event_id)]
    assert ids(await entries(client, member, token, since=late.payload["created_at"])) == [
        str(late.event_id)
    ]
    assert await entries(client, member, token, kinds=["BANNED"]) == []


@pytest.mark.parametrize(
    ("arguments", "field"),
    [
        ({"first": 101}, "first"),
        ({"first": 0}, "first"),
        ({"after": "not-a-cursor"}, "after"),
        ({"kinds": []}, "kinds"),
        ({"since": "2030-01-02T00:00:00+00:00", "until": "2030-01-01T00:00:00+00:00"}, "since"),
        ({"since": "2030-01-01T00:00:00+00:00", "until": "2030-01-01T00:00:00+00:00"}, "since"),
        ({"since": "2030-01-01T00:00:00"}, "since"),
    ],
)
async def test_bad_input_is_refused_naming_the_argument(
    client: httpx.AsyncClient, issuer: TokenIssuer, arguments: dict[str, Any], field: str
) -> None:
    member = uuid.uuid4()
    body = await history(client, member, issuer.access_token(member), **arguments)
    assert error_codes(body) == ["BAD_USER_INPUT"], body
    assert body["errors"][0]["extensions"]["field"] == field


async def test_an_unknown_kind_is_a_validation_error(
    client: httpx.AsyncClient, issuer: TokenIssuer
) -> None:
    member = uuid.uuid4()
    body = await history(client, member, issuer.access_token(member), kinds=["SNEEZED"])
    assert error_codes(body) in (["BAD_USER_INPUT"], ["GRAPHQL_VALIDATION_FAILED"]), body
