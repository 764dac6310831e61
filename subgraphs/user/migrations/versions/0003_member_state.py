"""Blocks and suspensions (kindred.member_state): `user(id)` hides blockers, sign-in
refuses banned members.

Revision ID: 0003
"""

from alembic import op

from kindred.member_state import create_member_state_tables

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    create_member_state_tables("blocks", "suspensions")


def downgrade() -> None:
    op.drop_table("suspensions")
    op.drop_table("blocks")
