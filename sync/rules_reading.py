"""Rules that flag a reading for review (DOMAIN_RULES, validation rules).

They run only on readings that passed every rejection rule, so a reading's
register is the meter's and its value, when there is one, a valid decimal.
Consumption is register advance × multiplier, in Decimal throughout; the
expected band is ``sync.consumption.expected_band``, the same as the pull's.
"""

from __future__ import annotations

import calendar
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Mapping

from sync.consumption import ActualRead, Band, expected_band, kwh_text, register_advance
from sync.ledger import AssignmentView, BatchContext, CycleRead, MeterView
from sync.rules_types import Flag, ReadingItem
from sync.thresholds import Thresholds

# 尖 峰 平 谷: the time-of-use registers whose sum is the total register.
TIME_OF_USE_REGISTERS = ("sharp", "peak", "flat", "valley")


def reading_value(reading: ReadingItem) -> Decimal | None:
    """The value of an actual reading (already validated), None for an unable one."""
    return Decimal(reading.value) if reading.method == "actual" and reading.value is not None else None


def outside_window(reading: ReadingItem, assignment: AssignmentView | None, ctx: BatchContext) -> Flag | None:
    """Read on a station date outside the assignment's inclusive due window."""
    if assignment is None:
        return None
    read_on = ctx.station_date(ctx.corrected(reading.recorded_at))
    if assignment.due_from <= read_on <= assignment.due_until:
        return None
    return Flag(
        "outside_window",
        f"Read on {read_on}, outside the due window {assignment.due_from} to {assignment.due_until} "
        f"of assignment {assignment.id}; the reviewer decides whether it stands for cycle {assignment.cycle}.",
    )


@dataclass(frozen=True, slots=True)
class _Drop:
    """A value below the last actual read, and whether a wrap at 10^dials explains it."""

    value: Decimal
    last: ActualRead
    wrapped_kwh: Decimal
    plausible_wrap: bool


def _band(reading: ReadingItem, meter: MeterView, ctx: BatchContext) -> Band | None:
    history = meter.history.get(reading.register, ())
    if not history:
        return None
    at = ctx.corrected(reading.recorded_at)
    return expected_band(history, meter.multiplier, meter.dials, at, ctx.thresholds)


def _drop(reading: ReadingItem, meter: MeterView, ctx: BatchContext) -> _Drop | None:
    """A wrap is plausible when its consumption is at most rollover_max_factor × the
    expected, or, with no expected to compare, under half the register's range."""
    value = reading_value(reading)
    last = meter.last_actual(reading.register)
    if value is None or last is None or value >= last.value:
        return None
    advance = register_advance(last.value, value, meter.dials)
    band = _band(reading, meter, ctx)
    if band is None:
        plausible = advance < meter.register_range / 2
    else:
        plausible = advance * meter.multiplier <= ctx.thresholds.rollover_max_factor * band.expected_kwh
    return _Drop(value, last, advance * meter.multiplier, plausible)


def rollover(reading: ReadingItem, meter: MeterView, ctx: BatchContext) -> Flag | None:
    drop = _drop(reading, meter, ctx)
    if drop is None or not drop.plausible_wrap:
        return None
    return Flag(
        "rollover",
        f"Register {reading.register} went from {drop.last.value} to {drop.value}: taken as a wrap past "
        f"{meter.register_range}, {kwh_text(drop.wrapped_kwh)} kWh. The reviewer confirms the wrap; "
        "if the register did not wrap, re-read the meter.",
    )


def reverse_reading(reading: ReadingItem, meter: MeterView, ctx: BatchContext) -> Flag | None:
    drop = _drop(reading, meter, ctx)
    if drop is None or drop.plausible_wrap:
        return None
    return Flag(
        "reverse_reading",
        f"Register {reading.register} reads {drop.value}, below the last actual read {drop.last.value} of "
        f"{drop.last.read_at.date()}, and no plausible wrap explains it. Check the value; a re-read or "
        "an inspection may follow.",
    )


def consumption_outside_band(reading: ReadingItem, meter: MeterView, ctx: BatchContext) -> Flag | None:
    """consumption_high / consumption_low: the energy since the last actual read against the
    expected band; no check without enough history, or when the register went back."""
    value = reading_value(reading)
    last = meter.last_actual(reading.register)
    band = _band(reading, meter, ctx)
    if value is None or last is None or band is None or value < last.value:
        return None
    kwh = (value - last.value) * meter.multiplier
    if band.low_kwh <= kwh <= band.high_kwh:
        return None
    band_text = f"{kwh_text(band.low_kwh)} to {kwh_text(band.high_kwh)} kWh"
    since = f"since the last actual read of {last.read_at.date()}"
    if kwh > band.high_kwh:
        return Flag(
            "consumption_high",
            f"{kwh_text(kwh)} kWh {since}, above the expected {band_text}. Check the value; "
            "a sudden rise may mean a wrong read or a fault.",
        )
    return Flag(
        "consumption_low",
        f"{kwh_text(kwh)} kWh {since}, below the expected {band_text}. Check the value; "
        "a sudden fall may mean a stopped meter or unauthorised use.",
    )


def _earlier_cycles(meter: MeterView, cycle: str | None, count: int) -> tuple[CycleRead, ...] | None:
    """The ``count`` cycles before this one, oldest first, or None when there are fewer."""
    earlier = tuple(c for c in meter.recent_cycles if c.cycle != cycle)
    if count <= 0:
        return ()
    return earlier[-count:] if len(earlier) >= count else None


