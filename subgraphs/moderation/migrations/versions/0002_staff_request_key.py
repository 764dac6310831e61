"""Actions taken by staff through the admin subgraph carry its request key: a retried
request answers the action it took instead of taking another.

Revision ID: 0002
"""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("actions", sa.Column("request_key", sa.String, nullable=True))
    op.create_index(
        "ux_actions_request_key",
        "actions",
        ["request_key"],
        unique=True,
        postgresql_where=sa.text("request_key IS NOT NULL"),
    )


def downgrade() -> None:
    op.drop_index("ux_actions_request_key", table_name="actions")
    op.drop_column("actions", "request_key")
