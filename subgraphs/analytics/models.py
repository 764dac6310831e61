"""The analytics subgraph's tables: daily figures, and only what exact counting needs.

No event is kept. Besides the figures there are the keys that make a count exact: the
members active on each day (a distinct count), the facts already counted (so a fact
published twice counts once), each match's day and whether it got a conversation, and each
member's latest profile version and plan (so a replayed profile is no activity, and a
conversion is a change of plan). They live on their own SQLModel registry, as the other
subgraphs' do.
"""

from __future__ import annotations

import uuid
from datetime import date

from sqlalchemy.orm import registry
from sqlmodel import Field, SQLModel


class AnalyticsTable(SQLModel, registry=registry()):
    """Base of this subgraph's tables: a metadata of their own."""


class DailyFigures(AnalyticsTable, table=True):
    """One UTC day's figures; a day nothing happened on has no row (all zero)."""

    __tablename__ = "daily_figures"

    day: date = Field(primary_key=True)
    signups: int = 0
    active_members: int = 0
    queue_joins: int = 0
    matches: int = 0
    matches_with_conversation: int = 0
    messages: int = 0
    reports: int = 0
    premium_conversions: int = 0


class ActiveMember(AnalyticsTable, table=True):
    """A member who acted on `day`: the day's set, so its count is exact and repeatable."""

    __tablename__ = "active_members"

    day: date = Field(primary_key=True)
    user_id: uuid.UUID = Field(primary_key=True)


class CountedFact(AnalyticsTable, table=True):
    """A fact already counted (a join, a message, a report) by its own identity, so the
    same fact in a second event with another id counts once; kept as long as the inbox."""

    __tablename__ = "counted_facts"

    figure: str = Field(primary_key=True)
    key: str = Field(primary_key=True)
    day: date


class MatchOutcome(AnalyticsTable, table=True):
    """A match's day and whether it got its conversation; either event may come first.
    Kept as long as the inbox."""

    __tablename__ = "match_outcomes"

    match_id: uuid.UUID = Field(primary_key=True)
    matched_on: date | None = None
    conversation: bool = False


class MemberState(AnalyticsTable, table=True):
    """A member's latest profile version and plan as the events told them, version-ordered."""

    __tablename__ = "member_states"

    user_id: uuid.UUID = Field(primary_key=True)
    profile_version: int = 0
    plan: str | None = None
    plan_version: int = 0
