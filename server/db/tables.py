"""The schema as SQLAlchemy Core tables. Alembic migrations are the source of
truth for the database; a test fails when these and the migrations differ.

Decimal quantities (register values, multipliers) are kept as the decimal
strings they arrived as: nothing is rounded on the way in or out.
"""

from __future__ import annotations

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Column,
    Date,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    text,
)

from server.db.types import UTCDateTime

metadata = MetaData(
    naming_convention={
        "ix": "ix_%(table_name)s_%(column_0_N_name)s",
        "uq": "uq_%(table_name)s_%(column_0_N_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
        "ck": "ck_%(table_name)s_%(constraint_name)s",
    }
)

ID = String(64)

districts = Table(
    "districts",
    metadata,
    Column("id", ID, primary_key=True),
    Column("name", String(200), nullable=False),
    Column("loss_target_pct", String(20), nullable=True),
)

routes = Table(
    "routes",
    metadata,
    Column("id", ID, primary_key=True),
    Column("district_id", ID, ForeignKey("districts.id"), nullable=False),
)

customers = Table(
    "customers",
    metadata,
    Column("id", ID, primary_key=True),
    Column("account_no", String(64), nullable=False),
    Column("name", String(200), nullable=False),
    Column("address", String(500), nullable=False),
    Column("category", String(32), nullable=False),
    Column("class", String(1), nullable=True),
    Column("temp_supply_until", Date, nullable=True),
    Column("created_at", UTCDateTime, nullable=False),
)

meters = Table(
    "meters",
    metadata,
    Column("id", ID, primary_key=True),
    Column("serial", String(64), nullable=False),
    Column("customer_id", ID, ForeignKey("customers.id"), nullable=True),
    Column("district_id", ID, ForeignKey("districts.id"), nullable=False),
    Column("route_id", ID, ForeignKey("routes.id"), nullable=False),
    Column("category", String(32), nullable=False),
    Column("address", String(500), nullable=False),
    Column("lat", String(32), nullable=True),
    Column("lon", String(32), nullable=True),
    Column("multiplier", String(32), nullable=False),
    Column("dials", Integer, nullable=False),
    Column("phases", Integer, nullable=False),
    Column("registers", JSON, nullable=False),
    Column("installed_at", UTCDateTime, nullable=True),
    Column("removed_at", UTCDateTime, nullable=True),
    Index("ix_meters_route_id", "route_id"),
    Index("ix_meters_customer_id", "customer_id"),
)

seals = Table(
    "seals",
    metadata,
    Column("id", BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True),
    Column("meter_id", ID, ForeignKey("meters.id"), nullable=False),
    Column("position", String(32), nullable=False),
    Column("number", String(64), nullable=False),
    Column("installed_at", UTCDateTime, nullable=True),
    Column("installed_by", ID, nullable=True),
    Column("removed_at", UTCDateTime, nullable=True),
    Column("removed_by", ID, nullable=True),
    Column("removal_reason", String(32), nullable=True),
    Index(
        "uq_seals_current_position",
        "meter_id",
        "position",
        unique=True,
        sqlite_where=text("removed_at IS NULL"),
        postgresql_where=text("removed_at IS NULL"),
    ),
)

readings = Table(
    "readings",
    metadata,
    Column("id", BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True),
    Column("meter_id", ID, ForeignKey("meters.id"), nullable=False),
    Column("register", String(32), nullable=False),
    Column("value", String(32), nullable=True),
    Column("read_at", UTCDateTime, nullable=False),
    Column("method", String(16), nullable=False),
    Column("source", String(16), nullable=False),
    Column("cycle", String(7), nullable=True),
    Index("ix_readings_meter_id_register_read_at", "meter_id", "register", "read_at"),
)

users = Table(
    "users",
    metadata,
    Column("id", ID, primary_key=True),
    Column("name", String(200), nullable=False),
    Column("password_hash", String(200), nullable=False),
    Column("roles", JSON, nullable=False),
    Column("active", Boolean, nullable=False, server_default=text("true")),
    Column("created_at", UTCDateTime, nullable=False),
)

login_throttle = Table(
    "login_throttle",
    metadata,
    Column("username", String(200), primary_key=True),
    Column("failures", Integer, nullable=False),
    Column("window_started_at", UTCDateTime, nullable=False),
    Column("locked_until", UTCDateTime, nullable=True),
)

devices = Table(
    "devices",
    metadata,
    Column("id", ID, primary_key=True),
    Column("first_seen_at", UTCDateTime, nullable=False),
    Column("last_seen_at", UTCDateTime, nullable=False),
    Column("last_user_id", ID, nullable=True),
    Column("app_version", String(64), nullable=True),
    Column("last_pull_at", UTCDateTime, nullable=True),
    Column("last_push_at", UTCDateTime, nullable=True),
    Column("revoked_at", UTCDateTime, nullable=True),
    Column("revoked_by", ID, nullable=True),
)

