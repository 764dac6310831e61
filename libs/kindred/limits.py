"""Every request limit a subgraph enforces, in one place, and the validation rules behind them.

A subgraph is reachable on its own port, so it defends itself whatever the gateway does.
Each refusal is a GraphQL error with an `extensions.code`; the document limits add
`extensions.limit` (which one) and `extensions.max` (its value).

- request body: MAX_BODY_BYTES (256 KiB), with or without Content-Length (a chunked body is
  counted as it streams in) -> 413 PAYLOAD_TOO_LARGE
- GraphQL document text: MAX_QUERY_BYTES (32 KiB of UTF-8) -> 413 PAYLOAD_TOO_LARGE
- tokens in the document: MAX_TOKENS (4000; the parser stops there)
  -> GRAPHQL_VALIDATION_FAILED, limit `tokens`
- selection depth: MAX_DEPTH (12 levels below a root field, so 13 fields nested; Strawberry's
  QueryDepthLimiter, which skips introspection fields) -> GRAPHQL_VALIDATION_FAILED, limit
  `depth`
- aliases in the document: MAX_ALIASES (30; Strawberry's MaxAliasesLimiter)
  -> GRAPHQL_VALIDATION_FAILED, limit `aliases`
- directives on one field, fragment, operation or variable: MAX_DIRECTIVES_PER_LOCATION (5)
  -> GRAPHQL_VALIDATION_FAILED, limit `directives`
- fields nested under `__schema`/`__type`, the root included: MAX_INTROSPECTION_DEPTH (15,
  what GraphiQL's standard introspection query needs: `__schema > types > fields > args >
  type`, nine `ofType`, a leaf) -> GRAPHQL_VALIDATION_FAILED, limit `introspectionDepth`
- introspection lists (`fields`, `interfaces`, `possibleTypes`, `inputFields`) nested:
  MAX_INTROSPECTION_LISTS (2; graphql-core's MaxIntrospectionDepthRule, a specified rule)
  -> GRAPHQL_VALIDATION_FAILED, limit `introspectionLists`
- operations per HTTP request: MAX_BATCH_SIZE (1: a JSON array is refused)
  -> 400 BATCHING_NOT_SUPPORTED
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from graphql import (
    ASTValidationRule,
    ExecutableDefinitionNode,
    FieldNode,
    FragmentSpreadNode,
    GraphQLError,
    InlineFragmentNode,
    SelectionSetNode,
    ValidationContext,
    ValidationRule,
)
from graphql.language import SKIP, Node, VisitorAction
from strawberry.extensions import MaxAliasesLimiter, QueryDepthLimiter

from kindred.errors import ErrorCode

# The numbers live in limits.json, which the gateway's edge (router/edge/limits.mjs) reads
# too: one set of limits for every port a client can reach.
_NUMBERS: dict[str, int] = json.loads((Path(__file__).parent / "limits.json").read_text())
MAX_BODY_BYTES = _NUMBERS["maxBodyBytes"]
MAX_QUERY_BYTES = _NUMBERS["maxQueryBytes"]
MAX_TOKENS = _NUMBERS["maxTokens"]
MAX_DEPTH = _NUMBERS["maxDepth"]
MAX_ALIASES = _NUMBERS["maxAliases"]
MAX_DIRECTIVES_PER_LOCATION = _NUMBERS["maxDirectivesPerLocation"]
MAX_INTROSPECTION_DEPTH = _NUMBERS["maxIntrospectionDepth"]
# graphql-core's MaxIntrospectionDepthRule: introspection lists nested at most this deep.
MAX_INTROSPECTION_LISTS = _NUMBERS["maxIntrospectionLists"]
# Batching (a JSON array of operations in one request) is refused: one operation a request.
MAX_BATCH_SIZE = _NUMBERS["maxBatchSize"]

_INTROSPECTION_ROOTS = frozenset({"__schema", "__type"})


def limit_error(message: str, limit: str, maximum: int, nodes: Any = None) -> GraphQLError:
    """A document refused for a limit: GRAPHQL_VALIDATION_FAILED naming the limit."""
    return GraphQLError(
        message,
        nodes,
        extensions={
            "code": ErrorCode.GRAPHQL_VALIDATION_FAILED.value,
            "limit": limit,
            "max": maximum,
        },
    )


def explain(error: GraphQLError) -> GraphQLError | None:
    """graphql-core's own limit errors (the parser's token limit, MaxIntrospectionDepthRule)
    with a code, the limit, and what to do; None for any other error."""
    if error.message.startswith("Syntax Error: Document contains more than"):
        message, limit, maximum = (
            f"The document has more than {MAX_TOKENS} tokens: ask for fewer fields, or "
            "split the operation into several requests.",
            "tokens",
            MAX_TOKENS,
        )
    elif error.message == "Maximum introspection depth exceeded":
        message, limit, maximum = (
            "This introspection query nests `fields`, `interfaces`, `possibleTypes` or "
            "`inputFields` three deep: ask for less nesting (GraphiQL's introspection "
            "query fits).",
            "introspectionLists",
            MAX_INTROSPECTION_LISTS,
        )
    else:
        return None
    return GraphQLError(
        message,
        source=error.source,
        positions=error.positions,
        extensions={
            "code": ErrorCode.GRAPHQL_VALIDATION_FAILED.value,
            "limit": limit,
            "max": maximum,
        },
    )


def _explained(
    rule: type[ASTValidationRule], limit: str, maximum: int, message: str
) -> type[ASTValidationRule]:
    """`rule` (one of Strawberry's limiters, which check the whole document when built),
    reporting `message` with a code and the limit instead of its own text. A document
    that spreads a fragment it does not define is left to KnownFragmentNamesRule, which
    refuses it: Strawberry's limiters look every spread up and would fail on it."""

    class Explained(ValidationRule):
        def __init__(self, context: ValidationContext) -> None:
            super().__init__(context)
            if _spreads_an_unknown_fragment(context):
                return
            report = context.on_error

            def explained(error: GraphQLError) -> None:
                report(limit_error(message, limit, maximum, error.nodes))

            context.on_error = explained  # type: ignore[method-assign]
            try:
                rule(context)
            finally:
                context.on_error = report  # type: ignore[method-assign]

    Explained.__name__ = Explained.__qualname__ = f"{limit.capitalize()}Limit"
    return Explained


def _spreads_an_unknown_fragment(context: ValidationContext) -> bool:
    return any(
        context.get_fragment(spread.name.value) is None
        for definition in context.document.definitions
        if isinstance(definition, ExecutableDefinitionNode)
        for spread in context.get_fragment_spreads(definition.selection_set)
    )


class DirectivesLimit(ValidationRule):
    """At most MAX_DIRECTIVES_PER_LOCATION directives on one field, fragment or operation."""

    def _check(self, node: Any) -> None:
        directives = node.directives
        if directives and len(directives) > MAX_DIRECTIVES_PER_LOCATION:
            self.report_error(
                limit_error(
                    f"{len(directives)} directives on one {_what(node)}; at most "
                    f"{MAX_DIRECTIVES_PER_LOCATION} are allowed: remove the extra ones.",
                    "directives",
                    MAX_DIRECTIVES_PER_LOCATION,
                    [node],
                )
            )

    def enter_field(self, node: FieldNode, *_args: Any) -> None:
        self._check(node)

    def enter_fragment_spread(self, node: FragmentSpreadNode, *_args: Any) -> None:
        self._check(node)

    def enter_inline_fragment(self, node: InlineFragmentNode, *_args: Any) -> None:
        self._check(node)

    def enter_fragment_definition(self, node: Node, *_args: Any) -> None:
        self._check(node)

    def enter_operation_definition(self, node: Node, *_args: Any) -> None:
        self._check(node)

    def enter_variable_definition(self, node: Node, *_args: Any) -> None:
        self._check(node)


def _what(node: Node) -> str:
    return {
        "field": "field",
        "fragment_spread": "fragment spread",
        "inline_fragment": "inline fragment",
        "fragment_definition": "fragment",
        "operation_definition": "operation",
        "variable_definition": "variable",
    }.get(node.kind, "location")


class IntrospectionDepthLimit(ValidationRule):
    """At most MAX_INTROSPECTION_DEPTH fields nested under `__schema` or `__type` (the root
    counts), through fragments: enough for GraphiQL's introspection query, no deeper."""

    def __init__(self, context: ValidationContext) -> None:
        super().__init__(context)
        # Each fragment's own depth, computed once per document (None while in progress).
        self._fragment_depths: dict[str, int | None] = {}

    def enter_field(self, node: FieldNode, *_args: Any) -> VisitorAction:
        if node.name.value not in _INTROSPECTION_ROOTS:
            return None
        try:
            depth = 1 + self._depth(node.selection_set)
        except RecursionError:  # a fragment chain no real client sends
            depth = MAX_INTROSPECTION_DEPTH + 1
        if depth > MAX_INTROSPECTION_DEPTH:
            self.report_error(
                limit_error(
                    f"This introspection query nests {depth} fields under "
                    f"`{node.name.value}`; at most {MAX_INTROSPECTION_DEPTH} are allowed "
                    "(GraphiQL's standard introspection query fits): ask for less nesting.",
                    "introspectionDepth",
                    MAX_INTROSPECTION_DEPTH,
                    [node],
                )
            )
        return SKIP  # the fields below are inside this root's count already

    def _depth(self, selection_set: SelectionSetNode | None) -> int:
        if selection_set is None:
            return 0
        deepest = 0
        for selection in selection_set.selections:
            if isinstance(selection, FieldNode):
                depth = 1 + self._depth(selection.selection_set)
            elif isinstance(selection, InlineFragmentNode):
                depth = self._depth(selection.selection_set)
            elif isinstance(selection, FragmentSpreadNode):
                depth = self._fragment_depth(selection.name.value)
            else:  # pragma: no cover - no other selection kinds
                depth = 0
            deepest = max(deepest, depth)
            if deepest > MAX_INTROSPECTION_DEPTH:
                break  # refused already: no need to look further
        return deepest

    def _fragment_depth(self, name: str) -> int:
        if name in self._fragment_depths:
            return self._fragment_depths[name] or 0  # a cycle (refused by its own rule)
        fragment = self.context.get_fragment(name)
        if fragment is None:  # unknown fragments are KnownFragmentNamesRule's
            return 0
        self._fragment_depths[name] = None
        depth = self._depth(fragment.selection_set)
        self._fragment_depths[name] = depth
        return depth


def validation_rules() -> list[type[ASTValidationRule]]:
    """The limit rules added to graphql-core's specified rules (which already include
    LoneAnonymousOperationRule and MaxIntrospectionDepthRule). Build them once per schema:
    the validation cache is keyed by the rule classes."""
    (depth,) = QueryDepthLimiter(max_depth=MAX_DEPTH).validation_rules
    (aliases,) = MaxAliasesLimiter(max_alias_count=MAX_ALIASES).validation_rules
    return [
        _explained(
            depth,
            "depth",
            MAX_DEPTH,
            f"The operation nests fields more than {MAX_DEPTH} levels deep: ask for less "
            "nesting, or split the operation into several requests.",
        ),
        _explained(
            aliases,
            "aliases",
            MAX_ALIASES,
            f"The document uses more than {MAX_ALIASES} aliases: ask for fewer aliased "
            "fields, or split the operation into several requests.",
        ),
        DirectivesLimit,
        IntrospectionDepthLimit,
    ]
