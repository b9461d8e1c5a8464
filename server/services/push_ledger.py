"""Fetch, for one batch, everything the rules read: a fixed number of queries whatever its size.

``fetch`` returns the rows as the driver gave them (no type processing), so that
two fetches of the same batch compare with ``==``: a batch judged on a read
snapshot, outside the write lock, is checked inside it by fetching again; the
same rows mean the same inputs, so the same verdicts (``server.services.push``).
``inputs`` turns the rows into what ``sync.push.plan_batch`` reads.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date, datetime, timezone
from decimal import Decimal
from functools import partial
from typing import Any, Sequence

import msgspec
from sqlalchemy import Connection, select
from sqlalchemy.exc import NoResultFound

from field_schemas import push as wire
from server.db.bulk import ids, select_rows
from server.db.tables import review_tasks
from server.services import meter_state
from server.services.meter_state import MeterStates, Read
from sync.consumption import ActualRead, register_advance
from sync.ledger import (
    AssignmentView, BatchLedger, CycleRead, LazyCycles, MeterView, PliersIssue, PliersView, SealView, UserView, primary_register,
)
from sync.push import OpenTask, StoredOp, named_photos
from sync.thresholds import Thresholds

_json_decode = msgspec.json.decode


# -- what the driver returns, as the column types would have returned it ---------------------------


def _time(value: datetime | str | None) -> datetime | None:
    """As ``UTCDateTime`` reads it back: aware UTC (SQLite gives its text, naive UTC)."""
    if value is None:
        return None
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    return value.replace(tzinfo=timezone.utc) if value.tzinfo is None else value.astimezone(timezone.utc)


def _date(value: date | str | None) -> date | None:
    return date.fromisoformat(value) if isinstance(value, str) else value


def _json(value: Any) -> Any:
    return _json_decode(value) if isinstance(value, (str, bytes)) else value


@dataclass(frozen=True)
class BatchKeys:
    """What a batch's items name: the keys of every query."""

    user_id: str
    meter_ids: list[str]
    named_assignments: list[str]
    participants: list[str]
    pliers_ids: list[str]
    op_ids: list[str]
    photo_ids: list[str]
    depth: int  # readings per register the rules compare with

    @classmethod
    def of(cls, items: Sequence[wire.Item], user_id: str, thresholds: Thresholds) -> "BatchKeys":
        return cls(
            user_id=user_id,
            meter_ids=sorted({i.meter_id for i in items}),
            named_assignments=sorted({i.assignment_id for i in items if isinstance(i, wire.Reading)}),
            participants=sorted({p for i in items if isinstance(i, (wire.SealEvent, wire.Inspection))
                                 for p in i.participants} | {user_id}),
            pliers_ids=sorted({i.pliers_id for i in items if isinstance(i, wire.SealEvent) and i.pliers_id}),
            op_ids=[i.op_id for i in items],
            photo_ids=sorted({p for i in items for p in named_photos(i)}),
            depth=max(thresholds.consumption_intervals + 1, thresholds.long_term_zero_cycles + 2,
                      thresholds.unable_repeat_cycles + 2),
        )


@dataclass
class Fetched:
    """The rows one batch is judged against, as the driver returned them."""

    assignments: list[Any]
    meters: list[Any]
    states: list[Any]  # meter_state rows of the known meters
    stale: list[str]  # meters whose kept readings do not serve: read from ``readings`` instead
    history: list[Any]  # their newest valid readings
    seals: list[Any]
    counts: list[Any]
    users: list[Any]
    pliers: list[Any]
    pliers_history: list[Any]
    stored: list[Any]
    tasks: list[Any]
    photos: list[Any]
    kept: MeterStates = field(default_factory=MeterStates, compare=False)


