"""Seeded random requests, malformed at every layer, and what every answer to one must be.

`raw_requests` writes whole HTTP/1.1 requests as bytes: methods, targets, content types,
Accept headers, bodies (JSON or not, invalid UTF-8, deep arrays, cut short), chunked or
not, GraphQL documents mutated token by token, deeply nested or aliased, huge headers.
`schema_queries` writes queries against a schema's own root fields, with arguments of the
right and the wrong kinds. Neither writes a mutation: the tests share one stack.

`problem` says what is wrong with an answer: a 5xx, a body that is not JSON, a refusal
without an `errors` list whose every entry has an `extensions.code`, or an
INTERNAL_SERVER_ERROR. The tests (tests/e2e/test_fuzz.py) list the problems they meet.
"""

from __future__ import annotations

import json
import random
from collections.abc import Iterator
from typing import Any
from urllib.parse import quote

from graphql import (
    GraphQLEnumType,
    GraphQLInputObjectType,
    GraphQLInputType,
    GraphQLInterfaceType,
    GraphQLList,
    GraphQLNonNull,
    GraphQLObjectType,
    GraphQLOutputType,
    GraphQLSchema,
    GraphQLUnionType,
)

from tests.http_cases import RawAnswer

QUERIES = [
    "{ me { displayName queueEntry { age syncedVersion } } }",
    "{ me { id displayName } }",
    "query Q($id: ID!) { user(id: $id) { displayName } }",
    'subscription { messageReceived(conversationId: "x") { id } }',
    "{ __schema { types { name fields { name type { name ofType { name } } } } } }",
    "query A { me { id } } query B { me { id } }",
    "{ a: me { id } b: me { id } c: me { id } }",
    "fragment F on User { ...F } { me { ...F } }",
    "{ me { id @skip(if: true) @include(if: false) } }",
    '{ _entities(representations: [{__typename: "User", id: "1"}]) { ... on User { id } } }',
    "{ _service { sdl } }",
    "query ($v: [_Any!]!) { _entities(representations: $v) { __typename } }",
]
TOKENS = [
    *("{", "}", "(", ")", "[", "]", "...", "@", "$", ":", "!", "=", "query", "subscription"),
    *("fragment", "on", "me", "id", "__typename", '"s"', "1", "1.5e999", "null", "true"),
    *("#c\n", ",", "\\u0000", '"""x"""', "|", "&", "__schema", "\u00e9"),
]
CONTENT_TYPES = [
    "application/json",
    "application/json; charset=utf-8",
    "application/json; charset=latin1",
    "application/graphql",
    "text/plain",
    "multipart/form-data; boundary=x",
    "application/x-www-form-urlencoded",
    "application/graphql-response+json",
    "",
    "*/*",
    "application/json;;",
    "APPLICATION/JSON",
    'application/json; charset="utf-8"',
]
ACCEPTS = [
    "application/json",
    "application/graphql-response+json",
    "*/*",
    "text/event-stream",
    "multipart/mixed",
    "application/graphql-response+json;q=0",
    "text/html",
    "",
    "garbage/,,;q=x",
    "application/json;q=0.1, application/graphql-response+json;q=0.9",
]
METHODS = ["POST"] * 6 + ["GET"] * 3 + ["PUT", "DELETE", "PATCH", "OPTIONS", "HEAD", "FOO"]


def _mutated(text: str, rng: random.Random) -> str:
    chars = list(text)
    for _ in range(rng.randint(1, 4)):
        at = rng.randrange(len(chars) + 1)
        roll = rng.random()
        if roll < 0.4 or not chars:
            chars.insert(at, rng.choice(TOKENS))
        elif roll < 0.7:
            del chars[min(at, len(chars) - 1)]
        else:
            chars[min(at, len(chars) - 1)] = rng.choice(TOKENS)
    return "".join(chars)


def _document(rng: random.Random) -> str:
    roll = rng.random()
    if roll < 0.3:
        return rng.choice(QUERIES)
    if roll < 0.6:
        return _mutated(rng.choice(QUERIES), rng)
    if roll < 0.75:
        return " ".join(rng.choice(TOKENS) for _ in range(rng.randint(1, 40)))
    if roll < 0.85:
        levels = rng.choice([50, 200, 2000])
        return "{ " + "me { " * levels + "id" + " }" * levels + " }"
    if roll < 0.92:
        count = rng.choice([40, 500])
        return "{ " + " ".join(f"a{i}: me {{ id }}" for i in range(count)) + " }"
    return "{ __schema { types { fields { type { " + "ofType { " * 40 + "name" + " }" * 45


