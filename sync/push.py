"""Plan a pushed batch (PROTOCOL §5): per-item verdicts in request order, the rows to
write and the review tasks to open or extend. Pure: everything it needs is handed in.

Items are judged in order against a ledger that the batch itself moves on:
a reading accepted earlier in the batch is the last reading for a later one,
a seal removed earlier frees its position for the installation that follows.
"""

from __future__ import annotations

import dataclasses
import hashlib
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any, Callable, Iterable, Mapping

import msgspec

from field_schemas import push as wire
from sync.consumption import ActualRead
from sync.ledger import BatchContext, BatchLedger, MeterView, SealView
from sync.rules import judge_item
from sync.rules_types import (
    AnomalyItem,
    CustomerAck,
    InspectionItem,
    Item,
    Location,
    ReadingItem,
    Rejection,
    SealEventItem,
    Verdict,
)

_encoder = msgspec.json.Encoder()

SEAL_FLAGS = {"seal_mismatch", "seal_broken", "pliers_not_issued"}
THEFT_FLAGS = {"theft_check", "anomaly:suspected_theft", "anomaly:wiring_tampered", "anomaly:unmetered_load",
               "anomaly:unauthorized_use", "anomaly:meter_stolen", "evidence_incomplete"}


@dataclass(frozen=True)
class StoredOp:
    """What the server answered when the op was first stored."""

    content_hash: str
    status: str
    flags: list[dict[str, str]]
    review_task_id: str | None


@dataclass
class OpenTask:
    id: str
    kind: str
    priority: int
    flags: list[dict[str, str]]
    district_id: str | None = None
    is_new: bool = False
    changed: bool = False
    added: list[dict[str, str]] = field(default_factory=list)  # flags this plan added to a task already open


@dataclass
class BatchPlan:
    results: list[wire.ItemResult] = field(default_factory=list)
    ops: list[dict[str, Any]] = field(default_factory=list)
    readings: list[dict[str, Any]] = field(default_factory=list)
    superseded: list[tuple[str, str, str]] = field(default_factory=list)  # (meter, register, cycle)
    seal_removals: list[dict[str, Any]] = field(default_factory=list)
    seal_installs: list[dict[str, Any]] = field(default_factory=list)
    tasks: dict[tuple[str, str], OpenTask] = field(default_factory=dict)
    task_items: list[dict[str, str]] = field(default_factory=list)
    op_photos: list[dict[str, str]] = field(default_factory=list)
    touched_meters: set[str] = field(default_factory=set)
    # Field work that this batch completes: re-read assignments and inspection orders.
    done_assignments: list[str] = field(default_factory=list)
    done_orders: list[tuple[str, str]] = field(default_factory=list)  # (order_id, meter_id)

    @property
    def stored(self) -> int:
        return len(self.ops)


def content_hash(item: wire.Item) -> str:
    return hashlib.sha256(_encoder.encode(item)).hexdigest()


def to_rule_item(item: wire.Item) -> Item:
    """The wire struct as the plain item the rules read."""
    loc = Location(item.location.lat, item.location.lon, item.location.accuracy_m) if item.location else None
    common = {"op_id": item.op_id, "meter_id": item.meter_id, "recorded_at": item.recorded_at,
              "location": loc, "photo_ids": tuple(item.photo_ids), "note": item.note}
    if isinstance(item, wire.Reading):
        return ReadingItem(assignment_id=item.assignment_id, register=item.register, value=item.value,
                           method=item.method, unable_reason=item.unable_reason, **common)
    if isinstance(item, wire.SealEvent):
        return SealEventItem(action=item.action, seal_number=item.seal_number, position=item.position,
                             pliers_id=item.pliers_id, participants=tuple(item.participants), **common)
    if isinstance(item, wire.Anomaly):
        return AnomalyItem(code=item.code, observed_at=item.observed_at, **common)
    ack = item.customer_ack
    return InspectionItem(
        kind=item.kind, started_at=item.started_at, ended_at=item.ended_at, participants=tuple(item.participants),
        order_id=item.order_id, findings=tuple(item.findings), record_text=item.record_text,
        customer_ack=CustomerAck(ack.status, ack.signer_name, ack.signature_photo_id),
        estimated_unbilled_kwh=_decimal_or_none(item.estimated_unbilled_kwh), **common,
    )


def _decimal_or_none(text: str | None) -> Decimal | None:
    try:
        return Decimal(text) if text is not None else None
    except ArithmeticError:
        return None


