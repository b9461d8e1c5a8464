"""Fetch, for one batch, everything the rules read: a fixed number of queries whatever its size."""

from __future__ import annotations

from collections import defaultdict
from decimal import Decimal
from typing import Any, Iterable

from sqlalchemy import Connection, and_, func, or_, select

from field_schemas import push as wire
from server.db.tables import (
    assignments,
    customers,
    meters,
    ops,
    photos,
    pliers,
    pliers_history,
    readings,
    review_tasks,
    seals,
    users,
)
from server.services import meter_state
from server.services.meter_state import MeterStates, Read
from sync.consumption import ActualRead, register_advance
from sync.ledger import (
    AssignmentView, BatchLedger, CycleRead, MeterView, PliersIssue, PliersView, SealView, UserView, primary_register,
)
from sync.push import OpenTask, StoredOp, named_photos
from sync.thresholds import Thresholds


def fetch_ledger(conn: Connection, items: list[wire.Item], user_id: str, thresholds: Thresholds
                 ) -> tuple[BatchLedger, MeterStates]:
    """The ledger the batch is judged against, and its meters' kept readings (written back with
    the batch's own by ``meter_state.add_batch``)."""
    meter_ids = sorted({i.meter_id for i in items})
    named_assignments = sorted({i.assignment_id for i in items if isinstance(i, wire.Reading)})
    participants = {p for i in items if isinstance(i, (wire.SealEvent, wire.Inspection)) for p in i.participants}
    pliers_ids = sorted({i.pliers_id for i in items if isinstance(i, wire.SealEvent) and i.pliers_id})
    depth = max(thresholds.consumption_intervals + 1, thresholds.long_term_zero_cycles + 2,
                thresholds.unable_repeat_cycles + 2)
    work = _assignments(conn, meter_ids, named_assignments, user_id)
    # A re-read is judged against the history before the reading it supersedes.
    reread = {(work[i.assignment_id].meter_id, i.register, work[i.assignment_id].cycle) for i in items
              if isinstance(i, wire.Reading) and i.assignment_id in work and work[i.assignment_id].task == "reread"}
    meter_rows = _meter_rows(conn, meter_ids)
    states = meter_state.load(conn, [m.id for m in meter_rows], depth)
    ledger = BatchLedger(
        meters=_meters(conn, meter_rows, states, depth, reread),
        assignments=work,
        users=_users(conn, participants | {user_id}),
        pliers=_pliers(conn, pliers_ids),
    )
    return ledger, states


def _meter_rows(conn: Connection, meter_ids: list[str]) -> list[Any]:
    if not meter_ids:
        return []
    return conn.execute(
        select(meters, customers.c["class"].label("customer_class"), customers.c.temp_supply_until)
        .outerjoin(customers, customers.c.id == meters.c.customer_id)
        .where(meters.c.id.in_(meter_ids))
    ).all()


def _meters(conn: Connection, rows: list[Any], states: MeterStates, depth: int,
            reread: set[tuple[str, str, str]]) -> dict[str, MeterView]:
    if not rows:
        return {}
    meter_ids = [m.id for m in rows]
    seal_rows = conn.execute(
        select(seals.c.meter_id, seals.c.position, seals.c.number)
        .where(seals.c.meter_id.in_(meter_ids), seals.c.removed_at.is_(None))
    ).all()
    counts = dict(conn.execute(
        select(readings.c.meter_id, func.count(func.distinct(readings.c.read_at)))
        .where(readings.c.meter_id.in_(meter_ids)).group_by(readings.c.meter_id)
    ).all())
    seals_by_meter: dict[str, list[SealView]] = defaultdict(list)
    for meter_id, position, number in seal_rows:
        seals_by_meter[meter_id].append(SealView(position, number))
    out = {}
    for m in rows:
        # The newest ``depth`` valid readings of each register, oldest first, but a re-read's cycle.
        newest = states.newest(m.id, depth) or {}
        mine = {register: [r for r in reads if (m.id, register, r.cycle) not in reread]
                for register, reads in sorted(newest.items())}
        multiplier = Decimal(m.multiplier)
        history: dict[str, tuple[ActualRead, ...]] = {}
        stored_cycle_values: dict[tuple[str, str], str] = {}
        for register, reads in mine.items():
            actual = tuple(ActualRead(Decimal(r.value), r.read_at) for r in reads
                           if r.method == "actual" and r.value is not None)
            if actual:
                history[register] = actual
            for r in reads:
                if r.cycle and r.method == "actual" and r.value is not None:
                    stored_cycle_values[(register, r.cycle)] = r.value
        primary = primary_register(m.registers)
        out[m.id] = MeterView(
            id=m.id, customer_id=m.customer_id, route_id=m.route_id, district_id=m.district_id, category=m.category,
            customer_class=m.customer_class, multiplier=multiplier, dials=m.dials, registers=tuple(m.registers),
            installed_at=m.installed_at, removed_at=m.removed_at, temp_supply_until=m.temp_supply_until,
            lat=Decimal(m.lat) if m.lat else None, lon=Decimal(m.lon) if m.lon else None,
            seals=tuple(seals_by_meter[m.id]), history=history, reads_before=counts.get(m.id, 0),
            recent_cycles=cycle_reads(mine.get(primary, []), multiplier, m.dials),
            stored_cycle_values=stored_cycle_values,
        )
    return out


