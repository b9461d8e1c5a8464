"""Ledger import: meters (with districts, routes, customers, seals) and reading
history from CSV. ``sync.ledger_csv`` and ``sync.history_csv`` decide; this
module fetches the rows on record in bulk, asks them, and writes the plan in one
transaction: every row or none, a fixed handful of statements per 5,000 ids,
never one per row.
"""

from __future__ import annotations

import os
import sys
from contextlib import contextmanager
from dataclasses import astuple, dataclass, fields
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator, Protocol, Sequence, TypeVar
from zoneinfo import ZoneInfo

from sqlalchemy import Connection, Table, bindparam, insert, select, update
from tqdm import tqdm

from server.clock import utcnow
from server.db.audit import audit
from server.db.engine import Database
from server.db.tables import customers, districts, meters, readings, routes, seals
from server.services import feed, meter_state
from server.settings import Settings
from sync import csv_values as cv
from sync import history_csv as hc
from sync import ledger_csv as lc

Source = str | os.PathLike[str] | Iterable[str]
"""A CSV file's path, or its text as lines (a generator streaming CSV works)."""

# Ids per IN list: one query per table for a file of up to this many meters.
IDS_PER_QUERY = 5000
ROWS_PER_WRITE = 1000
REMOVAL_REASON = "ledger_import"

T = TypeVar("T")
P = TypeVar("P", bound="_Plan")
Key = tuple[str, str]


@dataclass(frozen=True)
class ImportReport:
    """Rows read; of those, how many were new, changed, already on record. With any
    error nothing was written and the counts are zero."""

    rows: int
    inserted: int
    updated: int
    unchanged: int
    errors: list[str]

    @property
    def changed(self) -> int:
        return self.inserted + self.updated


def import_meters(
    db: Database, settings: Settings, rows_or_file: Source, *, dry_run: bool = False, progress: bool = False,
    actor: str = "cli",
) -> ImportReport:
    """Upsert districts, routes, customers, meters and their current seals from a meters CSV."""
    tz = ZoneInfo(settings.station_timezone)
    return _import(
        db, rows_or_file, "meters", utcnow(), actor=actor, dry_run=dry_run, progress=progress,
        parse=lambda lines: lc.parse_ledger(lines, tz, settings.thresholds.temp_supply_months),
        plan=lambda conn, rows: lc.plan_ledger(rows, _ledger_on_record(conn, rows)),
        write=_write_ledger,
    )


def import_readings(
    db: Database, settings: Settings, rows_or_file: Source, *, dry_run: bool = False, progress: bool = False,
    actor: str = "cli",
) -> ImportReport:
    """Add actual readings (``source`` 'import') from a reading history CSV."""
    tz = ZoneInfo(settings.station_timezone)
    now = utcnow()
    latest = now + timedelta(seconds=settings.thresholds.future_time_s)
    return _import(
        db, rows_or_file, "readings", now, actor=actor, dry_run=dry_run, progress=progress,
        parse=lambda lines: hc.parse_readings(lines, tz, latest),
        plan=lambda conn, rows: hc.plan_readings(rows, *_readings_on_record(conn, rows), tz),
        write=_write_readings,
    )


class _Plan(Protocol):
    inserted: int
    updated: int
    unchanged: int
    problems: list[cv.Problem]


def _import(
    db: Database, source: Source, kind: str, now: datetime, *, actor: str, dry_run: bool, progress: bool,
    parse: Callable[[Iterable[str]], cv.Parsed[Any]],
    plan: Callable[[Connection, list[Any]], P],
    write: Callable[[Connection, P, datetime, bool], set[Key]],
) -> ImportReport:
    """Parse outside any transaction; plan against the rows on record and write in one
    transaction, or only read when nothing will be written (a dry run, a refused file)."""
    try:
        with _lines(source, progress) as lines:
            parsed = parse(lines)
    except NotUtf8 as exc:
        return ImportReport(0, 0, 0, 0, cv.format_problems([(exc.line, str(exc))]))
    with (db.read() if dry_run or parsed.problems else db.write()) as conn:
        planned = plan(conn, parsed.records)
        problems = parsed.problems + planned.problems
        if problems:
            return ImportReport(parsed.rows, 0, 0, 0, cv.format_problems(problems))
        report = ImportReport(parsed.rows, planned.inserted, planned.updated, planned.unchanged, [])
        if not dry_run:
            resend = write(conn, planned, now, progress)
            counts = {"rows": report.rows, "inserted": report.inserted, "updated": report.updated,
                      "unchanged": report.unchanged}
            audit(conn, at=now, actor=actor, action="ledger.import", entity="ledger", entity_id=source_name(source),
                  after={"kind": kind, **counts})
            feed.touch(conn, resend, now)
    return report


