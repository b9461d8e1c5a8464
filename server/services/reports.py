"""Monthly reports (PROTOCOL §8). Each report reads the whole station in a fixed number of
bulk queries; the figures come from ``sync.reports``.

Computing the line-loss report can also open one review task per flagged
district (kind ``district``) for the station head's monthly analysis (线损 8–9).
"""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import Connection, Row, bindparam, case, exists, func, insert, or_, select, update
from sqlalchemy.exc import IntegrityError

from field_schemas.reports import (
    AbnormalCustomer,
    ClassInspectionsDue,
    DistrictLineLoss,
    DistrictTaskResult,
    DistrictTasksResponse,
    InspectionsDueReport,
    LineLossReport,
    OverdueCustomer,
    ReadRateReport,
    ReportFlag,
    RouteReadRate,
)
from server.clock import utcnow
from server.db.audit import audit_many
from server.db.engine import Database
from server.db.tables import assignments, customers, districts, meters, ops, readings, review_tasks
from server.errors import ApiError
from server.services.cycles import CYCLE_PATTERN
from server.services.push import new_task_id
from server.settings import Settings
from sync.consumption import kwh_text
from sync.ledger import primary_register
from sync.reports import (
    PHASE_REGISTERS,
    CustomerInspection,
    CustomerMeter,
    DistrictData,
    DistrictLoss,
    MeterMonths,
    district_line_loss,
    first_cycle_needed,
    inspection_days,

    overdue_by_class,
    read_rates,
)

DISTRICT_TASK_PRIORITY = 3
CENT = Decimal("0.01")


def check_month(value: str, field: str) -> None:
    if not CYCLE_PATTERN.match(value):
        raise ApiError("invalid_request", f"{field} {value!r} is not a month: write it like 2026-11.", field=field)


# -- line loss ------------------------------------------------------------------------------------


def line_loss(db: Database, settings: Settings, month: str) -> LineLossReport:
    check_month(month, "month")
    with db.read() as conn:
        data = _district_data(conn, month, settings)
    return LineLossReport(month, [_district_wire(district_line_loss(d, month, settings.thresholds)) for d in data])


def _district_data(conn: Connection, month: str, settings: Settings) -> list[DistrictData]:
    """Every district with its meters in service in ``month`` and their reads over the window: three queries."""
    month_start = datetime.strptime(month, "%Y-%m").replace(tzinfo=ZoneInfo(settings.station_timezone))
    in_service = or_(meters.c.removed_at.is_(None), meters.c.removed_at >= month_start)
    district_rows = conn.execute(select(districts).order_by(districts.c.id)).all()
    meter_rows = conn.execute(
        select(meters.c.id, meters.c.district_id, meters.c.category, meters.c.multiplier, meters.c.dials,
               meters.c.registers, meters.c.customer_id, customers.c.account_no, customers.c.name)
        .outerjoin(customers, customers.c.id == meters.c.customer_id)
        .where(in_service).order_by(meters.c.id)
    ).all()
    wanted_registers = {primary_register(m.registers) for m in meter_rows} | set(PHASE_REGISTERS)
    values: dict[str, dict[tuple[str, str], Decimal]] = defaultdict(dict)
    for meter_id, register, cycle, value in conn.execute(
        select(readings.c.meter_id, readings.c.register, readings.c.cycle, readings.c.value)
        .join(meters, meters.c.id == readings.c.meter_id)
        .where(in_service, readings.c.status == "valid", readings.c.method == "actual", readings.c.value.is_not(None),
               readings.c.cycle >= first_cycle_needed(month, settings.thresholds), readings.c.cycle <= month,
               readings.c.register.in_(sorted(wanted_registers)))
        .order_by(readings.c.read_at, readings.c.id)
    ):
        values[meter_id][(register, cycle)] = Decimal(value)  # the latest read of a cycle stands for it

    own: dict[str, list[MeterMonths]] = defaultdict(list)
    customer_meters: dict[str, list[CustomerMeter]] = defaultdict(list)
    for m in meter_rows:
        register = primary_register(m.registers)
        reads = MeterMonths(m.id, Decimal(m.multiplier), m.dials,
                            {cycle: v for (r, cycle), v in values[m.id].items() if r == register})
        if m.category == "district_meter":
            own[m.district_id].append(reads)
        else:
            customer_meters[m.district_id].append(CustomerMeter(reads, m.customer_id, m.account_no, m.name))
    return [
        DistrictData(
            district_id=d.id, name=d.name,
            target_pct=Decimal(d.loss_target_pct) if d.loss_target_pct else None,
            district_meters=tuple(own[d.id]), customer_meters=tuple(customer_meters[d.id]),
            phase_currents=_phase_currents(own[d.id], values, month),
        )
        for d in district_rows
    ]