def fetch(conn: Connection, keys: BatchKeys, *, lock: bool, like: Fetched | None = None) -> Fetched:
    """Every row the batch is judged against. ``lock`` (inside the write transaction) locks, on
    PostgreSQL, the meters' kept readings and their open review tasks until commit. ``like``: an
    earlier fetch of the same batch, whose decoding of the kept readings is reused when they
    have not changed."""
    for_update = " FOR UPDATE" if lock and conn.dialect.name == "postgresql" else ""
    meter_ids = ids(conn, keys.meter_ids)
    work = select_rows(
        conn, "SELECT id, user_id, meter_id, cycle, task, due_from, due_until, status FROM assignments "
        # By meter: a reader's open assignments are a whole route, the batch a part of it.
        "WHERE (meter_id {ids} AND status = 'open' AND {no_index}user_id = ?) OR id {ids}",
        meter_ids, keys.user_id, ids(conn, keys.named_assignments))
    meter_rows = select_rows(
        conn, "SELECT m.id, m.customer_id, m.route_id, m.district_id, m.category, m.multiplier, m.dials, m.registers, "
        "m.installed_at, m.removed_at, m.lat, m.lon, c.class, c.temp_supply_until "
        "FROM meters m LEFT OUTER JOIN customers c ON c.id = m.customer_id WHERE m.id {ids}", meter_ids)
    known = [m[0] for m in meter_rows]
    state_rows = select_rows(conn, "SELECT meter_id, fresh, readings, recent FROM meter_state "
                             "WHERE meter_id {ids} ORDER BY meter_id" + for_update, meter_ids)
    # Reading occasions (what the rules count), and every reading (what a kept row was built from).
    counts = select_rows(conn, "SELECT meter_id, count(DISTINCT read_at), count(*) FROM readings "
                         "WHERE meter_id {ids} GROUP BY meter_id", meter_ids)
    if like is not None and like.states == state_rows and like.counts == counts:
        kept, stale = like.kept, like.stale
    else:
        kept, stale = meter_state.from_rows(state_rows, known, keys.depth, {m: n for m, _, n in counts})
    pliers_ids = ids(conn, keys.pliers_ids)
    return Fetched(
        assignments=work, meters=meter_rows, states=state_rows, stale=stale,
        history=meter_state.history_rows(conn, stale, keys.depth),
        seals=select_rows(conn, "SELECT meter_id, position, number FROM seals "
                          "WHERE meter_id {ids} AND removed_at IS NULL", meter_ids),
        counts=counts,
        users=select_rows(conn, "SELECT id, roles, active FROM users WHERE id {ids}", ids(conn, keys.participants)),
        pliers=select_rows(conn, "SELECT id, holder_id, issued_at FROM pliers WHERE id {ids}", pliers_ids),
        pliers_history=select_rows(conn, "SELECT pliers_id, action, user_id, at FROM pliers_history "
                                   "WHERE pliers_id {ids} ORDER BY pliers_id, at", pliers_ids),
        stored=select_rows(conn, "SELECT op_id, content_hash, status, flags, review_task_id FROM ops "
                           "WHERE op_id {ids}", ids(conn, keys.op_ids)),
        # Held until commit, so a task cannot be resolved while items are being attached to it.
        tasks=select_rows(conn, "SELECT id, kind, priority, flags, meter_id, cycle FROM review_tasks "
                          "WHERE meter_id {ids} AND status <> 'resolved'" + for_update, meter_ids),
        photos=select_rows(conn, "SELECT sha256 FROM photos WHERE sha256 {ids}", ids(conn, keys.photo_ids)),
        kept=kept,
    )


# -- the inputs of the plan ------------------------------------------------------------------------


@dataclass
class Inputs:
    """What ``sync.push.plan_batch`` reads, made from the fetched rows."""

    ledger: BatchLedger
    kept: MeterStates
    stored: dict[str, StoredOp]
    open_tasks: dict[tuple[str, str], OpenTask]
    held_photos: set[str]


def inputs(fetched: Fetched, items: Sequence[wire.Item], keys: BatchKeys) -> Inputs:
    work = {
        a[0]: AssignmentView(a[0], a[1], a[2], a[3], a[4], _date(a[5]), _date(a[6]), a[7])
        for a in fetched.assignments
    }
    # A re-read is judged against the history before the reading it supersedes.
    reread = {(work[i.assignment_id].meter_id, i.register, work[i.assignment_id].cycle) for i in items
              if isinstance(i, wire.Reading) and i.assignment_id in work and work[i.assignment_id].task == "reread"}
    kept = fetched.kept
    if fetched.stale:
        kept.reads.update(meter_state.from_history(fetched.history, fetched.stale, keys.depth))
        kept.rebuilt.update(fetched.stale)
    return Inputs(
        ledger=BatchLedger(
            meters=_meters(fetched, kept, keys.depth, reread),
            assignments=work,
            users={u[0]: UserView(u[0], frozenset(_json(u[1])), bool(u[2])) for u in fetched.users},
            pliers=_pliers(fetched),
        ),
        kept=kept,
        stored={r[0]: StoredOp(r[1], r[2], _json(r[3]), r[4]) for r in fetched.stored},
        open_tasks={(r[4], r[5]): OpenTask(r[0], r[1], r[2], list(_json(r[3]))) for r in fetched.tasks},
        held_photos={r[0] for r in fetched.photos},
    )


