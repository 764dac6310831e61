"""GraphQL over HTTP without a server: negotiation, the request envelope, the answer's
shape and status, the document limits, and the caches staying hot."""

from __future__ import annotations

import json
import uuid
from typing import Any

import pytest
import strawberry
from graphql import GraphQLError, get_introspection_query, parse, print_ast, validate
from graphql import build_schema as build_sdl
from graphql.validation import specified_rules
from strawberry.schema.schema import validate_document
from strawberry.types import ExecutionResult

import kindred.graphql
from kindred import graphql_http, limits
from kindred.errors import ErrorCode
from kindred.graphql import _parsed, build_schema
from kindred.graphql_http import (
    APPLICATION_JSON,
    GRAPHQL_RESPONSE_JSON,
    GraphQLRequest,
    RequestError,
    negotiate,
    parse_get,
    parse_post,
)

JSON = "application/json"


def _post(body: Any, content_type: str | None = JSON) -> GraphQLRequest:
    raw = body if isinstance(body, bytes) else json.dumps(body).encode()
    return parse_post(content_type, raw)


def _refused(call: Any, *args: Any) -> RequestError:
    with pytest.raises(RequestError) as refused:
        call(*args)
    return refused.value


# -- negotiation --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("accept", "media_type"),
    [
        (None, APPLICATION_JSON),
        ("", APPLICATION_JSON),
        ("*/*", APPLICATION_JSON),
        ("application/*", APPLICATION_JSON),
        ("application/json", APPLICATION_JSON),
        ("application/json; charset=utf-8", APPLICATION_JSON),
        ("application/graphql-response+json", GRAPHQL_RESPONSE_JSON),
        ("Application/GraphQL-Response+JSON", GRAPHQL_RESPONSE_JSON),
        ("application/graphql-response+json, application/json", GRAPHQL_RESPONSE_JSON),
        ("application/json, application/graphql-response+json", GRAPHQL_RESPONSE_JSON),
        (
            "application/graphql-response+json;charset=utf-8, application/json;charset=utf-8",
            GRAPHQL_RESPONSE_JSON,
        ),
        ("application/graphql-response+json;q=0.5, application/json", APPLICATION_JSON),
        ("application/json;q=0.5, application/graphql-response+json", GRAPHQL_RESPONSE_JSON),
        ("application/graphql-response+json;q=0", APPLICATION_JSON),
        ("application/graphql-response+json;q=oops", APPLICATION_JSON),
        ("text/html", APPLICATION_JSON),  # nothing servable: the default
        ("*/*;q=0.8, application/graphql-response+json", GRAPHQL_RESPONSE_JSON),
    ],
)
def test_the_response_media_type_follows_accept(accept: str | None, media_type: str) -> None:
    assert negotiate(accept) == media_type


@pytest.mark.parametrize(
    ("header", "parsed"),
    [
        ("application/json", ("application/json", None)),
        ("Application/JSON; Charset=UTF-8", ("application/json", "utf-8")),
        ('application/json; charset="utf-8"', ("application/json", "utf-8")),
        ("application/json;boundary=x;charset=latin1", ("application/json", "latin1")),
        ("", ("", None)),
    ],
)
def test_content_types_are_parsed(header: str, parsed: tuple[str, str | None]) -> None:
    assert graphql_http.content_type(header) == parsed


def test_graphiql_is_for_browsers_asking_for_html_without_a_query() -> None:
    html = "text/html,application/xhtml+xml,*/*;q=0.8"
    assert graphql_http.wants_ide({}, html)
    assert not graphql_http.wants_ide({"query": "{ __typename }"}, html)
    assert not graphql_http.wants_ide({}, "*/*")
    assert not graphql_http.wants_ide({}, None)


# -- the envelope -------------------------------------------------------------------------


def test_a_well_formed_post_is_parsed() -> None:
    request = _post(
        {
            "query": "query Q($a: Int) { __typename }",
            "variables": {"a": 1},
            "operationName": "Q",
            "extensions": {"some": "value"},
        },
        "application/json; charset=utf-8",
    )
    assert request == GraphQLRequest(
        "query Q($a: Int) { __typename }", {"a": 1}, "Q", {"some": "value"}
    )


@pytest.mark.parametrize("parameter", ["variables", "operationName", "extensions"])
def test_null_parameters_are_absent_ones(parameter: str) -> None:
    request = _post({"query": "{ __typename }", parameter: None})
    assert request == GraphQLRequest("{ __typename }")


