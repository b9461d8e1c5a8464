"""The station's meters file as CSV: rows to typed districts, routes, customers,
meters and seals, the problems of rows that disagree, and the plan that brings
the rows on record in line with a file.

Pure: the service reads the file and the rows on record and writes the plan.
The values of a row are read by ``sync.csv_values``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, tzinfo
from typing import Iterable, Mapping, Sequence

from sync.csv_values import (
    ADDRESS_LEN, NAME_LEN, Parsed, Problem, Row, coordinate, identifier, iso_date, one_of, parse_all,
    positive_decimal, register_names, seal_list, station_time, text, whole_number,
)
from sync.rules_reading import add_months

METER_COLUMNS = (
    "district_id", "district_name", "route_id", "customer_id", "account_no", "customer_name", "address",
    "category", "class", "temp_supply_until", "meter_id", "meter_serial", "multiplier", "dials", "phases",
    "registers", "lat", "lon", "installed_at", "seals",
)

DISTRICT_METER = "district_meter"
TEMPORARY = "temporary"
CATEGORIES = (DISTRICT_METER, "residential", "commercial", "industrial", "agricultural", TEMPORARY)
CUSTOMER_CLASSES = ("A", "B", "C")
PHASES = (1, 3)
MAX_DIALS = 12


# -- records ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class District:
    id: str
    name: str


@dataclass(frozen=True)
class Route:
    id: str
    district_id: str


@dataclass(frozen=True)
class Customer:
    id: str
    account_no: str
    name: str
    address: str
    category: str
    customer_class: str | None
    temp_supply_until: date | None


# Customer attribute → the file's column, for conflict messages.
CUSTOMER_COLUMNS = {
    "account_no": "account_no", "name": "customer_name", "address": "address", "category": "category",
    "customer_class": "class", "temp_supply_until": "temp_supply_until",
}


@dataclass(frozen=True)
class Meter:
    id: str
    serial: str
    customer_id: str | None
    district_id: str
    route_id: str
    category: str
    address: str
    lat: str | None
    lon: str | None
    multiplier: str
    dials: int
    phases: int
    registers: tuple[str, ...]
    installed_at: datetime | None


@dataclass(frozen=True)
class LedgerRow:
    """One line of a meters file."""

    line: int
    district: District
    route: Route
    customer: Customer | None
    meter: Meter
    seals: tuple[tuple[str, str], ...]  # (position, number), in SEAL_POSITIONS order


# -- meters file -----------------------------------------------------------------------------------

_CUSTOMER_ONLY = ("customer_id", "account_no", "customer_name", "class", "temp_supply_until")


def parse_ledger_row(
    line: int, values: dict[str, str], tz: tzinfo, temp_supply_months: int
) -> LedgerRow | list[str]:
    """A typed row, or every problem of the line."""
    row = Row(values)
    category = row.get("category", one_of, CATEGORIES)
    district = District(row.get("district_id", identifier), row.get("district_name", text, NAME_LEN))
    route_id = row.get("route_id", identifier)
    address = row.get("address", text, ADDRESS_LEN)
    installed_at = row.get("installed_at", station_time, tz, False)
    if bool(row["lat"]) != bool(row["lon"]):
        row.problems.append("lat and lon go together: give both or neither")
    customer = _customer(row, category, address, installed_at, tz, temp_supply_months)
    meter = Meter(
        id=row.get("meter_id", identifier),
        serial=row.get("meter_serial", identifier),
        customer_id=customer.id if customer else None,
        district_id=district.id,
        route_id=route_id,
        category=category,
        address=address,
        lat=row.get("lat", coordinate, 90),
        lon=row.get("lon", coordinate, 180),
        multiplier=row.get("multiplier", positive_decimal),
        dials=row.get("dials", whole_number, range(1, MAX_DIALS + 1)),
        phases=row.get("phases", whole_number, PHASES),
        registers=row.get("registers", register_names),
        installed_at=installed_at,
    )
    seals = row.get("seals", seal_list)
    if row.problems:
        return row.problems
    return LedgerRow(line, district, Route(route_id, district.id), customer, meter, seals)


def _customer(
    row: Row, category: str | None, address: str | None, installed_at: datetime | None, tz: tzinfo,
    temp_supply_months: int,
) -> Customer | None:
    if category == DISTRICT_METER:
        given = [c for c in _CUSTOMER_ONLY if row[c]]
        if given:
            row.problems.append(f"a district meter has no customer, but {', '.join(given)} is given")
        return None
    until = row.get("temp_supply_until", iso_date)
    if until is not None and category not in (None, TEMPORARY):
        row.problems.append(f"temp_supply_until is for temporary customers, not {category}")
    if until is None and category == TEMPORARY and not row["temp_supply_until"]:
        if installed_at is not None:
            until = add_months(installed_at.astimezone(tz).date(), temp_supply_months)
        elif not row["installed_at"]:  # a bad installed_at is reported on its own
            row.problems.append("a temporary customer needs temp_supply_until or installed_at")
    return Customer(
        id=row.get("customer_id", identifier),
        account_no=row.get("account_no", identifier),
        name=row.get("customer_name", text, NAME_LEN),
        address=address,
        category=category,
        customer_class=row.get("class", one_of, CUSTOMER_CLASSES, False),
        temp_supply_until=until,
    )


def parse_ledger(lines: Iterable[str], tz: tzinfo, temp_supply_months: int) -> Parsed[LedgerRow]:
    """Every row of a meters file, with the problems of single rows and of rows that disagree."""
    parsed = parse_all(
        lines, METER_COLUMNS, lambda line, values: parse_ledger_row(line, values, tz, temp_supply_months)
    )
    parsed.records, disagreements = _consistent_rows(parsed.records)
    parsed.problems += disagreements
    return parsed


def _consistent_rows(rows: list[LedgerRow]) -> tuple[list[LedgerRow], list[Problem]]:
    """Rows that repeat a meter dropped; a customer, district, route or seal told two ways is a problem."""
    problems: list[Problem] = []
    meters: dict[str, int] = {}
    customers: dict[str, LedgerRow] = {}
    districts: dict[str, LedgerRow] = {}
    routes: dict[str, LedgerRow] = {}
    seals: dict[str, tuple[LedgerRow, str]] = {}
    kept: list[LedgerRow] = []
    for row in rows:
        if row.meter.id in meters:
            problems.append((row.line, f"meter {row.meter.id} is already on line {meters[row.meter.id]}"))
            continue
        meters[row.meter.id] = row.line
        kept.append(row)
        first = districts.setdefault(row.district.id, row)
        if first.district.name != row.district.name:
            problems.append((row.line, f"district {row.district.id} is named {row.district.name!r} here "
                                       f"but {first.district.name!r} on line {first.line}"))
        first = routes.setdefault(row.route.id, row)
        if first.route.district_id != row.route.district_id:
            problems.append((row.line, f"route {row.route.id} is in district {row.route.district_id} here "
                                       f"but in {first.route.district_id} on line {first.line}"))
        if row.customer is not None:
            first = customers.setdefault(row.customer.id, row)
            if first.customer != row.customer:
                problems.append((row.line, _customer_conflict(row.customer, first)))
        for position, number in row.seals:
            other, other_position = seals.setdefault(number, (row, position))
            if other is not row or other_position != position:
                where = "this meter" if other is row else f"meter {other.meter.id} on line {other.line}"
                problems.append((row.line, f"seal {number} is also at {other_position} of {where}"))
    return kept, problems


def _customer_conflict(customer: Customer, first: LedgerRow) -> str:
    differences = [
        f"{column} {getattr(customer, attr)!s} here but {getattr(first.customer, attr)!s}"
        for attr, column in CUSTOMER_COLUMNS.items()
        if getattr(customer, attr) != getattr(first.customer, attr)
    ]
    return f"customer {customer.id} differs from line {first.line}: {'; '.join(differences)}"


# -- planning a meters import ----------------------------------------------------------------------


@dataclass(frozen=True)
class SealOnRecord:
    id: int
    number: str


@dataclass
class OnRecord:
    """What the database holds for the ids in a file (ids it does not hold are absent)."""

    district_names: dict[str, str] = field(default_factory=dict)
    route_districts: dict[str, str] = field(default_factory=dict)
    customers: dict[str, Customer] = field(default_factory=dict)
    meters: dict[str, Meter] = field(default_factory=dict)
    seals: dict[str, dict[str, SealOnRecord]] = field(default_factory=dict)  # meter → position → current seal


@dataclass
class LedgerPlan:
    districts_new: list[District] = field(default_factory=list)
    districts_renamed: list[District] = field(default_factory=list)
    routes_new: list[Route] = field(default_factory=list)
    customers_new: list[Customer] = field(default_factory=list)
    customers_changed: list[Customer] = field(default_factory=list)
    meters_new: list[Meter] = field(default_factory=list)
    meters_changed: list[Meter] = field(default_factory=list)
    seals_removed: list[int] = field(default_factory=list)  # ids of the seals a file's seal replaces
    seals_new: list[tuple[str, str, str]] = field(default_factory=list)  # (meter_id, position, number)
    # Meters (seals included) and customers on record whose data changed: the tablets
    # holding them must get them again. New ones are on no tablet yet.
    resend: set[tuple[str, str]] = field(default_factory=set)
    inserted: int = 0
    updated: int = 0
    unchanged: int = 0
    problems: list[Problem] = field(default_factory=list)


def plan_ledger(rows: Sequence[LedgerRow], on_record: OnRecord) -> LedgerPlan:
    """What to write so that the rows on record say what the file's rows (consistent, as
    ``parse_ledger`` gives them) say. A row counts as inserted when its meter is new,
    unchanged when every value of it is already on record, updated otherwise."""
    plan = LedgerPlan()
    stale: set[tuple[str, str]] = set()  # what the plan writes, as (kind, id)
    for district in {r.district.id: r.district for r in rows}.values():
        name = on_record.district_names.get(district.id)
        if name != district.name:
            (plan.districts_new if name is None else plan.districts_renamed).append(district)
            stale.add(("district", district.id))
    first_of_route: dict[str, LedgerRow] = {}
    for row in rows:
        first_of_route.setdefault(row.route.id, row)
    for row in first_of_route.values():
        district_id = on_record.route_districts.get(row.route.id)
        if district_id is None:
            plan.routes_new.append(row.route)
            stale.add(("route", row.route.id))
        elif district_id != row.route.district_id:
            plan.problems.append((row.line, f"route {row.route.id} is in district {district_id} on record, "
                                            f"not {row.route.district_id}; a route does not change district"))
    for customer in {r.customer.id: r.customer for r in rows if r.customer}.values():
        customer_on_record = on_record.customers.get(customer.id)
        if customer_on_record == customer:
            continue
        stale.add(("customer", customer.id))
        if customer_on_record is None:
            plan.customers_new.append(customer)
        else:
            plan.customers_changed.append(customer)
            plan.resend.add(("customer", customer.id))
    for row in rows:
        _plan_meter(row, on_record, plan, stale)
    return plan


def _plan_meter(row: LedgerRow, on_record: OnRecord, plan: LedgerPlan, stale: set[tuple[str, str]]) -> None:
    meter_on_record = on_record.meters.get(row.meter.id)
    seals_changed = _plan_seals(row, on_record.seals.get(row.meter.id, {}), plan)
    if meter_on_record is None:
        plan.meters_new.append(row.meter)
        plan.inserted += 1
        return
    if meter_on_record != row.meter:
        plan.meters_changed.append(row.meter)
    if meter_on_record != row.meter or seals_changed:
        plan.resend.add(("meter", row.meter.id))
        stale.add(("meter", row.meter.id))
    parts = [("district", row.district.id), ("route", row.route.id), ("meter", row.meter.id)]
    if row.customer is not None:
        parts.append(("customer", row.customer.id))
    if any(part in stale for part in parts):
        plan.updated += 1
    else:
        plan.unchanged += 1


def _plan_seals(row: LedgerRow, current: Mapping[str, SealOnRecord], plan: LedgerPlan) -> bool:
    """The file's seals become the seals on record: a different number replaces the current
    seal, a position the file leaves empty loses its seal, the same number stays untouched."""
    wanted = dict(row.seals)
    replaced = [seal.id for position, seal in current.items() if wanted.get(position) != seal.number]
    new = [(row.meter.id, p, n) for p, n in row.seals if p not in current or current[p].number != n]
    plan.seals_removed += replaced
    plan.seals_new += new
    return bool(replaced or new)
