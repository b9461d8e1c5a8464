"""Reading the review queue: a page of tasks, and one task in full with everything a
reviewer weighs. Each costs a fixed number of queries, whatever the task holds."""

from __future__ import annotations

from collections import defaultdict
from decimal import Decimal
from typing import Any, Iterable

from sqlalchemy import Connection, Row, and_, literal, or_, select, union_all

from field_schemas.review import (
    CustomerInfo,
    FollowUp,
    HistoryEntry,
    ItemView,
    MeterInfo,
    PhotoLink,
    ReadingRow,
    SealRow,
    TaskDetail,
    TaskFlag,
    TaskPage,
    TaskSummary,
    TaskView,
)
from server.db.engine import Database
from server.db.tables import (
    assignments,
    audit_log,
    customers,
    inspection_order_team,
    inspection_orders,
    meters,
    op_photos,
    ops,
    photos,
    readings,
    review_task_items,
    review_tasks,
    seals,
)
from server.errors import ApiError
from sync.consumption import kwh_text
from sync.ledger import primary_register
from sync.review import (
    STATUSES,
    InvalidPageCursor,
    ReadingPoint,
    TaskKey,
    consumption_series,
    decode_task_cursor,
    encode_task_cursor,
)

DEFAULT_LIMIT, MAX_LIMIT = 50, 200
READINGS_SHOWN = 12
METER_ITEMS_SHOWN = 50
_SUMMARY = (review_tasks.c.id, review_tasks.c.kind, review_tasks.c.status, review_tasks.c.priority,
            review_tasks.c.meter_id, review_tasks.c.district_id, review_tasks.c.cycle, review_tasks.c.flags,
            review_tasks.c.created_at, review_tasks.c.claimed_by)
_ITEM = (ops.c.op_id, ops.c.type, ops.c.user_id, ops.c.status, ops.c.flags, ops.c.evidence, ops.c.recorded_at,
         ops.c.received_at, ops.c.review_task_id, ops.c.payload)


def clamp_limit(limit: int | None) -> int:
    return DEFAULT_LIMIT if limit is None else max(1, min(MAX_LIMIT, limit))


def not_found(task_id: str) -> ApiError:
    return ApiError("not_found", f"No review task {task_id!r}. Reload the queue.")


def task_flags(flags: Iterable[dict[str, Any]], op_id: str | None = None) -> list[TaskFlag]:
    return [TaskFlag(f["code"], f["message"], f.get("op_id", op_id)) for f in flags]


def _summary_fields(r: Row[Any]) -> dict[str, Any]:
    return {"id": r.id, "kind": r.kind, "status": r.status, "priority": r.priority, "meter_id": r.meter_id,
            "district_id": r.district_id, "cycle": r.cycle, "flags": task_flags(r.flags),
            "created_at": r.created_at, "claimed_by": r.claimed_by}


def list_tasks(db: Database, status: str, kind: str | None, district_id: str | None, cursor: str | None,
               limit: int | None) -> TaskPage:
    if status not in STATUSES:
        raise ApiError("invalid_request", f"status must be one of {', '.join(STATUSES)}.", field="status")
    limit = clamp_limit(limit)
    try:
        after = decode_task_cursor(cursor) if cursor else None
    except InvalidPageCursor as exc:
        raise ApiError("invalid_cursor", f"The cursor is not valid ({exc}). List again without it.",
                       field="cursor") from exc
    conditions = [review_tasks.c.status == status]
    if kind:
        conditions.append(review_tasks.c.kind == kind)
    if district_id:
        conditions.append(review_tasks.c.district_id == district_id)
    if after is not None:
        conditions.append(or_(
            review_tasks.c.priority > after.priority,
            and_(review_tasks.c.priority == after.priority, review_tasks.c.created_at > after.created_at),
            and_(review_tasks.c.priority == after.priority, review_tasks.c.created_at == after.created_at,
                 review_tasks.c.id > after.id),
        ))
    with db.read() as conn:
        rows = conn.execute(
            select(*_SUMMARY).where(*conditions)
            .order_by(review_tasks.c.priority, review_tasks.c.created_at, review_tasks.c.id).limit(limit + 1)
        ).all()
    page = rows[:limit]
    last = page[-1] if len(rows) > limit else None
    return TaskPage(
        tasks=[TaskSummary(**_summary_fields(r)) for r in page],
        cursor=encode_task_cursor(TaskKey(last.priority, last.created_at, last.id)) if last is not None else None,
    )


