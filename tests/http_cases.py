"""Malformed and oversized GraphQL-over-HTTP requests, one `Case` each, and how each must
be answered: the same list runs against every subgraph (tests/contract/test_http_edge.py)
and against the gateway (tests/e2e/test_gateway_http.py)."""

from __future__ import annotations

import contextlib
import dataclasses
import json
import socket
from collections.abc import AsyncIterator, Callable
from typing import Any

import httpx

from kindred.limits import MAX_BODY_BYTES, MAX_QUERY_BYTES, MAX_TOKENS

JSON = {"content-type": "application/json"}
GRAPHQL_RESPONSE = {
    "content-type": "application/json",
    "accept": "application/graphql-response+json",
}


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
    Case("unknown-fragment", "GRAPHQL_VALIDATION_FAILED", 200, body=_q("{ __typename ...Nope }")),
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
        body=_q('subscription { messageReceived(conversationId: "1") { id } }'),
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


async def send_case(client: httpx.AsyncClient, case: Case) -> httpx.Response:
    content = _chunks(MAX_BODY_BYTES * 2) if case.content == b"chunked" else case.content
    if content is None:
        content = json.dumps(case.body).encode()
    if case.method == "GET":
        return await client.get("/graphql", params=case.params, headers=case.headers)
    return await client.request(case.method, "/graphql", content=content, headers=case.headers)


def assert_refused_as_expected(response: httpx.Response, case: Case) -> None:
    """The answer is GraphQL-shaped JSON, with the case's status, code, limit and Allow."""
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


# Requests no HTTP/1.1 parser accepts, or a WebSocket handshake that is not one, as raw
# bytes (an HTTP client would not send them); each must be a JSON 400 BAD_REQUEST.
MALFORMED_HTTP = {
    "unknown-method": b"FOO /graphql HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\n{}",
    "control-byte-in-header": b"POST /graphql HTTP/1.1\r\nHost: x\r\nX-A: a\x7fb\r\n"
    b"Content-Type: application/json\r\nContent-Length: 2\r\n\r\n{}",
    "bad-chunk-size": b"POST /graphql HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
    b"Transfer-Encoding: chunked\r\n\r\nzz\r\n{}\r\n0\r\n\r\n",
    "websocket-without-key": b"GET /graphql HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\n"
    b"Connection: Upgrade\r\nSec-WebSocket-Version: 13\r\n\r\n",
}


@dataclasses.dataclass(frozen=True)
class RawAnswer:
    status: int
    headers: dict[str, str]
    body: bytes


def send_raw(port: int, request: bytes, timeout: float = 10.0) -> RawAnswer:
    """Sends `request` as it is to 127.0.0.1:`port` and reads one answer: its head, and a
    body of its Content-Length (or until the server closes the connection). A server that
    answers and closes while the request is still being sent has answered; bytes that
    are no HTTP answer are status 0, all of them the body."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as connection:
        with contextlib.suppress(OSError):
            connection.sendall(request)
        received = _received(connection, lambda got: b"\r\n\r\n" in got)
        if not received.startswith(b"HTTP/1.1 "):
            return RawAnswer(0, {}, received)
        head, _, body = received.partition(b"\r\n\r\n")
        status_line, *header_lines = head.decode("latin-1").split("\r\n")
        headers = {}
        for line in header_lines:
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
        length = int(headers.get("content-length", -1))
        body += _received(connection, lambda got: 0 <= length <= len(body) + len(got))
    return RawAnswer(int(status_line.split(" ")[1]), headers, body)


def _received(connection: socket.socket, enough: Callable[[bytes], bool]) -> bytes:
    """What `connection` sends until `enough` of it came, it closes or it resets."""
    received = b""
    with contextlib.suppress(ConnectionResetError):
        while not enough(received) and (chunk := connection.recv(65_536)):
            received += chunk
    return received


def assert_malformed_http_refused(answer: RawAnswer) -> None:
    """A JSON 400 with one BAD_REQUEST error saying what was wrong."""
    assert answer.status == 400, answer
    assert answer.headers["content-type"].startswith("application/json"), answer
    assert int(answer.headers["content-length"]) == len(answer.body), answer
    [error] = json.loads(answer.body)["errors"]
    assert error["extensions"]["code"] == "BAD_REQUEST", error
    assert error["message"], error