def _meters(fetched: Fetched, kept: MeterStates, depth: int, reread: set[tuple[str, str, str]]) -> dict[str, MeterView]:
    seals_by_meter: dict[str, list[SealView]] = defaultdict(list)
    for meter_id, position, number in fetched.seals:
        seals_by_meter[meter_id].append(SealView(position, number))
    occasions = {meter_id: n for meter_id, n, _ in fetched.counts}
    out = {}
    for (meter_id, customer_id, route_id, district_id, category, multiplier_text, dials, registers_raw,
         installed_at, removed_at, lat, lon, customer_class, temp_supply_until) in fetched.meters:
        registers = tuple(_json(registers_raw))
        primary = primary_register(registers)
        multiplier = Decimal(multiplier_text)
        history: dict[str, tuple[ActualRead, ...]] = {}
        stored_cycle_values: dict[tuple[str, str], str] = {}
        recent_cycles: Sequence[CycleRead] = ()
        # The newest ``depth`` valid readings of each register, oldest first, but a re-read's cycle.
        for register, reads in sorted((kept.newest(meter_id, depth) or {}).items()):
            if reread:
                reads = [r for r in reads if (meter_id, register, r.cycle) not in reread]
            actual = []
            for r in reads:
                if r.method == "actual" and r.value is not None:
                    actual.append(ActualRead(Decimal(r.value), r.read_at))
                    if r.cycle:
                        stored_cycle_values[(register, r.cycle)] = r.value
            if actual:
                history[register] = tuple(actual)
            if register == primary:
                recent_cycles = LazyCycles(partial(cycle_reads, reads, multiplier, dials))
        out[meter_id] = MeterView(
            id=meter_id, customer_id=customer_id, route_id=route_id, district_id=district_id, category=category,
            customer_class=customer_class, multiplier=multiplier, dials=dials, registers=registers,
            installed_at=_time(installed_at), removed_at=_time(removed_at),
            temp_supply_until=_date(temp_supply_until),
            lat=Decimal(lat) if lat else None, lon=Decimal(lon) if lon else None,
            seals=tuple(seals_by_meter[meter_id]), history=history, reads_before=occasions.get(meter_id, 0),
            recent_cycles=recent_cycles, stored_cycle_values=stored_cycle_values,
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


def _pliers(fetched: Fetched) -> dict[str, PliersView]:
    history: dict[str, list[tuple[str, str, datetime | None]]] = defaultdict(list)
    for pliers_id, action, user_id, at in fetched.pliers_history:
        history[pliers_id].append((action, user_id, _time(at)))
    out = {}
    for pliers_id, holder_id, issued_at in fetched.pliers:
        past, open_issue = [], None
        for action, user_id, at in history[pliers_id]:
            if action == "issued":
                open_issue = (user_id, at)
            elif action == "returned" and open_issue is not None:
                past.append(PliersIssue(open_issue[0], open_issue[1], at))  # type: ignore[arg-type]
                open_issue = None
        out[pliers_id] = PliersView(pliers_id, holder_id, _time(issued_at), tuple(past))
    return out


def fetch_open_tasks(conn: Connection, meter_ids: list[str]) -> dict[tuple[str, str], OpenTask]:
    """The unresolved tasks of these meters by (meter, cycle), locked until commit."""
    rows = conn.execute(
        select(review_tasks.c.id, review_tasks.c.kind, review_tasks.c.priority, review_tasks.c.flags,
               review_tasks.c.meter_id, review_tasks.c.cycle)
        .where(review_tasks.c.meter_id.in_(meter_ids), review_tasks.c.status != "resolved")
        # Held until commit, so a task cannot be resolved while items are being attached to it.
        .with_for_update()
    ).all()
    return {(r.meter_id, r.cycle): OpenTask(r.id, r.kind, r.priority, list(r.flags)) for r in rows}


def submitter(fetched: Fetched, user_id: str) -> UserView:
    """The pushing user as the fetch saw them (always among its users)."""
    for u in fetched.users:
        if u[0] == user_id:
            return UserView(u[0], frozenset(_json(u[1])), bool(u[2]))
    raise NoResultFound(f"no user {user_id}")


__all__ = ["BatchKeys", "Fetched", "Inputs", "cycle_reads", "fetch", "fetch_open_tasks", "inputs", "submitter"]
