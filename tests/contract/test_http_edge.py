"""Bad input against every subgraph (every one declared in supergraph.yaml), in-process:
each answer is GraphQL-shaped JSON with an `extensions.code`, never a 5xx, and the
subgraph stays healthy after it."""

from __future__ import annotations

import importlib
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from graphql import get_introspection_query

from kindred.credentials import TokenIssuer
from kindred.devstack.supergraph import subgraph_ports
from tests.contract.conftest import serve_trusting
from tests.http_cases import (
    CASES,
    Case,
    assert_refused_as_expected,
    send_case,
)

REPO_ROOT = Path(__file__).resolve().parents[2]
SUBGRAPHS = list(subgraph_ports(REPO_ROOT / "supergraph.yaml"))


@pytest.fixture(scope="module", params=SUBGRAPHS)
async def subgraph(
    request: pytest.FixtureRequest, infra: Any, contract_data_dir: Path, issuer: TokenIssuer
) -> AsyncIterator[httpx.AsyncClient]:
    """One subgraph at a time (no consumer, no background tasks), by its SUBGRAPH."""
    module = importlib.import_module(f"subgraphs.{request.param}.app")
    async with serve_trusting(
        module.SUBGRAPH, infra=infra, data_dir=contract_data_dir, issuer=issuer
    ) as served:
        yield served.client


@pytest.mark.parametrize("case", CASES, ids=lambda case: case.id)
async def test_bad_input_answers_graphql_json_with_a_code(
    subgraph: httpx.AsyncClient, case: Case
) -> None:
    assert_refused_as_expected(await send_case(subgraph, case), case)
    health = await subgraph.get("/health")
    assert health.status_code == 200, health.text


async def test_a_well_formed_query_answers_in_either_media_type(
    subgraph: httpx.AsyncClient,
) -> None:
    for accept, media_type in [
        (None, "application/json"),
        ("*/*", "application/json"),
        ("application/json", "application/json"),
        ("application/graphql-response+json", "application/graphql-response+json"),
    ]:
        headers = {"accept": accept} if accept else {}
        response = await subgraph.post(
            "/graphql", json={"query": "{ __typename }"}, headers=headers
        )
        assert response.status_code == 200
        assert response.headers["content-type"].startswith(media_type)
        assert response.json() == {"data": {"__typename": "Query"}}
    got = await subgraph.get(
        "/graphql",
        params={
            "query": "query T($n: String!) { __type(name: $n) { name } }",
            "variables": '{"n": "Query"}',
        },
    )
    assert got.json() == {"data": {"__type": {"name": "Query"}}}


async def test_one_of_several_operations_runs_when_named(subgraph: httpx.AsyncClient) -> None:
    response = await subgraph.post(
        "/graphql",
        json={"query": "query A { a: __typename } query B { b: __typename }", "operationName": "B"},
    )
    assert response.json() == {"data": {"b": "Query"}}


async def test_graphiqls_introspection_query_still_works(subgraph: httpx.AsyncClient) -> None:
    query = get_introspection_query(
        descriptions=True, input_value_deprecation=True, schema_description=True
    )
    response = await subgraph.post(
        "/graphql",
        json={"query": query, "operationName": "IntrospectionQuery"},
        headers={"accept": "application/graphql-response+json"},
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert "errors" not in body, body
    assert body["data"]["__schema"]["queryType"]["name"] == "Query"


async def test_graphiql_opens_in_a_browser(subgraph: httpx.AsyncClient) -> None:
    response = await subgraph.get(
        "/graphql", headers={"accept": "text/html,application/xhtml+xml,*/*;q=0.8"}
    )
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    assert "graphiql" in response.text.lower()


# `_entities` representations no gateway sends: each is the caller's mistake, never an
# internal error, and nothing is resolved.
BAD_REPRESENTATIONS = {
    "not-an-object": "a string",
    "no-typename": {"id": "9b2c6a1e-0000-4000-8000-000000000000"},
    "typename-not-a-string": {"__typename": 5, "id": "9b2c6a1e-0000-4000-8000-000000000000"},
    "unknown-typename": {"__typename": "Nope", "id": "9b2c6a1e-0000-4000-8000-000000000000"},
    "not-an-entity": {"__typename": "Query", "id": "9b2c6a1e-0000-4000-8000-000000000000"},
    "missing-key": {"__typename": "User"},
    "extra-key": {"__typename": "User", "id": "9b2c6a1e-0000-4000-8000-000000000000", "x": 1},
}


@pytest.mark.parametrize(
    "representation", BAD_REPRESENTATIONS.values(), ids=list(BAD_REPRESENTATIONS)
)
async def test_a_malformed_entity_representation_is_bad_user_input(
    subgraph: httpx.AsyncClient, representation: Any
) -> None:
    response = await subgraph.post(
        "/graphql",
        json={
            "query": "query($r: [_Any!]!) { _entities(representations: $r) { __typename } }",
            "variables": {"r": [representation]},
        },
    )
    body = response.json()
    codes = [error["extensions"]["code"] for error in body["errors"]]
    if "data" not in body:  # a subgraph without entities has no `_entities` field
        assert codes == ["GRAPHQL_VALIDATION_FAILED"], body
        return
    assert codes == ["BAD_USER_INPUT"], body
    assert body["errors"][0]["extensions"]["field"] == "representations", body
    assert body["data"] is None, body
