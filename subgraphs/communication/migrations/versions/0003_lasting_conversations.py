"""A lasting conversation per connection (interaction.connected): `connection_id`, unique.

Revision ID: 0003
"""

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("conversations", sa.Column("connection_id", sa.Uuid, nullable=True))
    op.create_unique_constraint(
        "conversations_connection_id_key", "conversations", ["connection_id"]
    )


def downgrade() -> None:
    op.drop_constraint("conversations_connection_id_key", "conversations")
    op.drop_column("conversations", "connection_id")
