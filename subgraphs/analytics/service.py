"""What the analytics subgraph does: turn events into daily figures, exactly once, and read
them back for a range of days.

Every figure is counted on a UTC day. A handler runs in the consumer's unit of work with
the event's inbox row, so a redelivered event changes nothing; on top of that each figure
is keyed by the fact itself (a member, a match, a message, a report, a plan version), so
the same fact published twice under two event ids counts once too.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import UTC, date, datetime, timedelta
from enum import StrEnum
from typing import Any

from sqlalchemy import Row, delete, func, select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlmodel import col
from sqlmodel.ext.asyncio.session import AsyncSession

from kindred.db import Database
from kindred.errors import BadUserInput
from kindred.retention import INBOX_RETENTION
from subgraphs.analytics.models import (
    ActiveMember,
    CountedFact,
    DailyFigures,
    MatchOutcome,
    MemberState,
)

# The longest range one query may ask for, in days (a leap year).
MAX_RANGE_DAYS = 366
PREMIUM = "PREMIUM"


class Figure(StrEnum):
    """A daily figure: the name of its column in `daily_figures`."""

    SIGNUPS = "signups"
    ACTIVE_MEMBERS = "active_members"
    QUEUE_JOINS = "queue_joins"
    MATCHES = "matches"
    MATCHES_WITH_CONVERSATION = "matches_with_conversation"
    MESSAGES = "messages"
    REPORTS = "reports"
    PREMIUM_CONVERSIONS = "premium_conversions"


def day_of(moment: datetime) -> date:
    """The UTC day `moment` falls on (the one calendar every figure is counted in)."""
    return moment.astimezone(UTC).date()


async def _add(session: AsyncSession, *, day: date, figure: Figure) -> None:
    """Adds one to the day's `figure`."""
    column = DailyFigures.__table__.c[figure.value]  # type: ignore[attr-defined]
    await session.exec(
        insert(DailyFigures)
        .values(day=day, **{figure.value: 1})
        .on_conflict_do_update(index_elements=["day"], set_={figure.value: column + 1})
    )


async def count_fact(session: AsyncSession, *, figure: Figure, key: str, day: date) -> bool:
    """Counts the fact `key` once in `figure` on `day`; False if it was counted before."""
    inserted = await session.exec(
        insert(CountedFact)
        .values(figure=figure.value, key=key, day=day)
        .on_conflict_do_nothing()
        .returning(col(CountedFact.key))
    )
    if inserted.first() is None:
        return False
    await _add(session, day=day, figure=figure)
    return True


async def mark_active(session: AsyncSession, *, user_id: uuid.UUID, day: date) -> bool:
    """Puts the member in the day's set of active members; False if already in it."""
    inserted = await session.exec(
        insert(ActiveMember)
        .values(day=day, user_id=user_id)
        .on_conflict_do_nothing()
        .returning(col(ActiveMember.user_id))
    )
    if inserted.first() is None:
        return False
    await _add(session, day=day, figure=Figure.ACTIVE_MEMBERS)
    return True


async def profile_updated(
    session: AsyncSession, *, user_id: uuid.UUID, version: int, day: date
) -> None:
    """A profile at `version`, if newer than any seen (a republished profile counts for
    nothing): the member's activity on `day`, and at version 1 their signup."""
    newer = await session.exec(
        insert(MemberState)
        .values(user_id=user_id, profile_version=version)
        .on_conflict_do_update(
            index_elements=["user_id"],
            set_={"profile_version": version},
            where=col(MemberState.profile_version) < version,
        )
        .returning(col(MemberState.user_id))
    )
    if newer.first() is None:
        return
    if version == 1:
        await _add(session, day=day, figure=Figure.SIGNUPS)
    await mark_active(session, user_id=user_id, day=day)


async def match_created(session: AsyncSession, *, match_id: uuid.UUID, day: date) -> None:
    """Counts a match on its day (once per match), and its conversation if that came first."""
    statement = (
        insert(MatchOutcome)
        .values(match_id=match_id, matched_on=day)
        .on_conflict_do_update(
            index_elements=["match_id"],
            set_={"matched_on": day},
            where=col(MatchOutcome.matched_on).is_(None),
        )
        .returning(col(MatchOutcome.conversation))
    )
    row = (await session.exec(statement)).first()
    if row is None:
        return
    await _add(session, day=day, figure=Figure.MATCHES)
    if row.conversation:
        await _add(session, day=day, figure=Figure.MATCHES_WITH_CONVERSATION)


