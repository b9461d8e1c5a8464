"""The station's ledger as CSV: rows to typed records, every problem named by
its line, and the plan that brings the rows on record in line with a file.

Pure: the service reads the file and the rows on record and writes the plan.
Decimal quantities stay strings (a multiplier is normalised, "30.0" → "30");
times without an offset are station time and come out as aware UTC.
"""

from __future__ import annotations

import calendar
import csv
import re
from dataclasses import dataclass, field
from datetime import date, datetime, timezone, tzinfo
from decimal import Decimal
from typing import Callable, ClassVar, Generic, Iterable, Iterator, Mapping, Sequence, TypeVar

METER_COLUMNS = (
    "district_id", "district_name", "route_id", "customer_id", "account_no", "customer_name", "address",
    "category", "class", "temp_supply_until", "meter_id", "meter_serial", "multiplier", "dials", "phases",
    "registers", "lat", "lon", "installed_at", "seals",
)
READING_COLUMNS = ("meter_id", "register", "read_at", "value")

DISTRICT_METER = "district_meter"
TEMPORARY = "temporary"
CATEGORIES = (DISTRICT_METER, "residential", "commercial", "industrial", "agricultural", TEMPORARY)
CUSTOMER_CLASSES = ("A", "B", "C")
SEAL_POSITIONS = ("meter_cover", "terminal_cover", "meter_box", "ct_box")
PHASES = (1, 3)
MAX_DIALS = 12

# Column widths of the schema, so that a long value is a line's problem and
# not a database error (PostgreSQL refuses it; SQLite would store it).
ID_LEN, NAME_LEN, ADDRESS_LEN, NUMBER_LEN, REGISTER_LEN = 64, 200, 500, 32, 32

_UNSIGNED_DECIMAL = re.compile(r"^[0-9]+(\.[0-9]+)?$")
_SIGNED_DECIMAL = re.compile(r"^-?[0-9]+(\.[0-9]+)?$")
_REGISTER_NAME = re.compile(r"^[A-Za-z0-9_]+$")
_NO_SPACE = re.compile(r"^\S+$")

Problem = tuple[int, str]
"""``(line, what is wrong)``; line 1 is the header."""

T = TypeVar("T")


def format_problems(problems: Iterable[Problem]) -> list[str]:
    """``"line 17: …"`` messages in file order."""
    return [f"line {line}: {message}" for line, message in sorted(problems, key=lambda p: p[0])]


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


@dataclass(frozen=True)
class Reading:
    """One line of a reading history file."""

    line: int
    meter_id: str
    register: str
    read_at: datetime  # aware, UTC
    value: str
    cycle: str  # YYYY-MM of read_at in station time


@dataclass
class Parsed(Generic[T]):
    rows: int = 0
    records: list[T] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)


# -- reading CSV -----------------------------------------------------------------------------------


def csv_records(
    lines: Iterable[str], columns: Sequence[str], problems: list[Problem]
) -> Iterator[tuple[int, dict[str, str]]]:
    """``(line, {column: stripped value})`` for each data row; header and shape problems go to ``problems``.

    Blank rows (also Excel's ``,,,``) are skipped; columns beyond ``columns`` are ignored.
    """
    reader = csv.reader(lines)
    try:
        header = next(reader, None)
    except csv.Error as exc:
        problems.append((1, f"the header is not valid CSV ({exc})"))
        return
    if header is None:
        problems.append((1, f"the file is empty; the header must name {', '.join(columns)}"))
        return
    names = [h.strip().lstrip("\ufeff").strip() for h in header]
    missing = [c for c in columns if c not in names]
    doubled = sorted({n for n in names if n and names.count(n) > 1})
    if missing:
        problems.append((1, f"missing columns: {', '.join(missing)}"))
    if doubled:
        problems.append((1, f"columns named twice: {', '.join(doubled)}"))
    if missing or doubled:
        return
    while True:
        line = reader.line_num + 1
        try:
            values = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            problems.append((line, f"not valid CSV ({exc}); nothing after it was read"))
            return
        if not any(v.strip() for v in values):
            continue
        if len(values) != len(names):
            problems.append((line, f"{len(values)} fields, but the header has {len(names)}"))
            continue
        yield line, {n: v.strip() for n, v in zip(names, values)}


def _parse_all(
    lines: Iterable[str], columns: Sequence[str], parse_row: Callable[[int, dict[str, str]], T | list[str]]
) -> Parsed[T]:
    parsed: Parsed[T] = Parsed()
    for line, row in csv_records(lines, columns, parsed.problems):
        parsed.rows += 1
        result = parse_row(line, row)
        if isinstance(result, list):
            parsed.problems += [(line, message) for message in result]
        else:
            parsed.records.append(result)
    return parsed