def test_unknown_keys_are_ignored_and_emoji_are_fine() -> None:
    request = _post({"query": '{ __type(name: "Run🏃Swim🏊") { name } }', "other": 1})
    assert request.query == '{ __type(name: "Run🏃Swim🏊") { name } }'


@pytest.mark.parametrize(
    ("body", "code", "says"),
    [
        (b"", ErrorCode.BAD_REQUEST, "empty"),
        (b'{"query": "\xff"}', ErrorCode.BAD_REQUEST, "UTF-8"),
        (b'{ "not a JSON', ErrorCode.BAD_REQUEST, "not valid JSON"),
        (b"[" * 100_000 + b"]" * 100_000, ErrorCode.BAD_REQUEST, "not valid JSON"),
        (b"1" * 5_000, ErrorCode.BAD_REQUEST, "not valid JSON"),  # over int's digit limit
        (b'"{ __typename }"', ErrorCode.BAD_REQUEST, "JSON object"),
        (b"null", ErrorCode.BAD_REQUEST, "JSON object"),
        (b"42", ErrorCode.BAD_REQUEST, "JSON object"),
        (b'[{"query": "{ __typename }"}]', ErrorCode.BATCHING_NOT_SUPPORTED, "Batched"),
        (b"{}", ErrorCode.BAD_REQUEST, "no `query`"),
        (b'{"qeury": "{ __typename }"}', ErrorCode.BAD_REQUEST, "no `query`"),
        (b'{"query": ""}', ErrorCode.BAD_REQUEST, "empty"),
        (b'{"query": {"obj": "ect"}}', ErrorCode.BAD_REQUEST, "`query` must be a string"),
        (b'{"query": 0}', ErrorCode.BAD_REQUEST, "`query` must be a string"),
        (b'{"query": false}', ErrorCode.BAD_REQUEST, "`query` must be a string"),
        (b'{"query": ["array"]}', ErrorCode.BAD_REQUEST, "`query` must be a string"),
        (b'{"query": "{ a }", "variables": "x"}', ErrorCode.BAD_REQUEST, "`variables`"),
        (b'{"query": "{ a }", "variables": [1]}', ErrorCode.BAD_REQUEST, "`variables`"),
        (b'{"query": "{ a }", "variables": 0}', ErrorCode.BAD_REQUEST, "`variables`"),
        (b'{"query": "{ a }", "operationName": 0}', ErrorCode.BAD_REQUEST, "`operationName`"),
        (b'{"query": "{ a }", "operationName": {}}', ErrorCode.BAD_REQUEST, "`operationName`"),
        (b'{"query": "{ a }", "extensions": "x"}', ErrorCode.BAD_REQUEST, "`extensions`"),
        (b'{"query": "{ a }", "extensions": [1]}', ErrorCode.BAD_REQUEST, "`extensions`"),
        (
            b'{"extensions": {"persistedQuery": {"version": 1, "sha256Hash": "ab"}}}',
            ErrorCode.PERSISTED_QUERY_NOT_SUPPORTED,
            "Persisted queries",
        ),
    ],
)
def test_a_malformed_body_is_refused_with_400(body: bytes, code: ErrorCode, says: str) -> None:
    refused = _refused(parse_post, JSON, body)
    assert (refused.status, refused.code) == (400, code)
    assert says in refused.message


@pytest.mark.parametrize(
    "content_type",
    [None, "", "text/plain;charset=UTF-8", "multipart/form-data; boundary=x", "application/jsonx"],
)
def test_a_body_that_is_not_json_by_its_content_type_is_415(content_type: str | None) -> None:
    refused = _refused(parse_post, content_type, b'{"query": "{ __typename }"}')
    assert (refused.status, refused.code) == (415, ErrorCode.UNSUPPORTED_MEDIA_TYPE)
    assert "application/json" in refused.message


@pytest.mark.parametrize("charset", ["latin1", "utf-16", "iso-8859-1"])
def test_a_charset_other_than_utf8_is_415(charset: str) -> None:
    refused = _refused(parse_post, f"application/json; charset={charset}", b'{"query": "{ a }"}')
    assert (refused.status, refused.code) == (415, ErrorCode.UNSUPPORTED_MEDIA_TYPE)
    assert "UTF-8" in refused.message


