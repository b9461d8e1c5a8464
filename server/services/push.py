"""Push (PROTOCOL §5): judge a batch against the ledger and store it in one transaction.

The answer is encoded once, stored as the batch's receipt, and sent only
after the commit. A resent batch is judged again: its stored items answer
``duplicate`` with their first verdict, nothing is stored twice.
"""

from __future__ import annotations

import asyncio
import uuid
import weakref
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Callable

import anyio.to_thread
import msgspec
from sqlalchemy import Connection, and_, bindparam, insert, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import IntegrityError

from field_schemas import push as wire
from server.auth import Principal
from server.clock import utcnow
from server.db.audit import audit_many
from server.db.bulk import insert_rows, json_text, time_binder
from server.db.engine import Database
from server.db.tables import (
    assignments,
    batches,
    devices,
    inspection_order_team,
    inspection_orders,
    op_photos,
    ops,
    photos,
    readings,
    review_task_items,
    review_tasks,
    seals,
)
from server.errors import ApiError
from server.services import evidence, feed, meter_state
from server.services.pull import check_schema_version
from server.services.writer import writer_of
from server.services.push_ledger import BatchKeys, Fetched, Inputs, fetch, inputs, submitter
from server.settings import Settings
from sync.ledger import BatchContext
from sync.push import BatchPlan, clock_skew_s, plan_batch

_encoder = msgspec.json.Encoder()
FIELD_ROLES = ("reader", "inspector")


def new_task_id() -> str:
    return f"rt-{uuid.uuid4().hex[:16]}"


def check_request(settings: Settings, who: Principal, req: wire.PushRequest) -> None:
    """Refusals of the whole request, before anything is read or written."""
    if not who.has(*FIELD_ROLES):
        raise ApiError("forbidden", "Only readers and inspectors push field items.")
    if req.device_id != who.device_id:
        raise ApiError(
            "device_mismatch",
            f"This token belongs to device {who.device_id}, the batch names {req.device_id}. Log in on this device.",
            field="$.device_id",
        )
    # Old apps may still upload (upload-only mode): only a newer schema is refused.
    check_schema_version(settings, req.schema_version, pulling=False, field="$.schema_version")
    if len(req.items) > settings.max_batch_items:
        raise ApiError(
            "batch_too_large",
            f"A batch holds at most {settings.max_batch_items} items; this one has {len(req.items)}. "
            "Split it and send the parts.",
        )


def push(db: Database, settings: Settings, who: Principal, req: wire.PushRequest) -> bytes:
    """Judge and store a batch in a transaction of its own; the answer, once committed."""
    check_request(settings, who, req)
    try:
        with db.write() as conn:
            return _push_once(conn, settings, who, req)
    except IntegrityError:
        # The same items committed meanwhile by a concurrent copy of this batch
        # (PostgreSQL waits for it, then reports the clash): judge again, now as duplicates.
        with db.write() as conn:
            return _push_once(conn, settings, who, req)


# Batches a server process judges and stores at once; the others wait their turn, decoded.
# A batch being judged holds its meters' ledger views and its plan (megabytes for 500 items),
# and at the end of a shift hundreds of tablets push at the same moment: this bounds the
# memory, not the throughput (the group writer commits what these few hand it).
BATCHES_AT_ONCE = 8
_turns: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, asyncio.Semaphore] = weakref.WeakKeyDictionary()


def _batch_turns() -> asyncio.Semaphore:
    loop = asyncio.get_running_loop()
    turns = _turns.get(loop)
    if turns is None:
        turns = _turns[loop] = asyncio.Semaphore(BATCHES_AT_ONCE)
    return turns


async def push_async(db: Database, settings: Settings, who: Principal, req: wire.PushRequest) -> bytes:
    """``push`` for a request handler, at most ``BATCHES_AT_ONCE`` batches at a time.

    On SQLite the batch is judged on a read snapshot, outside the write lock (so that
    several are judged at once, in as many processes as serve), then joins the group
    writer's next commit: there, in its own savepoint, everything it was judged against is
    fetched again and, when anything differs, it is judged again before it is stored. The
    answer is released after that commit.
    """
    check_request(settings, who, req)
    async with _batch_turns():
        if not db.is_sqlite:
            return await anyio.to_thread.run_sync(push, db, settings, who, req)
        judged = await anyio.to_thread.run_sync(judge_on_snapshot, db, settings, who, req)
        return await writer_of(db).run(lambda conn: store_judged(conn, settings, who, req, judged),
                                       weight=len(req.items))


