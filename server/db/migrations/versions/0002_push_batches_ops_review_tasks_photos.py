"""push: batches, ops, review tasks, photos

Revision ID: 0002
Revises: 0001
"""

from alembic import op
import sqlalchemy as sa
import server.db.types


revision = '0002'
down_revision = '0001'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('batches',
    sa.Column('id', sa.String(length=36), nullable=False),
    sa.Column('user_id', sa.String(length=64), nullable=False),
    sa.Column('device_id', sa.String(length=64), nullable=False),
    sa.Column('received_at', server.db.types.UTCDateTime(timezone=True), nullable=False),
    sa.Column('item_count', sa.Integer(), nullable=False),
    sa.Column('stored_count', sa.Integer(), nullable=False),
    sa.Column('response', sa.LargeBinary(), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_batches'))
    )
    with op.batch_alter_table('batches', schema=None) as batch_op:
        batch_op.create_index('ix_batches_device_id_received_at', ['device_id', 'received_at'], unique=False)

    op.create_table('ops',
    sa.Column('op_id', sa.String(length=36), nullable=False),
    sa.Column('batch_id', sa.String(length=36), nullable=False),
    sa.Column('user_id', sa.String(length=64), nullable=False),
    sa.Column('device_id', sa.String(length=64), nullable=False),
    sa.Column('type', sa.String(length=16), nullable=False),
    sa.Column('meter_id', sa.String(length=64), nullable=False),
    sa.Column('content_hash', sa.String(length=64), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('flags', sa.JSON(), nullable=False),
    sa.Column('review_task_id', sa.String(length=64), nullable=True),
    sa.Column('recorded_at', server.db.types.UTCDateTime(timezone=True), nullable=False),
    sa.Column('recorded_at_corrected', server.db.types.UTCDateTime(timezone=True), nullable=False),
    sa.Column('received_at', server.db.types.UTCDateTime(timezone=True), nullable=False),
    sa.Column('evidence', sa.String(length=16), nullable=False),
    sa.Column('payload', sa.JSON(), nullable=False),
    sa.PrimaryKeyConstraint('op_id', name=op.f('pk_ops'))
    )
    with op.batch_alter_table('ops', schema=None) as batch_op:
        batch_op.create_index('ix_ops_batch_id', ['batch_id'], unique=False)
        batch_op.create_index('ix_ops_device_id_received_at', ['device_id', 'received_at'], unique=False)
        batch_op.create_index('ix_ops_meter_id_received_at', ['meter_id', 'received_at'], unique=False)
        batch_op.create_index('ix_ops_review_task_id', ['review_task_id'], unique=False)

    op.create_table('photos',
    sa.Column('sha256', sa.String(length=64), nullable=False),
    sa.Column('size', sa.BigInteger(), nullable=False),
    sa.Column('content_type', sa.String(length=32), nullable=False),
    sa.Column('width', sa.Integer(), nullable=False),
    sa.Column('height', sa.Integer(), nullable=False),
    sa.Column('taken_at', server.db.types.UTCDateTime(timezone=True), nullable=True),
    sa.Column('lat', sa.String(length=32), nullable=True),
    sa.Column('lon', sa.String(length=32), nullable=True),
    sa.Column('orientation', sa.Integer(), nullable=True),
    sa.Column('uploaded_by', sa.String(length=64), nullable=False),
    sa.Column('device_id', sa.String(length=64), nullable=False),
    sa.Column('uploaded_at', server.db.types.UTCDateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('sha256', name=op.f('pk_photos'))
    )
    op.create_table('review_tasks',
    sa.Column('id', sa.String(length=64), nullable=False),
    sa.Column('kind', sa.String(length=16), nullable=False),
    sa.Column('status', sa.String(length=20), nullable=False),
    sa.Column('priority', sa.Integer(), nullable=False),
    sa.Column('meter_id', sa.String(length=64), nullable=True),
    sa.Column('district_id', sa.String(length=64), nullable=True),
    sa.Column('cycle', sa.String(length=7), nullable=True),
    sa.Column('flags', sa.JSON(), nullable=False),
    sa.Column('created_at', server.db.types.UTCDateTime(timezone=True), nullable=False),
    sa.Column('updated_at', server.db.types.UTCDateTime(timezone=True), nullable=False),
    sa.Column('claimed_by', sa.String(length=64), nullable=True),
    sa.Column('claimed_at', server.db.types.UTCDateTime(timezone=True), nullable=True),
    sa.Column('decision', sa.String(length=16), nullable=True),
    sa.Column('decision_note', sa.Text(), nullable=True),
    sa.Column('adjustment_kwh', sa.String(length=32), nullable=True),
    sa.Column('decided_by', sa.String(length=64), nullable=True),
    sa.Column('resolved_at', server.db.types.UTCDateTime(timezone=True), nullable=True),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_review_tasks'))
    )
    with op.batch_alter_table('review_tasks', schema=None) as batch_op:
        batch_op.create_index('ix_review_tasks_status_priority_created_at', ['status', 'priority', 'created_at'], unique=False)
        batch_op.create_index('uq_review_tasks_unresolved_meter_cycle', ['meter_id', 'cycle'], unique=True, sqlite_where=sa.text("status <> 'resolved' AND meter_id IS NOT NULL"), postgresql_where=sa.text("status <> 'resolved' AND meter_id IS NOT NULL"))

    op.create_table('op_photos',
    sa.Column('op_id', sa.String(length=36), nullable=False),
    sa.Column('sha256', sa.String(length=64), nullable=False),
    sa.ForeignKeyConstraint(['op_id'], ['ops.op_id'], name=op.f('fk_op_photos_op_id_ops')),
    sa.PrimaryKeyConstraint('op_id', 'sha256', name=op.f('pk_op_photos'))
    )
    with op.batch_alter_table('op_photos', schema=None) as batch_op:
        batch_op.create_index('ix_op_photos_sha256', ['sha256'], unique=False)

    op.create_table('review_task_items',
    sa.Column('task_id', sa.String(length=64), nullable=False),
    sa.Column('op_id', sa.String(length=36), nullable=False),
    sa.ForeignKeyConstraint(['op_id'], ['ops.op_id'], name=op.f('fk_review_task_items_op_id_ops')),
    sa.ForeignKeyConstraint(['task_id'], ['review_tasks.id'], name=op.f('fk_review_task_items_task_id_review_tasks')),
    sa.PrimaryKeyConstraint('task_id', 'op_id', name=op.f('pk_review_task_items'))
    )
    with op.batch_alter_table('readings', schema=None) as batch_op:
        batch_op.add_column(sa.Column('op_id', sa.String(length=36), nullable=True))
        batch_op.add_column(sa.Column('assignment_id', sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column('user_id', sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column('unable_reason', sa.String(length=32), nullable=True))
        batch_op.add_column(sa.Column('status', sa.String(length=16), server_default='valid', nullable=False))
        batch_op.create_index('ix_readings_meter_id_cycle', ['meter_id', 'cycle'], unique=False)
        batch_op.create_unique_constraint(batch_op.f('uq_readings_op_id'), ['op_id'])



def downgrade() -> None:
    with op.batch_alter_table('readings', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('uq_readings_op_id'), type_='unique')
        batch_op.drop_index('ix_readings_meter_id_cycle')
        batch_op.drop_column('status')
        batch_op.drop_column('unable_reason')
        batch_op.drop_column('user_id')
        batch_op.drop_column('assignment_id')
        batch_op.drop_column('op_id')

    op.drop_table('review_task_items')
    with op.batch_alter_table('op_photos', schema=None) as batch_op:
        batch_op.drop_index('ix_op_photos_sha256')

    op.drop_table('op_photos')
    with op.batch_alter_table('review_tasks', schema=None) as batch_op:
        batch_op.drop_index('uq_review_tasks_unresolved_meter_cycle', sqlite_where=sa.text("status <> 'resolved' AND meter_id IS NOT NULL"), postgresql_where=sa.text("status <> 'resolved' AND meter_id IS NOT NULL"))
        batch_op.drop_index('ix_review_tasks_status_priority_created_at')

    op.drop_table('review_tasks')
    op.drop_table('photos')
    with op.batch_alter_table('ops', schema=None) as batch_op:
        batch_op.drop_index('ix_ops_review_task_id')
        batch_op.drop_index('ix_ops_meter_id_received_at')
        batch_op.drop_index('ix_ops_device_id_received_at')
        batch_op.drop_index('ix_ops_batch_id')

    op.drop_table('ops')
    with op.batch_alter_table('batches', schema=None) as batch_op:
        batch_op.drop_index('ix_batches_device_id_received_at')

    op.drop_table('batches')
