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
    LargeBinary,
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
    # Field readings: the item that brought them. Imported history has none.
    Column("op_id", String(36), nullable=True, unique=True),
    Column("assignment_id", ID, nullable=True),
    Column("user_id", ID, nullable=True),
    Column("unable_reason", String(32), nullable=True),
    # valid | superseded (by a re-read)
    Column("status", String(16), nullable=False, server_default="valid"),
    Index("ix_readings_meter_id_register_read_at", "meter_id", "register", "read_at"),
    Index("ix_readings_meter_id_cycle", "meter_id", "cycle"),
)

# What the push rules read of each meter's reading history, kept per meter so that a batch
# reads one row a meter instead of its history (server/services/meter_state.py). A cache of
# ``readings``, current while ``fresh`` and ``readings`` is still the meter's count of readings:
# triggers (migrations 0005, 0006) add a fresh empty row for every new meter and mark the row
# stale when one of the meter's readings is updated or deleted; an insert changes the count.
meter_state = Table(
    "meter_state",
    metadata,
    Column("meter_id", ID, primary_key=True),
    Column("fresh", Boolean, nullable=False),
    Column("readings", Integer, nullable=False, server_default="-1"),
    # JSON: {register: [all kept?, [[value, read_at, method, cycle], ...oldest first]]}
    Column("recent", Text, nullable=False),
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
    # Who holds an entity: what feed.touch asks on every push.
    Index("ix_sync_feed_kind_entity_id", "kind", "entity_id"),
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

# One row per pushed batch that stored or answered anything: its receipt.
batches = Table(
    "batches",
    metadata,
    Column("id", String(36), primary_key=True),
    Column("user_id", ID, nullable=False),
    Column("device_id", ID, nullable=False),
    Column("received_at", UTCDateTime, nullable=False),
    Column("item_count", Integer, nullable=False),
    Column("stored_count", Integer, nullable=False),
    Column("response", LargeBinary, nullable=False),
    Index("ix_batches_device_id_received_at", "device_id", "received_at"),
)

# Every stored item of every type, keyed by the tablet's op_id (the idempotency key).
ops = Table(
    "ops",
    metadata,
    Column("op_id", String(36), primary_key=True),
    Column("batch_id", String(36), nullable=False),
    Column("user_id", ID, nullable=False),
    Column("device_id", ID, nullable=False),
    Column("type", String(16), nullable=False),
    Column("meter_id", ID, nullable=False),
    Column("content_hash", String(64), nullable=False),
    Column("status", String(16), nullable=False),  # accepted | flagged
    Column("flags", JSON, nullable=False),
    Column("review_task_id", ID, nullable=True),
    Column("recorded_at", UTCDateTime, nullable=False),
    Column("recorded_at_corrected", UTCDateTime, nullable=False),
    Column("received_at", UTCDateTime, nullable=False),
    Column("evidence", String(16), nullable=False),  # none | incomplete | complete
    Column("payload", JSON, nullable=False),
    Index("ix_ops_device_id_received_at", "device_id", "received_at"),
    Index("ix_ops_meter_id_received_at", "meter_id", "received_at"),
)

review_tasks = Table(
    "review_tasks",
    metadata,
    Column("id", ID, primary_key=True),
    Column("kind", String(16), nullable=False),  # reading | seal | anomaly | theft | inspection | district
    # open | claimed | pending_approval | resolved
    Column("status", String(20), nullable=False),
    Column("priority", Integer, nullable=False),  # 1 first
    Column("meter_id", ID, nullable=True),
    Column("district_id", ID, nullable=True),
    Column("cycle", String(7), nullable=True),
    Column("flags", JSON, nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
    Column("claimed_by", ID, nullable=True),
    Column("claimed_at", UTCDateTime, nullable=True),
    Column("decision", String(16), nullable=True),
    Column("decision_note", Text, nullable=True),
    Column("adjustment_kwh", String(32), nullable=True),
    Column("decided_by", ID, nullable=True),
    Column("decided_at", UTCDateTime, nullable=True),
    Column("decision_team", JSON, nullable=True),
    Column("approved_by", ID, nullable=True),
    Column("approval_note", Text, nullable=True),
    Column("resolved_at", UTCDateTime, nullable=True),
    Index("ix_review_tasks_status_priority_created_at", "status", "priority", "created_at"),
    # One unresolved task per meter and cycle collects that meter's flags.
    Index(
        "uq_review_tasks_unresolved_meter_cycle",
        "meter_id",
        "cycle",
        unique=True,
        sqlite_where=text("status <> 'resolved' AND meter_id IS NOT NULL"),
        postgresql_where=text("status <> 'resolved' AND meter_id IS NOT NULL"),
    ),
    # District tasks (line loss, imbalance): one unresolved per district, month and kind.
    Index(
        "uq_review_tasks_unresolved_district_cycle_kind",
        "district_id",
        "cycle",
        "kind",
        unique=True,
        sqlite_where=text("status <> 'resolved' AND meter_id IS NULL"),
        postgresql_where=text("status <> 'resolved' AND meter_id IS NULL"),
    ),
)

review_task_items = Table(
    "review_task_items",
    metadata,
    Column("task_id", ID, ForeignKey("review_tasks.id"), primary_key=True),
    Column("op_id", String(36), ForeignKey("ops.op_id"), primary_key=True),
)

photos = Table(
    "photos",
    metadata,
    Column("sha256", String(64), primary_key=True),
    Column("size", BigInteger, nullable=False),
    Column("content_type", String(32), nullable=False),
    Column("width", Integer, nullable=False),
    Column("height", Integer, nullable=False),
    Column("taken_at", UTCDateTime, nullable=True),
    Column("lat", String(32), nullable=True),
    Column("lon", String(32), nullable=True),
    Column("orientation", Integer, nullable=True),
    Column("uploaded_by", ID, nullable=False),
    Column("device_id", ID, nullable=False),
    Column("uploaded_at", UTCDateTime, nullable=False),
)

# Which items name which photos (held or not yet).
op_photos = Table(
    "op_photos",
    metadata,
    Column("op_id", String(36), ForeignKey("ops.op_id"), primary_key=True),
    Column("sha256", String(64), primary_key=True),
    Index("ix_op_photos_sha256", "sha256"),
)

# Resumable photo uploads (tus conventions). The bytes live in the photo store
# as parts, so any app server can take the next chunk.
photo_uploads = Table(
    "photo_uploads",
    metadata,
    Column("id", String(64), primary_key=True),
    Column("sha256", String(64), nullable=False),
    Column("size", BigInteger, nullable=False),
    Column("user_id", ID, nullable=False),
    Column("device_id", ID, nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    Column("expires_at", UTCDateTime, nullable=False),
    Index("ix_photo_uploads_expires_at", "expires_at"),
)

# A final review decision, delivered to each user whose items the task holds.
outcomes = Table(
    "outcomes",
    metadata,
    Column("id", ID, primary_key=True),
    Column("user_id", ID, nullable=False),
    Column("task_id", ID, ForeignKey("review_tasks.id"), nullable=False),
    Column("decision", String(16), nullable=False),
    Column("note", Text, nullable=True),
    Column("op_ids", JSON, nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    Index("ix_outcomes_user_id", "user_id"),
)
