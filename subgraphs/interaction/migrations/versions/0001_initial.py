"""Matches (read model), relations, connections, ratings, the entitlements read model
(kindred.member_state), and the platform's outbox and inbox.

Revision ID: 0001
"""

from typing import Any

import sqlalchemy as sa
from alembic import op

from kindred.member_state import create_member_state_tables
from kindred.platform_tables import create_platform_tables, drop_platform_tables

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def _timestamp(name: str, *, nullable: bool = False) -> Any:
    return sa.Column(name, sa.DateTime(timezone=True), nullable=nullable)


def upgrade() -> None:
    create_platform_tables()
    create_member_state_tables("entitlements")
    op.create_table(
        "matches",
        sa.Column("match_id", sa.Uuid, primary_key=True),
        sa.Column("user_a", sa.Uuid, nullable=False),
        sa.Column("user_b", sa.Uuid, nullable=False),
        _timestamp("matched_at"),
    )
    op.create_index("ix_matches_pair", "matches", ["user_a", "user_b", "matched_at"])
    op.create_table(
        "relations",
        sa.Column("actor_id", sa.Uuid, primary_key=True),
        sa.Column("target_id", sa.Uuid, primary_key=True),
        sa.Column("reaction", sa.String, nullable=True),
        _timestamp("reacted_at", nullable=True),
        _timestamp("pass_until", nullable=True),
        sa.Column("blocked", sa.Boolean, nullable=False, server_default=sa.false()),
        _timestamp("blocked_at", nullable=True),
        sa.Column("match_id", sa.Uuid, nullable=True),
        sa.Column("version", sa.Integer, nullable=False, server_default="0"),
        _timestamp("updated_at"),
    )
    op.create_index(
        "ix_relations_liked_by",
        "relations",
        ["target_id", "reacted_at", "actor_id"],
        postgresql_where=sa.text("reaction = 'LIKE'"),
    )
    op.create_index(
        "ix_relations_blocked",
        "relations",
        ["actor_id", "blocked_at"],
        postgresql_where=sa.text("blocked"),
    )
    op.create_table(
        "connections",
        sa.Column("id", sa.Uuid, primary_key=True),
        sa.Column("user_a", sa.Uuid, nullable=False),
        sa.Column("user_b", sa.Uuid, nullable=False),
        sa.Column("match_id", sa.Uuid, nullable=True),
        sa.Column("status", sa.String, nullable=False),
        sa.Column("version", sa.Integer, nullable=False, server_default="1"),
        _timestamp("connected_at"),
        _timestamp("ended_at", nullable=True),
        sa.CheckConstraint("user_a < user_b", name="ck_connections_ordered"),
    )
    op.create_index("ix_connections_pair", "connections", ["user_a", "user_b"], unique=True)
    op.create_index("ix_connections_b", "connections", ["user_b"])
    op.create_table(
        "ratings",
        sa.Column("match_id", sa.Uuid, primary_key=True),
        sa.Column("rater_id", sa.Uuid, primary_key=True),
        sa.Column("target_id", sa.Uuid, nullable=False),
        sa.Column("rating", sa.SmallInteger, nullable=False),
        sa.Column("comment", sa.String, nullable=True),
        _timestamp("rated_at"),
        sa.CheckConstraint("rating BETWEEN 1 AND 5", name="ck_ratings_range"),
    )


def downgrade() -> None:
    for table in ("ratings", "connections", "relations", "matches", "entitlements"):
        op.drop_table(table)
    drop_platform_tables()
