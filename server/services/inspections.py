"""Inspection orders: made by the office directly, or by a review's ``inspect`` decision.

An order goes to a team of two or more active inspectors; when nobody is
named, the two with the fewest open orders. It reaches their tablets on the
next pull.
"""

from __future__ import annotations

import uuid
from datetime import date, datetime, timedelta
from typing import Sequence
from zoneinfo import ZoneInfo

from sqlalchemy import Connection, func, insert, select

from field_schemas.review import InspectionOrder, InspectionOrderRequest
from server.clock import utcnow
from server.db.audit import audit
from server.db.engine import Database
from server.db.tables import inspection_order_team, inspection_orders, meters, users
from server.errors import ApiError
from server.services import feed
from server.settings import Settings
from sync.ledger import UserView
from sync.review import pick_team, team_problem


def new_order_id() -> str:
    return f"io-{uuid.uuid4().hex[:16]}"


def station_today(settings: Settings, now: datetime) -> date:
    return now.astimezone(ZoneInfo(settings.station_timezone)).date()


def open_order_counts(conn: Connection) -> dict[str, int]:
    """Every active inspector with the number of open orders on their team."""
    people = conn.execute(select(users.c.id, users.c.roles).where(users.c.active.is_(True))).all()
    counts = dict(conn.execute(
        select(inspection_order_team.c.user_id, func.count())
        .join(inspection_orders, inspection_orders.c.id == inspection_order_team.c.order_id)
        .where(inspection_orders.c.status == "open")
        .group_by(inspection_order_team.c.user_id)
    ).all())
    return {u: counts.get(u, 0) for u, roles in people if "inspector" in roles}


def choose_team(conn: Connection, team: Sequence[str] | None, error_code: str) -> tuple[str, ...]:
    """The named team once checked, or the two least busy inspectors; refusals carry ``error_code``."""
    if team is None:
        picked = pick_team(open_order_counts(conn))
        if picked is None:
            raise ApiError(error_code, "The station has fewer than two active inspectors; add inspectors "
                                       "with 'fieldsync users add' or name a team.", field="$.team")
        return picked
    rows = conn.execute(select(users.c.id, users.c.roles, users.c.active).where(users.c.id.in_(sorted(set(team))))).all()
    problem = team_problem(team, {u.id: UserView(u.id, frozenset(u.roles), u.active) for u in rows})
    if problem:
        raise ApiError(error_code, problem, field="$.team")
    return tuple(team)


def insert_order(conn: Connection, *, meter_id: str, kind: str, team: Sequence[str], due_until: date | None,
                 reason: str | None, actor: str, now: datetime, review_task_id: str | None = None) -> InspectionOrder:
    """Write the order and its team, audited. The caller refreshes the team's feeds last."""
    order = InspectionOrder(id=new_order_id(), kind=kind, meter_id=meter_id, team=sorted(team),
                            due_until=due_until, reason=reason, status="open")
    conn.execute(insert(inspection_orders).values(
        id=order.id, kind=kind, meter_id=meter_id, due_until=due_until, reason=reason, status="open",
        created_by=actor, review_task_id=review_task_id, created_at=now, updated_at=now,
    ))
    conn.execute(insert(inspection_order_team), [{"order_id": order.id, "user_id": u} for u in order.team])
    audit(conn, at=now, actor=actor, action="order.create", entity="inspection_order", entity_id=order.id,
          after={"meter_id": meter_id, "kind": kind, "team": order.team, "due_until": _iso(due_until),
                 "reason": reason, "review_task_id": review_task_id})
    return order


def _iso(day: date | None) -> str | None:
    return day.isoformat() if day else None


def create_order(db: Database, settings: Settings, req: InspectionOrderRequest, actor: str) -> InspectionOrder:
    """An order made by a supervisor or admin (API or command line)."""
    now = utcnow()
    if req.due_until is not None and req.due_until < station_today(settings, now):
        raise ApiError("invalid_request", f"due_until {req.due_until} is in the past. Give today or a later date.",
                       field="$.due_until")
    with db.write() as conn:
        if conn.execute(select(meters.c.id).where(meters.c.id == req.meter_id)).first() is None:
            raise ApiError("invalid_request", f"No meter {req.meter_id!r} in the ledger. Check the meter id.",
                           field="$.meter_id")
        team = choose_team(conn, req.team, "invalid_request")
        order = insert_order(conn, meter_id=req.meter_id, kind=req.kind, team=team, due_until=req.due_until,
                             reason=req.reason, actor=actor, now=now)
        feed.refresh_users(conn, team, now)
    return order


def follow_up_due(settings: Settings, now: datetime, days: int) -> tuple[date, date]:
    """Today and ``days`` later, station dates: the window given to follow-up work."""
    today = station_today(settings, now)
    return today, today + timedelta(days=days)
