"""Reading the ledger's CSV files: records with their line numbers, every problem
named by its line, and the parsers of single values, each collecting what is wrong
with a value instead of stopping at the first.

Pure. Decimal quantities stay strings (a multiplier is normalised, "30.0" → "30");
times without an offset are station time and come out as aware UTC.
"""

from __future__ import annotations

import csv
import re
from dataclasses import dataclass, field
from datetime import date, datetime, timezone, tzinfo
from decimal import Decimal
from typing import Callable, Generic, Iterable, Iterator, Sequence, TypeVar

SEAL_POSITIONS = ("meter_cover", "terminal_cover", "meter_box", "ct_box")

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


def parse_all(
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


class Row:
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
