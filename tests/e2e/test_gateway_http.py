"""The gateway's public port under hostile and malformed input: the same cases every
subgraph answers (tests/http_cases.py), the GraphQL-over-HTTP audit, documents that
crash federation engines, sign-in brute force through it, and the API schema it serves."""

from __future__ import annotations

import asyncio
import difflib
import json
import re
import subprocess
import uuid
from pathlib import Path
from typing import Any

import graphql
import httpx
import psycopg
import pytest
import websockets
from websockets.typing import Subprotocol

from kindred.devstack.stack import Stack
from tests.communication_support import subscription
from tests.http_cases import (
    CASES,
    MALFORMED_HTTP,
    Case,
    assert_malformed_http_refused,
    assert_refused_as_expected,
    send_case,
    send_raw,
)
from tests.support import assert_http_audit_passes, error_codes, gql, register

ROUTER = Path(__file__).resolve().parents[2] / "router"

# Each of these once took a federation engine down or made it work for minutes.
HOSTILE = {
    "self-spread": "query { ...A } fragment A on Query { ...A }",
    "spread-cycle": "query { ...A } fragment A on Query { ...B } fragment B on Query { ...A }",
    "typename-cycle": "query { ...A } fragment A on Query { __typename ...A }",
    "fragment-bomb": "query { ...F0 }\n"
    + "".join(
        f"fragment F{i} on Query {{ __typename ...F{i + 1} ...F{i + 1} }}\n" for i in range(40)
    )
    + "fragment F40 on Query { __typename }",
    "nested-lists": "{ __schema { types { fields { type { fields { type { fields { name }"
    + " } } } } } } }",
}


UPDATE_BIO = 'mutation { updateProfile(input: {bio: "hi"}, expectedVersion: 1) { version } }'


def _engine_alive(stack: Stack) -> None:
    assert stack.engine is not None and stack.engine.running(), "the federation engine died"
    ready = httpx.get(f"{stack.gateway_url}/readiness", timeout=10)
    assert ready.status_code == 200, ready.text


@pytest.mark.parametrize("case", CASES, ids=lambda case: case.id)
async def test_bad_input_answers_graphql_json_with_a_code(
    stack: Stack, gateway: httpx.AsyncClient, case: Case
) -> None:
    assert_refused_as_expected(await send_case(gateway, case), case)
    _engine_alive(stack)


@pytest.mark.parametrize("name", list(HOSTILE))
async def test_hostile_documents_are_refused_and_the_engine_lives(
    stack: Stack, gateway: httpx.AsyncClient, name: str
) -> None:
    body = await gql(gateway, HOSTILE[name])
    if name == "fragment-bomb" and "data" in body:  # valid and shallow: it may be answered
        assert body["data"] == {"__typename": "Query"}, body
    else:
        assert error_codes(body) and set(error_codes(body)) == {"GRAPHQL_VALIDATION_FAILED"}, body
    _engine_alive(stack)


async def test_the_same_hostile_document_over_websocket_is_refused(
    stack: Stack, gateway: httpx.AsyncClient
) -> None:
    member = await register(gateway)
    async with subscription(
        stack.graphql_url,
        HOSTILE["self-spread"].replace("query", "subscription", 1),
        token=member.access_token,
    ) as live:
        assert set(error_codes(await live.next())) == {"GRAPHQL_VALIDATION_FAILED"}
    _engine_alive(stack)


async def test_oversized_headers_get_a_json_431(stack: Stack, gateway: httpx.AsyncClient) -> None:
    response = await gateway.post(
        "/graphql", json={"query": "{ __typename }"}, headers={"x-padding": "a" * 20_000}
    )
    assert response.status_code == 431
    assert response.json()["errors"][0]["extensions"]["code"] == "REQUEST_HEADER_FIELDS_TOO_LARGE"
    _engine_alive(stack)


@pytest.mark.parametrize("request_bytes", MALFORMED_HTTP.values(), ids=list(MALFORMED_HTTP))
def test_bytes_that_are_not_http_get_json_at_every_port(stack: Stack, request_bytes: bytes) -> None:
    """Each subgraph as it is launched (uvicorn with kindred.protocols), and the gateway."""
    for port in stack.subgraph_ports.values():
        assert_malformed_http_refused(send_raw(port, request_bytes))
    answer = send_raw(stack.gateway_port, request_bytes)
    assert answer.status in (400, 405), answer  # the edge names an unknown method
    [error] = json.loads(answer.body)["errors"]
    assert error["extensions"]["code"] in ("BAD_REQUEST", "METHOD_NOT_ALLOWED"), answer
    _engine_alive(stack)


MALFORMED_WS_MESSAGES = {
    "array": [],
    "payload-not-an-object": {"type": "subscribe", "id": "1", "payload": "x"},
    "query-not-a-string": {"type": "subscribe", "id": "1", "payload": {"query": 5}},
}


@pytest.mark.parametrize("message", MALFORMED_WS_MESSAGES.values(), ids=list(MALFORMED_WS_MESSAGES))
async def test_a_websocket_message_of_another_shape_closes_with_4400(
    stack: Stack, gateway: httpx.AsyncClient, message: Any
) -> None:
    """At each subgraph's port: the protocol's close, not a server error inside Strawberry."""
    member = await register(gateway)
    for port in stack.subgraph_ports.values():
        async with websockets.connect(
            f"ws://127.0.0.1:{port}/graphql", subprotocols=[Subprotocol("graphql-transport-ws")]
        ) as socket:
            init = {"authorization": f"Bearer {member.access_token}"}
            await socket.send(json.dumps({"type": "connection_init", "payload": init}))
            assert json.loads(await socket.recv())["type"] == "connection_ack"
            await socket.send(json.dumps(message))
            with pytest.raises(websockets.ConnectionClosed) as closed:
                await asyncio.wait_for(socket.recv(), 10)
        assert closed.value.rcvd is not None and closed.value.rcvd.code == 4400, closed.value