@dataclass
class Judged:
    """A batch judged: the rows it was judged against, what they made, and the plan."""

    keys: BatchKeys
    fetched: Fetched
    inputs: Inputs
    plan: BatchPlan
    now: datetime
    skew: float


def _judge(req: wire.PushRequest, who: Principal, settings: Settings, keys: BatchKeys, fetched: Fetched,
           now: datetime, skew: float) -> Judged:
    made = inputs(fetched, req.items, keys)
    ctx = BatchContext(now=now, skew_s=skew, station_tz=settings.station_timezone,
                       submitter=submitter(fetched, who.user_id), thresholds=settings.thresholds)
    plan = plan_batch(
        req, ctx=ctx, ledger=made.ledger, stored=made.stored, open_tasks=made.open_tasks,
        held_photos=made.held_photos, device_id=who.device_id, new_task_id=new_task_id,
    )
    return Judged(keys, fetched, made, plan, now, skew)


def _push_once(conn: Connection, settings: Settings, who: Principal, req: wire.PushRequest) -> bytes:
    now = utcnow()
    keys = BatchKeys.of(req.items, who.user_id, settings.thresholds)
    judged = _judge(req, who, settings, keys, fetch(conn, keys, lock=True), now, clock_skew_s(req.sent_at, now))
    return _store(conn, settings, who, req, judged)


def judge_on_snapshot(db: Database, settings: Settings, who: Principal, req: wire.PushRequest) -> Judged:
    """Judge the batch against one read snapshot, holding no lock."""
    now = utcnow()
    keys = BatchKeys.of(req.items, who.user_id, settings.thresholds)
    with db.read() as conn:
        fetched = fetch(conn, keys, lock=False)
    return _judge(req, who, settings, keys, fetched, now, clock_skew_s(req.sent_at, now))


def store_judged(conn: Connection, settings: Settings, who: Principal, req: wire.PushRequest, judged: Judged) -> bytes:
    """In the write transaction: the batch as judged when nothing it was judged against has
    changed since (the same rows, so the same verdicts), else judged again first."""
    again = fetch(conn, judged.keys, lock=True, like=judged.fetched)
    if again != judged.fetched:
        judged = _judge(req, who, settings, judged.keys, again, judged.now, judged.skew)
    return _store(conn, settings, who, req, judged)


def _store(conn: Connection, settings: Settings, who: Principal, req: wire.PushRequest, judged: Judged) -> bytes:
    plan, now = judged.plan, judged.now
    # Items whose photos arrived first get their EXIF checks now, in this answer.
    evidence.check_pushed(conn, settings, plan, new_task_id)
    write_plan(conn, plan, who.user_id, now)
    meter_state.add_batch(conn, judged.inputs.kept, plan.readings, plan.superseded)
    response = wire.PushResponse(
        batch_id=req.batch_id, server_time=now, clock_skew_s=judged.skew, results=plan.results,
        missing_photos=missing_photos(conn, who.user_id),
    )
    body = _encoder.encode(response)
    _save_receipt(conn, req, who, now, plan, body)
    conn.execute(update(devices).where(devices.c.id == who.device_id).values(last_push_at=now, last_seen_at=now))
    feed.touch(conn, [("meter", m) for m in plan.touched_meters], now)
    return body


OPS_COLUMNS = ("op_id", "batch_id", "user_id", "device_id", "type", "meter_id", "content_hash", "status", "flags",
               "review_task_id", "recorded_at", "recorded_at_corrected", "received_at", "evidence", "payload")
READING_COLUMNS = ("meter_id", "register", "value", "read_at", "method", "source", "cycle", "op_id",
                   "assignment_id", "user_id", "unable_reason", "status")


