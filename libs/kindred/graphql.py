"""The Strawberry federation schema every subgraph builds, with typed error codes."""

from __future__ import annotations

import logging
from collections.abc import AsyncGenerator, Iterable
from typing import Any

import strawberry
from graphql import GraphQLError
from strawberry.extensions import (
    AddValidationRules,
    MaxAliasesLimiter,
    MaxTokensLimiter,
    ParserCache,
    QueryDepthLimiter,
    ValidationCache,
)
from strawberry.types import ExecutionContext, ExecutionResult

from kindred.errors import ErrorCode, KindredError

log = logging.getLogger(__name__)

FEDERATION_VERSION = "2.11"


def _with_code(
    error: GraphQLError, code: str, *, message: str | None = None, **details: Any
) -> GraphQLError:
    return GraphQLError(
        message if message is not None else error.message,
        nodes=error.nodes,
        source=error.source,
        positions=error.positions,
        path=error.path,
        original_error=error.original_error,
        extensions={**(error.extensions or {}), **details, "code": code},
    )


def classify(error: GraphQLError) -> GraphQLError:
    """Gives every error an `extensions.code`; hides the text of unexpected ones."""
    original = error.original_error
    if isinstance(original, KindredError):
        return _with_code(error, original.code.value, message=original.message, **original.details)
    if error.extensions and "code" in error.extensions:
        return error
    if original is None:
        is_syntax = error.message.startswith("Syntax Error")
        code = ErrorCode.GRAPHQL_PARSE_FAILED if is_syntax else ErrorCode.GRAPHQL_VALIDATION_FAILED
        # Variables of the wrong type are reported by graphql-core without an original error.
        if error.message.startswith("Variable '$") and "got invalid value" in error.message:
            code = ErrorCode.BAD_USER_INPUT
        return _with_code(error, code.value)
    if isinstance(original, GraphQLError) and original.original_error is None:
        return _with_code(error, ErrorCode.BAD_USER_INPUT.value)
    log.error("unexpected error at %s", error.path, exc_info=original)
    return GraphQLError(
        "Internal server error.",
        nodes=error.nodes,
        path=error.path,
        extensions={"code": ErrorCode.INTERNAL.value},
    )


class Schema(strawberry.federation.Schema):
    """A federation schema whose every error carries a typed `extensions.code`."""

    async def execute(self, *args: Any, **kwargs: Any) -> ExecutionResult:
        result = await super().execute(*args, **kwargs)
        if result.errors:
            result.errors = [classify(error) for error in result.errors]
        return result

    async def stream(self, *args: Any, **kwargs: Any) -> Any:
        # Subscriptions (over WebSocket) stream results: each one's errors get codes too.
        results = await super().stream(*args, **kwargs)
        return _classified(results)

    def process_errors(
        self, errors: list[GraphQLError], execution_context: ExecutionContext | None = None
    ) -> None:
        # Client mistakes are answered, not logged as failures; `classify` logs the rest.
        return None


async def _classified(results: AsyncGenerator[Any, None]) -> AsyncGenerator[Any, None]:
    try:
        async for result in results:
            if getattr(result, "errors", None):
                result.errors = [classify(error) for error in result.errors]
            yield result
    finally:
        await results.aclose()


def build_schema(
    *,
    query: type,
    mutation: type | None = None,
    subscription: type | None = None,
    types: Iterable[type] = (),
) -> Schema:
    """A federation 2 schema with parse/validation caches and request limits."""
    # Built once: the validation cache is keyed by the rule classes, which each limiter
    # instance creates anew. Factories give each request fresh extension objects.
    limits = [
        *QueryDepthLimiter(max_depth=12).validation_rules,
        *MaxAliasesLimiter(max_alias_count=30).validation_rules,
    ]
    extensions: list[Any] = [
        lambda: ParserCache(maxsize=1000),
        lambda: ValidationCache(maxsize=1000),
        lambda: AddValidationRules(limits),
        lambda: MaxTokensLimiter(max_token_count=4000),
    ]
    return Schema(
        query=query,
        mutation=mutation,
        subscription=subscription,
        types=list(types),
        federation_version=FEDERATION_VERSION,  # type: ignore[arg-type]
        extensions=extensions,
    )
