"""The history subgraph's GraphQL schema: `User.history`, each member's own timeline."""

from __future__ import annotations

import strawberry

from kindred.graphql import build_schema
from subgraphs.history.types import User


@strawberry.type
class Query:
    pass


schema = build_schema(query=Query, types=[User])
