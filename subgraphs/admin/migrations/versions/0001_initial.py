"""Staff accounts, their refresh tokens, the append-only audit log, and the platform's
outbox and inbox.

Revision ID: 0001
"""

from typing import Any

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

from kindred.platform_tables import create_platform_tables, drop_platform_tables

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

# The audit log is append-only for everyone, the subgraph's own role included: a row once
# written is never changed or removed (a trigger, since the owner of a table may do anything
# that GRANT/REVOKE allow).
_APPEND_ONLY = """
CREATE FUNCTION audit_log_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  RAISE EXCEPTION 'the audit log is append-only: % is not allowed', TG_OP
    USING ERRCODE = 'insufficient_privilege';
END
$$;
CREATE TRIGGER audit_log_no_update_or_delete BEFORE UPDATE OR DELETE ON audit_log
  FOR EACH ROW EXECUTE FUNCTION audit_log_append_only();
CREATE TRIGGER audit_log_no_truncate BEFORE TRUNCATE ON audit_log
  FOR EACH STATEMENT EXECUTE FUNCTION audit_log_append_only();
"""


def _timestamp(name: str, *, nullable: bool = False) -> Any:
    return sa.Column(name, sa.DateTime(timezone=True), nullable=nullable)


def upgrade() -> None:
    create_platform_tables()
    op.create_table(
        "staff",
        sa.Column("id", sa.Uuid, primary_key=True),
        sa.Column("email", sa.String, nullable=False, unique=True),
        sa.Column("password_hash", sa.String, nullable=False),
        sa.Column("display_name", sa.String, nullable=False),
        sa.Column("role", sa.String, nullable=False),
        sa.Column("version", sa.Integer, nullable=False, server_default="1"),
        _timestamp("created_at"),
        _timestamp("updated_at"),
        _timestamp("disabled_at", nullable=True),
    )
    op.create_table(
        "staff_refresh_tokens",
        sa.Column("id", sa.Uuid, primary_key=True),
        sa.Column("staff_id", sa.Uuid, nullable=False),
        sa.Column("token_hash", sa.String, nullable=False, unique=True),
        _timestamp("created_at"),
        _timestamp("expires_at"),
        _timestamp("revoked_at", nullable=True),
    )
    op.create_index("ix_staff_refresh_tokens_staff_id", "staff_refresh_tokens", ["staff_id"])
    op.create_table(
        "audit_log",
        sa.Column("id", sa.Uuid, primary_key=True),
        sa.Column("staff_id", sa.Uuid, nullable=False),
        sa.Column("staff_email", sa.String, nullable=False),
        sa.Column("action", sa.String, nullable=False),
        sa.Column("target_type", sa.String, nullable=False),
        sa.Column("target_id", sa.String, nullable=False),
        sa.Column("idempotency_key", sa.String, nullable=True),
        sa.Column("request", postgresql.JSONB, nullable=False),
        sa.Column("before", postgresql.JSONB, nullable=True),
        sa.Column("after", postgresql.JSONB, nullable=True),
        sa.Column("outcome", sa.String, nullable=False),
        sa.Column("error_code", sa.String, nullable=True),
        sa.Column("error_message", sa.String, nullable=True),
        sa.Column("trace_id", sa.String, nullable=True),
        _timestamp("created_at"),
    )
    op.create_index(
        "ux_audit_log_idempotency",
        "audit_log",
        ["staff_id", "idempotency_key"],
        unique=True,
        postgresql_where=sa.text("idempotency_key IS NOT NULL AND outcome <> 'FAILED'"),
    )
    op.create_index("ix_audit_log_created", "audit_log", ["created_at", "id"])
    op.create_index("ix_audit_log_staff", "audit_log", ["staff_id", "created_at", "id"])
    op.create_index("ix_audit_log_target", "audit_log", ["target_id", "created_at", "id"])
    op.execute(_APPEND_ONLY)


def downgrade() -> None:
    op.execute("DROP TABLE audit_log")  # DROP is not TRUNCATE: the trigger goes with it
    op.execute("DROP FUNCTION audit_log_append_only()")
    op.drop_table("staff_refresh_tokens")
    op.drop_table("staff")
    drop_platform_tables()