def follow_ups(conn: Connection, task_id: str) -> list[FollowUp]:
    """The re-read assignments and inspection orders this task sent out, oldest first."""
    rereads = conn.execute(
        select(assignments.c.id, assignments.c.user_id, assignments.c.status, assignments.c.due_until,
               assignments.c.reason)
        .where(assignments.c.review_task_id == task_id).order_by(assignments.c.created_at, assignments.c.id)
    ).all()
    orders = conn.execute(
        select(inspection_orders.c.id, inspection_order_team.c.user_id, inspection_orders.c.status,
               inspection_orders.c.due_until, inspection_orders.c.reason)
        .join(inspection_order_team, inspection_order_team.c.order_id == inspection_orders.c.id)
        .where(inspection_orders.c.review_task_id == task_id)
        .order_by(inspection_orders.c.created_at, inspection_orders.c.id, inspection_order_team.c.user_id)
    ).all()
    teams: dict[str, list[str]] = defaultdict(list)
    for o in orders:
        teams[o.id].append(o.user_id)
    out = [FollowUp("assignment", a.id, [a.user_id], a.status, a.due_until, a.reason) for a in rereads]
    seen: set[str] = set()
    for o in orders:
        if o.id not in seen:
            seen.add(o.id)
            out.append(FollowUp("inspection_order", o.id, teams[o.id], o.status, o.due_until, o.reason))
    return out


def _view_fields(row: Row[Any], sent: list[FollowUp]) -> dict[str, Any]:
    return {
        **_summary_fields(row), "claimed_at": row.claimed_at, "updated_at": row.updated_at,
        "decision": row.decision, "decision_note": row.decision_note, "adjustment_kwh": row.adjustment_kwh,
        "decision_team": list(row.decision_team) if row.decision_team is not None else None,
        "decided_by": row.decided_by, "decided_at": row.decided_at, "approved_by": row.approved_by,
        "approval_note": row.approval_note, "resolved_at": row.resolved_at, "follow_ups": sent,
    }


def task_view(conn: Connection, task_id: str) -> TaskView:
    row = conn.execute(select(review_tasks).where(review_tasks.c.id == task_id)).first()
    if row is None:
        raise not_found(task_id)
    return TaskView(**_view_fields(row, follow_ups(conn, task_id)))


def task_detail(db: Database, task_id: str) -> TaskDetail:
    with db.read() as conn:
        row = conn.execute(select(review_tasks).where(review_tasks.c.id == task_id)).first()
        if row is None:
            raise not_found(task_id)
        sent = follow_ups(conn, task_id)
        items = conn.execute(
            select(*_ITEM).join(review_task_items, review_task_items.c.op_id == ops.c.op_id)
            .where(review_task_items.c.task_id == task_id).order_by(ops.c.received_at, ops.c.op_id)
        ).all()
        answers = _answers(conn, row.meter_id, sent)
        meter_items = conn.execute(
            select(*_ITEM).where(ops.c.meter_id == row.meter_id)
            .order_by(ops.c.received_at.desc(), ops.c.op_id.desc()).limit(METER_ITEMS_SHOWN)
        ).all() if row.meter_id else []
        every = [*items, *answers, *meter_items]
        asked_by = _asking_tasks(conn, every)
        named = _named_photos(conn, [i.op_id for i in every])
        meter, customer = _meter_and_customer(conn, row.meter_id)
        register = primary_register(list(meter.registers)) if meter else None
        reading_rows = _readings(conn, meter, register) if meter else []
        seal_rows = conn.execute(
            select(seals).where(seals.c.meter_id == row.meter_id).order_by(seals.c.installed_at, seals.c.id)
        ).all() if row.meter_id else []
        history = conn.execute(
            select(audit_log.c.at, audit_log.c.actor, audit_log.c.action, audit_log.c.before, audit_log.c.after)
            .where(audit_log.c.entity == "review_task", audit_log.c.entity_id == task_id).order_by(audit_log.c.id)
        ).all()

    def view(i: Row[Any]) -> ItemView:
        return _item_view(i, asked_by, named.get(i.op_id, []))

    return TaskDetail(
        **_view_fields(row, sent),
        items=[view(i) for i in items],
        meter=_meter_info(meter) if meter else None,
        customer=_customer_info(customer) if customer else None,
        register=register,
        readings=reading_rows,
        seals=[SealRow(number=s.number, position=s.position, installed_at=s.installed_at, installed_by=s.installed_by,
                       removed_at=s.removed_at, removed_by=s.removed_by, removal_reason=s.removal_reason)
               for s in seal_rows],
        history=[HistoryEntry(h.at, h.actor, h.action, h.before, h.after) for h in history],
        answers=[view(i) for i in answers],
        meter_items=[view(i) for i in meter_items],
    )


def _answers(conn: Connection, meter_id: str | None, sent: list[FollowUp]) -> list[Row[Any]]:
    """The items that came in on this task's re-read assignments and inspection orders."""
    assignment_ids = [f.id for f in sent if f.kind == "assignment"]
    order_ids = [f.id for f in sent if f.kind == "inspection_order"]
    if meter_id is None or not sent:
        return []
    answered = []
    if assignment_ids:
        answered.append(ops.c.payload["assignment_id"].as_string().in_(assignment_ids))
    if order_ids:
        answered.append(ops.c.payload["order_id"].as_string().in_(order_ids))
    return list(conn.execute(
        select(*_ITEM).where(ops.c.meter_id == meter_id, or_(*answered)).order_by(ops.c.received_at, ops.c.op_id)
    ).all())


