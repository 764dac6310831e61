"""The Strawberry federation schema every subgraph builds, with typed error codes."""

from __future__ import annotations

import contextlib
import inspect
import logging
from collections.abc import AsyncGenerator, Callable, Iterable, Iterator
from contextvars import ContextVar
from enum import Enum
from functools import cached_property, lru_cache
from typing import Any, TypeVar

import strawberry
from graphql import (
    DocumentNode,
    GraphQLError,
    GraphQLSchema,
    GraphQLUnionType,
    get_operation_ast,
    parse,
)
from graphql.validation import ASTValidationRule, specified_rules
from strawberry.extensions import SchemaExtension
from strawberry.federation.schema import FederationAny
from strawberry.schema.schema import validate_document
from strawberry.types import ExecutionContext, ExecutionResult, Info
from strawberry.types.graphql import OperationType

from kindred import limits
from kindred.db import refused_nul
from kindred.errors import BadUserInput, ErrorCode, KindredError

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
        explained = limits.explain(error)
        if explained is not None:
            return explained
        if error.message in _OPERATION_RESOLUTION or error.message.startswith(
            "Unknown operation named"
        ):
            return _with_code(
                error,
                ErrorCode.OPERATION_RESOLUTION_FAILURE.value,
                message=_OPERATION_RESOLUTION.get(error.message),
            )
        is_syntax = error.message.startswith("Syntax Error")
        code = ErrorCode.GRAPHQL_PARSE_FAILED if is_syntax else ErrorCode.GRAPHQL_VALIDATION_FAILED
        # Variables of the wrong type (or missing) are reported by graphql-core without an
        # original error: the document is fine, the values are not.
        if error.message.startswith("Variable '$") and _is_coercion(error.message):
            code = ErrorCode.BAD_USER_INPUT
        return _with_code(error, code.value)
    if isinstance(original, GraphQLError) and original.original_error is None:
        return _with_code(error, ErrorCode.BAD_USER_INPUT.value)
    if refused_nul(original):  # the write or read did not happen: nothing changed
        return _with_code(
            error,
            ErrorCode.BAD_USER_INPUT.value,
            message="Text may not contain the NUL character (U+0000): remove it.",
        )
    log.error("unexpected error at %s", error.path, exc_info=original)
    return GraphQLError(
        "Internal server error.",
        nodes=error.nodes,
        path=error.path,
        extensions={"code": ErrorCode.INTERNAL.value},
    )


_COERCION_FAILURES = ("got invalid value", "must not be null", "was not provided")

# graphql-core's GetOperation errors, and what to tell the client instead.
_OPERATION_RESOLUTION = {
    "Must provide operation name if query contains multiple operations.": (
        "The document has several operations: name the one to run in `operationName`."
    ),
    "Must provide an operation.": "The document has no operation: send a query or a mutation.",
}


def _is_coercion(message: str) -> bool:
    return any(failure in message for failure in _COERCION_FAILURES)


class _SpecExecutionContext(ExecutionContext):
    """Picks the operation as the spec's GetOperation does: the one named by `operationName`,
    else the only one. Strawberry would run the first of several (a mutation, say) when
    `operationName` is missing; here graphql-core refuses that document instead."""

    @property
    def operation_name(self) -> str | None:
        provided: str | None = self._provided_operation_name
        if provided is not None or self.graphql_document is None:
            return provided
        only = get_operation_ast(self.graphql_document)
        return only.name.value if only is not None and only.name is not None else None


# The execution context of the latest `Schema.execute` in this task, for metrics: the
# parsed document is in it, so telling the operation costs no second parse.
_execution: ContextVar[ExecutionContext | None] = ContextVar("kindred_execution", default=None)


def executed_operation() -> tuple[str, str | None] | None:
    """The type and name (None if anonymous) of the operation the latest `Schema.execute`
    of this task ran or refused; None if its document did not parse or it named no
    operation the document holds."""
    execution = _execution.get()
    if execution is None or execution.graphql_document is None:
        return None
    operation = get_operation_ast(execution.graphql_document, execution.operation_name)
    if operation is None:
        return None
    return operation.operation.value, operation.name.value if operation.name else None