def cycle_reads(reads: list[Read], multiplier: Decimal, dials: int) -> tuple[CycleRead, ...]:
    """How the register was read in each cycle, oldest first, with the cycle's energy for actual reads."""
    by_cycle: dict[str, Read] = {}
    for r in sorted(reads, key=lambda r: r.read_at):
        if r.cycle is None:
            continue
        # An actual read stands for its cycle over an "unable" one.
        if r.cycle not in by_cycle or r.method == "actual":
            by_cycle[r.cycle] = r
    out: list[CycleRead] = []
    previous: Decimal | None = None
    for cycle in sorted(by_cycle):
        r = by_cycle[cycle]
        if r.method == "actual" and r.value is not None:
            value = Decimal(r.value)
            energy = register_advance(previous, value, dials) * multiplier if previous is not None else None
            out.append(CycleRead(cycle, "actual", energy))
            previous = value
        else:
            out.append(CycleRead(cycle, "unable", None))
    return tuple(out)


def _assignments(conn: Connection, meter_ids: list[str], named: list[str], user_id: str) -> dict[str, AssignmentView]:
    conditions = [and_(assignments.c.user_id == user_id, assignments.c.status == "open",
                       assignments.c.meter_id.in_(meter_ids))]
    if named:
        conditions.append(assignments.c.id.in_(named))
    rows = conn.execute(select(assignments).where(or_(*conditions))).all()
    return {
        a.id: AssignmentView(a.id, a.user_id, a.meter_id, a.cycle, a.task, a.due_from, a.due_until, a.status)
        for a in rows
    }


def _users(conn: Connection, ids: Iterable[str]) -> dict[str, UserView]:
    rows = conn.execute(select(users.c.id, users.c.roles, users.c.active).where(users.c.id.in_(sorted(ids)))).all()
    return {u.id: UserView(u.id, frozenset(u.roles), u.active) for u in rows}


def _pliers(conn: Connection, ids: list[str]) -> dict[str, PliersView]:
    if not ids:
        return {}
    current = conn.execute(select(pliers).where(pliers.c.id.in_(ids))).all()
    history: dict[str, list[tuple[str, str, object]]] = defaultdict(list)
    for h in conn.execute(
        select(pliers_history.c.pliers_id, pliers_history.c.action, pliers_history.c.user_id, pliers_history.c.at)
        .where(pliers_history.c.pliers_id.in_(ids)).order_by(pliers_history.c.pliers_id, pliers_history.c.at)
    ):
        history[h.pliers_id].append((h.action, h.user_id, h.at))
    out = {}
    for p in current:
        past, open_issue = [], None
        for action, user_id, at in history[p.id]:
            if action == "issued":
                open_issue = (user_id, at)
            elif action == "returned" and open_issue is not None:
                past.append(PliersIssue(open_issue[0], open_issue[1], at))  # type: ignore[arg-type]
                open_issue = None
        out[p.id] = PliersView(p.id, p.holder_id, p.issued_at, tuple(past))
    return out


def fetch_stored(conn: Connection, op_ids: list[str]) -> dict[str, StoredOp]:
    rows = conn.execute(
        select(ops.c.op_id, ops.c.content_hash, ops.c.status, ops.c.flags, ops.c.review_task_id)
        .where(ops.c.op_id.in_(op_ids))
    ).all()
    return {r.op_id: StoredOp(r.content_hash, r.status, r.flags, r.review_task_id) for r in rows}


def fetch_open_tasks(conn: Connection, meter_ids: list[str]) -> dict[tuple[str, str], OpenTask]:
    rows = conn.execute(
        select(review_tasks.c.id, review_tasks.c.kind, review_tasks.c.priority, review_tasks.c.flags,
               review_tasks.c.meter_id, review_tasks.c.cycle)
        .where(review_tasks.c.meter_id.in_(meter_ids), review_tasks.c.status != "resolved")
        # Held until commit, so a task cannot be resolved while items are being attached to it.
        .with_for_update()
    ).all()
    return {(r.meter_id, r.cycle): OpenTask(r.id, r.kind, r.priority, list(r.flags)) for r in rows}


def fetch_held_photos(conn: Connection, items: list[wire.Item]) -> set[str]:
    named = sorted({p for i in items for p in named_photos(i)})
    if not named:
        return set()
    return set(conn.execute(select(photos.c.sha256).where(photos.c.sha256.in_(named))).scalars())