async def conversation_created(session: AsyncSession, *, match_id: uuid.UUID) -> None:
    """Counts the match's conversation (once) on the day of the match; if the match is not
    known yet, it is counted when the match arrives."""
    statement = (
        insert(MatchOutcome)
        .values(match_id=match_id, conversation=True)
        .on_conflict_do_update(
            index_elements=["match_id"],
            set_={"conversation": True},
            where=col(MatchOutcome.conversation).is_(False),
        )
        .returning(col(MatchOutcome.matched_on))
    )
    row = (await session.exec(statement)).first()
    if row is not None and row.matched_on is not None:
        await _add(session, day=row.matched_on, figure=Figure.MATCHES_WITH_CONVERSATION)


async def plan_changed(
    session: AsyncSession, *, user_id: uuid.UUID, plan: str, version: int, day: date
) -> bool:
    """Records the member's plan at `version` (older or repeated news changes nothing);
    True if it is a conversion (to PREMIUM from any other plan, or none), counted on `day`."""
    await session.exec(insert(MemberState).values(user_id=user_id).on_conflict_do_nothing())
    state = (
        await session.exec(
            select(MemberState)  # type: ignore[call-overload]
            .where(col(MemberState.user_id) == user_id)
            .with_for_update()
        )
    ).scalar_one()
    if version <= state.plan_version:
        return False
    converted = plan == PREMIUM and state.plan != PREMIUM
    state.plan, state.plan_version = plan, version
    session.add(state)
    if converted:
        await _add(session, day=day, figure=Figure.PREMIUM_CONVERSIONS)
    return converted


async def forget_counted(database: Database, *, now: datetime | None = None) -> int:
    """Deletes the keys kept against duplicates (counted facts, match outcomes) of days past
    the inbox's retention: no copy of those facts can come any more. Returns how many."""
    before = day_of(now or datetime.now(UTC)) - INBOX_RETENTION
    async with database.session() as session, session.begin():
        facts = await session.exec(
            delete(CountedFact).where(col(CountedFact.day) < before).returning(col(CountedFact.key))
        )
        matches = await session.exec(
            delete(MatchOutcome)
            .where(col(MatchOutcome.matched_on) < before)
            .returning(col(MatchOutcome.match_id))
        )
        return len(facts.all()) + len(matches.all())


# -- reading ---------------------------------------------------------------------------


def check_range(start: date, end: date) -> None:
    """`BAD_USER_INPUT` (field `to`) unless `start` ≤ `end` within `MAX_RANGE_DAYS` days."""
    if end < start:
        raise BadUserInput("`to` is before `from`.", field="to")
    if (end - start).days + 1 > MAX_RANGE_DAYS:
        raise BadUserInput(
            f"A range may span at most {MAX_RANGE_DAYS} days.", field="to", max=MAX_RANGE_DAYS
        )


def days_between(start: date, end: date) -> list[date]:
    """Every day from `start` to `end`, both included."""
    return [start + timedelta(days=offset) for offset in range((end - start).days + 1)]


async def figures_between(conn: AsyncConnection, *, start: date, end: date) -> dict[date, Row[Any]]:
    """The stored days' figures from `start` to `end` (days without a row are all zero)."""
    statement = select(DailyFigures.__table__).where(  # type: ignore[attr-defined]
        col(DailyFigures.day).between(start, end)
    )
    return {row.day: row for row in (await conn.execute(statement)).all()}


async def distinct_active_between(conn: AsyncConnection, *, start: date, end: date) -> int:
    """How many members acted on at least one day from `start` to `end`, from the day sets."""
    statement = select(func.count(func.distinct(col(ActiveMember.user_id)))).where(
        col(ActiveMember.day).between(start, end)
    )
    return int((await conn.execute(statement)).scalar_one())


def sum_figures(rows: Sequence[Row[Any]]) -> dict[Figure, int]:
    """Each figure summed over `rows`."""
    return {figure: sum(getattr(row, figure.value) for row in rows) for figure in Figure}