class Schema(strawberry.federation.Schema):
    """A federation schema whose every error carries a typed `extensions.code`."""

    def _create_execution_context(
        self,
        query: str | None,
        allowed_operation_types: Iterable[OperationType],
        variable_values: dict[str, Any] | None = None,
        context_value: Any | None = None,
        root_value: Any | None = None,
        operation_name: str | None = None,
        operation_extensions: dict[str, Any] | None = None,
    ) -> ExecutionContext:
        execution = _SpecExecutionContext(
            query=query,
            schema=self,
            allowed_operations=allowed_operation_types,
            context=context_value,
            root_value=root_value,
            variables=variable_values,
            provided_operation_name=operation_name,
            operation_extensions=operation_extensions,
        )
        _execution.set(execution)
        return execution

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

    def entities_resolver(
        self, info: Info, representations: list[FederationAny]
    ) -> list[FederationAny]:
        """Strawberry's `_entities`, once every representation is one this subgraph can
        resolve: an object whose `__typename` names one of its entities, with the keys that
        entity's `resolve_reference` takes. Anything else is BAD_USER_INPUT (Strawberry
        would fail on it with an internal error), and nothing is resolved."""
        for index, representation in enumerate(representations):
            problem = self._representation_problem(representation)
            if problem is not None:
                raise BadUserInput(f"`representations[{index}]` {problem}", field="representations")
        return super().entities_resolver(info, representations)

    @cached_property
    def _reference_keys(self) -> dict[str, tuple[frozenset[str], frozenset[str] | None]]:
        """Each entity's name: the keys its `resolve_reference` requires, and those it takes
        (None: any, as for an entity Strawberry builds from the representation itself)."""
        union = self._schema.get_type("_Entity")
        entities = union.types if isinstance(union, GraphQLUnionType) else ()
        keys: dict[str, tuple[frozenset[str], frozenset[str] | None]] = {}
        for name in (entity.name for entity in entities):
            definition = self.schema_converter.type_map[name].definition
            resolve = getattr(getattr(definition, "origin", None), "resolve_reference", None)
            if resolve is None:
                keys[name] = (frozenset(), None)
                continue
            parameters = inspect.signature(resolve).parameters.values()
            named = [p for p in parameters if p.kind in _NAMED and p.name != "info"]
            required = frozenset(p.name for p in named if p.default is p.empty)
            any_key = any(p.kind is p.VAR_KEYWORD for p in parameters)
            keys[name] = (required, None if any_key else frozenset(p.name for p in named))
        return keys

    def _representation_problem(self, representation: Any) -> str | None:
        if not isinstance(representation, dict):
            return "is not an object."
        typename = representation.get("__typename")
        entity = self._reference_keys.get(typename) if isinstance(typename, str) else None
        if entity is None:
            known = ", ".join(sorted(self._reference_keys)) or "none"
            return f"has no `__typename` naming an entity of this subgraph ({known})."
        required, taken = entity
        given = set(representation) - {"__typename"}
        if missing := sorted(required - given):
            return f"lacks {', '.join(f'`{key}`' for key in missing)}."
        if taken is not None and (unexpected := sorted(given - taken)):
            return f"has keys {typename} does not take: {', '.join(unexpected)}."
        return None


# The parameters a representation's keys are passed to.
_NAMED = (inspect.Parameter.POSITIONAL_OR_KEYWORD, inspect.Parameter.KEYWORD_ONLY)


async def _classified(results: AsyncGenerator[Any, None]) -> AsyncGenerator[Any, None]:
    try:
        async for result in results:
            if getattr(result, "errors", None):
                result.errors = [classify(error) for error in result.errors]
            yield result
    finally:
        await results.aclose()


# Distinct documents remembered, parsed and validated (per process, and per schema).
DOCUMENTS_REMEMBERED = 1000


@lru_cache(maxsize=DOCUMENTS_REMEMBERED)
def _parsed(query: str) -> DocumentNode:
    return parse(query, max_tokens=limits.MAX_TOKENS)


class _Documents(SchemaExtension):
    """Parses and validates each distinct document once, by its text: what Strawberry's
    ParserCache, ValidationCache, MaxTokensLimiter and AddValidationRules did, in one
    extension (each extension's hooks run on every request), and keyed by the text
    rather than by the parsed document, whose whole tree is hashed at every lookup."""

    def __init__(self, validated: Callable[[GraphQLSchema, str], list[GraphQLError]]) -> None:
        super().__init__()
        self._validated = validated

    def on_parse(self) -> Iterator[None]:
        context = self.execution_context
        # Strawberry parses what this could not, with the same limit, and reports the error.
        context.parse_options["max_tokens"] = limits.MAX_TOKENS
        if context.query is not None:
            with contextlib.suppress(GraphQLError):
                context.graphql_document = _parsed(context.query)
        yield

    def on_validate(self) -> Iterator[None]:
        context = self.execution_context
        if context.query is not None and context.graphql_document is not None:
            context.pre_execution_errors = self._validated(context.schema._schema, context.query)
        yield


def _document_checks(
    rules: Iterable[type[ASTValidationRule]],
) -> Callable[[GraphQLSchema, str], list[GraphQLError]]:
    """Validation with graphql-core's rules and `rules`, remembered by schema and text (a
    text validated has parsed, so its document is `_parsed`'s)."""
    every_rule = (*specified_rules, *rules)

    @lru_cache(maxsize=DOCUMENTS_REMEMBERED)
    def validated(schema: GraphQLSchema, query: str) -> list[GraphQLError]:
        return validate_document(schema, _parsed(query), every_rule)

    return validated


E = TypeVar("E", bound=Enum)


def describe_values(enum: type[E], **descriptions: str) -> type[E]:
    """Describes each value of a strawberry enum whose Python values must stay plain."""
    definition = enum.__strawberry_definition__  # type: ignore[attr-defined]
    names = {value.name for value in definition.values}
    if names != set(descriptions):
        raise ValueError(f"{definition.name}: describe exactly {sorted(names)}")
    for value in definition.values:
        value.description = descriptions[value.name]
    return enum


ROOT_DESCRIPTIONS = {
    "query": "What can be read: start here to explore the graph.",
    "mutation": "What can be changed; most operations need a signed-in member.",
    "subscription": "Live updates over graphql-transport-ws on the same URL.",
}


def build_schema(
    *,
    query: type,
    mutation: type | None = None,
    subscription: type | None = None,
    types: Iterable[type] = (),
) -> Schema:
    """A federation 2 schema with parse/validation caches and the limits of `kindred.limits`."""
    # The limit rules are built once per schema; the factory gives each request a fresh
    # extension object.
    for kind, root in (("query", query), ("mutation", mutation), ("subscription", subscription)):
        definition = getattr(root, "__strawberry_definition__", None)
        if definition is not None and not definition.description:
            definition.description = ROOT_DESCRIPTIONS[kind]
    validated = _document_checks(limits.validation_rules())
    extensions: list[Any] = [lambda: _Documents(validated)]
    return Schema(
        query=query,
        mutation=mutation,
        subscription=subscription,
        types=list(types),
        federation_version=FEDERATION_VERSION,  # type: ignore[arg-type]
        extensions=extensions,
    )
