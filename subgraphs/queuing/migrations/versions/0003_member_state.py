"""The platform's member-state read models: suspensions and entitlements
(kindred.member_state); pair exclusions get a version to order their events.

`suspensions` was a hook no event fed yet, so it is made anew in the platform's shape.

Revision ID: 0003
"""

import sqlalchemy as sa
from alembic import op

from kindred.member_state import create_member_state_tables

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.drop_table("suspensions")
    create_member_state_tables("suspensions", "entitlements")
    op.add_column(
        "pair_exclusions", sa.Column("version", sa.Integer, nullable=False, server_default="0")
    )


def downgrade() -> None:
    op.drop_column("pair_exclusions", "version")
    op.drop_table("entitlements")
    op.drop_table("suspensions")
    op.create_table(
        "suspensions",
        sa.Column("user_id", sa.Uuid, primary_key=True),
        sa.Column("until", sa.DateTime(timezone=True), nullable=True),
    )