def named_photos(item: wire.Item) -> list[str]:
    """Every photo an item names, the signature photo included."""
    photos = list(dict.fromkeys(item.photo_ids))
    if isinstance(item, wire.Inspection) and item.customer_ack.signature_photo_id:
        sig = item.customer_ack.signature_photo_id
        if sig not in photos:
            photos.append(sig)
    return photos


def task_kind(flags: Iterable[str]) -> tuple[str, int]:
    """Kind and priority of the review task for these flags: theft and seals first."""
    codes = set(flags)
    if codes & THEFT_FLAGS:
        return "theft", 1
    if codes & SEAL_FLAGS:
        return "seal", 2
    if any(c.startswith("anomaly:") for c in codes):
        return "anomaly", 3
    return "reading", 4


def item_cycle(item: Item, ledger: BatchLedger, ctx: BatchContext) -> str:
    if isinstance(item, ReadingItem) and item.assignment_id in ledger.assignments:
        return ledger.assignments[item.assignment_id].cycle
    return ctx.station_date(ctx.corrected(item.recorded_at)).strftime("%Y-%m")


def _result(op_id: str, verdict_status: str, *, original: str | None = None, errors: Iterable[Rejection] = (),
            flags: Iterable[dict[str, str]] = (), task_id: str | None = None) -> wire.ItemResult:
    return wire.ItemResult(
        op_id=op_id, status=verdict_status, original_status=original,  # type: ignore[arg-type]
        errors=[wire.ResultError(e.code, e.message, e.field) for e in errors],
        flags=[wire.ResultFlag(f["code"], f["message"]) for f in flags],
        review_task_id=task_id,
    )


def _read_together(items: list[wire.Item]) -> dict[str, dict[str, Decimal]]:
    """For each assignment, the values of the meter's registers read in this batch."""
    out: dict[str, dict[str, Decimal]] = defaultdict(dict)
    for it in items:
        if isinstance(it, wire.Reading) and it.method == "actual" and it.value is not None:
            value = _decimal_or_none(it.value)
            if value is not None and value.is_finite():
                out[it.assignment_id][it.register] = value
    return out


def plan_batch(
    request: wire.PushRequest,
    *,
    ctx: BatchContext,
    ledger: BatchLedger,
    stored: Mapping[str, StoredOp],
    open_tasks: Mapping[tuple[str, str], OpenTask],
    held_photos: set[str],
    device_id: str,
    new_task_id: Callable[[], str],
) -> BatchPlan:
    plan = BatchPlan(tasks=dict(open_tasks))
    stored = dict(stored)
    # One ledger for the whole batch: its meters are replaced in place as items move them.
    meters: dict[str, MeterView] = dict(ledger.meters)
    current = dataclasses.replace(ledger, meters=meters)
    together = _read_together(request.items)
    # Items still to come per meter: the ledger view of a meter no later item names need not move.
    to_come = Counter(i.meter_id for i in request.items)
    for wire_item in request.items:
        to_come[wire_item.meter_id] -= 1
        encoded = _encoder.encode(wire_item)
        digest = hashlib.sha256(encoded).hexdigest()  # content_hash(wire_item)
        earlier = stored.get(wire_item.op_id)
        if earlier is not None:
            if earlier.content_hash == digest:
                plan.results.append(_result(wire_item.op_id, "duplicate", original=earlier.status,
                                            flags=earlier.flags, task_id=earlier.review_task_id))
            else:
                plan.results.append(_result(wire_item.op_id, "rejected", errors=[Rejection(
                    "op_id_conflict",
                    "This op_id is already stored with other content. Record the item again with a new op_id.",
                    "$.op_id")]))
            continue
        item = to_rule_item(wire_item)
        extra = {k: v for k, v in together.get(wire_item.assignment_id, {}).items() if k != wire_item.register} \
            if isinstance(wire_item, wire.Reading) else None
        verdict: Verdict = judge_item(item, ctx, current, extra)
        if verdict.status == "rejected":
            plan.results.append(_result(item.op_id, "rejected", errors=verdict.errors))
            continue
        flags = [{"code": f.code, "message": f.message} for f in verdict.flags]
        cycle = item_cycle(item, ledger, ctx)
        district = meters[item.meter_id].district_id if item.meter_id in meters else None
        task_id = _attach_to_task(plan, item, flags, cycle, district, new_task_id) if flags else None
        photos = named_photos(wire_item)
        evidence = "none" if not photos else ("complete" if set(photos) <= held_photos else "incomplete")
        plan.ops.append({
            "op_id": item.op_id, "batch_id": request.batch_id, "user_id": ctx.submitter.id, "device_id": device_id,
            "type": item.type, "meter_id": item.meter_id, "content_hash": digest, "status": verdict.status,
            "flags": flags, "review_task_id": task_id, "recorded_at": item.recorded_at,
            "recorded_at_corrected": ctx.corrected(item.recorded_at), "received_at": ctx.now,
            "evidence": evidence, "payload": msgspec.to_builtins(wire_item),
            "payload_json": encoded,  # the payload as stored: the same JSON, encoded once
        })
        plan.op_photos += [{"op_id": item.op_id, "sha256": p} for p in photos]
        stored[item.op_id] = StoredOp(digest, verdict.status, flags, task_id)
        plan.results.append(_result(item.op_id, verdict.status, flags=flags, task_id=task_id))
        meters[item.meter_id] = _apply_to_ledger(plan, item, meters[item.meter_id], ledger, ctx, cycle,
                                                 seen_again=to_come[item.meter_id] > 0)
    return plan


