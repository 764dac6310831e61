"""Every change to a queue entry or a profile copy NOTIFYs the member's id at commit, so
each replica forgets its cached `queueEntry` (subgraphs.queuing.entry_cache).

Revision ID: 0004
"""

from alembic import op

from kindred.invalidation import drop_notify_changes_sql, notify_changes_sql

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

CHANNEL = "queuing_entries"
TABLES = ("queue_entries", "profile_copies")


def upgrade() -> None:
    for table in TABLES:
        for statement in notify_changes_sql(table, "user_id", channel=CHANNEL):
            op.execute(statement)


def downgrade() -> None:
    for table in TABLES:
        for statement in drop_notify_changes_sql(table):
            op.execute(statement)
