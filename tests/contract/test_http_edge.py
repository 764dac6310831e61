"""Bad input against every subgraph (every one declared in supergraph.yaml), in-process:
each answer is GraphQL-shaped JSON with an `extensions.code`, never a 5xx, and the
subgraph stays healthy after it."""

from __future__ import annotations

import dataclasses
import importlib
import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from graphql import get_introspection_query

from kindred.devstack.supergraph import subgraph_ports
from kindred.limits import MAX_BODY_BYTES, MAX_QUERY_BYTES, MAX_TOKENS
from subgraphs.user.security import TokenIssuer
from tests.contract.conftest import serve_trusting

REPO_ROOT = Path(__file__).resolve().parents[2]
SUBGRAPHS = list(subgraph_ports(REPO_ROOT / "supergraph.yaml"))

JSON = {"content-type": "application/json"}
GRAPHQL_RESPONSE = {
    "content-type": "application/json",
    "accept": "application/graphql-response+json",
}


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


@dataclasses.dataclass(frozen=True)
class Case:
    id: str
    code: str
    status: int
    method: str = "POST"
    content: bytes | None = None
    body: Any = None  # sent as JSON when content is None
    headers: dict[str, str] = dataclasses.field(default_factory=lambda: dict(JSON))
    params: dict[str, str] | None = None
    limit: str | None = None  # the `extensions.limit` expected on one of the errors
    allow: str | None = None  # the Allow header expected


def _q(query: str, **more: Any) -> dict[str, Any]:
    return {"query": query, **more}


def _nested(levels: int) -> str:
    return "{ " + "a { " * (levels - 1) + "b" + " }" * (levels - 1) + " }"


def _chunks(size: int) -> Any:
    async def chunks() -> AsyncIterator[bytes]:
        sent = 0
        while sent < size:
            yield b" " * 16_384
            sent += 16_384

    return chunks()


BIG_BODY = json.dumps(_q("{ __typename }", variables={"x": "a" * (MAX_BODY_BYTES + 10)}))

