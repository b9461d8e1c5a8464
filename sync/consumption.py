"""Energy between reads and the expected consumption band (DOMAIN_RULES: consumption rules).

Expected = average daily use × days; average daily use = energy over the
last N intervals between actual reads ÷ their days. Energy of an interval is
the register advance × multiplier, a register that wrapped at 10^dials
counted as wrapped. The same band is the pull's ``expected`` and the push's
``consumption_high`` / ``consumption_low`` check, so the tablet and the
server never disagree about what is plausible.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import NamedTuple, Sequence

from sync.thresholds import Thresholds

SECONDS_PER_DAY = Decimal(86400)


class ActualRead(NamedTuple):
    """One actual read of a register: its value and when it was taken (UTC)."""

    value: Decimal
    read_at: datetime


def register_advance(previous: Decimal, current: Decimal, dials: int) -> Decimal:
    """How far the register moved, assuming at most one wrap at 10^dials."""
    if current >= previous:
        return current - previous
    return Decimal(10) ** dials - previous + current


def average_daily_kwh(
    history: Sequence[ActualRead], multiplier: Decimal, dials: int, thresholds: Thresholds
) -> Decimal | None:
    """Average daily energy over the last ``consumption_intervals`` intervals, or None
    when there are fewer than ``consumption_min_history`` earlier actual reads."""
    reads = sorted(history, key=lambda r: r.read_at)[-(thresholds.consumption_intervals + 1):]
    if len(reads) < max(2, thresholds.consumption_min_history):
        return None
    # Exact decimals: the advances summed, then multiplied, are the intervals' energies summed.
    energy = sum((register_advance(earlier.value, later.value, dials) for earlier, later in zip(reads, reads[1:])),
                 Decimal(0)) * multiplier
    seconds = Decimal((reads[-1].read_at - reads[0].read_at).total_seconds())
    if seconds <= 0:
        return None
    return energy / (seconds / SECONDS_PER_DAY)


@dataclass(frozen=True)
class Band:
    expected_kwh: Decimal
    low_kwh: Decimal
    high_kwh: Decimal


def expected_band(
    history: Sequence[ActualRead], multiplier: Decimal, dials: int, until: datetime, thresholds: Thresholds
) -> Band | None:
    """The plausible energy from the last actual read to ``until``, or None without enough history."""
    daily = average_daily_kwh(history, multiplier, dials, thresholds)
    if daily is None:
        return None
    last = max(r.read_at for r in history)
    days = Decimal(max(0.0, (until - last).total_seconds())) / SECONDS_PER_DAY
    expected = daily * days
    return Band(
        expected_kwh=expected,
        low_kwh=expected * thresholds.consumption_low_factor,
        high_kwh=expected * thresholds.consumption_high_factor,
    )


def kwh_text(value: Decimal) -> str:
    """Energy as the wire's decimal string, to 0.1 kWh."""
    return str(value.quantize(Decimal("0.1")))
