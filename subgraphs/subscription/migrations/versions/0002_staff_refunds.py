"""Refunds staff record (the admin subgraph's `refundSubscription`), once per request key.

Revision ID: 0002
"""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "staff_refunds",
        sa.Column("id", sa.Uuid, primary_key=True),
        sa.Column("user_id", sa.Uuid, nullable=False),
        sa.Column("staff_id", sa.Uuid, nullable=False),
        sa.Column("request_key", sa.String, nullable=False, unique=True),
        sa.Column("reason", sa.String, nullable=False),
        sa.Column("refunded_period_end", sa.DateTime(timezone=True), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_staff_refunds_user", "staff_refunds", ["user_id", "created_at"])


def downgrade() -> None:
    op.drop_table("staff_refunds")
