"""The interaction subgraph's contract: SDL, entities, each reaction's rules (matched members
only, idempotent, the latest reaction wins, a block wins over all), connections, ratings,
privacy, the Premium list of likes, and idempotent handlers."""

from __future__ import annotations

import asyncio
import dataclasses
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import psycopg
import pytest

from kindred.credentials import TokenIssuer
from kindred.events import Event
from kindred.sdl import REPO, export
from kindred.topics import Topic
from subgraphs.interaction.handlers import on_match_created, on_subscription_changed
from tests.contract.conftest import Served
from tests.support import error_codes, gql

REACTION = "{ reaction blocked passUntil matchId connected version user { id } }"
LIKE = "mutation($u: ID!) { like(userId: $u) " + REACTION + " }"
PASS = "mutation($u: ID!) { pass(userId: $u) " + REACTION + " }"
BLOCK = "mutation($u: ID!) { block(userId: $u) " + REACTION + " }"
UNBLOCK = "mutation($u: ID!) { unblock(userId: $u) " + REACTION + " }"
MY_REACTION = "query($u: ID!) { reaction(userId: $u) " + REACTION + " }"
RATE = """
mutation($m: ID!, $r: Int!, $c: String) {
  rateConversation(matchId: $m, rating: $r, comment: $c) { matchId rating comment user { id } }
}"""
ENTITIES = "query($r: [_Any!]!) { _entities(representations: $r) { ... on User { %s } } }"
CONNECTIONS = "connections { edges { node { connectionId matchId user { id } } } }"
BLOCKED = "blockedUsers { edges { node { user { id } } } pageInfo { hasNextPage } }"
LIKED_BY = "likedBy(first: $first) { edges { node { user { id } likedAt } } }"


@pytest.fixture
def client(interaction_served: Served) -> httpx.AsyncClient:
    return interaction_served.client


@pytest.fixture
def db(infra: Any) -> Any:
    with psycopg.connect(infra.database_url("interaction_db"), autocommit=True) as connection:
        yield connection


@dataclasses.dataclass
class Pair:
    match_id: str
    a: uuid.UUID
    b: uuid.UUID
    token_a: str
    token_b: str


async def _handle(served: Served, handler: Any, event: Event) -> None:
    async with served.platform.db.unit_of_work() as uow:
        await handler(uow, event)
        await uow.commit()


def match_event(users: list[uuid.UUID], match_id: uuid.UUID | None = None) -> Event:
    match_id = match_id or uuid.uuid4()
    return Event(
        topic=Topic.QUEUE_MATCH_CREATED,
        aggregate_id=str(match_id),
        aggregate_version=1,
        payload={
            "match_id": str(match_id),
            "user_ids": [str(u) for u in users],
            "score": 0.9,
            "created_at": datetime.now(UTC).isoformat(),
        },
    )


async def matched(served: Served, issuer: TokenIssuer) -> Pair:
    """Two new members whose match the subgraph has heard of."""
    a, b = uuid.uuid4(), uuid.uuid4()
    event = match_event([a, b])
    await _handle(served, on_match_created, event)
    return Pair(event.aggregate_id, a, b, issuer.access_token(a), issuer.access_token(b))


async def react(
    client: httpx.AsyncClient, mutation: str, target: uuid.UUID, token: str
) -> dict[str, Any]:
    body = await gql(client, mutation, {"u": str(target)}, token=token)
    return body


def representation_of(user_id: uuid.UUID) -> dict[str, Any]:
    return {"r": [{"__typename": "User", "id": str(user_id)}]}


def ok(body: dict[str, Any]) -> dict[str, Any]:
    assert "errors" not in body, body
    [value] = body["data"].values()
    assert isinstance(value, dict)
    return value


def recorded(db: Any, actor: uuid.UUID) -> list[dict[str, Any]]:
    rows = db.execute(
        "SELECT convert_from(value, 'UTF8')::jsonb -> 'payload' FROM outbox"
        " WHERE topic = 'interaction.recorded' AND key = %s ORDER BY id",
        (str(actor),),
    ).fetchall()
    return [row[0] for row in rows]


