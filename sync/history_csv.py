"""The station's reading history as CSV: rows to typed readings, and the plan
that stores the new ones and names those that contradict what is on record.

Pure: the service reads the file and the readings on record and writes the plan.
The values of a row are read by ``sync.csv_values``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, tzinfo
from decimal import Decimal
from typing import ClassVar, Iterable, Mapping, Sequence

from sync.csv_values import (
    REGISTER_LEN, Parsed, Problem, Row, identifier, non_negative_decimal, parse_all, station_time, text,
)

READING_COLUMNS = ("meter_id", "register", "read_at", "value")


@dataclass(frozen=True)
class Reading:
    """One line of a reading history file."""

    line: int
    meter_id: str
    register: str
    read_at: datetime  # aware, UTC
    value: str
    cycle: str  # YYYY-MM of read_at in station time


def parse_reading_row(line: int, values: dict[str, str], tz: tzinfo, latest: datetime) -> Reading | list[str]:
    row = Row(values)
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
    return parse_all(lines, READING_COLUMNS, lambda line, values: parse_reading_row(line, values, tz, latest))


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
