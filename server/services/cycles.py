"""Reading cycles and read assignments: open, close, move a route to another reader."""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass
from datetime import date

from sqlalchemy import Connection, insert, select, update

from server.clock import utcnow
from server.db.audit import audit, audit_many
from server.db.engine import Database
from server.db.tables import assignments, cycles, meters, routes, users
from server.services import feed

CYCLE_PATTERN = re.compile(r"^\d{4}-(0[1-9]|1[0-2])$")


class CycleError(ValueError):
    """A refusal with a message that says what to do instead."""


@dataclass(frozen=True)
class OpenResult:
    created: int
    already_assigned: int


def new_assignment_id() -> str:
    return f"as-{uuid.uuid4().hex[:16]}"


def _require_user_with_role(conn: Connection, username: str, role: str) -> None:
    row = conn.execute(select(users.c.roles, users.c.active).where(users.c.id == username)).first()
    if row is None or not row.active:
        raise CycleError(f"no active user {username!r}; add one with 'fieldsync users add'")
    if role not in row.roles:
        raise CycleError(f"{username} is not a {role} (roles: {', '.join(row.roles)})")


def open_cycle(db: Database, cycle: str, route_id: str, reader: str, due_from: date, due_until: date, actor: str = "cli") -> OpenResult:
    """Read assignments for every active meter of the route; again for the same reader adds only new meters."""
    if not CYCLE_PATTERN.match(cycle):
        raise CycleError(f"cycle {cycle!r} must be YYYY-MM")
    if due_until < due_from:
        raise CycleError("--until is before --from")
    now = utcnow()
    with db.write() as conn:
        if conn.execute(select(routes.c.id).where(routes.c.id == route_id)).first() is None:
            raise CycleError(f"no route {route_id!r} in the ledger; import it with 'fieldsync ledger import'")
        _require_user_with_role(conn, reader, "reader")
        state = conn.execute(select(cycles.c.status).where(cycles.c.id == cycle)).scalar()
        if state == "closed":
            raise CycleError(f"cycle {cycle} is closed")
        if state is None:
            conn.execute(insert(cycles).values(id=cycle, status="open", opened_at=now))
            audit(conn, at=now, actor=actor, action="cycle.open", entity="cycle", entity_id=cycle, after={"status": "open"})
        existing = conn.execute(
            select(assignments.c.meter_id, assignments.c.user_id).where(
                assignments.c.route_id == route_id, assignments.c.cycle == cycle,
                assignments.c.task == "read", assignments.c.status == "open",
            )
        ).all()
        others = sorted({u for _, u in existing if u != reader})
        if others:
            raise CycleError(
                f"route {route_id} in {cycle} is assigned to {', '.join(others)}; "
                f"use 'fieldsync assignments move --route {route_id} --cycle {cycle} --to {reader}'"
            )
        assigned = {m for m, _ in existing}
        meter_ids = conn.execute(
            select(meters.c.id).where(meters.c.route_id == route_id, meters.c.removed_at.is_(None)).order_by(meters.c.id)
        ).scalars().all()
        rows = [
            {
                "id": new_assignment_id(), "cycle": cycle, "route_id": route_id, "meter_id": m, "user_id": reader,
                "task": "read", "due_from": due_from, "due_until": due_until, "reason": None, "status": "open",
                "created_at": now, "updated_at": now,
            }
            for m in meter_ids
            if m not in assigned
        ]
        if rows:
            conn.execute(insert(assignments), rows)
            audit_many(conn, (
                {"at": now, "actor": actor, "action": "assignment.create", "entity": "assignment", "entity_id": r["id"],
                 "after": {"meter_id": r["meter_id"], "user_id": reader, "cycle": cycle, "task": "read"}}
                for r in rows
            ))
            feed.refresh_users(conn, [reader], now)
    return OpenResult(created=len(rows), already_assigned=len(assigned))


def close_cycle(db: Database, cycle: str, actor: str = "cli") -> int:
    """Close the cycle: its open assignments leave every tablet. Returns assignments closed."""
    now = utcnow()
    with db.write() as conn:
        state = conn.execute(select(cycles.c.status).where(cycles.c.id == cycle)).scalar()
        if state is None:
            raise CycleError(f"no cycle {cycle}")
        if state == "closed":
            return 0
        open_rows = conn.execute(
            select(assignments.c.id, assignments.c.user_id).where(assignments.c.cycle == cycle, assignments.c.status == "open")
        ).all()
        conn.execute(update(cycles).where(cycles.c.id == cycle).values(status="closed", closed_at=now))
        conn.execute(
            update(assignments).where(assignments.c.cycle == cycle, assignments.c.status == "open")
            .values(status="closed", updated_at=now)
        )
        audit(conn, at=now, actor=actor, action="cycle.close", entity="cycle", entity_id=cycle,
              before={"status": "open"}, after={"status": "closed", "assignments_closed": len(open_rows)})
        audit_many(conn, (
            {"at": now, "actor": actor, "action": "assignment.close", "entity": "assignment", "entity_id": a,
             "before": {"status": "open"}, "after": {"status": "closed"}}
            for a, _ in open_rows
        ))
        feed.refresh_users(conn, {u for _, u in open_rows}, now)
    return len(open_rows)


def move_route(db: Database, route_id: str, cycle: str, to_user: str, actor: str = "cli") -> int:
    """Hand a route's open assignments of a cycle to another reader. Returns assignments moved."""
    now = utcnow()
    with db.write() as conn:
        _require_user_with_role(conn, to_user, "reader")
        rows = conn.execute(
            select(assignments.c.id, assignments.c.user_id).where(
                assignments.c.route_id == route_id, assignments.c.cycle == cycle,
                assignments.c.status == "open", assignments.c.user_id != to_user,
            )
        ).all()
        if not rows:
            return 0
        conn.execute(
            update(assignments).where(assignments.c.id.in_([a for a, _ in rows])).values(user_id=to_user, updated_at=now)
        )
        audit_many(conn, (
            {"at": now, "actor": actor, "action": "assignment.move", "entity": "assignment", "entity_id": a,
             "before": {"user_id": u}, "after": {"user_id": to_user}}
            for a, u in rows
        ))
        feed.refresh_users(conn, {u for _, u in rows} | {to_user}, now)
    return len(rows)