tokens = Table(
    "tokens",
    metadata,
    Column("token_hash", String(64), primary_key=True),
    Column("user_id", ID, ForeignKey("users.id"), nullable=False),
    Column("device_id", ID, ForeignKey("devices.id"), nullable=False),
    Column("issued_at", UTCDateTime, nullable=False),
    Column("expires_at", UTCDateTime, nullable=False),
    Column("revoked_at", UTCDateTime, nullable=True),
    Column("last_used_at", UTCDateTime, nullable=True),
    Column("app_version", String(64), nullable=True),
    Index("ix_tokens_device_id", "device_id"),
)

cycles = Table(
    "cycles",
    metadata,
    Column("id", String(7), primary_key=True),
    Column("status", String(16), nullable=False),
    Column("opened_at", UTCDateTime, nullable=False),
    Column("closed_at", UTCDateTime, nullable=True),
)

assignments = Table(
    "assignments",
    metadata,
    Column("id", ID, primary_key=True),
    Column("cycle", String(7), ForeignKey("cycles.id"), nullable=False),
    Column("route_id", ID, ForeignKey("routes.id"), nullable=False),
    Column("meter_id", ID, ForeignKey("meters.id"), nullable=False),
    Column("user_id", ID, ForeignKey("users.id"), nullable=False),
    Column("task", String(16), nullable=False),
    Column("due_from", Date, nullable=False),
    Column("due_until", Date, nullable=False),
    Column("reason", String(500), nullable=True),
    # open | closed (cycle closed) | cancelled | moved (to another reader)
    Column("status", String(16), nullable=False),
    Column("review_task_id", ID, nullable=True),
    Column("created_at", UTCDateTime, nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
    Index("ix_assignments_user_id_status", "user_id", "status"),
    Index("ix_assignments_meter_id_status", "meter_id", "status"),
    Index("ix_assignments_route_id_cycle", "route_id", "cycle"),
    Index(
        "uq_assignments_open_read",
        "cycle",
        "meter_id",
        unique=True,
        sqlite_where=text("status = 'open' AND task = 'read'"),
        postgresql_where=text("status = 'open' AND task = 'read'"),
    ),
)

inspection_orders = Table(
    "inspection_orders",
    metadata,
    Column("id", ID, primary_key=True),
    Column("kind", String(16), nullable=False),
    Column("meter_id", ID, ForeignKey("meters.id"), nullable=False),
    Column("due_until", Date, nullable=True),
    Column("reason", String(500), nullable=True),
    # open | done | cancelled
    Column("status", String(16), nullable=False),
    Column("created_by", ID, nullable=False),
    Column("review_task_id", ID, nullable=True),
    Column("created_at", UTCDateTime, nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
    Index("ix_inspection_orders_meter_id_status", "meter_id", "status"),
)

inspection_order_team = Table(
    "inspection_order_team",
    metadata,
    Column("order_id", ID, ForeignKey("inspection_orders.id"), primary_key=True),
    Column("user_id", ID, ForeignKey("users.id"), primary_key=True),
    Index("ix_inspection_order_team_user_id", "user_id"),
)

pliers = Table(
    "pliers",
    metadata,
    Column("id", ID, primary_key=True),
    Column("holder_id", ID, ForeignKey("users.id"), nullable=True),
    Column("issued_at", UTCDateTime, nullable=True),
)

pliers_history = Table(
    "pliers_history",
    metadata,
    Column("id", BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True),
    Column("pliers_id", ID, ForeignKey("pliers.id"), nullable=False),
    Column("action", String(16), nullable=False),  # issued | returned
    Column("user_id", ID, nullable=False),
    Column("at", UTCDateTime, nullable=False),
    Column("by", ID, nullable=False),
    Index("ix_pliers_history_pliers_id_at", "pliers_id", "at"),
)

# The pull feed: one row per (user, entity) that is or was in the user's
# scope, moved to a fresh ``seq`` on every change. Removals stay as
# tombstones (op = 'remove') until compacted.
sync_feed = Table(
    "sync_feed",
    metadata,
    Column("user_id", ID, primary_key=True),
    Column("kind", String(32), primary_key=True),
    Column("entity_id", ID, primary_key=True),
    Column("seq", BigInteger, nullable=False),
    Column("op", String(8), nullable=False),
    Column("changed_at", UTCDateTime, nullable=False),
    Index("ix_sync_feed_user_id_seq", "user_id", "seq"),
)

# A single row. ``last_seq`` is taken with a row lock by every writer of the
# feed, held to commit: feed rows therefore commit in ``seq`` order and a
# pull never skips one (see docs/architecture.md). ``floor_seq`` is the
# lowest cursor still served after tombstones were compacted.
sync_state = Table(
    "sync_state",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("last_seq", BigInteger, nullable=False),
    Column("floor_seq", BigInteger, nullable=False),
)

audit_log = Table(
    "audit_log",
    metadata,
    Column("id", BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True),
    Column("at", UTCDateTime, nullable=False),
    Column("actor", ID, nullable=False),
    Column("action", String(64), nullable=False),
    Column("entity", String(32), nullable=False),
    Column("entity_id", ID, nullable=False),
    Column("before", JSON, nullable=True),
    Column("after", JSON, nullable=True),
    Index("ix_audit_log_entity_entity_id", "entity", "entity_id"),
    Index("ix_audit_log_actor", "actor"),
)
