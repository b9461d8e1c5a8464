"""Changing review tasks (PROTOCOL §7): claim, release, resolve, approve.

Each change is one write transaction: the task's row is locked (PostgreSQL)
or the single writer holds the database (SQLite), the pure rules of
``sync.review`` decide, the task moves with a conditional UPDATE, the change
is audited, follow-up work and outcomes are written, and the feeds of the
users concerned are written last.
"""

from __future__ import annotations

import uuid
from contextlib import contextmanager
from datetime import datetime
from typing import Any, Iterator

from sqlalchemy import Connection, Row, insert, select, update

from field_schemas.review import ApproveRequest, ResolveRequest, TaskView
from server.auth import Principal
from server.clock import utcnow
from server.db.audit import audit, audit_many
from server.db.engine import Database
from server.db.tables import assignments, cycles, meters, ops, outcomes, review_task_items, review_tasks, users
from server.errors import ApiError
from server.services import feed
from server.services.cycles import new_assignment_id
from server.services.inspections import choose_team, follow_up_due, insert_order
from server.services.review_detail import not_found, task_view
from server.settings import Settings
from sync.review import (
    Decision,
    Refusal,
    TaskState,
    check_approver,
    check_claim,
    check_holder,
    follow_up_reason,
    inspection_kind,
    judge_decision,
    outcome_recipients,
    status_after_approval,
)

REREAD_DAYS = 3
INSPECT_DAYS = 7
_UNDECIDED = {"decision": None, "decision_note": None, "adjustment_kwh": None, "decision_team": None,
              "decided_by": None, "decided_at": None}


@contextmanager
def _refusals_answered() -> Iterator[None]:
    """A refusal of the pure rules becomes the API's error with the same code."""
    try:
        yield
    except Refusal as refusal:
        raise ApiError(refusal.code, refusal.message, field=refusal.field) from None


def _state(row: Row[Any]) -> TaskState:
    return TaskState(row.status, row.claimed_by, row.decided_by)


def _locked_task(conn: Connection, task_id: str) -> Row[Any]:
    row = conn.execute(select(review_tasks).where(review_tasks.c.id == task_id).with_for_update()).first()
    if row is None:
        raise not_found(task_id)
    return row


def _move(conn: Connection, row: Row[Any], actor: str, action: str, now: datetime, values: dict[str, Any],
          note: str | None = None) -> None:
    """Move the task from the state it was read in, audited; a concurrent move makes it 409."""
    moved = conn.execute(
        update(review_tasks)
        .where(review_tasks.c.id == row.id, review_tasks.c.status == row.status)
        .values(**values, updated_at=now)
    ).rowcount
    if moved != 1:
        raise ApiError("invalid_state", "The task changed meanwhile. Reload it.")
    after = {"status": values.get("status", row.status)}
    for key in ("claimed_by", "decision", "adjustment_kwh", "decision_team"):
        if values.get(key) is not None:
            after[key] = values[key]
    if note is not None:
        after["note"] = note
    audit(conn, at=now, actor=actor, action=action, entity="review_task", entity_id=row.id,
          before={"status": row.status, "claimed_by": row.claimed_by}, after=after)


def claim(db: Database, task_id: str, who: Principal) -> TaskView:
    now = utcnow()
    with db.write() as conn:
        free = None
        if conn.dialect.name == "postgresql":
            # A task another reviewer is claiming right now is skipped, not waited for.
            free = conn.execute(
                select(review_tasks.c.id).where(review_tasks.c.id == task_id, review_tasks.c.status == "open")
                .with_for_update(skip_locked=True)
            ).first()
        row = conn.execute(select(review_tasks).where(review_tasks.c.id == task_id)).first()
        if row is None:
            raise not_found(task_id)
        if conn.dialect.name == "postgresql" and free is None and row.status == "open":
            raise ApiError("already_claimed", "Another reviewer is claiming this task. Pick another one.")
        with _refusals_answered():
            changes = check_claim(_state(row), who.user_id)
        if changes:
            try:
                _move(conn, row, who.user_id, "task.claim", now,
                      {"status": "claimed", "claimed_by": who.user_id, "claimed_at": now})
            except ApiError:
                raise ApiError("already_claimed", "Another reviewer claimed this task. Pick another one.") from None
        return task_view(conn, task_id)


