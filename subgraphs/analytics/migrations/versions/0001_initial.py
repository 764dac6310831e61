"""Daily figures, the keys exact counting needs (active members per day, counted facts,
match outcomes, member states), and the platform's outbox and inbox.

Revision ID: 0001
"""

import sqlalchemy as sa
from alembic import op

from kindred.platform_tables import create_platform_tables, drop_platform_tables

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

FIGURES = (
    "signups",
    "active_members",
    "queue_joins",
    "matches",
    "matches_with_conversation",
    "messages",
    "reports",
    "premium_conversions",
)


def upgrade() -> None:
    create_platform_tables()
    op.create_table(
        "daily_figures",
        sa.Column("day", sa.Date, primary_key=True),
        *(sa.Column(name, sa.Integer, nullable=False, server_default="0") for name in FIGURES),
    )
    op.create_table(
        "active_members",
        sa.Column("day", sa.Date, primary_key=True),
        sa.Column("user_id", sa.Uuid, primary_key=True),
    )
    op.create_table(
        "counted_facts",
        sa.Column("figure", sa.String, primary_key=True),
        sa.Column("key", sa.String, primary_key=True),
        sa.Column("day", sa.Date, nullable=False),
    )
    op.create_table(
        "match_outcomes",
        sa.Column("match_id", sa.Uuid, primary_key=True),
        sa.Column("matched_on", sa.Date, nullable=True),
        sa.Column("conversation", sa.Boolean, nullable=False, server_default=sa.false()),
    )
    op.create_table(
        "member_states",
        sa.Column("user_id", sa.Uuid, primary_key=True),
        sa.Column("profile_version", sa.Integer, nullable=False, server_default="0"),
        sa.Column("plan", sa.String, nullable=True),
        sa.Column("plan_version", sa.Integer, nullable=False, server_default="0"),
    )


def downgrade() -> None:
    for table in (
        "member_states",
        "match_outcomes",
        "counted_facts",
        "active_members",
        "daily_figures",
    ):
        op.drop_table(table)
    drop_platform_tables()