def source_name(rows_or_file: Source) -> str:
    """The file name for messages and the audit log; 'stream' for lines given directly."""
    if isinstance(rows_or_file, (str, os.PathLike)):
        return Path(rows_or_file).name[:64]
    return "stream"


# -- reading the input -----------------------------------------------------------------------------


class NotUtf8(ValueError):
    def __init__(self, line: int) -> None:
        super().__init__("not UTF-8 text; save the file as UTF-8 (in Excel: CSV UTF-8)")
        self.line = line


def _utf8_lines(path: str | os.PathLike[str]) -> Iterator[str]:
    with open(path, "rb") as f:
        for number, raw in enumerate(f, start=1):
            try:
                yield raw.decode("utf-8")
            except UnicodeDecodeError:
                raise NotUtf8(number) from None


@contextmanager
def _lines(rows_or_file: Source, progress: bool) -> Iterator[Iterable[str]]:
    lines = _utf8_lines(rows_or_file) if isinstance(rows_or_file, (str, os.PathLike)) else rows_or_file
    with _bar(progress, None, "reading", unit=" lines", iterable=lines) as counted:
        yield counted


def _bar(
    enabled: bool, total: int | None, desc: str, unit: str = " rows", iterable: Iterable[Any] | None = None
) -> tqdm:
    """A progress bar on stderr, shown on a terminal when the work lasts over a second."""
    return tqdm(iterable, total=total, desc=desc, unit=unit, file=sys.stderr, delay=1.0, leave=False,
                disable=None if enabled else True)


# -- fetching what is on record --------------------------------------------------------------------


