"""The analytics subgraph's GraphQL schema: `analytics(from, to)`, for staff only."""

from __future__ import annotations

from datetime import date
from typing import Annotated

import strawberry
from strawberry.types import Info

from kindred.context import RequestContext
from kindred.graphql import build_schema
from kindred.staff import Scope, staff_field
from subgraphs.analytics import service
from subgraphs.analytics.types import AnalyticsDay, AnalyticsReport, AnalyticsTotals

Ctx = Info[RequestContext, None]


@strawberry.type
class Query:
    @staff_field(
        scopes=[Scope.ANALYTICS_READ],
        description="The daily figures from `from` to `to` (UTC days, both included, at most "
        f"{service.MAX_RANGE_DAYS}), with totals; read from the daily aggregates. Staff "
        "with the analytics:read scope only.",
    )
    async def analytics(
        self,
        info: Ctx,
        from_: Annotated[
            date, strawberry.argument(name="from", description="The first UTC day (included).")
        ],
        to: Annotated[date, strawberry.argument(description="The last UTC day (included).")],
    ) -> AnalyticsReport:
        service.check_range(from_, to)
        async with info.context.platform.db.read() as conn:
            rows = await service.figures_between(conn, start=from_, end=to)
            active = await service.distinct_active_between(conn, start=from_, end=to)
        return AnalyticsReport(
            from_=from_,
            to=to,
            days=[
                AnalyticsDay.from_row(day, rows.get(day)) for day in service.days_between(from_, to)
            ],
            totals=AnalyticsTotals.of(
                service.sum_figures(list(rows.values())), distinct_active=active
            ),
        )


schema = build_schema(query=Query)