def attach_to_task(plan: BatchPlan, meter_id: str, cycle: str, op_id: str, flags: list[dict[str, str]],
                   district_id: str | None, new_task_id: Callable[[], str]) -> OpenTask:
    """One unresolved task per meter and cycle collects its flags: the item's flags join it
    (the task is opened when there is none)."""
    key = (meter_id, cycle)
    task = plan.tasks.get(key)
    kind, priority = task_kind(f["code"] for f in flags)
    tagged = [{**f, "op_id": op_id} for f in flags]
    if task is None:
        task = OpenTask(id=new_task_id(), kind=kind, priority=priority, flags=tagged, district_id=district_id,
                        is_new=True)
        plan.tasks[key] = task
    else:
        task.flags = task.flags + tagged
        if priority < task.priority:
            task.kind, task.priority = kind, priority
        task.changed = True
        if not task.is_new:
            task.added = task.added + tagged
    return task


def _attach_to_task(plan: BatchPlan, item: Item, flags: list[dict[str, str]], cycle: str, district_id: str | None,
                    new_task_id: Callable[[], str]) -> str:
    task = attach_to_task(plan, item.meter_id, cycle, item.op_id, flags, district_id, new_task_id)
    plan.task_items.append({"task_id": task.id, "op_id": item.op_id})
    return task.id


def _apply_to_ledger(plan: BatchPlan, item: Item, meter: MeterView, ledger: BatchLedger,
                     ctx: BatchContext, cycle: str, seen_again: bool = True) -> MeterView:
    """Record the item's effect on the ledger and return the meter as later items see it
    (unchanged when no later item of the batch names the meter: nobody would look)."""
    at = ctx.corrected(item.recorded_at)
    if isinstance(item, ReadingItem):
        assignment = ledger.assignments.get(item.assignment_id) if item.assignment_id else None
        plan.readings.append({
            "meter_id": item.meter_id, "register": item.register, "value": item.value, "read_at": at,
            "method": item.method, "source": "field", "cycle": cycle, "op_id": item.op_id,
            "assignment_id": item.assignment_id, "user_id": ctx.submitter.id,
            "unable_reason": item.unable_reason, "status": "valid",
        })
        if assignment is not None and assignment.task == "reread":
            plan.superseded.append((item.meter_id, item.register, cycle))
            plan.done_assignments.append(assignment.id)
        plan.touched_meters.add(item.meter_id)
        if seen_again and item.method == "actual" and item.value is not None:
            history = dict(meter.history)
            history[item.register] = (*history.get(item.register, ()), ActualRead(Decimal(item.value), at))
            stored_values = {**meter.stored_cycle_values, (item.register, cycle): item.value}
            return dataclasses.replace(meter, history=history, stored_cycle_values=stored_values,
                                       reads_before=meter.reads_before + 1)
        return meter
    if isinstance(item, InspectionItem) and item.order_id:
        plan.done_orders.append((item.order_id, item.meter_id))
        return meter
    if isinstance(item, SealEventItem) and item.action in ("installed", "removed"):
        plan.touched_meters.add(item.meter_id)
        plan.seal_removals.append({"meter_id": item.meter_id, "position": item.position, "at": at,
                                   "by": ctx.submitter.id, "reason": item.action})
        remaining = tuple(s for s in meter.seals if s.position != item.position)
        if item.action == "installed":
            plan.seal_installs.append({"meter_id": item.meter_id, "position": item.position,
                                       "number": item.seal_number, "installed_at": at,
                                       "installed_by": ctx.submitter.id})
            remaining += (SealView(item.position, item.seal_number),)
        return dataclasses.replace(meter, seals=remaining) if seen_again else meter
    return meter


def clock_skew_s(sent_at: datetime, server_time: datetime) -> float:
    return round((sent_at - server_time).total_seconds(), 3)
