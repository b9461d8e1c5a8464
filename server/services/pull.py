"""Pull (PROTOCOL §4): one page of a user's feed with the current data of each entity.

A page costs a fixed number of queries: the feed page, then one bulk load per
kind present. Everything is read in one snapshot (REPEATABLE READ on
PostgreSQL, one read transaction on SQLite), so the data matches the feed.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from typing import Any, Callable, Iterable
from zoneinfo import ZoneInfo

from sqlalchemy import Connection, and_, func, select, update

from field_schemas.pull import (
    AssignmentData,
    Change,
    CustomerData,
    ExpectedBand,
    InspectionOrderData,
    LastReading,
    Location,
    MeterData,
    OutcomeData,
    PullResponse,
    SealOnRecord,
)
from server.auth import Principal
from server.clock import utcnow
from server.db.engine import Database
from server.db.tables import (
    assignments,
    customers,
    devices,
    inspection_order_team,
    inspection_orders,
    meters,
    outcomes,
    seals,
    sync_feed,
    sync_state,
)
from server.errors import ApiError
from server.services import meter_state, writer
from server.settings import Settings
from sync.consumption import ActualRead, expected_band, kwh_text
from sync.ledger import primary_register
from sync.cursor import Cursor, InvalidCursor, decode_cursor, encode_cursor

DEVICE_TOUCH_INTERVAL = timedelta(minutes=1)

Loader = Callable[[Connection, list[str], "PullContext"], dict[str, Any]]


class PullContext:
    def __init__(self, settings: Settings, user_id: str, now: datetime) -> None:
        self.settings = settings
        self.user_id = user_id
        self.now = now
        self.tz = ZoneInfo(settings.station_timezone)

    def end_of_day_utc(self, day: date) -> datetime:
        return datetime.combine(day + timedelta(days=1), time(0), self.tz).astimezone(ZoneInfo("UTC"))


def check_schema_version(settings: Settings, version: int, *, pulling: bool, field: str = "schema_version") -> None:
    if version > settings.schema_current:
        raise ApiError(
            "schema_too_new",
            f"This server speaks schema up to {settings.schema_current}; the app sent {version}. "
            "Ask the station to update the server.",
            field=field,
        )
    if pulling and version < settings.schema_min:
        raise ApiError(
            "schema_too_old",
            f"Schema {version} is older than the server's minimum {settings.schema_min}. Update the app; "
            "until then, uploads (push) still work.",
        )


def clamp_limit(settings: Settings, limit: int | None) -> int:
    if limit is None:
        return settings.pull_default_limit
    return max(1, min(settings.pull_max_limit, limit))


def pull(db: Database, settings: Settings, who: Principal, cursor_text: str | None, limit: int | None) -> PullResponse:
    limit = clamp_limit(settings, limit)
    now = utcnow()
    try:
        cursor = decode_cursor(cursor_text, who.user_id) if cursor_text else None
    except InvalidCursor as exc:
        raise ApiError(
            "invalid_cursor", f"The cursor is not valid ({exc}). Pull again without a cursor.", field="cursor"
        ) from exc
    ctx = PullContext(settings, who.user_id, now)
    with db.read() as conn:
        last_seq, floor_seq = conn.execute(select(sync_state.c.last_seq, sync_state.c.floor_seq)).one()
        if cursor is not None and (cursor.seq < floor_seq or cursor.seq > last_seq):
            raise ApiError(
                "cursor_expired",
                "This cursor can no longer be served (too old, or the server was restored). "
                "Pull again without a cursor.",
            )
        if cursor is None:
            cursor = Cursor(seq=0, snapshot_until=last_seq)
        rows = _feed_page(conn, who.user_id, cursor, limit + 1)
        has_more = len(rows) > limit
        rows = rows[:limit]
        data = _load(conn, rows, ctx)
        last_pull_at = conn.execute(select(devices.c.last_pull_at).where(devices.c.id == who.device_id)).scalar()
    changes = []
    for seq, kind, entity_id, op in rows:
        payload = data.get(kind, {}).get(entity_id) if op == "upsert" else None
        # An upsert whose entity vanished is a removal to the tablet.
        changes.append(Change(seq=seq, op="upsert" if payload is not None else "remove", kind=kind, id=entity_id, data=payload))
    next_seq = rows[-1][0] if has_more else max(cursor.seq, last_seq)
    # Recorded at most once a minute: a page of a pull should not queue behind the writer.
    if last_pull_at is None or now - last_pull_at > DEVICE_TOUCH_INTERVAL:
        writer.write(db, lambda conn: conn.execute(
            update(devices).where(devices.c.id == who.device_id).values(last_pull_at=now, last_seen_at=now)))
    return PullResponse(
        cursor=encode_cursor(Cursor(next_seq, cursor.snapshot_until), who.user_id),
        has_more=has_more,
        server_time=now,
        changes=changes,
    )


def _feed_page(conn: Connection, user_id: str, cursor: Cursor, n: int) -> list[tuple[int, str, str, str]]:
    skip_old_removals = and_(sync_feed.c.op == "remove", sync_feed.c.seq <= cursor.snapshot_until)
    stmt = (
        select(sync_feed.c.seq, sync_feed.c.kind, sync_feed.c.entity_id, sync_feed.c.op)
        .where(sync_feed.c.user_id == user_id, sync_feed.c.seq > cursor.seq, ~skip_old_removals)
        .order_by(sync_feed.c.seq)
        .limit(n)
    )
    return [tuple(r) for r in conn.execute(stmt).all()]  # type: ignore[misc]


def _load(conn: Connection, rows: Iterable[tuple[int, str, str, str]], ctx: PullContext) -> dict[str, dict[str, Any]]:
    wanted: dict[str, list[str]] = defaultdict(list)
    for _, kind, entity_id, op in rows:
        if op == "upsert":
            wanted[kind].append(entity_id)
    return {kind: LOADERS[kind](conn, ids, ctx) for kind, ids in wanted.items() if kind in LOADERS}


def _load_assignments(conn: Connection, ids: list[str], ctx: PullContext) -> dict[str, Any]:
    rows = conn.execute(
        select(assignments).where(assignments.c.id.in_(ids), assignments.c.user_id == ctx.user_id, assignments.c.status == "open")
    ).all()
    return {
        r.id: AssignmentData(
            id=r.id, cycle=r.cycle, route_id=r.route_id, meter_id=r.meter_id, task=r.task,
            due_from=r.due_from, due_until=r.due_until, reason=r.reason,
        )
        for r in rows
    }


def _load_customers(conn: Connection, ids: list[str], ctx: PullContext) -> dict[str, Any]:
    rows = conn.execute(select(customers).where(customers.c.id.in_(ids))).all()
    return {
        r.id: CustomerData(
            id=r.id, account_no=r.account_no, name=r.name, address=r.address,
            category=r.category, temp_supply_until=r.temp_supply_until,
        )
        for r in rows
    }


def _load_orders(conn: Connection, ids: list[str], ctx: PullContext) -> dict[str, Any]:
    rows = conn.execute(select(inspection_orders).where(inspection_orders.c.id.in_(ids), inspection_orders.c.status == "open")).all()
    team: dict[str, list[str]] = defaultdict(list)
    for order_id, user_id in conn.execute(
        select(inspection_order_team.c.order_id, inspection_order_team.c.user_id)
        .where(inspection_order_team.c.order_id.in_(ids))
        .order_by(inspection_order_team.c.user_id)
    ):
        team[order_id].append(user_id)
    return {
        r.id: InspectionOrderData(id=r.id, kind=r.kind, meter_id=r.meter_id, team=team[r.id], due_until=r.due_until, reason=r.reason)
        for r in rows
        if ctx.user_id in team[r.id]
    }


def _load_meters(conn: Connection, ids: list[str], ctx: PullContext) -> dict[str, Any]:
    rows = conn.execute(
        select(meters, customers.c["class"].label("customer_class"))
        .outerjoin(customers, customers.c.id == meters.c.customer_id)
        .where(meters.c.id.in_(ids))
    ).all()
    seals_by_meter: dict[str, list[SealOnRecord]] = defaultdict(list)
    for s in conn.execute(
        select(seals.c.meter_id, seals.c.number, seals.c.position, seals.c.installed_at)
        .where(seals.c.meter_id.in_(ids), seals.c.removed_at.is_(None))
        .order_by(seals.c.meter_id, seals.c.position)
    ):
        seals_by_meter[s.meter_id].append(SealOnRecord(number=s.number, position=s.position, installed_at=s.installed_at))
    history = meter_state.actual_reads(conn, ids, ctx.settings.thresholds.consumption_intervals + 1)
    due = dict(
        conn.execute(
            select(assignments.c.meter_id, func.max(assignments.c.due_until))
            .where(assignments.c.meter_id.in_(ids), assignments.c.user_id == ctx.user_id, assignments.c.status == "open")
            .group_by(assignments.c.meter_id)
        ).all()
    )
    out: dict[str, Any] = {}
    for m in rows:
        register = primary_register(m.registers)
        reads = history.get((m.id, register), [])
        last = max(reads, key=lambda r: r[1]) if reads else None
        until = ctx.end_of_day_utc(due[m.id]) if m.id in due else ctx.now
        band = expected_band(
            [ActualRead(Decimal(v), t) for v, t in reads], Decimal(m.multiplier), m.dials, until, ctx.settings.thresholds
        ) if reads else None
        out[m.id] = MeterData(
            id=m.id, serial=m.serial, customer_id=m.customer_id, district_id=m.district_id, route_id=m.route_id,
            location=Location(address=m.address, lat=m.lat, lon=m.lon), multiplier=m.multiplier, dials=m.dials,
            registers=list(m.registers), phases=m.phases, meter_class=m.customer_class,
            last_reading=LastReading(register=register, value=last[0], read_at=last[1]) if last else None,
            expected=ExpectedBand(low_kwh=kwh_text(band.low_kwh), high_kwh=kwh_text(band.high_kwh)) if band else None,
            seals=seals_by_meter[m.id],
        )
    return out


def _load_outcomes(conn: Connection, ids: list[str], ctx: PullContext) -> dict[str, Any]:
    rows = conn.execute(select(outcomes).where(outcomes.c.id.in_(ids), outcomes.c.user_id == ctx.user_id)).all()
    return {r.id: OutcomeData(op_ids=list(r.op_ids), task_id=r.task_id, decision=r.decision, note=r.note) for r in rows}


LOADERS: dict[str, Loader] = {
    "outcome": _load_outcomes,
    "assignment": _load_assignments,
    "meter": _load_meters,
    "customer": _load_customers,
    "inspection_order": _load_orders,
}

__all__ = ["pull", "check_schema_version", "clamp_limit", "LOADERS", "primary_register"]