def _body(rng: random.Random, document: str) -> bytes:
    envelope: dict[str, Any] = {"query": document}
    if rng.random() < 0.3:
        envelope["variables"] = rng.choice([{}, {"id": "x"}, "str", [1], None, 5])
    if rng.random() < 0.2:
        envelope["operationName"] = rng.choice(["A", "B", "", None, 3, "Q"])
    if rng.random() < 0.1:
        envelope["extensions"] = rng.choice([{"persistedQuery": {"version": 1}}, "x", None])
    encoded = json.dumps(envelope).encode()
    roll = rng.random()
    if roll < 0.6:
        return encoded
    if roll < 0.65:
        return b"[" + encoded + b"," + encoded + b"]"
    if roll < 0.7:
        return b"\xff\xfe" + encoded
    if roll < 0.75:
        return b"[" * rng.choice([100, 5000, 100_000]) + b"]" * 3
    if roll < 0.8:
        return encoded[: rng.randint(0, 20)]
    if roll < 0.85:
        return document.encode()
    if roll < 0.9:
        return b'{"query": ' + json.dumps(document).encode() + b', "query": 1}'
    if roll < 0.95:
        return json.dumps({"query": document, "variables": {"x": 10**400}}).encode()
    return bytes(rng.randrange(256) for _ in range(rng.randint(0, 200)))


def raw_requests(seed: int | str, count: int, port: int, token: str) -> Iterator[tuple[str, bytes]]:
    """`count` requests (method, bytes) for 127.0.0.1:`port`'s /graphql, from `seed`."""
    rng = random.Random(seed)
    for _ in range(count):
        method = rng.choice(METHODS)
        document = _document(rng)
        target = "/graphql"
        if method == "GET":
            target += "?query=" + quote(document, safe="")
            if rng.random() < 0.3:
                target += "&variables=" + quote(rng.choice(["{}", "x", '{"id":1}', "[]"]))
            if rng.random() < 0.05:
                target = "/graphql?query=%ZZ%"
        body = b"" if method == "GET" else _body(rng, document)
        headers = [f"Host: 127.0.0.1:{port}"]
        if content_type := rng.choice(CONTENT_TYPES):
            headers.append(f"Content-Type: {content_type}")
        if accept := rng.choice(ACCEPTS):
            headers.append(f"Accept: {accept}")
        if rng.random() < 0.7:
            bearer = rng.choice([f"Bearer {token}", "Bearer x", "Basic abc", "Bearer", token])
            headers.append(f"Authorization: {bearer}")
        if rng.random() < 0.05:
            headers.append("X-Padding: " + "a" * rng.choice([1000, 20_000, 70_000]))
        if rng.random() < 0.05:
            headers.append("traceparent: " + rng.choice(["00-xyz", "00-" + "0" * 32 + "-01"]))
        if method != "GET" and rng.random() < 0.07:
            headers.append("Transfer-Encoding: chunked")
            size = b"zz" if rng.random() < 0.3 else b"%x" % len(body)
            body = size + b"\r\n" + body + b"\r\n0\r\n\r\n"
        elif method != "GET":
            headers.append(f"Content-Length: {len(body)}")
        head = f"{method} {target} HTTP/1.1\r\n" + "\r\n".join(headers)
        yield method, (head + "\r\nConnection: close\r\n\r\n").encode() + body


# Answers whose body is not one JSON document, and rightly: a page, a stream of results.
_NOT_ONE_JSON = ("text/html", "text/event-stream", "multipart/mixed")


def problem(method: str, answer: RawAnswer) -> str | None:
    """What is wrong with `answer` (to a request of `method`); None if nothing."""
    if answer.status == 0:
        return f"no status line: {answer.body[:80]!r}"
    if answer.status >= 500:
        return f"{answer.status}: {answer.body[:200]!r}"
    content_type = answer.headers.get("content-type", "").lower()
    if method in ("HEAD", "OPTIONS") or content_type.startswith(_NOT_ONE_JSON):
        return None  # no body; GraphiQL's page; or a stream of results the client asked for
    try:
        payload = json.loads(answer.body)
    except ValueError:
        return f"{answer.status} with a body that is not JSON: {answer.body[:160]!r}"
    return payload_problem(answer.status, payload)