def connected_events(db: Any, pair: Pair) -> list[dict[str, Any]]:
    rows = db.execute(
        "SELECT convert_from(value, 'UTF8')::jsonb -> 'payload' FROM outbox"
        " WHERE topic = 'interaction.connected'"
        " AND convert_from(value, 'UTF8')::jsonb -> 'payload' -> 'user_ids' ? %s ORDER BY id",
        (str(pair.a),),
    ).fetchall()
    return [row[0] for row in rows]


# -- the SDL and entities -------------------------------------------------------------


async def test_the_served_sdl_is_the_committed_one(client: httpx.AsyncClient) -> None:
    body = await gql(client, "{ _service { sdl } }")
    committed = (REPO / "subgraphs" / "interaction" / "schema.graphql").read_text()
    assert body["data"]["_service"]["sdl"].rstrip() == committed.rstrip()
    assert export("interaction") == committed, "run `make compose` to refresh the SDL"
    assert 'type User @key(fields: "id")' in committed


async def test_a_members_lists_are_their_own(
    interaction_served: Served, client: httpx.AsyncClient, issuer: TokenIssuer
) -> None:
    pair = await matched(interaction_served, issuer)
    representation = {"r": [{"__typename": "User", "id": str(pair.a)}]}
    for fields in (CONNECTIONS, BLOCKED, "likedByCount"):
        own = await gql(client, ENTITIES % fields, representation, token=pair.token_a)
        assert "errors" not in own, own
        other = await gql(client, ENTITIES % fields, representation, token=pair.token_b)
        assert error_codes(other) == ["FORBIDDEN"]
    anonymous = await react(client, LIKE, pair.b, "")
    assert error_codes(anonymous) == ["UNAUTHENTICATED"]


# -- reacting -------------------------------------------------------------------------


async def test_a_reaction_needs_a_match_and_a_valid_other_member(
    interaction_served: Served, client: httpx.AsyncClient, issuer: TokenIssuer, db: Any
) -> None:
    pair = await matched(interaction_served, issuer)
    stranger = uuid.uuid4()
    for mutation in (LIKE, PASS):
        assert error_codes(await react(client, mutation, stranger, pair.token_a)) == ["NOT_FOUND"]
        yourself = await react(client, mutation, pair.a, pair.token_a)
        assert error_codes(yourself) == ["BAD_USER_INPUT"]
        assert yourself["errors"][0]["extensions"]["field"] == "userId"
    bad = await gql(client, LIKE, {"u": "not-an-id"}, token=pair.token_a)
    assert error_codes(bad) == ["BAD_USER_INPUT"]
    assert bad["errors"][0]["extensions"]["field"] == "userId"
    assert recorded(db, pair.a) == []
    assert db.execute(
        "SELECT count(*) FROM relations WHERE actor_id = %s AND version > 0", (pair.a,)
    ).fetchone() == (0,)


async def test_liking_twice_records_once_with_the_agreed_payload(
    interaction_served: Served, client: httpx.AsyncClient, issuer: TokenIssuer, db: Any
) -> None:
    pair = await matched(interaction_served, issuer)
    first = ok(await react(client, LIKE, pair.b, pair.token_a))
    again = ok(await react(client, LIKE, pair.b, pair.token_a))
    assert first == again
    assert first == {
        "reaction": "LIKE",
        "blocked": False,
        "passUntil": None,
        "matchId": pair.match_id,
        "connected": False,
        "version": 1,
        "user": {"id": str(pair.b)},
    }
    [payload] = recorded(db, pair.a)
    assert payload == {
        "actor_id": str(pair.a),
        "target_id": str(pair.b),
        "kind": "LIKE",
        "version": 1,
        "blocked": False,
        "pass_until": None,
        "match_id": pair.match_id,
        "rating": None,
        "occurred_at": payload["occurred_at"],
    }