CASES = [
    Case("invalid-utf8", "BAD_REQUEST", 400, content=b'{"query": "{ __typename \xff }"}'),
    Case("not-json", "BAD_REQUEST", 400, content=b'{ "not a JSON'),
    Case("empty-body", "BAD_REQUEST", 400, content=b""),
    Case("json-string", "BAD_REQUEST", 400, body="{ __typename }"),
    Case("json-number", "BAD_REQUEST", 400, body=42),
    Case("json-null", "BAD_REQUEST", 400, content=b"null"),
    Case("missing-query", "BAD_REQUEST", 400, body={"qeury": "{ __typename }"}),
    Case("query-number", "BAD_REQUEST", 400, body={"query": 0}),
    Case("query-object", "BAD_REQUEST", 400, body={"query": {"obj": "ect"}}),
    Case("variables-list", "BAD_REQUEST", 400, body=_q("{ __typename }", variables=[1])),
    Case("variables-string", "BAD_REQUEST", 400, body=_q("{ __typename }", variables="x")),
    Case("extensions-list", "BAD_REQUEST", 400, body=_q("{ __typename }", extensions=[1])),
    Case("operation-name-number", "BAD_REQUEST", 400, body=_q("{ __typename }", operationName=0)),
    Case(
        "persisted-query",
        "PERSISTED_QUERY_NOT_SUPPORTED",
        400,
        body={"extensions": {"persistedQuery": {"version": 1, "sha256Hash": "ab" * 32}}},
    ),
    Case("batch", "BATCHING_NOT_SUPPORTED", 400, body=[_q("{ __typename }")] * 2),
    Case(
        "unknown-operation-name",
        "OPERATION_RESOLUTION_FAILURE",
        200,
        body=_q("query A { __typename }", operationName="B"),
    ),
    Case(
        "unknown-operation-name-graphql-response",
        "OPERATION_RESOLUTION_FAILURE",
        400,
        body=_q("query A { __typename }", operationName="B"),
        headers=GRAPHQL_RESPONSE,
    ),
    Case(
        "several-operations-no-name",
        "OPERATION_RESOLUTION_FAILURE",
        200,
        body=_q("query A { __typename } query B { __typename }"),
    ),
    Case(
        "two-anonymous-operations",
        "GRAPHQL_VALIDATION_FAILED",
        400,
        body=_q("{ __typename } { __typename }"),
        headers=GRAPHQL_RESPONSE,
    ),
    Case("parse-failure", "GRAPHQL_PARSE_FAILED", 200, body=_q("{")),
    Case(
        "parse-failure-graphql-response",
        "GRAPHQL_PARSE_FAILED",
        400,
        body=_q("{"),
        headers=GRAPHQL_RESPONSE,
    ),
    Case(
        "variable-coercion",
        "BAD_USER_INPUT",
        400,
        body=_q(
            "query Q($name: String!) { __type(name: $name) { name } }", variables={"name": None}
        ),
        headers=GRAPHQL_RESPONSE,
    ),
    Case(
        "text-plain",
        "UNSUPPORTED_MEDIA_TYPE",
        415,
        headers={"content-type": "text/plain"},
        body=_q("{ __typename }"),
    ),
    Case(
        "no-content-type",
        "UNSUPPORTED_MEDIA_TYPE",
        415,
        headers={},
        content=b'{"query": "{ __typename }"}',
    ),
    Case(
        "charset-latin1",
        "UNSUPPORTED_MEDIA_TYPE",
        415,
        headers={"content-type": "application/json; charset=latin1"},
        body=_q("{ __typename }"),
    ),
    Case(
        "mutation-over-get",
        "METHOD_NOT_ALLOWED",
        405,
        method="GET",
        params={"query": "mutation { __typename }"},
        headers={"accept": "application/graphql-response+json"},
        allow="POST",
    ),
    Case(
        "put", "METHOD_NOT_ALLOWED", 405, method="PUT", body=_q("{ __typename }"), allow="GET, POST"
    ),
    Case(
        "subscription-over-post",
        "BAD_REQUEST",
        400,
        body=_q("subscription { __typename }"),
    ),
    Case("get-without-query", "BAD_REQUEST", 400, method="GET", params={}, headers={}),
    Case("body-over-limit", "PAYLOAD_TOO_LARGE", 413, content=BIG_BODY.encode()),
    Case("chunked-body-over-limit", "PAYLOAD_TOO_LARGE", 413, content=b"chunked"),
    Case(
        "query-over-limit",
        "PAYLOAD_TOO_LARGE",
        413,
        body=_q("{ __typename }" + " " * MAX_QUERY_BYTES),
    ),
    Case("too-deep", "GRAPHQL_VALIDATION_FAILED", 200, body=_q(_nested(20)), limit="depth"),
    Case(
        "too-many-aliases",
        "GRAPHQL_VALIDATION_FAILED",
        200,
        body=_q("{ " + " ".join(f"a{i}: __typename" for i in range(31)) + " }"),
        limit="aliases",
    ),
    Case(
        "too-many-tokens",
        "GRAPHQL_VALIDATION_FAILED",
        200,
        body=_q("{ " + "a " * MAX_TOKENS + "}"),
        limit="tokens",
    ),
    Case(
        "too-many-directives",
        "GRAPHQL_VALIDATION_FAILED",
        200,
        body=_q("{ __typename" + " @include(if: true) @skip(if: false)" * 3 + " }"),
        limit="directives",
    ),
    Case(
        "deep-introspection",
        "GRAPHQL_VALIDATION_FAILED",
        400,
        body=_q(
            "{ __schema { types { fields { type { "
            + "ofType { " * 12
            + "name"
            + " }" * 12
            + " } } } } }"
        ),
        headers=GRAPHQL_RESPONSE,
        limit="introspectionDepth",
    ),
    Case(
        "nested-introspection-lists",
        "GRAPHQL_VALIDATION_FAILED",
        200,
        body=_q(
            "{ __schema { types { fields { type { fields { type { fields { name } } } } } } } }"
        ),
        limit="introspectionLists",
    ),
]


async def _send(client: httpx.AsyncClient, case: Case) -> httpx.Response:
    content = _chunks(MAX_BODY_BYTES * 2) if case.content == b"chunked" else case.content
    if content is None:
        content = json.dumps(case.body).encode()
    if case.method == "GET":
        return await client.get("/graphql", params=case.params, headers=case.headers)
    return await client.request(case.method, "/graphql", content=content, headers=case.headers)


@pytest.mark.parametrize("case", CASES, ids=lambda case: case.id)
async def test_bad_input_answers_graphql_json_with_a_code(
    subgraph: httpx.AsyncClient, case: Case
) -> None:
    response = await _send(subgraph, case)
    assert response.status_code == case.status, response.text
    media_type = response.headers["content-type"].split(";")[0]
    assert media_type in ("application/json", "application/graphql-response+json")
    body = response.json()
    assert body["errors"], body
    assert "data" not in body, body  # refused before execution: no data entry
    codes = [error["extensions"]["code"] for error in body["errors"]]
    assert case.code in codes, body
    assert all(isinstance(error["message"], str) and error["message"] for error in body["errors"])
    if case.limit is not None:
        assert case.limit in [error["extensions"].get("limit") for error in body["errors"]], body
    if case.allow is not None:
        assert response.headers["allow"] == case.allow
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