def payload_problem(status: int, payload: Any) -> str | None:
    """A refusal without coded errors, or an error without a code or INTERNAL_SERVER_ERROR."""
    errors = payload.get("errors") if isinstance(payload, dict) else None
    if status >= 400 and not errors:
        return f"{status} without errors: {json.dumps(payload)[:200]}"
    for error in errors or ():
        code = (error.get("extensions") or {}).get("code") if isinstance(error, dict) else None
        if not code or code == "INTERNAL_SERVER_ERROR":
            return f"{status}, error coded {code}: {json.dumps(error)[:200]}"
    return None


# -- queries written from a schema ----------------------------------------------------------

IDS = ["9b2c6a1e-0000-4000-8000-000000000000", "x", "", "1" * 300, None]
STRINGS = ["", "a", "x" * 3000, "\u0000", "\U0001f600", "<b>", "' OR 1=1 --", None, "-1"]
NUMBERS = [0, -1, 1, 2**31, 2**63, -(2**63), 1.5, 1e308, None, "1"]
DATES = ["2026-12-05T00:00:00Z", "1999-01-01", "2026-02-30", "x", 0, None, "9999-12-31T23:59:59Z"]


def _value(kind: GraphQLInputType, rng: random.Random, depth: int = 0) -> Any:
    if rng.random() < 0.05:
        return rng.choice([None, "x", 1, [], {}])
    if isinstance(kind, GraphQLNonNull):
        return _value(kind.of_type, rng, depth)
    if isinstance(kind, GraphQLList):
        return [_value(kind.of_type, rng, depth + 1) for _ in range(rng.choice([0, 1, 2, 30]))]
    if isinstance(kind, GraphQLEnumType):
        return rng.choice([*kind.values, "NOPE"])
    if isinstance(kind, GraphQLInputObjectType):
        if depth > 3:
            return {}
        fields = kind.fields.items()
        return {name: _value(f.type, rng, depth + 1) for name, f in fields if rng.random() < 0.8}
    name = getattr(kind, "name", "")
    if name == "ID":
        return rng.choice(IDS)
    if name in ("Int", "Float"):
        return rng.choice(NUMBERS)
    if name == "Boolean":
        return rng.choice([True, False, None, "true"])
    if name in ("DateTime", "Date"):
        return rng.choice(DATES)
    return rng.choice(STRINGS)


def _selection(kind: GraphQLOutputType, rng: random.Random, depth: int = 0) -> str:
    while isinstance(kind, GraphQLNonNull | GraphQLList):
        kind = kind.of_type
    if not isinstance(kind, GraphQLObjectType | GraphQLInterfaceType | GraphQLUnionType):
        return ""  # a leaf
    if isinstance(kind, GraphQLUnionType) or depth > 3:
        return "{ __typename }"
    fields = list(kind.fields.items())
    rng.shuffle(fields)
    chosen = [
        f"{name} {_selection(field.type, rng, depth + 1)}"
        for name, field in fields[: rng.randint(1, 4)]
        if not any(isinstance(arg.type, GraphQLNonNull) for arg in field.args.values())
    ]
    return "{ " + (" ".join(chosen) or "__typename") + " }"


def schema_queries(schema: GraphQLSchema, seed: int, count: int) -> Iterator[dict[str, Any]]:
    """`count` request bodies, each a query of one of the schema's root query fields with
    random arguments (as variables) and a random selection, from `seed`."""
    rng = random.Random(seed)
    assert schema.query_type is not None
    roots = [(n, f) for n, f in schema.query_type.fields.items() if not n.startswith("_")]
    for _ in range(count):
        name, field = rng.choice(roots)
        definitions, arguments, variables = [], [], {}
        for arg_name, arg in field.args.items():
            if isinstance(arg.type, GraphQLNonNull) or rng.random() < 0.5:
                definitions.append(f"${arg_name}: {arg.type}")
                arguments.append(f"{arg_name}: ${arg_name}")
                variables[arg_name] = _value(arg.type, rng)
        signature = f"({', '.join(definitions)})" if definitions else ""
        call = f"({', '.join(arguments)})" if arguments else ""
        query = f"query Fuzz{signature} {{ {name}{call} {_selection(field.type, rng)} }}"
        yield {"query": query, "variables": variables}