async def test_a_mutual_like_connects_once(
    interaction_served: Served, client: httpx.AsyncClient, issuer: TokenIssuer, db: Any
) -> None:
    pair = await matched(interaction_served, issuer)
    ok(await react(client, LIKE, pair.b, pair.token_a))
    answer = ok(await react(client, LIKE, pair.a, pair.token_b))
    assert answer["connected"]
    ok(await react(client, LIKE, pair.a, pair.token_b))  # again: nothing new
    [event] = connected_events(db, pair)
    assert event["user_ids"] == sorted([str(pair.a), str(pair.b)])
    assert event["match_id"] == pair.match_id
    for me, other, token in ((pair.a, pair.b, pair.token_a), (pair.b, pair.a, pair.token_b)):
        body = await gql(
            client,
            ENTITIES % CONNECTIONS,
            {"r": [{"__typename": "User", "id": str(me)}]},
            token=token,
        )
        [edge] = body["data"]["_entities"][0]["connections"]["edges"]
        assert edge["node"] == {
            "connectionId": event["connection_id"],
            "matchId": pair.match_id,
            "user": {"id": str(other)},
        }


async def test_likes_at_the_same_moment_connect_exactly_once(
    interaction_served: Served, client: httpx.AsyncClient, issuer: TokenIssuer, db: Any
) -> None:
    for _ in range(5):
        pair = await matched(interaction_served, issuer)
        answers = await asyncio.gather(
            react(client, LIKE, pair.b, pair.token_a), react(client, LIKE, pair.a, pair.token_b)
        )
        assert sorted(ok(answer)["connected"] for answer in answers) == [False, True]
        assert len(connected_events(db, pair)) == 1
        assert db.execute(
            "SELECT count(*) FROM connections WHERE %s IN (user_a, user_b)", (pair.a,)
        ).fetchone() == (1,)


async def test_a_pass_withdraws_a_like_and_holds_for_the_window(
    interaction_served: Served, client: httpx.AsyncClient, issuer: TokenIssuer, db: Any
) -> None:
    pair = await matched(interaction_served, issuer)
    ok(await react(client, LIKE, pair.b, pair.token_a))
    before = datetime.now(UTC)
    passed = ok(await react(client, PASS, pair.b, pair.token_a))
    window = timedelta(seconds=interaction_served.platform.settings.pass_exclusion_seconds)
    until = datetime.fromisoformat(passed["passUntil"])
    assert before + window <= until <= datetime.now(UTC) + window
    assert (passed["reaction"], passed["version"]) == ("PASS", 2)
    assert ok(await react(client, PASS, pair.b, pair.token_a)) == passed  # again: nothing
    # The like is withdrawn: their like now connects nobody.
    assert not ok(await react(client, LIKE, pair.a, pair.token_b))["connected"]
    assert connected_events(db, pair) == []
    kinds = [(p["kind"], p["version"], p["pass_until"]) for p in recorded(db, pair.a)]
    assert kinds == [("LIKE", 1, None), ("PASS", 2, until.isoformat())]
    # The latest wins the other way too: a like ends the pass, and now they connect.
    liked = ok(await react(client, LIKE, pair.b, pair.token_a))
    assert (liked["reaction"], liked["passUntil"], liked["connected"]) == ("LIKE", None, True)


async def test_an_expired_pass_can_be_renewed(
    interaction_served: Served, client: httpx.AsyncClient, issuer: TokenIssuer, db: Any
) -> None:
    pair = await matched(interaction_served, issuer)
    ok(await react(client, PASS, pair.b, pair.token_a))
    db.execute(
        "UPDATE relations SET pass_until = now() - interval '1 second' WHERE actor_id = %s",
        (pair.a,),
    )
    renewed = ok(await react(client, PASS, pair.b, pair.token_a))
    assert renewed["version"] == 2
    assert datetime.fromisoformat(renewed["passUntil"]) > datetime.now(UTC)


