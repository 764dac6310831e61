"""Blocks and suspensions in the platform's member-state shape (kindred.member_state).

Both were hooks no event fed yet, so they are made anew.

Revision ID: 0002
"""

import sqlalchemy as sa
from alembic import op

from kindred.member_state import create_member_state_tables

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.drop_table("suspensions")
    op.drop_table("blocks")
    create_member_state_tables("blocks", "suspensions")


def downgrade() -> None:
    op.drop_table("suspensions")
    op.drop_table("blocks")
    op.create_table(
        "blocks",
        sa.Column("user_id", sa.Uuid, primary_key=True),
        sa.Column("blocked_user_id", sa.Uuid, primary_key=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_table(
        "suspensions",
        sa.Column("user_id", sa.Uuid, primary_key=True),
        sa.Column("until", sa.DateTime(timezone=True), nullable=True),
    )