def test_utf8_spelled_either_way_is_accepted() -> None:
    for charset in ("utf-8", "UTF-8", "utf8"):
        assert _post({"query": "{ a }"}, f"application/json; charset={charset}").query == "{ a }"


def test_a_document_over_the_query_limit_is_413_counted_in_utf8_bytes() -> None:
    fits = "{ a }" + " " * (limits.MAX_QUERY_BYTES - 5)
    assert _post({"query": fits}).query == fits
    too_long = fits + " "
    refused = _refused(parse_post, JSON, json.dumps({"query": too_long}).encode())
    assert (refused.status, refused.code) == (413, ErrorCode.PAYLOAD_TOO_LARGE)
    # Few characters, many bytes: 9000 four-byte characters are over 32 KiB.
    wide = "# " + "🏃" * 9_000 + "\n{ a }"
    assert len(wide) < limits.MAX_QUERY_BYTES
    assert _refused(parse_post, JSON, json.dumps({"query": wide}).encode()).status == 413


def test_a_get_is_parsed_from_its_query_string() -> None:
    request = parse_get(
        {
            "query": "query T($name: String!) { __type(name: $name) { name } }",
            "variables": '{"name": "sometype"}',
            "operationName": "T",
            "extensions": '{"a": 1}',
        }
    )
    assert request.variables == {"name": "sometype"}
    assert (request.operation_name, request.extensions) == ("T", {"a": 1})
    assert parse_get({"query": "{ a }", "variables": "", "operationName": ""}) == GraphQLRequest(
        "{ a }"
    )


@pytest.mark.parametrize(
    ("params", "says"),
    [
        ({}, "no `query`"),
        ({"query": "{ a }", "variables": "{oops"}, "`variables` parameter is not valid JSON"),
        ({"query": "{ a }", "variables": "[1]"}, "`variables` must be"),
        ({"query": "{ a }", "extensions": "1"}, "`extensions` must be"),
    ],
)
def test_a_malformed_get_is_refused(params: dict[str, str], says: str) -> None:
    refused = _refused(parse_get, params)
    assert (refused.status, refused.code) == (400, ErrorCode.BAD_REQUEST)
    assert says in refused.message


def test_other_methods_and_mutations_over_get_are_405_with_allow() -> None:
    put = graphql_http.refuse_method("PUT")
    assert (put.status, put.code, put.headers) == (
        405,
        ErrorCode.METHOD_NOT_ALLOWED,
        {"allow": "GET, POST"},
    )
    from strawberry.types.graphql import OperationType

    mutation = graphql_http.refuse_operation_type(OperationType.MUTATION, "GET")
    assert (mutation.status, mutation.headers) == (405, {"allow": "POST"})
    subscription = graphql_http.refuse_operation_type(OperationType.SUBSCRIPTION, "POST")
    assert (subscription.status, subscription.code) == (400, ErrorCode.BAD_REQUEST)
    assert "WebSocket" in subscription.message


# -- the answer ---------------------------------------------------------------------------


def _error(code: str, path: list[Any] | None = None) -> GraphQLError:
    return GraphQLError("x", path=path, extensions={"code": code})


def test_a_request_error_has_no_data_and_its_status_follows_the_media_type() -> None:
    payload = graphql_http.result_payload(
        ExecutionResult(data=None, errors=[_error("GRAPHQL_PARSE_FAILED")])
    )
    assert "data" not in payload
    assert payload["errors"][0]["extensions"] == {"code": "GRAPHQL_PARSE_FAILED"}
    assert graphql_http.status_for(payload, GRAPHQL_RESPONSE_JSON) == 400
    assert graphql_http.status_for(payload, APPLICATION_JSON) == 200


def test_a_field_error_keeps_data_even_null_and_answers_200() -> None:
    payload = graphql_http.result_payload(
        ExecutionResult(data=None, errors=[_error("NOT_FOUND", ["me"])])
    )
    assert payload["data"] is None
    assert graphql_http.status_for(payload, GRAPHQL_RESPONSE_JSON) == 200
    ok = graphql_http.result_payload(ExecutionResult(data={"a": 1}, errors=None))
    assert ok == {"data": {"a": 1}}


