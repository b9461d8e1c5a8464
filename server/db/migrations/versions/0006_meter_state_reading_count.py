"""meter_state: the count of the meter's readings a row was built from, instead of an insert trigger

Revision ID: 0006
Revises: 0005

On SQLite the row trigger that marked a meter's row stale on every inserted
reading rewrote the row each time (about as costly as the insert itself).
Instead a row records how many readings the meter had when it was built: a
reading inserted by anyone changes the count, which the push reads anyway, so
the row no longer serves. Updates and deletes keep their triggers (rare, and
an update leaves the count as it was). The backfill builds every row.

The backfill runs the application's rebuild (server.services.meter_state), as
the code stands: a later migration that changes meter_state must keep this one
working (or mark the rows for rebuilding itself).
"""

from alembic import op
import sqlalchemy as sa

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

SQLITE_NEW_METER = (
    "CREATE TRIGGER meter_state_new_meter AFTER INSERT ON meters BEGIN "
    "INSERT INTO meter_state (meter_id, fresh, readings, recent) VALUES (NEW.id, 1, 0, '{}') "
    "ON CONFLICT (meter_id) DO UPDATE SET fresh = 0; END"
)
POSTGRES_NEW_METERS = (
    "CREATE OR REPLACE FUNCTION meter_state_new_meters() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
    "INSERT INTO meter_state (meter_id, fresh, readings, recent) SELECT id, true, 0, '{}' FROM changed "
    "ON CONFLICT (meter_id) DO UPDATE SET fresh = false; RETURN NULL; END $$"
)


def upgrade() -> None:
    # A plain ALTER TABLE on SQLite too: a batch copy of the table would trip over the triggers naming it.
    op.add_column("meter_state", sa.Column("readings", sa.Integer(), nullable=False, server_default="-1"))
    if op.get_bind().dialect.name == "sqlite":
        op.execute("DROP TRIGGER IF EXISTS meter_state_reading_added")
        op.execute("DROP TRIGGER IF EXISTS meter_state_new_meter")
        op.execute(SQLITE_NEW_METER)
    else:
        op.execute("DROP TRIGGER IF EXISTS meter_state_reading_added ON readings")
        op.execute(POSTGRES_NEW_METERS)
    from server.services import meter_state

    meter_state.rebuild_stale(op.get_bind())


def downgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        op.execute("DROP TRIGGER IF EXISTS meter_state_new_meter")
        op.execute(
            "CREATE TRIGGER meter_state_new_meter AFTER INSERT ON meters BEGIN "
            "INSERT INTO meter_state (meter_id, fresh, recent) VALUES (NEW.id, 1, '{}') "
            "ON CONFLICT (meter_id) DO UPDATE SET fresh = 0; END"
        )
        op.execute("CREATE TRIGGER meter_state_reading_added AFTER INSERT ON readings BEGIN "
                   "UPDATE meter_state SET fresh = 0 WHERE meter_id = NEW.meter_id AND fresh; END")
    else:
        op.execute(
            "CREATE OR REPLACE FUNCTION meter_state_new_meters() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
            "INSERT INTO meter_state (meter_id, fresh, recent) SELECT id, true, '{}' FROM changed "
            "ON CONFLICT (meter_id) DO UPDATE SET fresh = false; RETURN NULL; END $$"
        )
        op.execute("CREATE TRIGGER meter_state_reading_added AFTER INSERT ON readings REFERENCING NEW TABLE AS "
                   "changed FOR EACH STATEMENT EXECUTE FUNCTION meter_state_readings_changed()")
    op.execute("UPDATE meter_state SET fresh = false")
    op.drop_column("meter_state", "readings")