# -- values ----------------------------------------------------------------------------------------


class _Row:
    """Reads typed values out of one row, collecting every problem instead of stopping at the first."""

    def __init__(self, values: dict[str, str]) -> None:
        self.values = values
        self.problems: list[str] = []

    def __getitem__(self, column: str) -> str:
        return self.values[column]

    def get(self, column: str, parse: Callable[..., T], *args: object) -> T | None:
        try:
            return parse(column, self.values[column], *args)
        except ValueError as exc:
            self.problems.append(str(exc))
            return None


def _absent(column: str, raw: str, required: bool) -> bool:
    """Whether an empty value may be left out; an empty required one is a problem."""
    if raw:
        return False
    if required:
        raise ValueError(f"{column} is empty")
    return True


def text(column: str, raw: str, max_len: int, required: bool = True) -> str | None:
    if _absent(column, raw, required):
        return None
    if len(raw) > max_len:
        raise ValueError(f"{column} is longer than {max_len} characters")
    return raw


def identifier(column: str, raw: str, required: bool = True) -> str | None:
    value = text(column, raw, ID_LEN, required)
    if value is not None and not _NO_SPACE.match(value):
        raise ValueError(f"{column} {raw!r} contains spaces")
    return value


def positive_decimal(column: str, raw: str) -> str:
    """The value normalised without changing it: "30.00" → "30", "0.50" → "0.5"."""
    if not _UNSIGNED_DECIMAL.match(raw) or Decimal(raw) == 0 or len(raw) > NUMBER_LEN:
        raise ValueError(f"{column} {raw!r} is not a positive decimal")
    return format(Decimal(raw).normalize(), "f")


def non_negative_decimal(column: str, raw: str) -> str:
    if not _UNSIGNED_DECIMAL.match(raw) or len(raw) > NUMBER_LEN:
        raise ValueError(f"{column} {raw!r} is not a non-negative decimal")
    return raw


def whole_number(column: str, raw: str, allowed: range | tuple[int, ...]) -> int:
    if not (raw.isascii() and raw.isdigit()) or int(raw) not in allowed:
        if isinstance(allowed, range):
            expected = f"a whole number from {allowed[0]} to {allowed[-1]}"
        else:
            expected = " or ".join(map(str, allowed))
        raise ValueError(f"{column} {raw!r} is not {expected}")
    return int(raw)


def coordinate(column: str, raw: str, limit: int) -> str | None:
    if not raw:
        return None
    if not _SIGNED_DECIMAL.match(raw) or abs(Decimal(raw)) > limit or len(raw) > NUMBER_LEN:
        raise ValueError(f"{column} {raw!r} is not a decimal from -{limit} to {limit}")
    return raw


def one_of(column: str, raw: str, allowed: Sequence[str], required: bool = True) -> str | None:
    if not raw and not required:
        return None
    if raw not in allowed:
        raise ValueError(f"{column} {raw!r} is not one of {', '.join(allowed)}")
    return raw


def station_time(column: str, raw: str, tz: tzinfo, required: bool = True) -> datetime | None:
    """ISO 8601 date or date and time; without an offset it is station time. Aware UTC."""
    if _absent(column, raw, required):
        return None
    try:
        moment = datetime.fromisoformat(raw)
    except ValueError:
        raise ValueError(f"{column} {raw!r} is not an ISO 8601 date or time") from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=tz)
    return moment.astimezone(timezone.utc)


def iso_date(column: str, raw: str) -> date | None:
    if not raw:
        return None
    try:
        return date.fromisoformat(raw)
    except ValueError:
        raise ValueError(f"{column} {raw!r} is not an ISO 8601 date (YYYY-MM-DD)") from None


def register_names(column: str, raw: str) -> tuple[str, ...]:
    names = tuple(n.strip() for n in raw.split(";"))
    if not raw or not all(_REGISTER_NAME.match(n) and len(n) <= REGISTER_LEN for n in names):
        raise ValueError(f"{column} {raw!r} is not register names separated by ';' (like total;peak;valley)")
    if len(set(names)) != len(names):
        raise ValueError(f"{column} {raw!r} names a register twice")
    return names


def seal_list(column: str, raw: str) -> tuple[tuple[str, str], ...]:
    """``meter_cover:S0012345;terminal_cover:S0012346`` → ((position, number), …) in position order."""
    if not raw:
        return ()
    found: dict[str, str] = {}
    for part in raw.split(";"):
        position, sep, number = (p.strip() for p in part.partition(":"))
        if not sep or not position or not _NO_SPACE.match(number) or len(number) > ID_LEN:
            raise ValueError(f"{column} {raw!r} is not position:number pairs separated by ';'")
        if position not in SEAL_POSITIONS:
            raise ValueError(f"seal position {position!r} is not one of {', '.join(SEAL_POSITIONS)}")
        if position in found:
            raise ValueError(f"{column} {raw!r} gives {position} twice")
        found[position] = number
    return tuple((p, found[p]) for p in SEAL_POSITIONS if p in found)


