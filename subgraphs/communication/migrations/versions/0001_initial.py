"""Conversations, members with read receipts, messages, cancelled matches, blocks, suspensions.

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
        "conversations",
        sa.Column("id", sa.Uuid, primary_key=True),
        sa.Column("match_id", sa.Uuid, nullable=True, unique=True),
        sa.Column("participant_ids", postgresql.ARRAY(sa.Uuid), nullable=False),
        sa.Column("status", sa.String, nullable=False),
        sa.Column("last_seq", sa.Integer, nullable=False, server_default="0"),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_activity_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("closed_at", sa.DateTime(timezone=True), nullable=True),
    )
    op.create_table(
        "conversation_members",
        sa.Column("conversation_id", sa.Uuid, primary_key=True),
        sa.Column("user_id", sa.Uuid, primary_key=True),
        sa.Column("last_read_seq", sa.Integer, nullable=False, server_default="0"),
        sa.Column("last_read_message_id", sa.Uuid, nullable=True),
        sa.Column("last_read_at", sa.DateTime(timezone=True), nullable=True),
    )
    op.create_index("ix_conversation_members_user", "conversation_members", ["user_id"])
    op.create_table(
        "messages",
        sa.Column("id", sa.Uuid, primary_key=True),
        sa.Column("conversation_id", sa.Uuid, nullable=False),
        sa.Column("seq", sa.Integer, nullable=False),
        sa.Column("sender_id", sa.Uuid, nullable=True),
        sa.Column("kind", sa.String, nullable=False),
        sa.Column("text", sa.String, nullable=False),
        sa.Column("client_message_id", sa.String, nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_messages_seq", "messages", ["conversation_id", "seq"], unique=True)
    op.create_index("ix_messages_newest", "messages", ["conversation_id", "created_at", "id"])
    op.create_index(
        "ix_messages_client_id",
        "messages",
        ["conversation_id", "sender_id", "client_message_id"],
        unique=True,
        postgresql_where=sa.text("client_message_id IS NOT NULL"),
    )
    op.create_table(
        "cancelled_matches",
        sa.Column("match_id", sa.Uuid, primary_key=True),
        sa.Column("reason", sa.String, nullable=True),
        sa.Column("cancelled_at", sa.DateTime(timezone=True), nullable=False),
    )
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


def downgrade() -> None:
    for table in (
        "suspensions",
        "blocks",
        "cancelled_matches",
        "messages",
        "conversation_members",
        "conversations",
    ):
        op.drop_table(table)
    drop_platform_tables()