def release(db: Database, task_id: str, who: Principal) -> TaskView:
    now = utcnow()
    with db.write() as conn:
        row = _locked_task(conn, task_id)
        with _refusals_answered():
            check_holder(_state(row), who.user_id, "released")
        _move(conn, row, who.user_id, "task.release", now, {"status": "open", "claimed_by": None, "claimed_at": None})
        return task_view(conn, task_id)


def resolve(db: Database, settings: Settings, task_id: str, who: Principal, req: ResolveRequest) -> TaskView:
    with _refusals_answered():
        decision = judge_decision(req.decision, req.note, req.adjustment_kwh, req.team)
    now = utcnow()
    with db.write() as conn:
        row = _locked_task(conn, task_id)
        with _refusals_answered():
            check_holder(_state(row), who.user_id, "resolved")
        items = _items(conn, task_id)
        sent_to: tuple[str, ...] = ()
        team = None
        if decision.follow_up == "reread":
            sent_to = _send_reread(conn, settings, row, items, decision, who.user_id, now)
        elif decision.follow_up == "inspect":
            team = sent_to = _send_inspection(conn, settings, row, items, decision, who.user_id, now)
        status = decision.status
        _move(conn, row, who.user_id, "task.resolve" if status == "resolved" else "task.decide", now, {
            "status": status, "decision": decision.decision, "decision_note": decision.note,
            "adjustment_kwh": decision.adjustment_kwh, "decision_team": list(team) if team else None,
            "decided_by": who.user_id, "decided_at": now, "resolved_at": now if status == "resolved" else None,
        }, note=decision.note)
        delivered = _write_outcomes(conn, task_id, items, decision.decision, decision.note, now) \
            if status == "resolved" else []
        feed.refresh_users(conn, sent_to, now)
        feed.deliver(conn, delivered, now)
        return task_view(conn, task_id)


def approve(db: Database, task_id: str, who: Principal, req: ApproveRequest) -> TaskView:
    now = utcnow()
    with db.write() as conn:
        row = _locked_task(conn, task_id)
        with _refusals_answered():
            check_approver(_state(row), who.user_id)
        status = status_after_approval(req.approved)
        if req.approved:
            _move(conn, row, who.user_id, "task.approve", now,
                  {"status": status, "approved_by": who.user_id, "approval_note": req.note, "resolved_at": now},
                  note=req.note)
            delivered = _write_outcomes(conn, task_id, _items(conn, task_id), row.decision, row.decision_note, now)
            feed.deliver(conn, delivered, now)
        else:
            # Back to the queue for a new decision; the note stays on the task and in its history.
            _move(conn, row, who.user_id, "task.reject", now,
                  {"status": status, "claimed_by": None, "claimed_at": None, "approved_by": None,
                   "approval_note": req.note, **_UNDECIDED}, note=req.note)
        return task_view(conn, task_id)


def _items(conn: Connection, task_id: str) -> list[Row[Any]]:
    """The task's items, oldest first: who sent them, and what."""
    return list(conn.execute(
        select(ops.c.op_id, ops.c.user_id, ops.c.type, ops.c.payload)
        .join(review_task_items, review_task_items.c.op_id == ops.c.op_id)
        .where(review_task_items.c.task_id == task_id).order_by(ops.c.received_at, ops.c.op_id)
    ).all())


def _require_meter(row: Row[Any], what: str) -> str:
    if row.meter_id is None:
        raise ApiError("invalid_decision", f"This task concerns a district, not a meter: there is nothing to {what}.",
                       field="$.decision")
    return row.meter_id