def add_months(day: date, months: int) -> date:
    """Same day ``months`` later, or the month's last day when it is shorter."""
    year, month_index = divmod(day.year * 12 + day.month - 1 + months, 12)
    month = month_index + 1
    return date(year, month, min(day.day, calendar.monthrange(year, month)[1]))


# -- meters file -----------------------------------------------------------------------------------

_CUSTOMER_ONLY = ("customer_id", "account_no", "customer_name", "class", "temp_supply_until")


def parse_ledger_row(
    line: int, values: dict[str, str], tz: tzinfo, temp_supply_months: int
) -> LedgerRow | list[str]:
    """A typed row, or every problem of the line."""
    row = _Row(values)
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
    row: _Row, category: str | None, address: str | None, installed_at: datetime | None, tz: tzinfo,
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
    parsed = _parse_all(
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


# -- reading history -------------------------------------------------------------------------------


def parse_reading_row(line: int, values: dict[str, str], tz: tzinfo, latest: datetime) -> Reading | list[str]:
    row = _Row(values)
    meter_id = row.get("meter_id", identifier)
    register = row.get("register", text, REGISTER_LEN)
    read_at = row.get("read_at", station_time, tz)
    value = row.get("value", non_negative_decimal)
    if read_at is not None and read_at > latest:
        row.problems.append(f"read_at {row['read_at']!r} is in the future")
    if row.problems:
        return row.problems
    return Reading(line, meter_id, register, read_at, value, read_at.astimezone(tz).strftime("%Y-%m"))


def parse_readings(lines: Iterable[str], tz: tzinfo, latest: datetime) -> Parsed[Reading]:
    """Every row of a reading history file; ``latest`` is the last moment a reading may have been taken."""
    return _parse_all(lines, READING_COLUMNS, lambda line, values: parse_reading_row(line, values, tz, latest))


@dataclass(frozen=True)
class MeterFacts:
    """What a reading is checked against."""

    registers: tuple[str, ...]
    dials: int


ReadingKey = tuple[str, str, datetime]  # meter_id, register, read_at (UTC)


@dataclass
class ReadingPlan:
    new: list[Reading] = field(default_factory=list)
    unchanged: int = 0
    problems: list[Problem] = field(default_factory=list)
    updated: ClassVar[int] = 0  # an import never changes a stored reading

    @property
    def inserted(self) -> int:
        return len(self.new)

    @property
    def resend(self) -> set[tuple[str, str]]:
        """Meters whose last reading changed."""
        return {("meter", r.meter_id) for r in self.new}


def plan_readings(
    readings: Sequence[Reading], meters: Mapping[str, MeterFacts], stored: Mapping[ReadingKey, str | None], tz: tzinfo
) -> ReadingPlan:
    """New readings to store; one already stored (or earlier in the file) with the same
    value is skipped, with another value it is a conflict (its time told in station time)."""
    plan = ReadingPlan()
    seen: dict[ReadingKey, Reading] = {}
    for r in readings:
        facts = meters.get(r.meter_id)
        if facts is None:
            plan.problems.append((r.line, f"meter {r.meter_id} is not in the ledger"))
            continue
        if r.register not in facts.registers:
            plan.problems.append((r.line, f"register {r.register!r} is not one of meter {r.meter_id}'s "
                                          f"registers ({', '.join(facts.registers)})"))
            continue
        if Decimal(r.value) >= Decimal(10) ** facts.dials:
            plan.problems.append((r.line, f"value {r.value} does not fit the {facts.dials} dials "
                                          f"of meter {r.meter_id}"))
            continue
        key = (r.meter_id, r.register, r.read_at)
        if key in stored:
            known, where = stored[key], "on record"
        elif key in seen:
            known, where = seen[key].value, f"on line {seen[key].line}"
        else:
            seen[key] = r
            plan.new.append(r)
            continue
        if _same_value(known, r.value):
            plan.unchanged += 1
        else:
            when = r.read_at.astimezone(tz).isoformat()
            plan.problems.append((r.line, f"meter {r.meter_id} {r.register} at {when} is {known or 'empty'} {where}, "
                                          f"not {r.value}"))
    return plan


def _same_value(on_record: str | None, value: str) -> bool:
    return on_record is not None and Decimal(on_record) == Decimal(value)
