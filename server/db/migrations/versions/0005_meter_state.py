"""meter_state: the reading history the push rules read, kept per meter

Revision ID: 0005
Revises: 0004

Triggers keep the rows honest whoever writes ``readings``: a new meter gets a
fresh empty row, and any insert, update or delete of a meter's readings marks
its row stale (rebuilt from ``readings`` when next needed). The backfill gives
every meter on record its row, built by 0006.
"""

from alembic import op
import sqlalchemy as sa

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

SQLITE_TRIGGERS = {
    "meter_state_new_meter": "AFTER INSERT ON meters BEGIN "
    "INSERT INTO meter_state (meter_id, fresh, recent) VALUES (NEW.id, 1, '{}') "
    "ON CONFLICT (meter_id) DO UPDATE SET fresh = 0; END",
    "meter_state_meter_gone": "AFTER DELETE ON meters BEGIN DELETE FROM meter_state WHERE meter_id = OLD.id; END",
    "meter_state_reading_added": "AFTER INSERT ON readings BEGIN "
    "UPDATE meter_state SET fresh = 0 WHERE meter_id = NEW.meter_id AND fresh; END",
    "meter_state_reading_changed": "AFTER UPDATE ON readings BEGIN "
    "UPDATE meter_state SET fresh = 0 WHERE meter_id IN (OLD.meter_id, NEW.meter_id) AND fresh; END",
    "meter_state_reading_removed": "AFTER DELETE ON readings BEGIN "
    "UPDATE meter_state SET fresh = 0 WHERE meter_id = OLD.meter_id AND fresh; END",
}

# PostgreSQL: statement triggers with transition tables, one run per statement, not per row.
POSTGRES_FUNCTIONS = {
    "meter_state_new_meters": "INSERT INTO meter_state (meter_id, fresh, recent) SELECT id, true, '{}' FROM changed "
    "ON CONFLICT (meter_id) DO UPDATE SET fresh = false",
    "meter_state_meters_gone": "DELETE FROM meter_state WHERE meter_id IN (SELECT id FROM changed)",
    "meter_state_readings_changed": "UPDATE meter_state SET fresh = false "
    "WHERE fresh AND meter_id IN (SELECT meter_id FROM changed)",
    "meter_state_readings_moved": "UPDATE meter_state SET fresh = false "
    "WHERE fresh AND meter_id IN (SELECT meter_id FROM changed UNION SELECT meter_id FROM changed_to)",
}
POSTGRES_TRIGGERS = {
    # name: (event, table, transition tables, function)
    "meter_state_new_meter": ("INSERT", "meters", "NEW TABLE AS changed", "meter_state_new_meters"),
    "meter_state_meter_gone": ("DELETE", "meters", "OLD TABLE AS changed", "meter_state_meters_gone"),
    "meter_state_reading_added": ("INSERT", "readings", "NEW TABLE AS changed", "meter_state_readings_changed"),
    "meter_state_reading_changed": ("UPDATE", "readings", "OLD TABLE AS changed NEW TABLE AS changed_to",
                                    "meter_state_readings_moved"),
    "meter_state_reading_removed": ("DELETE", "readings", "OLD TABLE AS changed", "meter_state_readings_changed"),
}


def upgrade() -> None:
    op.create_table(
        "meter_state",
        sa.Column("meter_id", sa.String(length=64), nullable=False),
        sa.Column("fresh", sa.Boolean(), nullable=False),
        sa.Column("recent", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("meter_id", name=op.f("pk_meter_state")),
    )
    if op.get_bind().dialect.name == "sqlite":
        for name, body in SQLITE_TRIGGERS.items():
            op.execute(f"CREATE TRIGGER {name} {body}")
    else:
        for name, body in POSTGRES_FUNCTIONS.items():
            op.execute(f"CREATE FUNCTION {name}() RETURNS trigger LANGUAGE plpgsql AS "
                       f"$$ BEGIN {body}; RETURN NULL; END $$")
        for name, (event, table, transitions, function) in POSTGRES_TRIGGERS.items():
            op.execute(f"CREATE TRIGGER {name} AFTER {event} ON {table} REFERENCING {transitions} "
                       f"FOR EACH STATEMENT EXECUTE FUNCTION {function}()")
    # Backfill: every meter on record, to be built from its readings (by 0006).
    op.execute("INSERT INTO meter_state (meter_id, fresh, recent) SELECT id, false, '{}' FROM meters")


def downgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        for name in SQLITE_TRIGGERS:
            op.execute(f"DROP TRIGGER IF EXISTS {name}")
    else:
        for name, (_, table, _, _) in POSTGRES_TRIGGERS.items():
            op.execute(f"DROP TRIGGER IF EXISTS {name} ON {table}")
        for name in POSTGRES_FUNCTIONS:
            op.execute(f"DROP FUNCTION IF EXISTS {name}()")
    op.drop_table("meter_state")