def _asking_tasks(conn: Connection, items: list[Row[Any]]) -> dict[tuple[str, str], str]:
    """``("assignment" | "order", id)`` → the task that sent that work, for the work these items name."""
    assignment_ids = sorted({p["assignment_id"] for i in items if isinstance(p := i.payload, dict)
                             and isinstance(p.get("assignment_id"), str)})
    order_ids = sorted({p["order_id"] for i in items if isinstance(p := i.payload, dict)
                        and isinstance(p.get("order_id"), str)})
    if not assignment_ids and not order_ids:
        return {}
    rows = conn.execute(union_all(
        select(literal("assignment"), assignments.c.id, assignments.c.review_task_id)
        .where(assignments.c.id.in_(assignment_ids), assignments.c.review_task_id.is_not(None)),
        select(literal("order"), inspection_orders.c.id, inspection_orders.c.review_task_id)
        .where(inspection_orders.c.id.in_(order_ids), inspection_orders.c.review_task_id.is_not(None)),
    )).all()
    return {(kind, work_id): task_id for kind, work_id, task_id in rows}


def _named_photos(conn: Connection, op_ids: list[str]) -> dict[str, list[PhotoLink]]:
    if not op_ids:
        return {}
    rows = conn.execute(
        select(op_photos.c.op_id, op_photos.c.sha256, photos.c.sha256.is_not(None).label("held"))
        .outerjoin(photos, photos.c.sha256 == op_photos.c.sha256)
        .where(op_photos.c.op_id.in_(sorted(set(op_ids)))).order_by(op_photos.c.op_id, op_photos.c.sha256)
    ).all()
    out: dict[str, list[PhotoLink]] = defaultdict(list)
    for op_id, sha, held in rows:
        out[op_id].append(PhotoLink(sha, bool(held), f"/api/v1/photos/{sha}", f"/api/v1/photos/{sha}/thumbnail"))
    return out


def _item_view(i: Row[Any], asked_by: dict[tuple[str, str], str], links: list[PhotoLink]) -> ItemView:
    payload = i.payload if isinstance(i.payload, dict) else {}
    answers = asked_by.get(("assignment", payload.get("assignment_id"))) or asked_by.get(("order", payload.get("order_id")))
    return ItemView(
        op_id=i.op_id, type=i.type, user_id=i.user_id, status=i.status, flags=task_flags(i.flags, i.op_id),
        evidence=i.evidence, recorded_at=i.recorded_at, received_at=i.received_at, review_task_id=i.review_task_id,
        answers_task_id=answers, photos=links, payload=i.payload,
    )


def _meter_and_customer(conn: Connection, meter_id: str | None) -> tuple[Row[Any] | None, Row[Any] | None]:
    if meter_id is None:
        return None, None
    meter = conn.execute(select(meters).where(meters.c.id == meter_id)).first()
    if meter is None or meter.customer_id is None:
        return meter, None
    return meter, conn.execute(select(customers).where(customers.c.id == meter.customer_id)).first()


def _meter_info(m: Row[Any]) -> MeterInfo:
    return MeterInfo(
        id=m.id, serial=m.serial, customer_id=m.customer_id, district_id=m.district_id, route_id=m.route_id,
        category=m.category, address=m.address, lat=m.lat, lon=m.lon, multiplier=m.multiplier, dials=m.dials,
        phases=m.phases, registers=list(m.registers), installed_at=m.installed_at, removed_at=m.removed_at,
    )


def _customer_info(c: Row[Any]) -> CustomerInfo:
    return CustomerInfo(id=c.id, account_no=c.account_no, name=c.name, address=c.address, category=c.category,
                        customer_class=c._mapping["class"], temp_supply_until=c.temp_supply_until)


def _readings(conn: Connection, meter: Row[Any], register: str) -> list[ReadingRow]:
    """The last readings of the main register, each with its energy since the valid actual read before it."""
    # Twice as many as shown, so that the oldest shown has the read before it.
    rows = list(reversed(conn.execute(
        select(readings).where(readings.c.meter_id == meter.id, readings.c.register == register)
        .order_by(readings.c.read_at.desc(), readings.c.id.desc()).limit(2 * READINGS_SHOWN)
    ).all()))
    energy = consumption_series([ReadingPoint(r.value, r.method, r.status) for r in rows],
                                Decimal(meter.multiplier), meter.dials)
    shown = list(zip(rows, energy))[-READINGS_SHOWN:]
    return [
        ReadingRow(register=r.register, value=r.value, read_at=r.read_at, method=r.method,
                   unable_reason=r.unable_reason, source=r.source, cycle=r.cycle, status=r.status, op_id=r.op_id,
                   user_id=r.user_id, consumption_kwh=kwh_text(e) if e is not None else None)
        for r, e in reversed(shown)
    ]
