"""The moderation subgraph's tables.

They live on their own SQLModel registry, apart from other subgraphs' models that the
tests import into the same process.
"""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import Column, Index, String, text
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.orm import registry
from sqlmodel import Field, SQLModel

import kindred.columns as columns


class ModerationTable(SQLModel, registry=registry()):
    """Base of this subgraph's tables: a metadata of their own."""


class Member(ModerationTable, table=True):
    """Who is a member, as the user subgraph's events say: a read model fed by
    `user.profile.updated` and `user.deleted`, applied in `version` order (the account's
    version), so older news never revives a deleted member. Only members can be reported:
    a case about anyone else would name a user nobody can resolve.
    """

    __tablename__ = "members"

    user_id: uuid.UUID = Field(primary_key=True)
    version: int
    deleted: bool = False
    updated_at: datetime = columns.timestamp()


class Case(ModerationTable, table=True):
    """Everything open about one member: reports and screening hits gather here.

    OPEN → IN_REVIEW → ACTIONED or DISMISSED (`subgraphs/moderation/cases.py`). A member
    has at most one case that is not closed (a partial unique index), so new reports and
    hits join it. `version` grows with every change (the order of its events).
    """

    __tablename__ = "cases"
    __table_args__ = (
        Index(
            "ix_cases_one_open",
            "user_id",
            unique=True,
            postgresql_where=text("status IN ('OPEN', 'IN_REVIEW')"),
        ),
        Index("ix_cases_by_status", "status", "opened_at", "id"),
    )

    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    user_id: uuid.UUID
    status: str = "OPEN"
    version: int = 1
    opened_at: datetime = columns.timestamp()
    updated_at: datetime = columns.timestamp()
    closed_at: datetime | None = columns.timestamp(nullable=True)


class Report(ModerationTable, table=True):
    """One member's report of another, filed into the reported member's case."""

    __tablename__ = "reports"
    __table_args__ = (
        Index("ix_reports_by_reporter", "reporter_id", "created_at", "id"),
        Index("ix_reports_by_case", "case_id", "created_at"),
    )

    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    case_id: uuid.UUID
    reporter_id: uuid.UUID
    reported_user_id: uuid.UUID
    reason: str
    details: str | None = None
    conversation_id: uuid.UUID | None = None
    message_id: uuid.UUID | None = None
    created_at: datetime = columns.timestamp()


class Flag(ModerationTable, table=True):
    """Automatic screening found screened terms in a member's text: the evidence.

    `source_key` (the message id, or the member and a hash of the bio) makes a repeated
    event raise nothing new.
    """

    __tablename__ = "flags"
    __table_args__ = (
        Index("ix_flags_once", "source", "source_key", unique=True),
        Index("ix_flags_by_case", "case_id", "created_at"),
    )

    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    case_id: uuid.UUID
    user_id: uuid.UUID
    source: str
    source_key: str
    terms: list[str] = Field(sa_column=Column(ARRAY(String), nullable=False))
    text: str
    conversation_id: uuid.UUID | None = None
    message_id: uuid.UUID | None = None
    created_at: datetime = columns.timestamp()


class Action(ModerationTable, table=True):
    """What a moderator decided on a case: WARN, SUSPEND (until), BAN or DISMISS."""

    __tablename__ = "actions"
    __table_args__ = (
        Index("ix_actions_by_member", "user_id", "created_at", "id"),
        Index(
            "ux_actions_request_key",
            "request_key",
            unique=True,
            postgresql_where=text("request_key IS NOT NULL"),
        ),
    )

    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    case_id: uuid.UUID
    user_id: uuid.UUID
    kind: str
    until: datetime | None = columns.timestamp(nullable=True)
    reason: str
    moderator_id: uuid.UUID
    created_at: datetime = columns.timestamp()
    overturned_at: datetime | None = columns.timestamp(nullable=True)
    # The admin subgraph's key for a staff request (`imposeSuspension`): once per key.
    request_key: str | None = None


class Standing(ModerationTable, table=True):
    """A member's standing: suspended until `until` (null with BANNED: indefinitely).

    `version` grows with every suspend, ban and reinstatement: it is the
    `aggregate_version` of `user.suspended` / `user.reinstated`, so every read model
    applies them in order. `action_id` is the action in force.
    """

    __tablename__ = "standings"
    __table_args__ = (
        Index("ix_standings_ending", "until", postgresql_where=text("status = 'SUSPENDED'")),
    )

    user_id: uuid.UUID = Field(primary_key=True)
    status: str = "ACTIVE"
    until: datetime | None = columns.timestamp(nullable=True)
    reason: str | None = None
    action_id: uuid.UUID | None = None
    case_id: uuid.UUID | None = None
    version: int = 0
    updated_at: datetime = columns.timestamp()


class Appeal(ModerationTable, table=True):
    """The member's one appeal of an action (unique per action), PENDING until decided."""

    __tablename__ = "appeals"
    __table_args__ = (
        Index("ix_appeals_once", "action_id", unique=True),
        Index("ix_appeals_by_status", "status", "created_at", "id"),
    )

    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    action_id: uuid.UUID
    user_id: uuid.UUID
    text: str
    status: str = "PENDING"
    created_at: datetime = columns.timestamp()
    decided_at: datetime | None = columns.timestamp(nullable=True)
    decided_by: uuid.UUID | None = None