def _phase_currents(own: list[MeterMonths], values: dict[str, dict[tuple[str, str], Decimal]],
                    month: str) -> tuple[Decimal, ...]:
    if len(own) != 1:
        return ()
    read = values[own[0].meter_id]
    currents = tuple(read[(phase, month)] for phase in PHASE_REGISTERS if (phase, month) in read)
    return currents if len(currents) == len(PHASE_REGISTERS) else ()


def _kwh(value: Decimal | None) -> str | None:
    return None if value is None else kwh_text(value)


def _pct(value: Decimal | None) -> str | None:
    return None if value is None else str(value.quantize(CENT))


def _district_wire(result: DistrictLoss) -> DistrictLineLoss:
    district, month = result.district, result.this_month
    return DistrictLineLoss(
        district_id=district.district_id, name=district.name,
        supply_kwh=_kwh(month.supply), sales_kwh=_kwh(month.sales), loss_kwh=_kwh(month.loss),
        loss_rate_pct=_pct(month.rate_pct), last_month_rate_pct=_pct(result.last_month.rate_pct),
        change_pct=_pct(result.change_pct),
        target_pct=None if district.target_pct is None else str(district.target_pct),
        imbalance_pct=_pct(result.imbalance_pct),
        flags=[ReportFlag(f.code, f.message) for f in result.flags],  # type: ignore[arg-type]
        abnormal_customers=[
            AbnormalCustomer(
                customer_id=a.customer.customer_id, account_no=a.customer.account_no, name=a.customer.name,
                meter_id=a.customer.meter.meter_id, consumption_kwh=kwh_text(a.consumption),
                last_month_kwh=kwh_text(a.last_month), change_pct=_pct(a.change_pct),
            )
            for a in result.abnormal
        ],
    )


# -- district review tasks ------------------------------------------------------------------------


def open_district_tasks(db: Database, report: LineLossReport, actor: str) -> DistrictTasksResponse:
    """One review task per flagged district and month, opened once.

    Run again, the district's unresolved task takes the new flags; a resolved
    one stands unless a flag it did not have has appeared since.
    """
    try:
        return _open_district_tasks(db, report, actor)
    except IntegrityError:
        # A concurrent run opened one of them meanwhile: the second pass finds it.
        return _open_district_tasks(db, report, actor)


def _open_district_tasks(db: Database, report: LineLossReport, actor: str) -> DistrictTasksResponse:
    flagged = [d for d in report.districts if d.flags]
    now = utcnow()
    with db.write() as conn:
        earlier = conn.execute(
            select(review_tasks.c.id, review_tasks.c.district_id, review_tasks.c.status, review_tasks.c.flags)
            .where(review_tasks.c.kind == "district", review_tasks.c.cycle == report.month,
                   review_tasks.c.meter_id.is_(None), review_tasks.c.district_id.in_([d.district_id for d in flagged]))
            .order_by(review_tasks.c.created_at)
        ).all()
        unresolved = {t.district_id: t for t in earlier if t.status != "resolved"}
        resolved: dict[str, list[Row[Any]]] = defaultdict(list)
        for t in earlier:
            if t.status == "resolved":
                resolved[t.district_id].append(t)
        results, new, changed = [], [], []
        for district in flagged:
            flags = [{"code": f.code, "message": f.message} for f in district.flags]
            task = unresolved.get(district.district_id)
            settled = resolved[district.district_id]
            if task is not None and task.flags != flags:
                changed.append((task, flags))
                results.append(DistrictTaskResult(district.district_id, task.id, "updated"))
            elif task is not None:
                results.append(DistrictTaskResult(district.district_id, task.id, "unchanged"))
            elif settled and _codes(flags) <= set().union(*(_codes(t.flags) for t in settled)):
                results.append(DistrictTaskResult(district.district_id, settled[-1].id, "unchanged"))
            else:
                new.append({"id": new_task_id(), "kind": "district", "status": "open",
                            "priority": DISTRICT_TASK_PRIORITY, "meter_id": None, "district_id": district.district_id,
                            "cycle": report.month, "flags": flags, "created_at": now, "updated_at": now})
                results.append(DistrictTaskResult(district.district_id, new[-1]["id"], "opened"))
        _write_tasks(conn, new, changed, actor, now)
    return DistrictTasksResponse(report.month, results)


