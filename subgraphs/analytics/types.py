"""The analytics subgraph's GraphQL types: one day's figures, their totals, a report."""

from __future__ import annotations

from datetime import date
from typing import Any

import strawberry

from subgraphs.analytics.service import Figure


def _rate(matches: int, with_conversation: int) -> float | None:
    return with_conversation / matches if matches else None


@strawberry.type(description="The figures of one UTC day (a day nothing happened on is all zero).")
class AnalyticsDay:
    day: date = strawberry.field(name="date", description="The UTC day.")
    signups: int = strawberry.field(description="Accounts registered that day.")
    active_members: int = strawberry.field(
        description="Distinct members who acted that day: joined the queue, sent a message, "
        "reacted to or rated a match, or changed their profile (registering included)."
    )
    queue_joins: int = strawberry.field(
        description="Times a member joined the queue (joining while queued is not counted)."
    )
    matches: int = strawberry.field(description="Matches the matcher made that day.")
    matches_with_conversation: int = strawberry.field(
        description="Of that day's matches, those whose conversation was opened (whenever)."
    )
    match_conversation_rate: float | None = strawberry.field(
        description="matchesWithConversation / matches; null on a day without matches."
    )
    messages: int = strawberry.field(description="Messages members sent that day.")
    reports: int = strawberry.field(description="Reports members filed against others.")
    premium_conversions: int = strawberry.field(
        description="Members whose plan became PREMIUM from another plan (or none) that day."
    )

    @classmethod
    def from_row(cls, day: date, row: Any | None) -> AnalyticsDay:
        values = {figure.value: getattr(row, figure.value) if row else 0 for figure in Figure}
        return cls(
            day=day,
            match_conversation_rate=_rate(values["matches"], values["matches_with_conversation"]),
            **values,
        )


@strawberry.type(description="The figures summed over a report's days.")
class AnalyticsTotals:
    signups: int = strawberry.field(description="Accounts registered in the range.")
    active_members: int = strawberry.field(
        description="Distinct members who acted on at least one day of the range (not the "
        "sum of the days: a member active on three days counts once)."
    )
    queue_joins: int = strawberry.field(description="Queue joins in the range.")
    matches: int = strawberry.field(description="Matches made in the range.")
    matches_with_conversation: int = strawberry.field(
        description="Of the range's matches, those whose conversation was opened."
    )
    match_conversation_rate: float | None = strawberry.field(
        description="matchesWithConversation / matches; null without matches."
    )
    messages: int = strawberry.field(description="Messages sent in the range.")
    reports: int = strawberry.field(description="Reports filed in the range.")
    premium_conversions: int = strawberry.field(
        description="Conversions to PREMIUM in the range (a member may convert again after "
        "leaving it)."
    )

    @classmethod
    def of(cls, sums: dict[Figure, int], *, distinct_active: int) -> AnalyticsTotals:
        values = {figure.value: amount for figure, amount in sums.items()}
        values[Figure.ACTIVE_MEMBERS.value] = distinct_active
        return cls(
            match_conversation_rate=_rate(values["matches"], values["matches_with_conversation"]),
            **values,
        )


@strawberry.type(
    description="Daily figures from the event stream for a range of UTC days, with totals; "
    "staff only."
)
class AnalyticsReport:
    from_: date = strawberry.field(name="from", description="The first day (included).")
    to: date = strawberry.field(description="The last day (included).")
    days: list[AnalyticsDay] = strawberry.field(description="Every day of the range, oldest first.")
    totals: AnalyticsTotals = strawberry.field(description="The range's figures together.")
