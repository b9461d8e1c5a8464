"""The monthly report figures (DOMAIN_RULES: Reports; regulations 线损 8–9, 降损增效 4), pure.

The service fetches a month window of reads for the whole station in a few
bulk queries; everything here computes from that.

A meter's consumption in month M is the advance of its main register from
its read of cycle M−1 to its read of cycle M (a register that wrapped at
10^dials counted as wrapped), × its multiplier. A district's loss rate is
(supply − sales) / supply, supply being its district meter's consumption and
sales the sum of its customer meters'.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Iterable, Literal, Mapping, Sequence

from sync.consumption import register_advance
from sync.rules_types import Flag
from sync.thresholds import Thresholds

HUNDRED = Decimal(100)
PHASE_REGISTERS = ("ia", "ib", "ic")
ABNORMAL_CUSTOMERS_LIMIT = 20


def shift_month(month: str, months: int) -> str:
    """``YYYY-MM`` moved by ``months`` (negative: back)."""
    year, mon = int(month[:4]), int(month[5:7])
    index = year * 12 + mon - 1 + months
    return f"{index // 12:04d}-{index % 12 + 1:02d}"


def loss_rate_pct(supply: Decimal, sales: Decimal) -> Decimal:
    """(supply − sales) / supply in percent; supply must be positive."""
    return (supply - sales) / supply * HUNDRED


def relative_change_pct(current: Decimal, previous: Decimal) -> Decimal | None:
    """The change against ``previous`` in percent of its size; None when ``previous`` is zero."""
    if previous == 0:
        return None
    return (current - previous) / abs(previous) * HUNDRED


def moved_beyond(change_pct: Decimal | None, limit_pct: Decimal) -> bool:
    """A rise and a fall of the same size are judged alike."""
    return change_pct is not None and abs(change_pct) > limit_pct


def three_phase_imbalance_pct(currents: Sequence[Decimal]) -> Decimal | None:
    """(max − min) / max of the three phase currents in percent; None unless all three were read under load."""
    if len(currents) != 3 or max(currents) <= 0:
        return None
    return (max(currents) - min(currents)) / max(currents) * HUNDRED


@dataclass(frozen=True)
class MeterMonths:
    """A meter's main-register value in each cycle of the window (its latest valid actual read)."""

    meter_id: str
    multiplier: Decimal
    dials: int
    values: Mapping[str, Decimal]

    def consumption(self, month: str) -> Decimal | None:
        """Energy in ``month``, or None without actual reads of both that cycle and the one before."""
        current = self.values.get(month)
        previous = self.values.get(shift_month(month, -1))
        if current is None or previous is None:
            return None
        return register_advance(previous, current, self.dials) * self.multiplier


@dataclass(frozen=True)
class CustomerMeter:
    meter: MeterMonths
    customer_id: str | None
    account_no: str | None
    name: str | None


@dataclass(frozen=True)
class DistrictData:
    """One district's meters with their reads over the window, and its loss target."""

    district_id: str
    name: str
    target_pct: Decimal | None
    district_meters: tuple[MeterMonths, ...]
    customer_meters: tuple[CustomerMeter, ...]
    # ia, ib, ic of the district meter read in the report's month; empty when not read.
    phase_currents: tuple[Decimal, ...] = ()


@dataclass(frozen=True)
class MonthLoss:
    """One month's supply and sales; ``sales`` is None (and ``why_not``
    says why) when the loss cannot be computed."""

    month: str
    supply: Decimal | None
    sales: Decimal | None
    why_not: str | None = None

    @property
    def loss(self) -> Decimal | None:
        return None if self.supply is None or self.sales is None else self.supply - self.sales

    @property
    def rate_pct(self) -> Decimal | None:
        return None if self.supply is None or self.sales is None else loss_rate_pct(self.supply, self.sales)