def write_plan(conn: Connection, plan: BatchPlan, actor: str, now: datetime) -> None:
    """The plan's rows, a statement per table, whatever the batch size: the many rows as
    tuples through the driver, each JSON value encoded once."""
    time = _memo(time_binder(conn))  # a batch's items share times: the server's, often the device's
    if plan.ops:
        insert_rows(conn, ops, OPS_COLUMNS, [
            (o["op_id"], o["batch_id"], o["user_id"], o["device_id"], o["type"], o["meter_id"], o["content_hash"],
             o["status"], json_text(o["flags"]) if o["flags"] else "[]", o["review_task_id"], time(o["recorded_at"]),
             time(o["recorded_at_corrected"]), time(o["received_at"]), o["evidence"], _payload_text(o))
            for o in plan.ops
        ])
    if plan.superseded:
        conn.execute(
            update(readings)
            .where(and_(readings.c.meter_id == bindparam("m"), readings.c.register == bindparam("r"),
                        readings.c.cycle == bindparam("c"), readings.c.status == "valid"))
            .values(status="superseded"),
            [{"m": m, "r": r, "c": c} for m, r, c in plan.superseded],
        )
    if plan.readings:
        insert_rows(conn, readings, READING_COLUMNS, [
            (r["meter_id"], r["register"], r["value"], time(r["read_at"]), r["method"], r["source"], r["cycle"],
             r["op_id"], r["assignment_id"], r["user_id"], r["unable_reason"], r["status"])
            for r in plan.readings
        ])
    _write_seals(conn, plan, now)
    new = [t for t in plan.tasks.values() if t.is_new]
    changed = [t for t in plan.tasks.values() if t.changed and not t.is_new]
    if new:
        keys = {t.id: k for k, t in plan.tasks.items()}
        conn.execute(insert(review_tasks), [
            {"id": t.id, "kind": t.kind, "status": "open", "priority": t.priority, "meter_id": keys[t.id][0],
             "district_id": t.district_id, "cycle": keys[t.id][1], "flags": t.flags,
             "created_at": now, "updated_at": now}
            for t in new
        ])
        audit_many(conn, ({"at": now, "actor": actor, "action": "task.create", "entity": "review_task",
                           "entity_id": t.id, "after": {"kind": t.kind, "flags": [f["code"] for f in t.flags]}}
                          for t in new))
    if changed:
        conn.execute(
            update(review_tasks).where(review_tasks.c.id == bindparam("tid"), review_tasks.c.status != "resolved")
            .values(flags=bindparam("f"), kind=bindparam("k"), priority=bindparam("p"), updated_at=now),
            [{"tid": t.id, "f": t.flags, "k": t.kind, "p": t.priority} for t in changed],
        )
        # What a later item (or a photo that arrived) added to a task already open, and by whom.
        audit_many(conn, ({"at": now, "actor": actor, "action": "task.update", "entity": "review_task",
                           "entity_id": t.id, "after": {"flags_added": [f["code"] for f in t.added],
                                                        "op_ids": sorted({f["op_id"] for f in t.added})}}
                          for t in changed if t.added))
    if plan.task_items:
        insert_rows(conn, review_task_items, ("task_id", "op_id"),
                    [(t["task_id"], t["op_id"]) for t in plan.task_items])
    if plan.op_photos:
        insert_rows(conn, op_photos, ("op_id", "sha256"), [(p["op_id"], p["sha256"]) for p in plan.op_photos])
    _complete_field_work(conn, plan, actor, now)


def _memo(convert: Callable[[Any], Any]) -> Callable[[Any], Any]:
    done: dict[Any, Any] = {}

    def converted(value: Any) -> Any:
        try:
            return done[value]
        except KeyError:
            out = done[value] = convert(value)
            return out
    return converted


def _payload_text(op: dict[str, Any]) -> str:
    encoded = op.get("payload_json")
    return encoded.decode() if encoded is not None else json_text(op["payload"])


