"""ops: drop the indexes on batch_id and review_task_id, which no query reads

Revision ID: 0007
Revises: 0006

Every pushed item writes an ``ops`` row, and each index is one more B-tree
insert (and more pages for the commit to write). A task's items are found
through ``review_task_items``, a batch's answer through ``batches``.
"""

from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.drop_index("ix_ops_batch_id", table_name="ops")
    op.drop_index("ix_ops_review_task_id", table_name="ops")


def downgrade() -> None:
    op.create_index("ix_ops_review_task_id", "ops", ["review_task_id"])
    op.create_index("ix_ops_batch_id", "ops", ["batch_id"])
