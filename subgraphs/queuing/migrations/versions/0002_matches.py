"""Preferences in profile copies; matches with their saga state; the matcher's hook tables.

Revision ID: 0002
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column(
        "profile_copies", sa.Column("min_age", sa.Integer, nullable=False, server_default="18")
    )
    op.add_column(
        "profile_copies", sa.Column("max_age", sa.Integer, nullable=False, server_default="99")
    )
    op.add_column(
        "profile_copies",
        sa.Column(
            "genders_sought", postgresql.ARRAY(sa.String), nullable=False, server_default="{}"
        ),
    )
    op.add_column(
        "profile_copies",
        sa.Column("max_distance_km", sa.Integer, nullable=False, server_default="50"),
    )
    op.create_table(
        "matches",
        sa.Column("id", sa.Uuid, primary_key=True),
        sa.Column("user_ids", postgresql.ARRAY(sa.Uuid), nullable=False),
        sa.Column("score", sa.Float, nullable=False),
        sa.Column("distance_km", sa.Float, nullable=False),
        sa.Column("status", sa.String, nullable=False),
        sa.Column("conversation_id", sa.Uuid, nullable=True),
        sa.Column("notified_user_ids", postgresql.ARRAY(sa.String), nullable=False),
        sa.Column("attempts", sa.Integer, nullable=False),
        sa.Column("next_attempt_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("cancel_reason", sa.String, nullable=True),
        sa.Column("version", sa.Integer, nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    )
    # The saga runner's work list: only unfinished sagas are indexed.
    op.create_index(
        "ix_matches_pending",
        "matches",
        ["next_attempt_at"],
        postgresql_where=sa.text("status = 'PENDING'"),
    )
    op.create_table(
        "match_participants",
        sa.Column("match_id", sa.Uuid, primary_key=True),
        sa.Column("user_id", sa.Uuid, primary_key=True),
        sa.Column("open", sa.Boolean, nullable=False),
        sa.Column("queued_since", sa.DateTime(timezone=True), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index(
        "ix_match_participants_one_open",
        "match_participants",
        ["user_id"],
        unique=True,
        postgresql_where=sa.text("open"),
    )
    op.create_index(
        "ix_match_participants_newest",
        "match_participants",
        ["user_id", "created_at", "match_id"],
    )
    op.create_table(
        "pair_exclusions",
        sa.Column("user_id", sa.Uuid, primary_key=True),
        sa.Column("other_user_id", sa.Uuid, primary_key=True),
        sa.Column("reason", sa.String, primary_key=True),
        sa.Column("until", sa.DateTime(timezone=True), nullable=True),
    )
    op.create_table(
        "suspensions",
        sa.Column("user_id", sa.Uuid, primary_key=True),
        sa.Column("until", sa.DateTime(timezone=True), nullable=True),
    )


def downgrade() -> None:
    op.drop_table("suspensions")
    op.drop_table("pair_exclusions")
    op.drop_table("match_participants")
    op.drop_table("matches")
    for name in ("max_distance_km", "genders_sought", "max_age", "min_age"):
        op.drop_column("profile_copies", name)
