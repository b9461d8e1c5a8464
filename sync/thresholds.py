"""Every threshold of the station's rules, with the defaults of the regulations."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal


@dataclass(frozen=True)
class Thresholds:
    future_time_s: int = 300
    clock_skew_s: int = 300
    rollover_max_factor: Decimal = Decimal("3")
    consumption_low_factor: Decimal = Decimal("0.5")
    consumption_high_factor: Decimal = Decimal("2.0")
    consumption_intervals: int = 6
    consumption_min_history: int = 2
    long_term_zero_cycles: int = 3
    new_customer_reads: int = 2
    unable_repeat_cycles: int = 2
    register_sum_tolerance_pct: Decimal = Decimal("0.5")
    temp_supply_months: int = 6
    evidence_min_photos: int = 2
    evidence_time_window_min: int = 30
    evidence_max_distance_m: int = 500
    loss_change_pct: Decimal = Decimal("20")
    loss_missed_target_months: int = 3
    loss_missing_reads_pct: Decimal = Decimal("2")
    imbalance_pct: Decimal = Decimal("20")
    inspect_days_a: int = 7
    inspect_days_b: int = 31
    inspect_days_c: int = 92
    value_max_fraction_digits: int = 4
