"""Members' subscriptions, the provider events already handled, and the platform's outbox
and inbox.

Revision ID: 0001
"""

from typing import Any

import sqlalchemy as sa
from alembic import op

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
        "subscriptions",
        sa.Column("user_id", sa.Uuid, primary_key=True),
        sa.Column("plan", sa.String, nullable=False),
        sa.Column("status", sa.String, nullable=False),
        sa.Column("provider_subscription_id", sa.String, nullable=True),
        sa.Column("provider_customer_id", sa.String, nullable=True),
        _timestamp("current_period_end", nullable=True),
        sa.Column("cancel_at_period_end", sa.Boolean, nullable=False, server_default=sa.false()),
        _timestamp("refunded_period_end", nullable=True),
        _timestamp("provider_updated_at", nullable=True),
        sa.Column("version", sa.Integer, nullable=False, server_default="0"),
        _timestamp("created_at"),
        _timestamp("updated_at"),
    )
    op.create_index(
        "ix_subscriptions_provider_subscription", "subscriptions", ["provider_subscription_id"]
    )
    op.create_index("ix_subscriptions_provider_customer", "subscriptions", ["provider_customer_id"])
    op.create_table(
        "provider_events",
        sa.Column("event_id", sa.String, primary_key=True),
        sa.Column("type", sa.String, nullable=False),
        _timestamp("created"),
        sa.Column("user_id", sa.Uuid, nullable=True),
        sa.Column("outcome", sa.String, nullable=False),
        _timestamp("received_at"),
    )


def downgrade() -> None:
    op.drop_table("provider_events")
    op.drop_table("subscriptions")
    drop_platform_tables()