async def test_a_block_wins_ends_the_connection_and_refuses_reactions_until_unblocked(
    interaction_served: Served, client: httpx.AsyncClient, issuer: TokenIssuer, db: Any
) -> None:
    pair = await matched(interaction_served, issuer)
    ok(await react(client, LIKE, pair.b, pair.token_a))
    assert ok(await react(client, LIKE, pair.a, pair.token_b))["connected"]
    blocked = ok(await react(client, BLOCK, pair.b, pair.token_a))
    assert (blocked["blocked"], blocked["reaction"], blocked["connected"]) == (True, None, False)
    assert ok(await react(client, BLOCK, pair.b, pair.token_a)) == blocked  # again: nothing
    for mutation in (LIKE, PASS):
        assert error_codes(await react(client, mutation, pair.b, pair.token_a)) == ["FORBIDDEN"]
    assert db.execute(
        "SELECT status FROM connections WHERE %s IN (user_a, user_b)", (pair.a,)
    ).fetchall() == [("ENDED",)]
    listed = await gql(
        client,
        ENTITIES % BLOCKED,
        {"r": [{"__typename": "User", "id": str(pair.a)}]},
        token=pair.token_a,
    )
    assert listed["data"]["_entities"][0]["blockedUsers"]["edges"] == [
        {"node": {"user": {"id": str(pair.b)}}}
    ]
    unblocked = ok(await react(client, UNBLOCK, pair.b, pair.token_a))
    assert (unblocked["blocked"], unblocked["version"]) == (False, 3)
    assert ok(await react(client, UNBLOCK, pair.b, pair.token_a)) == unblocked
    payloads = recorded(db, pair.a)
    assert [(p["kind"], p["version"], p["blocked"]) for p in payloads] == [
        ("LIKE", 1, False),
        ("BLOCK", 2, True),
        ("UNBLOCK", 3, False),
    ]
    # Liking each other again makes the same connection active again, announced again.
    assert ok(await react(client, LIKE, pair.b, pair.token_a))["connected"]
    first, second = connected_events(db, pair)
    assert first["connection_id"] == second["connection_id"]


async def test_anyone_may_be_blocked_and_an_unknown_id_is_harmless(
    interaction_served: Served, client: httpx.AsyncClient, issuer: TokenIssuer, db: Any
) -> None:
    me, stranger = uuid.uuid4(), uuid.uuid4()
    blocked = ok(await react(client, BLOCK, stranger, issuer.access_token(me)))
    assert (blocked["blocked"], blocked["matchId"], blocked["version"]) == (True, None, 1)
    [payload] = recorded(db, me)
    assert (payload["kind"], payload["blocked"], payload["match_id"]) == ("BLOCK", True, None)


# -- privacy --------------------------------------------------------------------------


async def test_reactions_are_private(
    interaction_served: Served, client: httpx.AsyncClient, issuer: TokenIssuer
) -> None:
    pair = await matched(interaction_served, issuer)
    ok(await react(client, PASS, pair.b, pair.token_a))
    mine = await gql(client, MY_REACTION, {"u": str(pair.b)}, token=pair.token_a)
    assert mine["data"]["reaction"]["reaction"] == "PASS"
    # The other member asking about the pair sees only their own (none): nothing leaks.
    theirs = await gql(client, MY_REACTION, {"u": str(pair.a)}, token=pair.token_b)
    assert theirs == {"data": {"reaction": None}}