def _codes(flags: list[dict[str, str]]) -> set[str]:
    return {f["code"] for f in flags}


def _write_tasks(conn: Connection, new: list[dict[str, Any]], changed: list[tuple[Row[Any], list[dict[str, str]]]],
                 actor: str, now: datetime) -> None:
    if new:
        conn.execute(insert(review_tasks), new)
    if changed:
        conn.execute(
            update(review_tasks).where(review_tasks.c.id == bindparam("tid")).values(flags=bindparam("f"), updated_at=now),
            [{"tid": task.id, "f": flags} for task, flags in changed],
        )
    audit_many(conn, [
        *({"at": now, "actor": actor, "action": "task.create", "entity": "review_task", "entity_id": t["id"],
           "after": {"kind": "district", "district_id": t["district_id"], "cycle": t["cycle"],
                     "flags": sorted(_codes(t["flags"]))}} for t in new),
        *({"at": now, "actor": actor, "action": "task.update", "entity": "review_task", "entity_id": task.id,
           "before": {"flags": sorted(_codes(task.flags))}, "after": {"flags": sorted(_codes(flags))}}
          for task, flags in changed),
    ])


# -- actual-read rate -----------------------------------------------------------------------------


def read_rate(db: Database, cycle: str) -> ReadRateReport:
    """Per route and reader: the cycle's read assignments (any status but cancelled) and how each was read.

    An assignment counts as read by the meter's valid field readings of the
    cycle, so a re-read that superseded the first reading still counts.
    """
    check_month(cycle, "cycle")
    read = (
        select(readings.c.meter_id,
               func.max(case((readings.c.method == "actual", 1), else_=0)).label("actual"),
               func.max(case((readings.c.method == "unable", 1), else_=0)).label("unable"))
        .where(readings.c.cycle == cycle, readings.c.status == "valid", readings.c.source == "field")
        .group_by(readings.c.meter_id)
        .subquery()
    )
    with db.read() as conn:
        rows = conn.execute(
            select(assignments.c.route_id, assignments.c.user_id, read.c.actual, read.c.unable)
            .outerjoin(read, read.c.meter_id == assignments.c.meter_id)
            .where(assignments.c.cycle == cycle, assignments.c.task == "read", assignments.c.status != "cancelled")
        ).all()
    rates = read_rates((r.route_id, r.user_id, "actual" if r.actual else "unable" if r.unable else "missing") for r in rows)
    return ReadRateReport(cycle, [
        RouteReadRate(route_id=r.route_id, user_id=r.user_id, assigned=r.assigned, actual=r.actual, unable=r.unable,
                      missing=r.missing, actual_rate_pct=_pct(r.actual_rate_pct))
        for r in rates
    ])


# -- inspections due ------------------------------------------------------------------------------


def inspections_due(db: Database, settings: Settings, limit: int | None, now: datetime | None = None) -> InspectionsDueReport:
    """Customers of class A, B and C with a meter in service whose last inspection is too long ago, or who
    were never inspected; ``limit`` caps each class's list, not its count."""
    now = now or utcnow()
    last = (
        select(meters.c.customer_id, func.max(ops.c.recorded_at_corrected).label("at"))
        .join(ops, ops.c.meter_id == meters.c.id)
        .where(ops.c.type == "inspection")
        .group_by(meters.c.customer_id)
        .subquery()
    )
    metered = exists().where(meters.c.customer_id == customers.c.id, meters.c.removed_at.is_(None))
    with db.read() as conn:
        rows = conn.execute(
            select(customers.c.id, customers.c.account_no, customers.c.name, customers.c.address,
                   customers.c["class"].label("customer_class"), customers.c.created_at, last.c.at)
            .outerjoin(last, last.c.customer_id == customers.c.id)
            .where(customers.c["class"].in_(["A", "B", "C"]), metered)
        ).all()
    overdue = overdue_by_class(
        (CustomerInspection(r.id, r.account_no, r.name, r.address, r.customer_class, r.created_at, r.at) for r in rows),
        now, settings.thresholds,
    )
    return InspectionsDueReport(as_of=now, classes=[
        ClassInspectionsDue(
            customer_class=cls, days=days, count=len(overdue[cls]),  # type: ignore[arg-type]
            overdue=[OverdueCustomer(c.customer_id, c.account_no, c.name, c.address, c.last_inspected_at, late)
                     for c, late in overdue[cls][:limit]],
        )
        for cls, days in inspection_days(settings.thresholds).items()
    ])