def long_term_zero(reading: ReadingItem, meter: MeterView, cycle: str | None, thresholds: Thresholds) -> Flag | None:
    """Zero consumption on the meter's main register for long_term_zero_cycles cycles
    running, this one included, on a meter that serves a customer and is installed."""
    value = reading_value(reading)
    last = meter.last_actual(reading.register)
    if reading.register != meter.primary_register or value is None or last is None or value != last.value:
        return None
    if meter.customer_id is None or meter.removed_at is not None:
        return None
    cycles = thresholds.long_term_zero_cycles
    earlier = _earlier_cycles(meter, cycle, cycles - 1)
    if earlier is None or not all(c.method == "actual" and c.consumption_kwh == 0 for c in earlier):
        return None
    return Flag(
        "long_term_zero",
        f"No consumption for {cycles} cycles running. Check that the meter runs and the "
        "premises are really unused.",
    )


def unable_repeat(reading: ReadingItem, meter: MeterView, cycle: str | None, thresholds: Thresholds) -> Flag | None:
    """"Unable" again, for unable_repeat_cycles cycles running, this one included."""
    if reading.method != "unable":
        return None
    cycles = thresholds.unable_repeat_cycles
    earlier = _earlier_cycles(meter, cycle, cycles - 1)
    if earlier is None or not all(c.method == "unable" for c in earlier):
        return None
    return Flag(
        "unable_repeat",
        f"Meter {meter.id} could not be read for {cycles} cycles running ({reading.unable_reason}). "
        "The office arranges access or an inspection.",
    )


def new_customer_read(meter: MeterView, thresholds: Thresholds) -> Flag | None:
    """One of a new meter's first readings, which the anti-theft rules follow up."""
    if meter.reads_before >= thresholds.new_customer_reads:
        return None
    return Flag(
        "new_customer_read",
        f"Reading {meter.reads_before + 1} of the new meter {meter.id}: the first "
        f"{thresholds.new_customer_reads} readings of a new customer are reviewed.",
    )


def duplicate_read(reading: ReadingItem, meter: MeterView, assignment: AssignmentView | None) -> Flag | None:
    """A different value already stored for the register in this cycle, outside a re-read."""
    value = reading_value(reading)
    if assignment is None or assignment.task == "reread" or value is None:
        return None
    stored = meter.stored_cycle_values.get((reading.register, assignment.cycle))
    if stored is None or Decimal(stored) == value:
        return None
    return Flag(
        "duplicate_read",
        f"Register {reading.register} already has {stored} stored for cycle {assignment.cycle}; "
        f"this reading says {value}. The reviewer decides which stands.",
    )


def register_sum_mismatch(values: Mapping[str, Decimal], meter: MeterView, thresholds: Thresholds) -> Flag | None:
    """The time-of-use registers read together against the total register.

    ``values`` are the registers read together (register → value). Checked
    only when the total and every time-of-use register of the meter (two at
    least) are among them.
    """
    tou = [r for r in TIME_OF_USE_REGISTERS if r in meter.registers]
    if len(tou) < 2 or "total" not in values or any(r not in values for r in tou):
        return None
    total = values["total"]
    parts = sum((values[r] for r in tou), Decimal(0))
    tolerance = total * thresholds.register_sum_tolerance_pct / 100
    if abs(parts - total) <= tolerance:
        return None
    return Flag(
        "register_sum_mismatch",
        f"The time-of-use registers ({' + '.join(tou)}) add up to {parts}, the total register reads "
        f"{total}: more than {thresholds.register_sum_tolerance_pct} % apart. Check each register.",
    )


def add_months(day: date, months: int) -> date:
    """The same day ``months`` later, clamped to the month's last day."""
    years, month_index = divmod(day.month - 1 + months, 12)
    year, month = day.year + years, month_index + 1
    return date(year, month, min(day.day, calendar.monthrange(year, month)[1]))


def temp_supply_end(meter: MeterView, ctx: BatchContext) -> date | None:
    """The last day of a temporary supply: as recorded, else installation + temp_supply_months."""
    if meter.temp_supply_until is not None:
        return meter.temp_supply_until
    if meter.installed_at is None:
        return None
    return add_months(ctx.station_date(meter.installed_at), ctx.thresholds.temp_supply_months)


def temp_supply_expired(reading: ReadingItem, meter: MeterView, ctx: BatchContext) -> Flag | None:
    if meter.category != "temporary":
        return None
    end = temp_supply_end(meter, ctx)
    read_on = ctx.station_date(ctx.corrected(reading.recorded_at))
    if end is None or read_on <= end:
        return None
    return Flag(
        "temp_supply_expired",
        f"Temporary supply of meter {meter.id} ended on {end}; it was read on {read_on}. "
        "Temporary supply lasts at most six months: the office ends or renews it.",
    )


__all__ = [
    "TIME_OF_USE_REGISTERS",
    "add_months",
    "consumption_outside_band",
    "duplicate_read",
    "long_term_zero",
    "new_customer_read",
    "outside_window",
    "reading_value",
    "register_sum_mismatch",
    "reverse_reading",
    "rollover",
    "temp_supply_end",
    "temp_supply_expired",
    "unable_repeat",
]
