"""Twelve months of monthly reads for the demo station, as the importer's readings CSV.

Households use more in summer (cooling) and winter (heating), pumps in the
irrigation months, workshops less around the Spring Festival. A district's
own meter reads what its customers used plus a line loss of 3–8 %, so that
supply is always above sales. Registers wrap at 10^dials like real ones.
"""

from __future__ import annotations

import csv
import io
from collections import defaultdict
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from random import Random

from server.demo.ledger import Meter, Station
from sync.history_csv import READING_COLUMNS

MONTHS = 12
# Use in each calendar month relative to the year's average.
SEASONS = {
    "residential": (1.35, 1.25, 1.0, 0.85, 0.85, 1.05, 1.45, 1.5, 1.1, 0.85, 0.9, 1.2),
    "commercial": (1.15, 1.0, 1.0, 0.95, 1.0, 1.1, 1.3, 1.3, 1.1, 1.0, 1.0, 1.1),
    "industrial": (1.0, 0.7, 1.0, 1.05, 1.05, 1.05, 1.1, 1.1, 1.05, 1.0, 1.0, 1.0),
    "agricultural": (0.4, 0.4, 0.7, 1.0, 1.3, 1.6, 1.9, 1.8, 1.3, 0.8, 0.5, 0.4),
    "temporary": (1.0,) * 12,
}
LOSS_PCT_RANGE = (3.2, 7.8)
WORKDAY_START = time(8, 0)
WORKDAY_MINUTES = 9 * 60
# A route is read within about two weeks whatever its length.
MAX_MINUTES_PER_METER = 1.5
READING_DAYS = 14


@dataclass(frozen=True)
class Read:
    at: datetime  # station time, naive as in the CSV
    steps: int  # the total register since the start, in steps of 10^-decimals, unwrapped


def history_months(today: date) -> list[tuple[int, int]]:
    """The twelve (year, month) before today's, oldest first."""
    index = today.year * 12 + today.month - 1
    return [(i // 12, i % 12 + 1) for i in range(index - MONTHS, index)]


def _read_times(rng: Random, station: Station, today: date) -> dict[str, list[datetime]]:
    """When each meter was read in each month: a route's meters one after another from its reading day on."""
    times: dict[str, list[datetime]] = defaultdict(list)
    by_route: dict[str, list[Meter]] = defaultdict(list)
    for m in station.meters:
        by_route[m.route.id].append(m)
    for route_index, route in enumerate(station.routes):
        meters = by_route[route.id]
        minutes_per_meter = min(MAX_MINUTES_PER_METER, WORKDAY_MINUTES * READING_DAYS / len(meters))
        for year, month in history_months(today):
            first_day = date(year, month, 1 + route_index % 5 + rng.randint(0, 2))
            for position, m in enumerate(meters):
                days, minutes = divmod(position * minutes_per_meter, WORKDAY_MINUTES)
                start = datetime.combine(first_day + timedelta(days=int(days)), WORKDAY_START)
                times[m.id].append(start + timedelta(minutes=minutes, seconds=rng.randint(0, 50)))
    return times


def _customer_reads(rng: Random, m: Meter, times: list[datetime]) -> list[Read]:
    """Reads after installation; the register advances by the season's use, with some noise."""
    installed = datetime.combine(m.installed_on, time(10, 0))
    reads: list[Read] = []
    steps = m.start
    previous = installed
    season = SEASONS[m.category]
    for at in times:
        if at <= installed:
            continue
        # A meter older than the history starts it at its ``start``; one installed
        # since counts its use from the day it was installed.
        if reads or m.installed_on > times[0].date():
            middle = previous + (at - previous) / 2
            days = (at - previous).total_seconds() / 86400
            kwh = m.daily_kwh * days * season[middle.month - 1] * max(0.0, rng.gauss(1.0, 0.08))
            steps += round(kwh * 10**m.decimals / m.multiplier)
        reads.append(Read(at, steps))
        previous = at
    return reads


def _kwh(m: Meter, earlier: Read, later: Read) -> float:
    return (later.steps - earlier.steps) * m.multiplier / 10**m.decimals


def _district_reads(rng: Random, m: Meter, times: list[datetime], sales: list[float]) -> list[Read]:
    """The district meter: each month's sales plus a loss that wanders around the district's usual rate."""
    reads = [Read(times[0], m.start)]
    low, high = LOSS_PCT_RANGE
    for at, sold in zip(times[1:], sales[1:]):
        loss = min(high, max(low, m.route.district.loss_pct + rng.gauss(0, 0.6))) / 100
        supplied = sold / (1 - loss)
        reads.append(Read(at, reads[-1].steps + round(supplied * 10**m.decimals / m.multiplier)))
    return reads


def station_reads(rng: Random, station: Station, today: date) -> dict[str, list[Read]]:
    """Every meter's reads of the last twelve months; a district's supply follows its sales."""
    times = _read_times(rng, station, today)
    months = {year_month: k for k, year_month in enumerate(history_months(today))}
    reads: dict[str, list[Read]] = {}
    sales: dict[str, list[float]] = defaultdict(lambda: [0.0] * MONTHS)
    for m in station.meters:
        if m.is_district_meter:
            continue
        reads[m.id] = own = _customer_reads(rng, m, times[m.id])
        district_sales = sales[m.route.district.id]
        for earlier, later in zip(own, own[1:]):
            district_sales[months[(later.at.year, later.at.month)]] += _kwh(m, earlier, later)
    for m in station.meters:
        if m.is_district_meter:
            reads[m.id] = _district_reads(rng, m, times[m.id], sales[m.route.district.id])
    return reads


def register_value(m: Meter, steps: int) -> str:
    """What the dials show: wrapped at 10^dials, with the meter's decimals."""
    shown = steps % m.capacity
    if m.decimals == 0:
        return str(shown)
    whole, fraction = divmod(shown, 10**m.decimals)
    return f"{whole}.{fraction:0{m.decimals}d}"


def reading_lines(station: Station, reads: dict[str, list[Read]]) -> list[str]:
    """The reads as the importer's readings CSV, header first. Time-of-use meters split
    each advance between peak and valley so that the two always add up to the total."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(READING_COLUMNS)
    for m in station.meters:
        peak = round(m.start * m.peak_share)
        previous = m.start
        for r in reads[m.id]:
            at = r.at.isoformat(timespec="seconds")
            writer.writerow((m.id, "total", at, register_value(m, r.steps)))
            if len(m.registers) > 1:
                peak += round((r.steps - previous) * m.peak_share)
                writer.writerow((m.id, "peak", at, register_value(m, peak)))
                writer.writerow((m.id, "valley", at, register_value(m, r.steps - peak)))
            previous = r.steps
    return out.getvalue().splitlines(keepends=True)