def month_loss(district: DistrictData, month: str, thresholds: Thresholds) -> MonthLoss:
    """Supply, sales and loss of ``month``, unless the district meter or too many customer reads are missing."""
    previous = shift_month(month, -1)
    if len(district.district_meters) != 1:
        count = len(district.district_meters)
        return MonthLoss(month, None, None, f"The district has {count} district meters in the ledger; "
                                            "the loss needs exactly one. Correct the ledger.")
    supply = district.district_meters[0].consumption(month)
    if supply is None:
        return MonthLoss(month, None, None, f"The district meter has no actual read in {previous} or {month}. "
                                            "Have it read, then run the report again.")
    if supply <= 0:
        return MonthLoss(month, supply, None, f"The district meter recorded no supply in {month}. Check the meter.")
    energies = [c.meter.consumption(month) for c in district.customer_meters]
    missing = sum(1 for e in energies if e is None)
    if missing * HUNDRED > thresholds.loss_missing_reads_pct * len(energies):
        share = Decimal(missing) * HUNDRED / len(energies)
        return MonthLoss(month, supply, None, (
            f"{missing} of {len(energies)} customer meters ({share:.2f} %) have no actual read in {previous} "
            f"or {month}; at most {thresholds.loss_missing_reads_pct} % may miss. Have them read first."))
    return MonthLoss(month, supply, sum((e for e in energies if e is not None), Decimal(0)))


@dataclass(frozen=True)
class AbnormalChange:
    customer: CustomerMeter
    consumption: Decimal
    last_month: Decimal
    change_pct: Decimal | None  # None: no use last month, some this month


def abnormal_customers(district: DistrictData, month: str, thresholds: Thresholds,
                       limit: int = ABNORMAL_CUSTOMERS_LIMIT) -> list[AbnormalChange]:
    """Customer meters whose consumption moved more than ``loss_change_pct`` against the month
    before, largest change first; meters that started using from nothing come first of all."""
    previous = shift_month(month, -1)
    found = []
    for customer in district.customer_meters:
        now, before = customer.meter.consumption(month), customer.meter.consumption(previous)
        if now is None or before is None:
            continue
        change = relative_change_pct(now, before)
        woke_up = change is None and now > 0
        if woke_up or moved_beyond(change, thresholds.loss_change_pct):
            found.append(AbnormalChange(customer, now, before, change))
    found.sort(key=lambda a: (a.change_pct is not None,
                              -(a.consumption if a.change_pct is None else abs(a.change_pct)),
                              a.customer.meter.meter_id))
    return found[:limit]


@dataclass(frozen=True)
class DistrictLoss:
    district: DistrictData
    this_month: MonthLoss
    last_month: MonthLoss
    change_pct: Decimal | None
    imbalance_pct: Decimal | None
    flags: tuple[Flag, ...]
    abnormal: tuple[AbnormalChange, ...]


def district_line_loss(district: DistrictData, month: str, thresholds: Thresholds) -> DistrictLoss:
    """The district's figures for ``month`` with every flag of the line-loss rules."""
    months = [month_loss(district, shift_month(month, -k), thresholds) for k in range(missed_target_window(thresholds))]
    this_month, last_month = months[0], months[1]
    rate, last_rate = this_month.rate_pct, last_month.rate_pct
    change = relative_change_pct(rate, last_rate) if rate is not None and last_rate is not None else None
    imbalance = three_phase_imbalance_pct(district.phase_currents)
    target = district.target_pct
    flags: list[Flag] = []
    if this_month.why_not is not None:
        flags.append(Flag("not_computable", this_month.why_not))
    if moved_beyond(change, thresholds.loss_change_pct):
        flags.append(Flag("loss_change", (
            f"The loss rate went from {last_rate:.2f} % to {rate:.2f} % ({change:+.2f} % relative), more than "
            f"{thresholds.loss_change_pct} %. Analyse the district and list the customers whose use changed.")))
    if rate is not None and rate < 0:
        flags.append(Flag("negative_loss", (
            f"Sales exceed supply by {-(this_month.loss or 0):.1f} kWh. Check the district meter, its multiplier "
            "and customers wrongly assigned to this district.")))
    if rate is not None and target is not None and rate > target:
        flags.append(Flag("above_target", f"The loss rate {rate:.2f} % is above the target of {target} %."))
    missed = thresholds.loss_missed_target_months
    if target is not None and all(m.rate_pct is not None and m.rate_pct > target for m in months[:missed]):
        flags.append(Flag("target_missed_3_months", (
            f"The loss target of {target} % was missed {missed} months running up to {month}. "
            "Analyse the loss data, find the causes and set measures.")))
    if imbalance is not None and imbalance > thresholds.imbalance_pct:
        flags.append(Flag("imbalance", (
            f"Three-phase imbalance of {imbalance:.2f} %, above {thresholds.imbalance_pct} %. "
            "Rebalance the loads across the phases.")))
    return DistrictLoss(district, this_month, last_month, change, imbalance, tuple(flags),
                        tuple(abnormal_customers(district, month, thresholds)))