def test_a_server_failure_before_execution_is_500_for_the_new_media_type() -> None:
    payload = graphql_http.result_payload(
        ExecutionResult(data=None, errors=[_error("INTERNAL_SERVER_ERROR")])
    )
    assert graphql_http.status_for(payload, GRAPHQL_RESPONSE_JSON) == 500


def test_a_refusal_is_graphql_shaped_json_in_the_accepted_media_type() -> None:
    response = graphql_http.refusal(graphql_http.refuse_method("DELETE"), GRAPHQL_RESPONSE_JSON)
    assert response.status_code == 405
    assert response.headers["allow"] == "GET, POST"
    assert response.headers["content-type"] == f"{GRAPHQL_RESPONSE_JSON}; charset=utf-8"
    body = json.loads(bytes(response.body))
    assert body["errors"][0]["extensions"] == {"code": "METHOD_NOT_ALLOWED"}
    too_large = graphql_http.body_too_large(None)
    assert (too_large.status_code, too_large.headers["content-type"]) == (
        413,
        "application/json; charset=utf-8",
    )


# -- the document limits ------------------------------------------------------------------

SDL = build_sdl(
    """
    directive @tag(name: String) repeatable on FIELD
    type Query { node: Node, name: String }
    type Node { child: Node, name: String }
    """
)
RULES = (*specified_rules, *limits.validation_rules())


def _limit_errors(document: str) -> list[dict[str, Any]]:
    errors = validate(SDL, parse(document), RULES)
    return [e.extensions or {} for e in errors if (e.extensions or {}).get("limit")]


def _nested(levels: int, field: str = "child") -> str:
    return "{ node { " + f"{field} {{ " * (levels - 2) + "name" + " }" * (levels - 1) + " }"


def test_depth_is_limited_at_twelve_levels_below_the_root_field() -> None:
    assert _limit_errors(_nested(limits.MAX_DEPTH + 1)) == []
    assert _limit_errors(_nested(limits.MAX_DEPTH + 2)) == [
        {"code": "GRAPHQL_VALIDATION_FAILED", "limit": "depth", "max": limits.MAX_DEPTH}
    ]


def test_depth_counts_through_fragments() -> None:
    document = "{ node { ...A } } fragment A on Node { child { ...B } } fragment B on Node { " + (
        "child { " * 12 + "name" + " }" * 12 + " }"
    )
    assert [e["limit"] for e in _limit_errors(document)] == ["depth"]


def test_aliases_are_limited_at_thirty() -> None:
    fits = "{ " + " ".join(f"a{i}: name" for i in range(limits.MAX_ALIASES)) + " }"
    assert _limit_errors(fits) == []
    over = "{ " + " ".join(f"a{i}: name" for i in range(limits.MAX_ALIASES + 1)) + " }"
    assert [e["limit"] for e in _limit_errors(over)] == ["aliases"]


def test_directives_are_limited_per_location() -> None:
    fits = "{ name" + ' @tag(name: "x")' * limits.MAX_DIRECTIVES_PER_LOCATION + " }"
    assert _limit_errors(fits) == []
    over = "{ name" + ' @tag(name: "x")' * (limits.MAX_DIRECTIVES_PER_LOCATION + 1) + " }"
    assert _limit_errors(over) == [
        {"code": "GRAPHQL_VALIDATION_FAILED", "limit": "directives", "max": 5}
    ]
    on_a_fragment = "{ ...F" + " @skip(if: false)" * 6 + " } fragment F on Query { name }"
    assert [e["limit"] for e in _limit_errors(on_a_fragment)] == ["directives"]


@pytest.mark.parametrize(
    "options",
    [
        {},
        {"descriptions": True, "input_value_deprecation": True, "schema_description": True},
        {"specified_by_url": True, "directive_is_repeatable": True, "one_of": True},
    ],
)
def test_graphiqls_introspection_query_fits_every_limit(options: dict[str, Any]) -> None:
    document = get_introspection_query(**options)
    assert validate(SDL, parse(document), RULES) == []


def test_introspection_deeper_than_graphiql_needs_is_refused() -> None:
    deeper = get_introspection_query(type_depth=10)
    assert [e["limit"] for e in _limit_errors(deeper)] == ["introspectionDepth"]
    chain = '{ __type(name: "Node") { ' + "ofType { " * 14 + "name" + " }" * 14 + " } }"
    assert [e["limit"] for e in _limit_errors(chain)] == ["introspectionDepth"]
    fits = '{ __type(name: "Node") { ' + "ofType { " * 13 + "name" + " }" * 13 + " } }"
    assert _limit_errors(fits) == []


