"""The queuing subgraph's matches: `Match` by id for its participants only, `User.currentMatch`
and `User.matches` for the member themselves, newest first with cursors."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import psycopg
import pytest

from kindred.credentials import TokenIssuer
from tests.support import error_codes, gql

MATCH_ENTITY = """
query($r: [_Any!]!) {
  _entities(representations: $r) { ... on Match { id status score participants { id } } }
}"""

MY_MATCHES = """
query($r: [_Any!]!, $first: Int, $after: String) {
  _entities(representations: $r) {
    ... on User {
      currentMatch { id status }
      matches(first: $first, after: $after) {
        edges { cursor node { id status } }
        pageInfo { hasNextPage endCursor }
      }
    }
  }
}"""


@pytest.fixture
def queuing_db(infra: Any) -> Iterator[psycopg.Connection[Any]]:
    with psycopg.connect(infra.database_url("queuing_db"), autocommit=True) as connection:
        yield connection


def _match(
    db: psycopg.Connection[Any], a: uuid.UUID, b: uuid.UUID, *, status: str, age: timedelta
) -> uuid.UUID:
    """A match row as the matcher writes it, made `age` ago."""
    match_id, at = uuid.uuid4(), datetime.now(UTC) - age
    open_ = status in ("PENDING", "ACTIVE")
    db.execute(
        "INSERT INTO matches (id, user_ids, score, distance_km, status, notified_user_ids, "
        "attempts, next_attempt_at, version, created_at, updated_at) "
        "VALUES (%s, %s, 0.5, 3.2, %s, '{}', 1, %s, 1, %s, %s)",
        (match_id, [a, b], status, at, at, at),
    )
    for member in (a, b):
        db.execute(
            "INSERT INTO match_participants VALUES (%s, %s, %s, %s, %s)",
            (match_id, member, open_, at, at),
        )
    return match_id


async def _mine(
    queuing: httpx.AsyncClient, issuer: TokenIssuer, member: uuid.UUID, **page: Any
) -> dict[str, Any]:
    body = await gql(
        queuing,
        MY_MATCHES,
        {"r": [{"__typename": "User", "id": str(member)}], **page},
        token=issuer.access_token(member),
    )
    assert "errors" not in body, body
    mine: dict[str, Any] = body["data"]["_entities"][0]
    return mine


async def test_a_match_is_seen_by_its_participants_and_no_one_else(
    queuing_subgraph: httpx.AsyncClient,
    issuer: TokenIssuer,
    queuing_db: psycopg.Connection[Any],
) -> None:
    a, b, stranger = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    match_id = _match(queuing_db, a, b, status="ACTIVE", age=timedelta(0))
    representation = {"r": [{"__typename": "Match", "id": str(match_id)}]}
    body = await gql(queuing_subgraph, MATCH_ENTITY, representation, token=issuer.access_token(a))
    assert body["data"]["_entities"] == [
        {
            "id": str(match_id),
            "status": "ACTIVE",
            "score": 0.5,
            "participants": [{"id": str(a)}, {"id": str(b)}],
        }
    ]
    refused = await gql(
        queuing_subgraph, MATCH_ENTITY, representation, token=issuer.access_token(stranger)
    )
    assert error_codes(refused) == ["NOT_FOUND"]


async def test_matches_are_newest_first_with_cursors_and_the_open_one_is_current(
    queuing_subgraph: httpx.AsyncClient,
    issuer: TokenIssuer,
    queuing_db: psycopg.Connection[Any],
) -> None:
    me = uuid.uuid4()
    oldest = _match(queuing_db, me, uuid.uuid4(), status="CANCELLED", age=timedelta(hours=3))
    older = _match(queuing_db, me, uuid.uuid4(), status="ENDED", age=timedelta(hours=2))
    newest = _match(queuing_db, me, uuid.uuid4(), status="ACTIVE", age=timedelta(hours=1))

    page = await _mine(queuing_subgraph, issuer, me, first=2)
    assert page["currentMatch"] == {"id": str(newest), "status": "ACTIVE"}
    assert [edge["node"]["id"] for edge in page["matches"]["edges"]] == [str(newest), str(older)]
    assert page["matches"]["pageInfo"]["hasNextPage"] is True

    rest = await _mine(
        queuing_subgraph, issuer, me, first=2, after=page["matches"]["pageInfo"]["endCursor"]
    )
    assert [edge["node"]["id"] for edge in rest["matches"]["edges"]] == [str(oldest)]
    assert rest["matches"]["pageInfo"] == {
        "hasNextPage": False,
        "endCursor": rest["matches"]["edges"][0]["cursor"],
    }


async def test_another_members_matches_are_forbidden(
    queuing_subgraph: httpx.AsyncClient, issuer: TokenIssuer
) -> None:
    body = await gql(
        queuing_subgraph,
        MY_MATCHES,
        {"r": [{"__typename": "User", "id": str(uuid.uuid4())}]},
        token=issuer.access_token(uuid.uuid4()),
    )
    assert set(error_codes(body)) == {"FORBIDDEN"}


@pytest.mark.parametrize(
    ("variables", "field"),
    [({"first": 0}, "first"), ({"first": 101}, "first"), ({"after": "not-a-cursor"}, "after")],
)
async def test_bad_page_arguments_are_bad_user_input(
    queuing_subgraph: httpx.AsyncClient,
    issuer: TokenIssuer,
    variables: dict[str, Any],
    field: str,
) -> None:
    me = uuid.uuid4()
    body = await gql(
        queuing_subgraph,
        MY_MATCHES,
        {"r": [{"__typename": "User", "id": str(me)}], **variables},
        token=issuer.access_token(me),
    )
    assert error_codes(body) == ["BAD_USER_INPUT"]
    assert body["errors"][0]["extensions"]["field"] == field
