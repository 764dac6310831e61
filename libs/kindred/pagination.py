"""Cursor pagination, one style for every list in the schema (Relay-style connections).

Lists are read newest first with keyset pagination: a cursor is the sort key of the
last row a client has seen, so a page never skips or repeats rows when new ones arrive.
"""

from __future__ import annotations

import base64
import json
import uuid
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Annotated, Any, Generic, TypeVar

import strawberry
from sqlalchemy import ColumnElement, ColumnExpressionArgument, tuple_

from kindred.errors import BadUserInput

T = TypeVar("T")
R = TypeVar("R")

DEFAULT_PAGE_SIZE = 20
MAX_PAGE_SIZE = 100

# The arguments of every paginated field: `first: First = None, after: After = None`.
First = Annotated[int | None, strawberry.argument(description="Page size, 1 to 100 (default 20).")]
After = Annotated[
    str | None, strawberry.argument(description="The `endCursor` of the previous page.")
]


@strawberry.federation.type(
    shareable=True, description="Where a page ends and whether more follow."
)
class PageInfo:
    has_next_page: bool = strawberry.field(description="True when a next page exists.")
    end_cursor: str | None = strawberry.field(
        description="Pass as `after` to get the next page; null on an empty page."
    )


@strawberry.type(description="One item of a page, with the cursor that points at it.")
class Edge(Generic[T]):
    cursor: str = strawberry.field(description="Opaque position of this item.")
    node: T = strawberry.field(description="The item.")


@strawberry.type(description="A page of items, newest first.")
class Connection(Generic[T]):
    edges: list[Edge[T]] = strawberry.field(description="The items of this page.")
    page_info: PageInfo = strawberry.field(description="How to get the next page.")


def encode_cursor(created_at: datetime, id: uuid.UUID | int) -> str:
    """An opaque cursor for a row sorted by (created_at, id)."""
    raw = json.dumps([created_at.isoformat(), str(id)], separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str, *, id_type: type = uuid.UUID) -> tuple[datetime, Any]:
    """The (created_at, id) in `cursor`, or `BAD_USER_INPUT` naming the `after` argument."""
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        created_at, id = json.loads(base64.urlsafe_b64decode(padded.encode()))
        return datetime.fromisoformat(created_at), id_type(id)
    except (ValueError, TypeError, json.JSONDecodeError):
        raise BadUserInput("`after` is not a cursor this list gave out.", field="after") from None


def page_size(first: int | None) -> int:
    """`first` checked against the limits (default 20, at most 100)."""
    if first is None:
        return DEFAULT_PAGE_SIZE
    if not 1 <= first <= MAX_PAGE_SIZE:
        raise BadUserInput(f"`first` must be 1 to {MAX_PAGE_SIZE}.", field="first")
    return first


def older_than(
    created_at: ColumnExpressionArgument[Any],
    id: ColumnExpressionArgument[Any],
    after: str | None,
    *,
    id_type: type,
) -> ColumnElement[bool] | None:
    """The SQL condition for rows after the cursor in newest-first order; None for page one."""
    if after is None:
        return None
    cursor_created_at, cursor_id = decode_cursor(after, id_type=id_type)
    return tuple_(created_at, id) < tuple_(cursor_created_at, cursor_id)


def connection(
    rows: Sequence[R],
    *,
    first: int,
    node: Callable[[R], T],
    key: Callable[[R], tuple[datetime, uuid.UUID | int]],
) -> Connection[T]:
    """A page from up to `first + 1` rows read newest first (the extra row means "more")."""
    page = rows[:first]
    edges = [Edge(cursor=encode_cursor(*key(row)), node=node(row)) for row in page]
    return Connection(
        edges=edges,
        page_info=PageInfo(
            has_next_page=len(rows) > first,
            end_cursor=edges[-1].cursor if edges else None,
        ),
    )