def test_the_graphql_over_http_audit_passes_on_the_gateway(stack: Stack) -> None:
    assert_http_audit_passes(stack.graphql_url)


def _without_engine_quirks(sdl: str) -> str:
    """The four ways grafbase 0.103's schema differs from the composed one and no client
    can tell (the edge answers introspection from the composed API schema): it lists the
    federation scalar `_Any` (no field uses it), it drops the `@specifiedBy` URL of
    scalars, the descriptions of enum values and those of the root types."""
    sdl = re.sub(r'\s@specifiedBy\(url: "[^"]*"\)', "", sdl)
    sdl = re.sub(r"\n*scalar _Any\n", "\n", sdl)
    document = graphql.visit(graphql.parse(sdl), _EngineDescriptionsOnly())
    return graphql.print_ast(document).strip() + "\n"


ROOT_TYPES = {"Query", "Mutation", "Subscription"}


class _EngineDescriptionsOnly(graphql.Visitor):
    def enter_object_type_definition(
        self, node: graphql.ObjectTypeDefinitionNode, *_: object
    ) -> graphql.ObjectTypeDefinitionNode | None:
        if node.name.value not in ROOT_TYPES:
            return None
        return graphql.ObjectTypeDefinitionNode(
            name=node.name,
            interfaces=node.interfaces,
            directives=node.directives,
            fields=node.fields,
        )

    def enter_enum_value_definition(
        self, node: graphql.EnumValueDefinitionNode, *_: object
    ) -> graphql.EnumValueDefinitionNode:
        return graphql.EnumValueDefinitionNode(name=node.name, directives=node.directives)


def test_the_gateway_serves_the_api_schema_apollo_composition_composes(stack: Stack) -> None:
    def printed(*args: str) -> str:
        run = subprocess.run(
            ["node", "api_schema.mjs", *args],
            capture_output=True,
            text=True,
            timeout=60,
            cwd=ROUTER,
            check=True,
        )
        return run.stdout

    # The engine itself, not the edge (which validates against the composed schema).
    assert stack.engine_url is not None
    composed = _without_engine_quirks(printed(str(stack.repo_root / "supergraph.graphql")))
    served = _without_engine_quirks(printed("--introspect", stack.engine_url))
    diff = "\n".join(difflib.unified_diff(composed.splitlines(), served.splitlines(), lineterm=""))
    assert composed == served, f"composed (-) vs served by the gateway (+):\n{diff[:6000]}"


async def test_login_brute_force_through_the_gateway_is_rate_limited(
    gateway: httpx.AsyncClient,
) -> None:
    # One member, guessed at from one (documentation-range) address behind the gateway.
    member = await register(gateway)
    headers = {"x-forwarded-for": f"198.51.100.{uuid.uuid4().int % 250 + 1}"}
    mutation = (
        "mutation($e: String!, $p: String!) { login(email: $e, password: $p) { accessToken } }"
    )
    codes = []
    for attempt in range(30):
        response = await gateway.post(
            "/graphql",
            json={"query": mutation, "variables": {"e": member.email, "p": f"wrong {attempt}"}},
            headers=headers,
        )
        body = response.json()
        codes.append(error_codes(body)[0])
        if codes[-1] == "RATE_LIMITED":
            assert body["errors"][0]["extensions"]["retryAfter"] >= 1
    assert codes[:5] == ["UNAUTHENTICATED"] * 5
    assert set(codes[5:]) == {"RATE_LIMITED"}
    # The right password is refused too while the account is limited.
    right = await gateway.post(
        "/graphql",
        json={"query": mutation, "variables": {"e": member.email, "p": member.password}},
        headers=headers,
    )
    assert error_codes(right.json()) == ["RATE_LIMITED"]


async def test_the_callers_token_and_trace_reach_the_subgraphs(
    gateway: httpx.AsyncClient, user_db: psycopg.Connection[Any]
) -> None:
    member = await register(gateway)
    trace_id = uuid.uuid4().hex
    traceparent = f"00-{trace_id}-{uuid.uuid4().hex[:16]}-01"
    # queueEntry is the owner's only: the queuing subgraph saw the member's token.
    joined = await gateway.post(
        "/graphql",
        json={"query": "mutation { joinQueue { syncedVersion } }"},
        headers={**member.headers, "traceparent": traceparent},
    )
    assert "errors" not in joined.json(), joined.text
    body = await gql(gateway, "{ me { queueEntry { syncedVersion } } }", token=member.access_token)
    assert body["data"]["me"]["queueEntry"] == {"syncedVersion": 1}, body
    # The user subgraph's event of a profile change carries the client's trace onward.
    changed = await gateway.post(
        "/graphql",
        json={"query": UPDATE_BIO},
        headers={**member.headers, "traceparent": traceparent},
    )
    assert "errors" not in changed.json(), changed.text
    row = user_db.execute(
        "SELECT headers->>'traceparent' FROM outbox WHERE key = %s ORDER BY id DESC LIMIT 1",
        (member.id,),
    ).fetchone()
    assert row is not None and row[0].split("-")[1] == trace_id, row