async def test_who_liked_you_is_premium_and_the_count_is_free(
    interaction_served: Served, client: httpx.AsyncClient, issuer: TokenIssuer
) -> None:
    pair = await matched(interaction_served, issuer)
    ok(await react(client, LIKE, pair.a, pair.token_b))
    query = (
        "query($r: [_Any!]!, $first: Int) { _entities(representations: $r) { ... on User { %s } } }"
    )
    representation = {"r": [{"__typename": "User", "id": str(pair.a)}], "first": 10}
    count_query = ENTITIES % "likedByCount"
    count = await gql(client, count_query, representation_of(pair.a), token=pair.token_a)
    assert count["data"]["_entities"] == [{"likedByCount": 1}]
    refused = await gql(client, query % LIKED_BY, representation, token=pair.token_a)
    assert error_codes(refused) == ["FORBIDDEN"]
    assert "Premium" in refused["errors"][0]["message"]

    changed = Event(
        topic=Topic.SUBSCRIPTION_CHANGED,
        aggregate_id=str(pair.a),
        aggregate_version=1,
        payload={
            "user_id": str(pair.a),
            "plan": "PREMIUM",
            "status": "ACTIVE",
            "entitlements": ["SEE_WHO_LIKED_YOU", "WIDER_DISTANCE"],
            "entitled_until": (datetime.now(UTC) + timedelta(days=30)).isoformat(),
            "provider_event_id": None,
        },
    )
    await _handle(interaction_served, on_subscription_changed, changed)
    await _handle(interaction_served, on_subscription_changed, changed)  # a repeat is harmless
    listed = await gql(client, query % LIKED_BY, representation, token=pair.token_a)
    assert "errors" not in listed, listed
    [edge] = listed["data"]["_entities"][0]["likedBy"]["edges"]
    assert edge["node"]["user"] == {"id": str(pair.b)}
    # Once answered, a like is no longer waiting: the list and the count forget it.
    ok(await react(client, PASS, pair.b, pair.token_a))
    count = await gql(client, count_query, representation_of(pair.a), token=pair.token_a)
    assert count["data"]["_entities"] == [{"likedByCount": 0}]


# -- ratings --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("rating", "comment", "field"),
    [(0, None, "rating"), (6, None, "rating"), (3, "x" * 501, "comment"), (3, "a\x00b", "comment")],
)
async def test_a_bad_rating_is_bad_user_input_and_stores_nothing(
    interaction_served: Served,
    client: httpx.AsyncClient,
    issuer: TokenIssuer,
    db: Any,
    rating: int,
    comment: str | None,
    field: str,
) -> None:
    pair = await matched(interaction_served, issuer)
    body = await gql(
        client, RATE, {"m": pair.match_id, "r": rating, "c": comment}, token=pair.token_a
    )
    assert error_codes(body) == ["BAD_USER_INPUT"]
    assert body["errors"][0]["extensions"]["field"] == field
    assert db.execute("SELECT count(*) FROM ratings WHERE rater_id = %s", (pair.a,)).fetchone() == (
        0,
    )


async def test_rating_a_conversation_is_for_its_members_and_a_repeat_changes_nothing(
    interaction_served: Served, client: httpx.AsyncClient, issuer: TokenIssuer, db: Any
) -> None:
    pair = await matched(interaction_served, issuer)
    stranger = issuer.access_token(uuid.uuid4())
    for match_id in (pair.match_id, str(uuid.uuid4())):
        body = await gql(client, RATE, {"m": match_id, "r": 4}, token=stranger)
        assert error_codes(body) == ["NOT_FOUND"]
    variables = {"m": pair.match_id, "r": 4, "c": "  Lovely chat  "}
    rated = ok(await gql(client, RATE, variables, token=pair.token_a))
    assert rated == {
        "matchId": pair.match_id,
        "rating": 4,
        "comment": "Lovely chat",
        "user": {"id": str(pair.b)},
    }
    ok(await gql(client, RATE, variables, token=pair.token_a))
    ok(await gql(client, RATE, {"m": pair.match_id, "r": 2}, token=pair.token_a))
    assert [(p["kind"], p["rating"], p["version"]) for p in recorded(db, pair.a)] == [
        ("RATE", 4, 1),
        ("RATE", 2, 2),
    ]
    assert db.execute(
        "SELECT rating, comment FROM ratings WHERE rater_id = %s", (pair.a,)
    ).fetchall() == [(2, None)]


# -- handlers -------------------------------------------------------------------------


async def test_the_match_handler_is_idempotent(interaction_served: Served, db: Any) -> None:
    a, b = uuid.uuid4(), uuid.uuid4()
    event = match_event([b, a])
    await _handle(interaction_served, on_match_created, event)
    await _handle(
        interaction_served, on_match_created, dataclasses.replace(event, event_id=uuid.uuid4())
    )
    rows = db.execute(
        "SELECT match_id, user_a, user_b FROM matches WHERE %s IN (user_a, user_b)", (a,)
    ).fetchall()
    assert rows == [(uuid.UUID(event.aggregate_id), min(a, b), max(a, b))]
