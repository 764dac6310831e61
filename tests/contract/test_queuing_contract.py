"""The queuing subgraph's contract: its SDL, `User.queueEntry` by `id`, and who may see it."""

from __future__ import annotations

import uuid

import httpx

from kindred.credentials import TokenIssuer
from kindred.sdl import export, subgraph_sdl_files
from tests.support import error_codes, gql

ENTITIES = """
query($representations: [_Any!]!) {
  _entities(representations: $representations) { ... on User { id queueEntry { age } } }
}"""


def _representations(*ids: str) -> dict[str, object]:
    return {"representations": [{"__typename": "User", "id": id_} for id_ in ids]}


async def test_the_served_sdl_is_the_committed_one(queuing_subgraph: httpx.AsyncClient) -> None:
    body = await gql(queuing_subgraph, "{ _service { sdl } }")
    committed = subgraph_sdl_files()["queuing"].read_text()
    assert body["data"]["_service"]["sdl"].rstrip() == committed.rstrip()
    assert export("queuing") == committed, "run `make compose` to refresh the SDL"
    assert 'type User @key(fields: "id")' in committed
    assert "queueEntry: QueueEntry" in committed


async def test_entities_resolve_any_user_id_with_no_entry_yet(
    queuing_subgraph: httpx.AsyncClient, issuer: TokenIssuer
) -> None:
    member = str(uuid.uuid4())
    token = issuer.access_token(uuid.UUID(member))
    body = await gql(queuing_subgraph, ENTITIES, _representations(member), token=token)
    assert body == {"data": {"_entities": [{"id": member, "queueEntry": None}]}}


async def test_a_queue_entry_is_private_to_its_member(
    queuing_subgraph: httpx.AsyncClient, issuer: TokenIssuer
) -> None:
    owner, other = uuid.uuid4(), uuid.uuid4()
    body = await gql(
        queuing_subgraph,
        ENTITIES,
        _representations(str(owner)),
        token=issuer.access_token(other),
    )
    assert error_codes(body) == ["FORBIDDEN"]


async def test_queue_entries_need_a_signed_in_caller(queuing_subgraph: httpx.AsyncClient) -> None:
    body = await gql(queuing_subgraph, ENTITIES, _representations(str(uuid.uuid4())))
    assert error_codes(body) == ["UNAUTHENTICATED"]
    assert error_codes(await gql(queuing_subgraph, "mutation { leaveQueue }")) == [
        "UNAUTHENTICATED"
    ]


async def test_leaving_when_not_queued_is_not_an_error(
    queuing_subgraph: httpx.AsyncClient, issuer: TokenIssuer
) -> None:
    token = issuer.access_token(uuid.uuid4())
    assert await gql(queuing_subgraph, "mutation { leaveQueue }", token=token) == {
        "data": {"leaveQueue": False}
    }


async def test_a_bad_id_is_bad_user_input(
    queuing_subgraph: httpx.AsyncClient, issuer: TokenIssuer
) -> None:
    body = await gql(
        queuing_subgraph,
        ENTITIES,
        _representations("not-a-uuid"),
        token=issuer.access_token(uuid.uuid4()),
    )
    assert error_codes(body) == ["BAD_USER_INPUT"]
