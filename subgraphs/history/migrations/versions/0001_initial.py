"""The timeline entries, and the platform's outbox and inbox.

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
        "history_entries",
        sa.Column("member_id", sa.Uuid, primary_key=True),
        sa.Column("source_event_id", sa.Uuid, primary_key=True),
        sa.Column("source_topic", sa.String, nullable=False),
        sa.Column("kind", sa.String, nullable=False),
        sa.Column("subject", sa.String, nullable=False),
        _timestamp("occurred_at"),
        sa.Column("other_member_id", sa.Uuid, nullable=True),
        sa.Column("details", postgresql.JSONB, nullable=False, server_default="{}"),
        _timestamp("recorded_at"),
    )
    op.create_index(
        "ix_history_entries_subject",
        "history_entries",
        ["member_id", "kind", "subject"],
        unique=True,
    )
    op.create_index(
        "ix_history_entries_timeline",
        "history_entries",
        ["member_id", "occurred_at", "source_event_id"],
    )


def downgrade() -> None:
    op.drop_table("history_entries")
    drop_platform_tables()