def missed_target_window(thresholds: Thresholds) -> int:
    """How many months of rates the flags compare: this month, last month, and the target run."""
    return max(2, thresholds.loss_missed_target_months)


def first_cycle_needed(month: str, thresholds: Thresholds) -> str:
    """The earliest cycle whose reads the report of ``month`` reads (each rate needs the cycle before it)."""
    return shift_month(month, -missed_target_window(thresholds))


# -- actual-read rate ---------------------------------------------------------------------------

Outcome = Literal["actual", "unable", "missing"]


@dataclass(frozen=True)
class ReadRate:
    route_id: str
    user_id: str
    assigned: int = 0
    actual: int = 0
    unable: int = 0

    @property
    def missing(self) -> int:
        return self.assigned - self.actual - self.unable

    @property
    def actual_rate_pct(self) -> Decimal | None:
        return Decimal(self.actual) * HUNDRED / self.assigned if self.assigned else None


def read_rates(outcomes: Iterable[tuple[str, str, Outcome]]) -> list[ReadRate]:
    """Count ``(route_id, user_id, outcome)`` per assignment into one rate per route and reader."""
    counts: dict[tuple[str, str], dict[str, int]] = {}
    for route_id, user_id, outcome in outcomes:
        tally = counts.setdefault((route_id, user_id), {"actual": 0, "unable": 0, "missing": 0})
        tally[outcome] += 1
    return [
        ReadRate(route_id, user_id, sum(t.values()), t["actual"], t["unable"])
        for (route_id, user_id), t in sorted(counts.items())
    ]


# -- inspections due ------------------------------------------------------------------------------


def inspection_days(thresholds: Thresholds) -> dict[str, int]:
    """Days allowed between inspections per customer class (反窃电 3.2.1: weekly, monthly, quarterly)."""
    return {"A": thresholds.inspect_days_a, "B": thresholds.inspect_days_b, "C": thresholds.inspect_days_c}


def days_overdue(last_inspected_at: datetime | None, since: datetime, allowed_days: int, now: datetime) -> int | None:
    """Whole days past the allowed interval, or None when not overdue. A customer never
    inspected is overdue, counted from ``since`` (when it entered the ledger), at least 0."""
    if last_inspected_at is None:
        return max(0, (now - since - timedelta(days=allowed_days)).days)
    late = now - last_inspected_at - timedelta(days=allowed_days)
    return late.days if late > timedelta(0) else None


@dataclass(frozen=True)
class CustomerInspection:
    """A customer of class A, B or C and when any of its meters was last inspected."""

    customer_id: str
    account_no: str
    name: str
    address: str
    customer_class: str
    in_ledger_since: datetime
    last_inspected_at: datetime | None


def overdue_by_class(customers: Iterable[CustomerInspection], now: datetime,
                     thresholds: Thresholds) -> dict[str, list[tuple[CustomerInspection, int]]]:
    """Per class, the overdue customers with their days overdue: most overdue first,
    never inspected before inspected on a tie."""
    allowed = inspection_days(thresholds)
    found: dict[str, list[tuple[CustomerInspection, int]]] = {c: [] for c in allowed}
    for customer in customers:
        late = days_overdue(customer.last_inspected_at, customer.in_ledger_since, allowed[customer.customer_class], now)
        if late is not None:
            found[customer.customer_class].append((customer, late))
    for rows in found.values():
        rows.sort(key=lambda row: (-row[1], row[0].last_inspected_at is not None, row[0].account_no))
    return found
