"""GraphQL over HTTP (https://graphql.github.io/graphql-over-http/): the request envelope,
content negotiation, and the JSON shape of every answer, refusals included.

Every refusal is `{"errors": [{"message": ..., "extensions": {"code": ...}}]}`, never plain
text, in the media type the client accepts:

- `application/graphql-response+json` when the client asks for it: a request error (the
  document does not parse or validate, a variable does not coerce, no operation to run)
  answers 400 and has no `data` entry.
- `application/json` otherwise (also for `*/*` and a missing Accept): request errors
  answer 200, as the spec says for that media type.
- A malformed HTTP request is refused whatever the Accept: 400 BAD_REQUEST (invalid UTF-8
  or JSON, not an object, `query`/`variables`/`operationName`/`extensions` of the wrong
  type), 400 BATCHING_NOT_SUPPORTED (a JSON array), 400 PERSISTED_QUERY_NOT_SUPPORTED, 413
  PAYLOAD_TOO_LARGE, 415 UNSUPPORTED_MEDIA_TYPE (not `application/json`, or not UTF-8),
  405 METHOD_NOT_ALLOWED (with `Allow`: a mutation over GET, a method other than GET/POST).

The functions here are pure and cheap: header parsing is cached per distinct header value.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from starlette.responses import Response
from strawberry.types import ExecutionResult
from strawberry.types.graphql import OperationType

from kindred.errors import ErrorCode
from kindred.limits import MAX_BODY_BYTES, MAX_QUERY_BYTES

GRAPHQL_RESPONSE_JSON = "application/graphql-response+json"
APPLICATION_JSON = "application/json"
ALLOWED_METHODS = "GET, POST"


@dataclass(frozen=True, slots=True)
class GraphQLRequest:
    """One well-formed GraphQL-over-HTTP request's parameters."""

    query: str
    variables: dict[str, Any] | None = None
    operation_name: str | None = None
    extensions: dict[str, Any] | None = None