def test_introspection_depth_counts_through_fragments_and_survives_cycles() -> None:
    through = (
        "{ __schema { types { ...T } } } fragment T on __Type { "
        + "ofType { " * 13
        + "name"
        + " }" * 13
        + " }"
    )
    assert [e["limit"] for e in _limit_errors(through)] == ["introspectionDepth"]
    cycle = (
        "{ __schema { types { ...A } } } fragment A on __Type { ofType { ...B } } "
        "fragment B on __Type { ofType { ...A } }"
    )
    errors = validate(SDL, parse(cycle), RULES)
    assert [e.message for e in errors] == ["Cannot spread fragment 'A' within itself via 'B'."]


def test_introspection_lists_nested_three_deep_are_refused() -> None:
    document = "{ __schema { types { fields { type { fields { type { fields { name } } } } } } } }"
    errors = validate(SDL, parse(document), RULES)
    assert errors


# -- execution ----------------------------------------------------------------------------


@strawberry.type
class Query:
    @strawberry.field
    def hello(self) -> str:
        return "hi"

    @strawberry.field
    def echo(self, text: str) -> str:
        return text


@strawberry.type
class Mutation:
    @strawberry.mutation
    def bump(self) -> int:
        return 1


SCHEMA = build_schema(query=Query, mutation=Mutation)


def _codes(result: ExecutionResult) -> list[str]:
    return [(e.extensions or {}).get("code", "") for e in result.errors or ()]


async def test_several_operations_need_an_operation_name() -> None:
    document = "query A { hello } mutation B { bump }"
    refused = await SCHEMA.execute(document)
    assert _codes(refused) == ["OPERATION_RESOLUTION_FAILURE"]
    assert refused.data is None
    assert refused.errors is not None
    assert "operationName" in refused.errors[0].message
    named = await SCHEMA.execute(document, operation_name="B")
    assert (named.data, named.errors) == ({"bump": 1}, None)
    single = await SCHEMA.execute("query Only { hello }")
    assert single.data == {"hello": "hi"}


async def test_two_anonymous_operations_fail_validation() -> None:
    result = await SCHEMA.execute("{ hello } { hello }")
    assert result.data is None
    assert set(_codes(result)) == {"GRAPHQL_VALIDATION_FAILED"}


async def test_too_many_tokens_is_a_limit_error() -> None:
    result = await SCHEMA.execute("{ " + "hello " * (limits.MAX_TOKENS + 1) + "}")
    assert [e.extensions for e in result.errors or ()] == [
        {"code": "GRAPHQL_VALIDATION_FAILED", "limit": "tokens", "max": limits.MAX_TOKENS}
    ]


async def test_a_variable_that_does_not_coerce_is_bad_user_input() -> None:
    document = "query Q($t: String!) { echo(text: $t) }"
    assert _codes(await SCHEMA.execute(document, variable_values={"t": None})) == ["BAD_USER_INPUT"]
    assert _codes(await SCHEMA.execute(document)) == ["BAD_USER_INPUT"]
    assert _codes(await SCHEMA.execute(document, variable_values={"t": 3})) == ["BAD_USER_INPUT"]
    assert (await SCHEMA.execute(document, variable_values={"t": "x"})).data == {"echo": "x"}


async def test_a_document_is_parsed_and_validated_once_by_its_text(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    validations: list[str] = []

    def counting(schema: Any, document: Any, rules: Any) -> Any:
        validations.append(print_ast(document))
        return validate_document(schema, document, rules)

    monkeypatch.setattr(kindred.graphql, "validate_document", counting)
    document = f"query Cached{uuid.uuid4().hex} {{ hello }}"
    await SCHEMA.execute(document)
    parsed = _parsed.cache_info().hits
    for _ in range(3):
        assert (await SCHEMA.execute(document)).data == {"hello": "hi"}
    assert _parsed.cache_info().hits == parsed + 3
    assert len(validations) == 1
    # A mistake is found once too, and still answered every time.
    broken = "{ hello nope }"
    for _ in range(2):
        assert _codes(await SCHEMA.execute(broken)) == ["GRAPHQL_VALIDATION_FAILED"]
    assert len(validations) == 2
