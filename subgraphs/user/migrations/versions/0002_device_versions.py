"""Devices get a version (orders their events) and are marked removed instead of deleted.

Revision ID: 0002
"""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("devices", sa.Column("version", sa.Integer, nullable=False, server_default="1"))
    op.add_column("devices", sa.Column("removed_at", sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    op.drop_column("devices", "removed_at")
    op.drop_column("devices", "version")
