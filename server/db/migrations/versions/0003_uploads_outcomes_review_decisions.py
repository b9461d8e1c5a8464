"""uploads, outcomes, review decisions

Revision ID: 0003
Revises: 0002
"""

from alembic import op
import sqlalchemy as sa
import server.db.types


revision = '0003'
down_revision = '0002'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('photo_uploads',
    sa.Column('id', sa.String(length=64), nullable=False),
    sa.Column('sha256', sa.String(length=64), nullable=False),
    sa.Column('size', sa.BigInteger(), nullable=False),
    sa.Column('user_id', sa.String(length=64), nullable=False),
    sa.Column('device_id', sa.String(length=64), nullable=False),
    sa.Column('created_at', server.db.types.UTCDateTime(timezone=True), nullable=False),
    sa.Column('expires_at', server.db.types.UTCDateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_photo_uploads'))
    )
    with op.batch_alter_table('photo_uploads', schema=None) as batch_op:
        batch_op.create_index('ix_photo_uploads_expires_at', ['expires_at'], unique=False)

    op.create_table('outcomes',
    sa.Column('id', sa.String(length=64), nullable=False),
    sa.Column('user_id', sa.String(length=64), nullable=False),
    sa.Column('task_id', sa.String(length=64), nullable=False),
    sa.Column('decision', sa.String(length=16), nullable=False),
    sa.Column('note', sa.Text(), nullable=True),
    sa.Column('op_ids', sa.JSON(), nullable=False),
    sa.Column('created_at', server.db.types.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['task_id'], ['review_tasks.id'], name=op.f('fk_outcomes_task_id_review_tasks')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_outcomes'))
    )
    with op.batch_alter_table('outcomes', schema=None) as batch_op:
        batch_op.create_index('ix_outcomes_user_id', ['user_id'], unique=False)

    with op.batch_alter_table('review_tasks', schema=None) as batch_op:
        batch_op.add_column(sa.Column('decided_at', server.db.types.UTCDateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column('decision_team', sa.JSON(), nullable=True))
        batch_op.add_column(sa.Column('approved_by', sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column('approval_note', sa.Text(), nullable=True))
        batch_op.create_index('uq_review_tasks_unresolved_district_cycle_kind', ['district_id', 'cycle', 'kind'], unique=True, sqlite_where=sa.text("status <> 'resolved' AND meter_id IS NULL"), postgresql_where=sa.text("status <> 'resolved' AND meter_id IS NULL"))



def downgrade() -> None:
    with op.batch_alter_table('review_tasks', schema=None) as batch_op:
        batch_op.drop_index('uq_review_tasks_unresolved_district_cycle_kind', sqlite_where=sa.text("status <> 'resolved' AND meter_id IS NULL"), postgresql_where=sa.text("status <> 'resolved' AND meter_id IS NULL"))
        batch_op.drop_column('approval_note')
        batch_op.drop_column('approved_by')
        batch_op.drop_column('decision_team')
        batch_op.drop_column('decided_at')

    with op.batch_alter_table('outcomes', schema=None) as batch_op:
        batch_op.drop_index('ix_outcomes_user_id')

    op.drop_table('outcomes')
    with op.batch_alter_table('photo_uploads', schema=None) as batch_op:
        batch_op.drop_index('ix_photo_uploads_expires_at')

    op.drop_table('photo_uploads')
