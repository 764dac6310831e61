"""Notifications, cancelled matches, the device read model, deliveries and their attempts,
and the platform's outbox and inbox.

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
        "notifications",
        sa.Column("id", sa.Uuid, primary_key=True),
        sa.Column("user_id", sa.Uuid, nullable=False),
        sa.Column("type", sa.String, nullable=False),
        sa.Column("title", sa.String, nullable=False),
        sa.Column("body", sa.String, nullable=False),
        sa.Column("data", postgresql.JSONB, nullable=False),
        sa.Column("match_id", sa.Uuid, nullable=True),
        sa.Column("message_id", sa.Uuid, nullable=True),
        _timestamp("read_at", nullable=True),
        _timestamp("created_at"),
    )
    op.create_index("ix_notifications_newest", "notifications", ["user_id", "created_at", "id"])
    op.create_index(
        "ix_notifications_unread",
        "notifications",
        ["user_id"],
        postgresql_where=sa.text("read_at IS NULL"),
    )
    op.create_index(
        "ix_notifications_per_match",
        "notifications",
        ["match_id", "user_id", "type"],
        unique=True,
        postgresql_where=sa.text("match_id IS NOT NULL"),
    )
    op.create_index(
        "ix_notifications_per_message",
        "notifications",
        ["message_id", "user_id"],
        unique=True,
        postgresql_where=sa.text("message_id IS NOT NULL"),
    )
    op.create_table(
        "cancelled_matches",
        sa.Column("match_id", sa.Uuid, primary_key=True),
        _timestamp("cancelled_at"),
    )
    op.create_table(
        "devices",
        sa.Column("token", sa.String, primary_key=True),
        sa.Column("device_id", sa.Uuid, nullable=False),
        sa.Column("user_id", sa.Uuid, nullable=False),
        sa.Column("platform", sa.String, nullable=False),
        sa.Column("version", sa.Integer, nullable=False),
        sa.Column("removed", sa.Boolean, nullable=False, server_default=sa.false()),
        _timestamp("updated_at"),
    )
    op.create_index("ix_devices_user", "devices", ["user_id"])
    op.create_table(
        "deliveries",
        sa.Column("id", sa.Uuid, primary_key=True),
        sa.Column("notification_id", sa.Uuid, nullable=False),
        sa.Column("user_id", sa.Uuid, nullable=False),
        sa.Column("token", sa.String, nullable=False),
        sa.Column("status", sa.String, nullable=False),
        sa.Column("attempts", sa.Integer, nullable=False, server_default="0"),
        _timestamp("next_attempt_at"),
        sa.Column("last_error", sa.String, nullable=True),
        _timestamp("created_at"),
        _timestamp("updated_at"),
    )
    op.create_index("ix_deliveries_once", "deliveries", ["notification_id", "token"], unique=True)
    op.create_index(
        "ix_deliveries_due",
        "deliveries",
        ["next_attempt_at"],
        postgresql_where=sa.text("status = 'PENDING'"),
    )
    op.create_table(
        "delivery_attempts",
        sa.Column("id", sa.BigInteger, sa.Identity(), primary_key=True),
        sa.Column("delivery_id", sa.Uuid, nullable=False),
        _timestamp("attempted_at"),
        sa.Column("outcome", sa.String, nullable=False),
        sa.Column("http_status", sa.Integer, nullable=True),
        sa.Column("error_code", sa.String, nullable=True),
        sa.Column("error", sa.String, nullable=True),
    )
    op.create_index(
        "ix_delivery_attempts_delivery", "delivery_attempts", ["delivery_id", "attempted_at"]
    )


def downgrade() -> None:
    for table in ("delivery_attempts", "deliveries", "devices", "cancelled_matches"):
        op.drop_table(table)
    op.drop_table("notifications")
    drop_platform_tables()