class RequestError(Exception):
    """A request refused before execution: its HTTP status, code and message."""

    def __init__(
        self,
        status: int,
        code: ErrorCode,
        message: str,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.headers = dict(headers or {})

    def payload(self) -> dict[str, Any]:
        return error_payload(self.code, self.message)


def error_payload(code: ErrorCode, message: str) -> dict[str, Any]:
    return {"errors": [{"message": message, "extensions": {"code": code.value}}]}


# -- negotiation --------------------------------------------------------------------------


@lru_cache(maxsize=256)
def negotiate(accept: str | None) -> str:
    """The response media type for an Accept header: `application/graphql-response+json`
    if the client names it (and does not prefer `application/json`), else
    `application/json` (also for `*/*`, a missing Accept, or nothing we can serve)."""
    if not accept:
        return APPLICATION_JSON
    best: dict[str, tuple[int, float]] = {}  # media type -> (specificity, q) of its best match
    for media_range in accept.split(","):
        kind, _, params = media_range.partition(";")
        kind = kind.strip().lower()
        q = _quality(params)
        for candidate in (GRAPHQL_RESPONSE_JSON, APPLICATION_JSON):
            specificity = _specificity(kind, candidate)
            if specificity and specificity > best.get(candidate, (0, 0.0))[0]:
                best[candidate] = (specificity, q)
    graphql_specificity, graphql_q = best.get(GRAPHQL_RESPONSE_JSON, (0, 0.0))
    _, json_q = best.get(APPLICATION_JSON, (0, 0.0))
    # Only a client that names the new media type gets it: `*/*` means any, and the spec
    # asks for application/json then.
    if graphql_specificity == 3 and graphql_q > 0 and graphql_q >= json_q:
        return GRAPHQL_RESPONSE_JSON
    return APPLICATION_JSON


def _specificity(media_range: str, media_type: str) -> int:
    if media_range == media_type:
        return 3
    if media_range == "application/*":
        return 2
    if media_range == "*/*":
        return 1
    return 0


def _quality(params: str) -> float:
    for param in params.split(";"):
        name, _, value = param.partition("=")
        if name.strip().lower() == "q":
            try:
                return min(max(float(value.strip()), 0.0), 1.0)
            except ValueError:
                return 0.0
    return 1.0


@lru_cache(maxsize=256)
def content_type(header: str) -> tuple[str, str | None]:
    """The media type (lowercase) and charset (lowercase, or None) of a Content-Type."""
    kind, _, params = header.partition(";")
    charset = None
    for param in params.split(";"):
        name, _, value = param.partition("=")
        if name.strip().lower() == "charset":
            charset = value.strip().strip('"').lower()
    return kind.strip().lower(), charset


def wants_ide(query_params: Mapping[str, str], accept: str | None) -> bool:
    """A browser opening /graphql (GET, HTML accepted, no `query`) gets GraphiQL."""
    return "query" not in query_params and accept is not None and "text/html" in accept


# -- requests -----------------------------------------------------------------------------


def parse_post(content_type_header: str | None, body: bytes) -> GraphQLRequest:
    """A POST's parameters, from its JSON body; RequestError if it is not one."""
    kind, charset = content_type(content_type_header or "")
    if kind != APPLICATION_JSON:
        received = f"`{kind}`" if kind else "none"
        raise RequestError(
            415,
            ErrorCode.UNSUPPORTED_MEDIA_TYPE,
            f"The request's Content-Type is {received}: send the GraphQL request as a JSON "
            "object with `Content-Type: application/json`.",
        )
    if charset is not None and charset not in ("utf-8", "utf8"):
        raise RequestError(
            415,
            ErrorCode.UNSUPPORTED_MEDIA_TYPE,
            f"The request's charset is `{charset}`: send the body as UTF-8 "
            "(`Content-Type: application/json; charset=utf-8`).",
        )
    if not body:
        raise RequestError(
            400,
            ErrorCode.BAD_REQUEST,
            'The request body is empty: send a JSON object like {"query": "{ __typename }"}.',
        )
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        raise RequestError(
            400,
            ErrorCode.BAD_REQUEST,
            "The request body is not valid UTF-8: encode the JSON body as UTF-8.",
        ) from None
    return _envelope(_json(text, "The request body"))


def parse_get(query_params: Mapping[str, str]) -> GraphQLRequest:
    """A GET's parameters, from its query string (`variables`, `extensions` as JSON)."""
    return _envelope(
        {
            "query": query_params.get("query"),
            "variables": _json_param(query_params, "variables"),
            "operationName": query_params.get("operationName"),
            "extensions": _json_param(query_params, "extensions"),
        }
    )


def _json_param(query_params: Mapping[str, str], name: str) -> Any:
    value = query_params.get(name)
    return _json(value, f"The `{name}` parameter") if value else None


def _json(text: str, what: str) -> Any:
    try:
        return json.loads(text)
    except (ValueError, RecursionError):  # JSONDecodeError is a ValueError
        raise RequestError(
            400,
            ErrorCode.BAD_REQUEST,
            f"{what} is not valid JSON: send a JSON object like "
            '{"query": "...", "variables": {...}}.',
        ) from None


def _envelope(data: Any) -> GraphQLRequest:
    if isinstance(data, list):
        raise RequestError(
            400,
            ErrorCode.BATCHING_NOT_SUPPORTED,
            "Batched requests (a JSON array of operations) are not supported: send each "
            "operation in a request of its own, as a JSON object.",
        )
    if not isinstance(data, dict):
        raise RequestError(
            400,
            ErrorCode.BAD_REQUEST,
            'The request must be a JSON object like {"query": "{ __typename }"}.',
        )
    query, variables = data.get("query"), data.get("variables")
    operation_name, extensions = data.get("operationName"), data.get("extensions")
    if extensions is not None and not isinstance(extensions, dict):
        raise _bad("`extensions` must be a JSON object (or null).")
    if query is None:
        if extensions and "persistedQuery" in extensions:
            raise RequestError(
                400,
                ErrorCode.PERSISTED_QUERY_NOT_SUPPORTED,
                "Persisted queries are not supported: send the whole document in `query`.",
            )
        raise _bad("The request has no `query`: send the GraphQL document in `query`.")
    if not isinstance(query, str):
        raise _bad("`query` must be a string: the GraphQL document.")
    if not query:
        raise _bad("`query` is empty: send the GraphQL document in `query`.")
    _check_size(query)
    if variables is not None and not isinstance(variables, dict):
        raise _bad("`variables` must be a JSON object (or null) of variable names to values.")
    if operation_name is not None and not isinstance(operation_name, str):
        raise _bad("`operationName` must be a string (or null): the operation to run.")
    return GraphQLRequest(query, variables or None, operation_name or None, extensions)


def _check_size(query: str) -> None:
    # A character is 1 to 4 UTF-8 bytes: only long documents need encoding to be measured.
    length = len(query)
    if length > MAX_QUERY_BYTES // 4 and (
        length > MAX_QUERY_BYTES or len(query.encode("utf-8", "surrogatepass")) > MAX_QUERY_BYTES
    ):
        raise RequestError(
            413,
            ErrorCode.PAYLOAD_TOO_LARGE,
            f"The GraphQL document is over {MAX_QUERY_BYTES} bytes: send a smaller one "
            "(pass values in `variables`, or split the operation).",
        )


