"""Profile copies, queue entries, and the platform's outbox and inbox.

Revision ID: 0001
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

from kindred.platform_tables import create_platform_tables, drop_platform_tables

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    create_platform_tables()
    op.create_table(
        "profile_copies",
        sa.Column("user_id", sa.Uuid, primary_key=True),
        sa.Column("birthdate", sa.Date, nullable=False),
        sa.Column("gender", sa.String, nullable=False),
        sa.Column("latitude", sa.Float, nullable=True),
        sa.Column("longitude", sa.Float, nullable=True),
        sa.Column("interests", postgresql.ARRAY(sa.String), nullable=False),
        sa.Column("languages", postgresql.ARRAY(sa.String), nullable=False),
        sa.Column("deleted", sa.Boolean, nullable=False, server_default=sa.false()),
        sa.Column("synced_version", sa.Integer, nullable=False),
        sa.Column("synced_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_table(
        "queue_entries",
        sa.Column("user_id", sa.Uuid, primary_key=True),
        sa.Column("joined_at", sa.DateTime(timezone=True), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("queue_entries")
    op.drop_table("profile_copies")
    drop_platform_tables()