def _send_reread(conn: Connection, settings: Settings, row: Row[Any], items: list[Row[Any]], decision: Decision,
                 actor: str, now: datetime) -> tuple[str, ...]:
    """A ``reread`` assignment for the meter's reader in its open cycle; returns the users whose feeds change."""
    meter_id = _require_meter(row, "re-read")
    reader, cycle = _reader_and_cycle(conn, row, items)
    route_id = conn.execute(select(meters.c.route_id).where(meters.c.id == meter_id)).scalar_one()
    # An earlier re-read of the meter still open in this cycle is replaced, not doubled.
    earlier = conn.execute(
        select(assignments.c.id, assignments.c.user_id).where(
            assignments.c.meter_id == meter_id, assignments.c.cycle == cycle, assignments.c.task == "reread",
            assignments.c.status == "open")
    ).all()
    if earlier:
        conn.execute(update(assignments).where(assignments.c.id.in_([a for a, _ in earlier]))
                     .values(status="cancelled", updated_at=now))
    due_from, due_until = follow_up_due(settings, now, REREAD_DAYS)
    assignment_id = new_assignment_id()
    reason = follow_up_reason(decision.note, row.flags)
    conn.execute(insert(assignments).values(
        id=assignment_id, cycle=cycle, route_id=route_id, meter_id=meter_id, user_id=reader, task="reread",
        due_from=due_from, due_until=due_until, reason=reason, status="open", review_task_id=row.id,
        created_at=now, updated_at=now,
    ))
    audit_many(conn, [
        *({"at": now, "actor": actor, "action": "assignment.cancel", "entity": "assignment", "entity_id": a,
           "before": {"status": "open"}, "after": {"status": "cancelled", "replaced_by": assignment_id}}
          for a, _ in earlier),
        {"at": now, "actor": actor, "action": "assignment.create", "entity": "assignment", "entity_id": assignment_id,
         "after": {"meter_id": meter_id, "user_id": reader, "cycle": cycle, "task": "reread",
                   "review_task_id": row.id, "reason": reason}},
    ])
    return tuple(sorted({reader, *(u for _, u in earlier)}))


def _reader_and_cycle(conn: Connection, row: Row[Any], items: list[Row[Any]]) -> tuple[str, str]:
    """The reader of the meter's open read assignment, else whoever sent the task's last reading,
    in an open cycle (the task's own when it is still open)."""
    current = conn.execute(
        select(assignments.c.user_id, assignments.c.cycle)
        .join(cycles, cycles.c.id == assignments.c.cycle)
        .join(users, users.c.id == assignments.c.user_id)
        .where(assignments.c.meter_id == row.meter_id, assignments.c.task == "read", assignments.c.status == "open",
               cycles.c.status == "open", users.c.active.is_(True))
        .order_by(assignments.c.cycle.desc())
    ).first()
    if current is not None:
        return current.user_id, current.cycle
    readers = [i.user_id for i in items if i.type == "reading"]
    open_cycles = conn.execute(select(cycles.c.id).where(cycles.c.status == "open").order_by(cycles.c.id.desc())).scalars().all()
    if not readers:
        raise ApiError("invalid_decision", "Nobody to send: the meter has no open read assignment and the task holds "
                                           "no reading. Open the cycle for its route, or decide otherwise.",
                       field="$.decision")
    if not open_cycles:
        raise ApiError("invalid_decision", "No reading cycle is open to re-read in. Open one first.", field="$.decision")
    return readers[-1], row.cycle if row.cycle in open_cycles else open_cycles[0]


def _send_inspection(conn: Connection, settings: Settings, row: Row[Any], items: list[Row[Any]], decision: Decision,
                     actor: str, now: datetime) -> tuple[str, ...]:
    """An inspection order for the named team or the two least busy inspectors; returns the team."""
    meter_id = _require_meter(row, "inspect")
    team = choose_team(conn, decision.team, "invalid_decision")
    held = [i.payload.get("kind") for i in items if i.type == "inspection" and isinstance(i.payload, dict)]
    _, due_until = follow_up_due(settings, now, INSPECT_DAYS)
    insert_order(conn, meter_id=meter_id, kind=inspection_kind(row.kind, held), team=team, due_until=due_until,
                 reason=follow_up_reason(decision.note, row.flags), actor=actor, now=now, review_task_id=row.id)
    return team


def _write_outcomes(conn: Connection, task_id: str, items: list[Row[Any]], decision: str, note: str | None,
                    now: datetime) -> list[tuple[str, str, str]]:
    """One outcome per user whose items the task holds; returns what to deliver to their feeds."""
    recipients = outcome_recipients((i.op_id, i.user_id) for i in items)
    rows = [{"id": f"oc-{uuid.uuid4().hex[:16]}", "user_id": user, "task_id": task_id, "decision": decision,
             "note": note, "op_ids": op_ids, "created_at": now} for user, op_ids in recipients.items()]
    if rows:
        conn.execute(insert(outcomes), rows)
    return [(r["user_id"], "outcome", r["id"]) for r in rows]
