"""initial schema

Revision ID: 0001
Revises: 
"""

from alembic import op
import sqlalchemy as sa
import server.db.types


revision = '0001'
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('audit_log',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('at', server.db.types.UTCDateTime(timezone=True), nullable=False),
    sa.Column('actor', sa.String(length=64), nullable=False),
    sa.Column('action', sa.String(length=64), nullable=False),
    sa.Column('entity', sa.String(length=32), nullable=False),
    sa.Column('entity_id', sa.String(length=64), nullable=False),
    sa.Column('before', sa.JSON(), nullable=True),
    sa.Column('after', sa.JSON(), nullable=True),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_audit_log'))
    )
    with op.batch_alter_table('audit_log', schema=None) as batch_op:
        batch_op.create_index('ix_audit_log_actor', ['actor'], unique=False)
        batch_op.create_index('ix_audit_log_entity_entity_id', ['entity', 'entity_id'], unique=False)

    op.create_table('customers',
    sa.Column('id', sa.String(length=64), nullable=False),
    sa.Column('account_no', sa.String(length=64), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('address', sa.String(length=500), nullable=False),
    sa.Column('category', sa.String(length=32), nullable=False),
    sa.Column('class', sa.String(length=1), nullable=True),
    sa.Column('temp_supply_until', sa.Date(), nullable=True),
    sa.Column('created_at', server.db.types.UTCDateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_customers'))
    )
    op.create_table('cycles',
    sa.Column('id', sa.String(length=7), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('opened_at', server.db.types.UTCDateTime(timezone=True), nullable=False),
    sa.Column('closed_at', server.db.types.UTCDateTime(timezone=True), nullable=True),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_cycles'))
    )
    op.create_table('devices',
    sa.Column('id', sa.String(length=64), nullable=False),
    sa.Column('first_seen_at', server.db.types.UTCDateTime(timezone=True), nullable=False),
    sa.Column('last_seen_at', server.db.types.UTCDateTime(timezone=True), nullable=False),
    sa.Column('last_user_id', sa.String(length=64), nullable=True),
    sa.Column('app_version', sa.String(length=64), nullable=True),
    sa.Column('last_pull_at', server.db.types.UTCDateTime(timezone=True), nullable=True),
    sa.Column('last_push_at', server.db.types.UTCDateTime(timezone=True), nullable=True),
    sa.Column('revoked_at', server.db.types.UTCDateTime(timezone=True), nullable=True),
    sa.Column('revoked_by', sa.String(length=64), nullable=True),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_devices'))
    )
    op.create_table('districts',
    sa.Column('id', sa.String(length=64), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('loss_target_pct', sa.String(length=20), nullable=True),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_districts'))
    )
    op.create_table('login_throttle',
    sa.Column('username', sa.String(length=200), nullable=False),
    sa.Column('failures', sa.Integer(), nullable=False),
    sa.Column('window_started_at', server.db.types.UTCDateTime(timezone=True), nullable=False),
    sa.Column('locked_until', server.db.types.UTCDateTime(timezone=True), nullable=True),
    sa.PrimaryKeyConstraint('username', name=op.f('pk_login_throttle'))
    )
    op.create_table('sync_feed',
    sa.Column('user_id', sa.String(length=64), nullable=False),
    sa.Column('kind', sa.String(length=32), nullable=False),
    sa.Column('entity_id', sa.String(length=64), nullable=False),
    sa.Column('seq', sa.BigInteger(), nullable=False),
    sa.Column('op', sa.String(length=8), nullable=False),
    sa.Column('changed_at', server.db.types.UTCDateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('user_id', 'kind', 'entity_id', name=op.f('pk_sync_feed'))
    )
    with op.batch_alter_table('sync_feed', schema=None) as batch_op:
        batch_op.create_index('ix_sync_feed_user_id_seq', ['user_id', 'seq'], unique=False)

    op.create_table('sync_state',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('last_seq', sa.BigInteger(), nullable=False),
    sa.Column('floor_seq', sa.BigInteger(), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_sync_state'))
    )
    op.create_table('users',
    sa.Column('id', sa.String(length=64), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('password_hash', sa.String(length=200), nullable=False),
    sa.Column('roles', sa.JSON(), nullable=False),
    sa.Column('active', sa.Boolean(), server_default=sa.text('(true)'), nullable=False),
    sa.Column('created_at', server.db.types.UTCDateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_users'))
    )
    op.create_table('pliers',
    sa.Column('id', sa.String(length=64), nullable=False),
    sa.Column('holder_id', sa.String(length=64), nullable=True),
    sa.Column('issued_at', server.db.types.UTCDateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['holder_id'], ['users.id'], name=op.f('fk_pliers_holder_id_users')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_pliers'))
    )
    op.create_table('routes',
    sa.Column('id', sa.String(length=64), nullable=False),
    sa.Column('district_id', sa.String(length=64), nullable=False),
    sa.ForeignKeyConstraint(['district_id'], ['districts.id'], name=op.f('fk_routes_district_id_districts')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_routes'))
    )
    op.create_table('tokens',
    sa.Column('token_hash', sa.String(length=64), nullable=False),
    sa.Column('user_id', sa.String(length=64), nullable=False),
    sa.Column('device_id', sa.String(length=64), nullable=False),
    sa.Column('issued_at', server.db.types.UTCDateTime(timezone=True), nullable=False),
    sa.Column('expires_at', server.db.types.UTCDateTime(timezone=True), nullable=False),
    sa.Column('revoked_at', server.db.types.UTCDateTime(timezone=True), nullable=True),
    sa.Column('last_used_at', server.db.types.UTCDateTime(timezone=True), nullable=True),
    sa.Column('app_version', sa.String(length=64), nullable=True),
    sa.ForeignKeyConstraint(['device_id'], ['devices.id'], name=op.f('fk_tokens_device_id_devices')),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_tokens_user_id_users')),
    sa.PrimaryKeyConstraint('token_hash', name=op.f('pk_tokens'))
    )
    with op.batch_alter_table('tokens', schema=None) as batch_op:
        batch_op.create_index('ix_tokens_device_id', ['device_id'], unique=False)

    op.create_table('meters',
    sa.Column('id', sa.String(length=64), nullable=False),
    sa.Column('serial', sa.String(length=64), nullable=False),
    sa.Column('customer_id', sa.String(length=64), nullable=True),
    sa.Column('district_id', sa.String(length=64), nullable=False),
    sa.Column('route_id', sa.String(length=64), nullable=False),
    sa.Column('category', sa.String(length=32), nullable=False),
    sa.Column('address', sa.String(length=500), nullable=False),
    sa.Column('lat', sa.String(length=32), nullable=True),
    sa.Column('lon', sa.String(length=32), nullable=True),
    sa.Column('multiplier', sa.String(length=32), nullable=False),
    sa.Column('dials', sa.Integer(), nullable=False),
    sa.Column('phases', sa.Integer(), nullable=False),
    sa.Column('registers', sa.JSON(), nullable=False),
    sa.Column('installed_at', server.db.types.UTCDateTime(timezone=True), nullable=True),
    sa.Column('removed_at', server.db.types.UTCDateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['customer_id'], ['customers.id'], name=op.f('fk_meters_customer_id_customers')),
    sa.ForeignKeyConstraint(['district_id'], ['districts.id'], name=op.f('fk_meters_district_id_districts')),
    sa.ForeignKeyConstraint(['route_id'], ['routes.id'], name=op.f('fk_meters_route_id_routes')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_meters'))
    )
    with op.batch_alter_table('meters', schema=None) as batch_op:
        batch_op.create_index('ix_meters_customer_id', ['customer_id'], unique=False)
        batch_op.create_index('ix_meters_route_id', ['route_id'], unique=False)

    op.create_table('pliers_history',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('pliers_id', sa.String(length=64), nullable=False),
    sa.Column('action', sa.String(length=16), nullable=False),
    sa.Column('user_id', sa.String(length=64), nullable=False),
    sa.Column('at', server.db.types.UTCDateTime(timezone=True), nullable=False),
    sa.Column('by', sa.String(length=64), nullable=False),
    sa.ForeignKeyConstraint(['pliers_id'], ['pliers.id'], name=op.f('fk_pliers_history_pliers_id_pliers')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_pliers_history'))
    )
    with op.batch_alter_table('pliers_history', schema=None) as batch_op:
        batch_op.create_index('ix_pliers_history_pliers_id_at', ['pliers_id', 'at'], unique=False)

    op.create_table('assignments',
    sa.Column('id', sa.String(length=64), nullable=False),
    sa.Column('cycle', sa.String(length=7), nullable=False),
    sa.Column('route_id', sa.String(length=64), nullable=False),
    sa.Column('meter_id', sa.String(length=64), nullable=False),
    sa.Column('user_id', sa.String(length=64), nullable=False),
    sa.Column('task', sa.String(length=16), nullable=False),
    sa.Column('due_from', sa.Date(), nullable=False),
    sa.Column('due_until', sa.Date(), nullable=False),
    sa.Column('reason', sa.String(length=500), nullable=True),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('review_task_id', sa.String(length=64), nullable=True),
    sa.Column('created_at', server.db.types.UTCDateTime(timezone=True), nullable=False),
    sa.Column('updated_at', server.db.types.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['cycle'], ['cycles.id'], name=op.f('fk_assignments_cycle_cycles')),
    sa.ForeignKeyConstraint(['meter_id'], ['meters.id'], name=op.f('fk_assignments_meter_id_meters')),
    sa.ForeignKeyConstraint(['route_id'], ['routes.id'], name=op.f('fk_assignments_route_id_routes')),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_assignments_user_id_users')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_assignments'))
    )
    with op.batch_alter_table('assignments', schema=None) as batch_op:
        batch_op.create_index('ix_assignments_meter_id_status', ['meter_id', 'status'], unique=False)
        batch_op.create_index('ix_assignments_route_id_cycle', ['route_id', 'cycle'], unique=False)
        batch_op.create_index('ix_assignments_user_id_status', ['user_id', 'status'], unique=False)
        batch_op.create_index('uq_assignments_open_read', ['cycle', 'meter_id'], unique=True, sqlite_where=sa.text("status = 'open' AND task = 'read'"), postgresql_where=sa.text("status = 'open' AND task = 'read'"))

    op.create_table('inspection_orders',
    sa.Column('id', sa.String(length=64), nullable=False),
    sa.Column('kind', sa.String(length=16), nullable=False),
    sa.Column('meter_id', sa.String(length=64), nullable=False),
    sa.Column('due_until', sa.Date(), nullable=True),
    sa.Column('reason', sa.String(length=500), nullable=True),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('created_by', sa.String(length=64), nullable=False),
    sa.Column('review_task_id', sa.String(length=64), nullable=True),
    sa.Column('created_at', server.db.types.UTCDateTime(timezone=True), nullable=False),
    sa.Column('updated_at', server.db.types.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['meter_id'], ['meters.id'], name=op.f('fk_inspection_orders_meter_id_meters')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_inspection_orders'))
    )
    with op.batch_alter_table('inspection_orders', schema=None) as batch_op:
        batch_op.create_index('ix_inspection_orders_meter_id_status', ['meter_id', 'status'], unique=False)

    op.create_table('readings',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('meter_id', sa.String(length=64), nullable=False),
    sa.Column('register', sa.String(length=32), nullable=False),
    sa.Column('value', sa.String(length=32), nullable=True),
    sa.Column('read_at', server.db.types.UTCDateTime(timezone=True), nullable=False),
    sa.Column('method', sa.String(length=16), nullable=False),
    sa.Column('source', sa.String(length=16), nullable=False),
    sa.Column('cycle', sa.String(length=7), nullable=True),
    sa.ForeignKeyConstraint(['meter_id'], ['meters.id'], name=op.f('fk_readings_meter_id_meters')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_readings'))
    )
    with op.batch_alter_table('readings', schema=None) as batch_op:
        batch_op.create_index('ix_readings_meter_id_register_read_at', ['meter_id', 'register', 'read_at'], unique=False)

    op.create_table('seals',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('meter_id', sa.String(length=64), nullable=False),
    sa.Column('position', sa.String(length=32), nullable=False),
    sa.Column('number', sa.String(length=64), nullable=False),
    sa.Column('installed_at', server.db.types.UTCDateTime(timezone=True), nullable=True),
    sa.Column('installed_by', sa.String(length=64), nullable=True),
    sa.Column('removed_at', server.db.types.UTCDateTime(timezone=True), nullable=True),
    sa.Column('removed_by', sa.String(length=64), nullable=True),
    sa.Column('removal_reason', sa.String(length=32), nullable=True),
    sa.ForeignKeyConstraint(['meter_id'], ['meters.id'], name=op.f('fk_seals_meter_id_meters')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_seals'))
    )
    with op.batch_alter_table('seals', schema=None) as batch_op:
        batch_op.create_index('uq_seals_current_position', ['meter_id', 'position'], unique=True, sqlite_where=sa.text('removed_at IS NULL'), postgresql_where=sa.text('removed_at IS NULL'))

    op.create_table('inspection_order_team',
    sa.Column('order_id', sa.String(length=64), nullable=False),
    sa.Column('user_id', sa.String(length=64), nullable=False),
    sa.ForeignKeyConstraint(['order_id'], ['inspection_orders.id'], name=op.f('fk_inspection_order_team_order_id_inspection_orders')),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_inspection_order_team_user_id_users')),
    sa.PrimaryKeyConstraint('order_id', 'user_id', name=op.f('pk_inspection_order_team'))
    )
    with op.batch_alter_table('inspection_order_team', schema=None) as batch_op:
        batch_op.create_index('ix_inspection_order_team_user_id', ['user_id'], unique=False)

    op.execute("INSERT INTO sync_state (id, last_seq, floor_seq) VALUES (1, 0, 0)")
    _make_audit_log_append_only()


def downgrade() -> None:
    if op.get_bind().dialect.name != "sqlite":
        op.execute("DROP TRIGGER IF EXISTS audit_log_append_only ON audit_log")
        op.execute("DROP FUNCTION IF EXISTS audit_log_append_only()")
    with op.batch_alter_table('inspection_order_team', schema=None) as batch_op:
        batch_op.drop_index('ix_inspection_order_team_user_id')

    op.drop_table('inspection_order_team')
    with op.batch_alter_table('seals', schema=None) as batch_op:
        batch_op.drop_index('uq_seals_current_position', sqlite_where=sa.text('removed_at IS NULL'), postgresql_where=sa.text('removed_at IS NULL'))

    op.drop_table('seals')
    with op.batch_alter_table('readings', schema=None) as batch_op:
        batch_op.drop_index('ix_readings_meter_id_register_read_at')

    op.drop_table('readings')
    with op.batch_alter_table('inspection_orders', schema=None) as batch_op:
        batch_op.drop_index('ix_inspection_orders_meter_id_status')

    op.drop_table('inspection_orders')
    with op.batch_alter_table('assignments', schema=None) as batch_op:
        batch_op.drop_index('uq_assignments_open_read', sqlite_where=sa.text("status = 'open' AND task = 'read'"), postgresql_where=sa.text("status = 'open' AND task = 'read'"))
        batch_op.drop_index('ix_assignments_user_id_status')
        batch_op.drop_index('ix_assignments_route_id_cycle')
        batch_op.drop_index('ix_assignments_meter_id_status')

    op.drop_table('assignments')
    with op.batch_alter_table('pliers_history', schema=None) as batch_op:
        batch_op.drop_index('ix_pliers_history_pliers_id_at')

    op.drop_table('pliers_history')
    with op.batch_alter_table('meters', schema=None) as batch_op:
        batch_op.drop_index('ix_meters_route_id')
        batch_op.drop_index('ix_meters_customer_id')

    op.drop_table('meters')
    with op.batch_alter_table('tokens', schema=None) as batch_op:
        batch_op.drop_index('ix_tokens_device_id')

    op.drop_table('tokens')
    op.drop_table('routes')
    op.drop_table('pliers')
    op.drop_table('users')
    op.drop_table('sync_state')
    with op.batch_alter_table('sync_feed', schema=None) as batch_op:
        batch_op.drop_index('ix_sync_feed_user_id_seq')

    op.drop_table('sync_feed')
    op.drop_table('login_throttle')
    op.drop_table('districts')
    op.drop_table('devices')
    op.drop_table('cycles')
    op.drop_table('customers')
    with op.batch_alter_table('audit_log', schema=None) as batch_op:
        batch_op.drop_index('ix_audit_log_entity_entity_id')
        batch_op.drop_index('ix_audit_log_actor')

    op.drop_table('audit_log')


def _make_audit_log_append_only() -> None:
    """The audit log refuses UPDATE and DELETE at the database itself."""
    if op.get_bind().dialect.name == "sqlite":
        for verb in ("UPDATE", "DELETE"):
            op.execute(
                f"CREATE TRIGGER audit_log_no_{verb.lower()} BEFORE {verb} ON audit_log "
                "BEGIN SELECT RAISE(ABORT, 'audit_log is append-only'); END"
            )
    else:
        op.execute(
            "CREATE FUNCTION audit_log_append_only() RETURNS trigger LANGUAGE plpgsql AS "
            "$$ BEGIN RAISE EXCEPTION 'audit_log is append-only'; END $$"
        )
        op.execute(
            "CREATE TRIGGER audit_log_append_only BEFORE UPDATE OR DELETE ON audit_log "
            "FOR EACH ROW EXECUTE FUNCTION audit_log_append_only()"
        )