def _complete_field_work(conn: Connection, plan: BatchPlan, actor: str, now: datetime) -> None:
    """A re-read that arrived closes its assignment; an inspection naming its order closes the order.
    Their tablets then get the removal on the next pull."""
    closed_assignments: list[str] = []
    closed_orders: list[str] = []
    if plan.done_assignments:
        closed_assignments = list(conn.execute(
            update(assignments)
            .where(assignments.c.id.in_(sorted(set(plan.done_assignments))), assignments.c.status == "open")
            .values(status="done", updated_at=now).returning(assignments.c.id)
        ).scalars())
    if plan.done_orders:
        named = dict(plan.done_orders)
        open_orders = conn.execute(
            select(inspection_orders.c.id, inspection_orders.c.meter_id)
            .where(inspection_orders.c.id.in_(sorted(named)), inspection_orders.c.status == "open")
        ).all()
        closed_orders = sorted(o for o, m in open_orders if named[o] == m)
        if closed_orders:
            conn.execute(update(inspection_orders).where(inspection_orders.c.id.in_(closed_orders))
                         .values(status="done", updated_at=now))
    if not closed_assignments and not closed_orders:
        return
    audit_many(conn, [
        *({"at": now, "actor": actor, "action": "assignment.done", "entity": "assignment", "entity_id": a,
           "before": {"status": "open"}, "after": {"status": "done"}} for a in closed_assignments),
        *({"at": now, "actor": actor, "action": "order.done", "entity": "inspection_order", "entity_id": o,
           "before": {"status": "open"}, "after": {"status": "done"}} for o in closed_orders),
    ])
    holders = set(conn.execute(select(assignments.c.user_id).where(assignments.c.id.in_(closed_assignments))).scalars())
    holders |= set(conn.execute(select(inspection_order_team.c.user_id)
                                .where(inspection_order_team.c.order_id.in_(closed_orders))).scalars())
    feed.refresh_users(conn, holders, now)


def _write_seals(conn: Connection, plan: BatchPlan, now: datetime) -> None:
    if plan.seal_removals:
        conn.execute(
            update(seals)
            .where(and_(seals.c.meter_id == bindparam("m"), seals.c.position == bindparam("p"),
                        seals.c.removed_at.is_(None)))
            .values(removed_at=bindparam("at"), removed_by=bindparam("by"), removal_reason=bindparam("why")),
            [{"m": r["meter_id"], "p": r["position"], "at": r["at"], "by": r["by"],
              "why": "replaced" if r["reason"] == "installed" else "removed"} for r in plan.seal_removals],
        )
    if plan.seal_installs:
        conn.execute(insert(seals), plan.seal_installs)
    changes = [("seal.remove", r["meter_id"], {"position": r["position"]}, r["by"]) for r in plan.seal_removals]
    changes += [("seal.install", r["meter_id"], {"position": r["position"], "number": r["number"]}, r["installed_by"])
                for r in plan.seal_installs]
    audit_many(conn, ({"at": now, "actor": by, "action": action, "entity": "meter", "entity_id": meter_id,
                       "after": after} for action, meter_id, after, by in changes))


def missing_photos(conn: Connection, user_id: str) -> list[str]:
    """Every photo named by this user's items that the server does not hold yet."""
    rows = conn.execute(
        select(op_photos.c.sha256).distinct()
        .join(ops, ops.c.op_id == op_photos.c.op_id)
        .outerjoin(photos, photos.c.sha256 == op_photos.c.sha256)
        .where(ops.c.user_id == user_id, photos.c.sha256.is_(None))
        .order_by(op_photos.c.sha256)
    ).scalars().all()
    return list(rows)


def _save_receipt(conn: Connection, req: wire.PushRequest, who: Principal, now: datetime, plan: BatchPlan,
                  body: bytes) -> None:
    values = {"id": req.batch_id, "user_id": who.user_id, "device_id": who.device_id, "received_at": now,
              "item_count": len(req.items), "stored_count": plan.stored, "response": body}
    dialect = postgresql if conn.dialect.name == "postgresql" else sqlite
    stmt = dialect.insert(batches).values(**values)
    # A resent batch keeps its first receipt's owner; its latest answer is the receipt.
    conn.execute(stmt.on_conflict_do_update(
        index_elements=[batches.c.id],
        set_={"response": stmt.excluded.response, "received_at": stmt.excluded.received_at},
        where=batches.c.user_id == who.user_id,
    ))


def receipt(db: Database, who: Principal, batch_id: str) -> bytes:
    with db.read() as conn:
        body = conn.execute(
            select(batches.c.response).where(batches.c.id == batch_id, batches.c.user_id == who.user_id)
        ).scalar()
    if body is None:
        raise ApiError("not_found", "No committed batch with this id is yours. Resend the batch: nothing is stored twice.")
    return bytes(body)