def _chunks(items: Sequence[T], size: int = IDS_PER_QUERY) -> Iterator[Sequence[T]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


# Selected in the order of the records' fields, so a row builds its record directly.
METER_FIELDS = [meters.c[f.name] for f in fields(lc.Meter)]
CUSTOMER_FIELDS = [customers.c[name] for name in ("id", "account_no", "name", "address", "category", "class",
                                                  "temp_supply_until")]


def _rows_with_ids(conn: Connection, columns: list[Any], key: Any, ids: Iterable[str], *where: Any) -> list[Any]:
    wanted = sorted(set(ids))
    found: list[Any] = []
    for chunk in _chunks(wanted):
        found += conn.execute(select(*columns).where(key.in_(chunk), *where)).all()
    return found


def _ledger_on_record(conn: Connection, rows: Sequence[lc.LedgerRow]) -> lc.OnRecord:
    meter_ids = [r.meter.id for r in rows]
    district_ids = [r.district.id for r in rows]
    route_ids = [r.route.id for r in rows]
    customer_ids = [r.customer.id for r in rows if r.customer]
    district_rows = _rows_with_ids(conn, [districts.c.id, districts.c.name], districts.c.id, district_ids)
    route_rows = _rows_with_ids(conn, [routes.c.id, routes.c.district_id], routes.c.id, route_ids)
    customer_rows = _rows_with_ids(conn, CUSTOMER_FIELDS, customers.c.id, customer_ids)
    meter_rows = _rows_with_ids(conn, METER_FIELDS, meters.c.id, meter_ids)
    seal_rows = _rows_with_ids(conn, [seals.c.meter_id, seals.c.position, seals.c.id, seals.c.number],
                               seals.c.meter_id, meter_ids, seals.c.removed_at.is_(None))
    on_record = lc.OnRecord(
        district_names=dict(district_rows),
        route_districts=dict(route_rows),
        customers={c.id: lc.Customer(*c) for c in customer_rows},
        meters={m.id: lc.Meter(**{**m._mapping, "registers": tuple(m.registers)}) for m in meter_rows},
    )
    for meter_id, position, seal_id, number in seal_rows:
        on_record.seals.setdefault(meter_id, {})[position] = lc.SealOnRecord(seal_id, number)
    return on_record


def _readings_on_record(
    conn: Connection, rows: Sequence[hc.Reading]
) -> tuple[dict[str, hc.MeterFacts], dict[hc.ReadingKey, str | None]]:
    """The file's meters, and what is stored for them between the file's first and last read_at."""
    meter_ids = [r.meter_id for r in rows]
    meter_rows = _rows_with_ids(conn, [meters.c.id, meters.c.registers, meters.c.dials], meters.c.id, meter_ids)
    facts = {m.id: hc.MeterFacts(tuple(m.registers), m.dials) for m in meter_rows}
    if not rows:
        return facts, {}
    first, last = min(r.read_at for r in rows), max(r.read_at for r in rows)
    stored = _rows_with_ids(conn, [readings.c.meter_id, readings.c.register, readings.c.read_at, readings.c.value],
                            readings.c.meter_id, meter_ids, readings.c.read_at.between(first, last))
    return facts, {(meter_id, register, read_at): value for meter_id, register, read_at, value in stored}


def _meters_of(conn: Connection, customer_ids: Sequence[str]) -> list[str]:
    """Meters whose pull data carries these customers' class."""
    return [m.id for m in _rows_with_ids(conn, [meters.c.id], meters.c.customer_id, customer_ids)]


# -- writing ---------------------------------------------------------------------------------------


def _write_ledger(conn: Connection, plan: lc.LedgerPlan, now: datetime, progress: bool) -> set[Key]:
    """Referenced rows first; removed seals before their replacements (one current seal a position).
    Returns what to resend: the plan's, and the meters of changed customers (a meter shows its class)."""
    new_customers = [{**_customer_values(c), "created_at": now} for c in plan.customers_new]
    new_meters = [{**_meter_values(m), "removed_at": None} for m in plan.meters_new]
    new_seals = [{"meter_id": meter_id, "position": position, "number": number}
                 for meter_id, position, number in plan.seals_new]
    total = sum(map(len, (new_customers, new_meters, new_seals, plan.customers_changed, plan.meters_changed)))
    with _bar(progress, total, "writing ledger") as bar:
        _insert_many(conn, districts, [{"id": d.id, "name": d.name} for d in plan.districts_new], bar)
        _update_many(conn, districts, [{"id": d.id, "name": d.name} for d in plan.districts_renamed], bar)
        _insert_many(conn, routes, [{"id": r.id, "district_id": r.district_id} for r in plan.routes_new], bar)
        _insert_many(conn, customers, new_customers, bar)
        _update_many(conn, customers, [_customer_values(c) for c in plan.customers_changed], bar)
        _insert_many(conn, meters, new_meters, bar)
        _update_many(conn, meters, [_meter_values(m) for m in plan.meters_changed], bar)
        for chunk in _chunks(plan.seals_removed):
            conn.execute(
                update(seals).where(seals.c.id.in_(chunk)).values(removed_at=now, removal_reason=REMOVAL_REASON)
            )
        _insert_many(conn, seals, new_seals, bar)
    customer_meters = _meters_of(conn, [c.id for c in plan.customers_changed])
    return plan.resend | {("meter", meter_id) for meter_id in customer_meters}


def _write_readings(conn: Connection, plan: hc.ReadingPlan, now: datetime, progress: bool) -> set[Key]:
    values = [
        {"meter_id": r.meter_id, "register": r.register, "value": r.value, "read_at": r.read_at,
         "method": "actual", "source": "import", "cycle": r.cycle}
        for r in plan.new
    ]
    meter_ids = {r.meter_id for r in plan.new}
    meter_state.lock(conn, meter_ids)  # in meter order, as pushes take them
    with _bar(progress, len(values), "writing readings") as bar:
        _insert_many(conn, readings, values, bar)
    meter_state.rebuild(conn, meter_ids)
    return plan.resend


def _customer_values(c: lc.Customer) -> dict[str, Any]:
    return {column.name: value for column, value in zip(CUSTOMER_FIELDS, astuple(c))}


def _meter_values(m: lc.Meter) -> dict[str, Any]:
    return {**{f.name: getattr(m, f.name) for f in fields(m)}, "registers": list(m.registers)}


def _insert_many(conn: Connection, table: Table, rows: list[dict[str, Any]], bar: tqdm) -> None:
    for chunk in _chunks(rows, ROWS_PER_WRITE):
        conn.execute(insert(table), list(chunk))
        bar.update(len(chunk))


def _update_many(conn: Connection, table: Table, rows: list[dict[str, Any]], bar: tqdm) -> None:
    """One executemany UPDATE … WHERE id = ? setting every other column given."""
    if not rows:
        return
    # Bound names must differ from column names in an UPDATE's SET clause.
    columns = [c for c in rows[0] if c != "id"]
    stmt = (
        update(table)
        .where(table.c.id == bindparam("key_id"))
        .values({c: bindparam(f"new_{c}") for c in columns})
    )
    for chunk in _chunks(rows, ROWS_PER_WRITE):
        conn.execute(stmt, [{"key_id": r["id"], **{f"new_{c}": r[c] for c in columns}} for r in chunk])
        bar.update(len(chunk))


__all__ = ["ImportReport", "Source", "import_meters", "import_readings", "source_name"]
