"""Members (a read model of the user subgraph's events), cases, reports, screening flags,
actions, standings, appeals, and the platform's outbox and inbox.

Revision ID: 0001
"""

from typing import Any

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

from kindred.platform_tables import create_platform_tables, drop_platform_tables

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def _timestamp(name: str, *, nullable: bool = False) -> Any:
    return sa.Column(name, sa.DateTime(timezone=True), nullable=nullable)


def upgrade() -> None:
    create_platform_tables()
    op.create_table(
        "members",
        sa.Column("user_id", sa.Uuid, primary_key=True),
        sa.Column("version", sa.Integer, nullable=False),
        sa.Column("deleted", sa.Boolean, nullable=False),
        _timestamp("updated_at"),
    )
    op.create_table(
        "cases",
        sa.Column("id", sa.Uuid, primary_key=True),
        sa.Column("user_id", sa.Uuid, nullable=False),
        sa.Column("status", sa.String, nullable=False),
        sa.Column("version", sa.Integer, nullable=False),
        _timestamp("opened_at"),
        _timestamp("updated_at"),
        _timestamp("closed_at", nullable=True),
    )
    op.create_index(
        "ix_cases_one_open",
        "cases",
        ["user_id"],
        unique=True,
        postgresql_where=sa.text("status IN ('OPEN', 'IN_REVIEW')"),
    )
    op.create_index("ix_cases_by_status", "cases", ["status", "opened_at", "id"])
    op.create_table(
        "reports",
        sa.Column("id", sa.Uuid, primary_key=True),
        sa.Column("case_id", sa.Uuid, nullable=False),
        sa.Column("reporter_id", sa.Uuid, nullable=False),
        sa.Column("reported_user_id", sa.Uuid, nullable=False),
        sa.Column("reason", sa.String, nullable=False),
        sa.Column("details", sa.String, nullable=True),
        sa.Column("conversation_id", sa.Uuid, nullable=True),
        sa.Column("message_id", sa.Uuid, nullable=True),
        _timestamp("created_at"),
    )
    op.create_index("ix_reports_by_reporter", "reports", ["reporter_id", "created_at", "id"])
    op.create_index("ix_reports_by_case", "reports", ["case_id", "created_at"])
    op.create_table(
        "flags",
        sa.Column("id", sa.Uuid, primary_key=True),
        sa.Column("case_id", sa.Uuid, nullable=False),
        sa.Column("user_id", sa.Uuid, nullable=False),
        sa.Column("source", sa.String, nullable=False),
        sa.Column("source_key", sa.String, nullable=False),
        sa.Column("terms", postgresql.ARRAY(sa.String), nullable=False),
        sa.Column("text", sa.String, nullable=False),
        sa.Column("conversation_id", sa.Uuid, nullable=True),
        sa.Column("message_id", sa.Uuid, nullable=True),
        _timestamp("created_at"),
    )
    op.create_index("ix_flags_once", "flags", ["source", "source_key"], unique=True)
    op.create_index("ix_flags_by_case", "flags", ["case_id", "created_at"])
    op.create_table(
        "actions",
        sa.Column("id", sa.Uuid, primary_key=True),
        sa.Column("case_id", sa.Uuid, nullable=False),
        sa.Column("user_id", sa.Uuid, nullable=False),
        sa.Column("kind", sa.String, nullable=False),
        _timestamp("until", nullable=True),
        sa.Column("reason", sa.String, nullable=False),
        sa.Column("moderator_id", sa.Uuid, nullable=False),
        _timestamp("created_at"),
        _timestamp("overturned_at", nullable=True),
    )
    op.create_index("ix_actions_by_member", "actions", ["user_id", "created_at", "id"])
    op.create_table(
        "standings",
        sa.Column("user_id", sa.Uuid, primary_key=True),
        sa.Column("status", sa.String, nullable=False),
        _timestamp("until", nullable=True),
        sa.Column("reason", sa.String, nullable=True),
        sa.Column("action_id", sa.Uuid, nullable=True),
        sa.Column("case_id", sa.Uuid, nullable=True),
        sa.Column("version", sa.Integer, nullable=False),
        _timestamp("updated_at"),
    )
    op.create_index(
        "ix_standings_ending",
        "standings",
        ["until"],
        postgresql_where=sa.text("status = 'SUSPENDED'"),
    )
    op.create_table(
        "appeals",
        sa.Column("id", sa.Uuid, primary_key=True),
        sa.Column("action_id", sa.Uuid, nullable=False),
        sa.Column("user_id", sa.Uuid, nullable=False),
        sa.Column("text", sa.String, nullable=False),
        sa.Column("status", sa.String, nullable=False),
        _timestamp("created_at"),
        _timestamp("decided_at", nullable=True),
        sa.Column("decided_by", sa.Uuid, nullable=True),
    )
    op.create_index("ix_appeals_once", "appeals", ["action_id"], unique=True)
    op.create_index("ix_appeals_by_status", "appeals", ["status", "created_at", "id"])


def downgrade() -> None:
    for table in ("appeals", "standings", "actions", "flags", "reports", "cases", "members"):
        op.drop_table(table)
    drop_platform_tables()
