"""feed: index the holders of an entity

Revision ID: 0004
Revises: 0003
"""

from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_sync_feed_kind_entity_id", "sync_feed", ["kind", "entity_id"])


def downgrade() -> None:
    op.drop_index("ix_sync_feed_kind_entity_id", table_name="sync_feed")
