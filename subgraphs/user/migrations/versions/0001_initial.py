"""Accounts, refresh tokens, devices, and the platform's outbox and inbox.

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


def _text_array() -> postgresql.ARRAY[str]:
    return postgresql.ARRAY(sa.String)


def upgrade() -> None:
    create_platform_tables()
    op.create_table(
        "accounts",
        sa.Column("id", sa.Uuid, primary_key=True),
        sa.Column("email", sa.String, nullable=False, unique=True),
        sa.Column("password_hash", sa.String, nullable=False),
        sa.Column("display_name", sa.String, nullable=False),
        sa.Column("birthdate", sa.Date, nullable=False),
        sa.Column("gender", sa.String, nullable=False),
        sa.Column("bio", sa.String, nullable=True),
        sa.Column("latitude", sa.Float, nullable=True),
        sa.Column("longitude", sa.Float, nullable=True),
        sa.Column("interests", _text_array(), nullable=False),
        sa.Column("languages", _text_array(), nullable=False),
        sa.Column("min_age", sa.Integer, nullable=False),
        sa.Column("max_age", sa.Integer, nullable=False),
        sa.Column("genders_sought", _text_array(), nullable=False),
        sa.Column("max_distance_km", sa.Integer, nullable=False),
        sa.Column("version", sa.Integer, nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("deleted_at", sa.DateTime(timezone=True), nullable=True),
    )
    op.create_table(
        "refresh_tokens",
        sa.Column("id", sa.Uuid, primary_key=True),
        sa.Column("user_id", sa.Uuid, nullable=False, index=True),
        sa.Column("token_hash", sa.String, nullable=False, unique=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
    )
    op.create_table(
        "devices",
        sa.Column("id", sa.Uuid, primary_key=True),
        sa.Column("user_id", sa.Uuid, nullable=False, index=True),
        sa.Column("token", sa.String, nullable=False, unique=True),
        sa.Column("platform", sa.String, nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("devices")
    op.drop_table("refresh_tokens")
    op.drop_table("accounts")
    drop_platform_tables()