def _bad(message: str) -> RequestError:
    return RequestError(400, ErrorCode.BAD_REQUEST, message)


def refuse_method(method: str) -> RequestError:
    return RequestError(
        405,
        ErrorCode.METHOD_NOT_ALLOWED,
        f"{method} is not allowed on this endpoint: send queries with GET or POST, "
        "mutations with POST.",
        headers={"allow": ALLOWED_METHODS},
    )


def refuse_operation_type(operation_type: OperationType, method: str) -> RequestError:
    """The operation may not run over this request (a mutation over GET, a subscription)."""
    if operation_type is OperationType.SUBSCRIPTION:
        return _bad(
            "Subscriptions are served over WebSocket (graphql-transport-ws) on this same "
            "path: open a WebSocket to subscribe."
        )
    return RequestError(
        405,
        ErrorCode.METHOD_NOT_ALLOWED,
        f"A {operation_type.value} cannot be sent with {method}: send it with POST.",
        headers={"allow": "POST"},
    )


def unknown_operation(name: str | None) -> dict[str, Any]:
    """The answer when `operationName` names no operation of the document."""
    message = (
        f'The document has no operation named "{name}": set `operationName` to one of '
        "its operations' names."
        if name is not None
        else "The document has no operation: send a query or a mutation."
    )
    return error_payload(ErrorCode.OPERATION_RESOLUTION_FAILURE, message)


# -- responses ----------------------------------------------------------------------------


def result_payload(result: ExecutionResult) -> dict[str, Any]:
    """The response map of an execution result. A request error (every error raised
    before execution, so none has a path, and no data) has no `data` entry."""
    errors = result.errors
    payload: dict[str, Any] = {}
    if result.data is not None or not errors or any(e.path is not None for e in errors):
        payload["data"] = result.data
    if errors:
        payload["errors"] = [error.formatted for error in errors]
    if result.extensions:
        payload["extensions"] = result.extensions
    return payload


def status_for(payload: Mapping[str, Any], media_type: str) -> int:
    """200, unless the client takes application/graphql-response+json and the response has
    no data: then 400 (500 if what failed was the server)."""
    if media_type == APPLICATION_JSON or "data" in payload:
        return 200
    for error in payload.get("errors") or ():
        if (error.get("extensions") or {}).get("code") == ErrorCode.INTERNAL.value:
            return 500
    return 400


def respond(
    payload: Mapping[str, Any],
    media_type: str,
    *,
    status: int | None = None,
    headers: Mapping[str, str] | None = None,
    encode: Callable[[Any], str | bytes] | None = None,
) -> Response:
    return Response(
        (encode or encode_payload)(payload),
        status_code=status if status is not None else status_for(payload, media_type),
        headers=headers,
        media_type=f"{media_type}; charset=utf-8",
    )


def encode_payload(payload: Any) -> str:
    return json.dumps(payload, separators=(",", ":"))


def refusal(error: RequestError, accept: str | None) -> Response:
    """The response refusing a request, in the media type the client accepts."""
    return respond(error.payload(), negotiate(accept), status=error.status, headers=error.headers)


def body_too_large(accept: str | None) -> Response:
    return refusal(
        RequestError(
            413,
            ErrorCode.PAYLOAD_TOO_LARGE,
            f"The request body is over {MAX_BODY_BYTES} bytes: send a smaller request.",
        ),
        accept,
    )
