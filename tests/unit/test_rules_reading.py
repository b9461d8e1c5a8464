"""The flag rules on readings, one at a time."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from decimal import Decimal

import pytest

from sync.consumption import ActualRead
from sync.ledger import CycleRead
from sync.rules import (
    consumption_outside_band,
    duplicate_read,
    long_term_zero,
    new_customer_read,
    outside_window,
    register_sum_mismatch,
    reverse_reading,
    rollover,
    temp_supply_expired,
    unable_repeat,
)
from sync.rules_reading import add_months
from sync.thresholds import Thresholds
from tests.unit.test_rules_builders import (
    LAST_READ_AT,
    NOW,
    UTC,
    assignment,
    codes,
    context,
    meter,
    monthly_reads,
    reading,
    unable,
)

TH = Thresholds()


def local(year: int, month: int, day: int, hour: int, minute: int = 0) -> datetime:
    """A station time (UTC+8) as UTC."""
    return datetime(year, month, day, hour, minute, tzinfo=UTC) - timedelta(hours=8)


# outside_window (due window 2026-12-01 .. 2026-12-15, inclusive, station dates)

@pytest.mark.parametrize("at", [local(2026, 12, 1, 0, 30), local(2026, 12, 10, 12), local(2026, 12, 15, 23, 30)])
def test_reading_inside_the_due_window_is_not_flagged(at):
    assert outside_window(reading(recorded_at=at), assignment(), context()) is None


@pytest.mark.parametrize("at", [local(2026, 11, 30, 23, 30), local(2026, 12, 16, 0, 30)])
def test_reading_outside_the_due_window_is_flagged(at):
    assert codes(outside_window(reading(recorded_at=at), assignment(), context())) == ["outside_window"]


def test_due_window_is_judged_in_station_time_not_utc():
    # 2026-12-01 00:30 in the station is still 2026-11-30 in UTC.
    at = local(2026, 12, 1, 0, 30)
    assert at.date() == date(2026, 11, 30)
    assert outside_window(reading(recorded_at=at), assignment(), context()) is None


def test_due_window_uses_the_skew_corrected_time():
    at = local(2026, 12, 1, 0, 10)
    assert outside_window(reading(recorded_at=at), assignment(), context(skew_s=3600)).code == "outside_window"


def test_reading_without_an_assignment_has_no_window():
    assert outside_window(reading(recorded_at=local(2027, 3, 1, 12)), None, context()) is None


# rollover / reverse_reading

def test_value_above_the_last_read_is_neither_rollover_nor_reverse():
    assert rollover(reading("1600"), meter(), context()) is None
    assert reverse_reading(reading("1600"), meter(), context()) is None


def test_value_equal_to_the_last_read_is_neither_rollover_nor_reverse():
    assert rollover(reading("1500"), meter(), context()) is None
    assert reverse_reading(reading("1500"), meter(), context()) is None


def test_drop_explained_by_a_wrap_at_the_dials_is_rollover():
    four_dials = meter(dials=4, history={"total": monthly_reads(Decimal("9950"), dials=4)})
    item = reading("0040")  # 9950 -> 10000 -> 40: 90 kWh, about a month's use
    assert codes(rollover(item, four_dials, context())) == ["rollover"]
    assert reverse_reading(item, four_dials, context()) is None


def test_small_drop_is_reverse_reading_not_rollover():
    item = reading("1400")  # a wrap would mean 99,900 kWh in a month
    assert codes(reverse_reading(item, meter(), context())) == ["reverse_reading"]
    assert rollover(item, meter(), context()) is None


def three_kwh_a_day(dials: int = 4) -> list:
    """Three reads 30 days apart using 90 kWh each (3 kWh a day, exactly), the last at 9900."""
    return [meter(dials=dials, history={"total": monthly_reads(Decimal("9900"), Decimal(90), 3, dials=dials)}),
            LAST_READ_AT + timedelta(days=30)]


def test_wrap_of_exactly_three_times_the_expected_is_still_rollover():
    m, at = three_kwh_a_day()
    item = reading("0170", recorded_at=at)  # 100 + 170 = 270 = 3 × 90
    assert codes(rollover(item, m, context())) == ["rollover"]


def test_wrap_beyond_three_times_the_expected_is_reverse_reading():
    m, at = three_kwh_a_day()
    item = reading("0171", recorded_at=at)  # 271 > 3 × 90
    assert codes(reverse_reading(item, m, context())) == ["reverse_reading"]
    assert rollover(item, m, context()) is None


def test_rollover_factor_is_a_threshold():
    m, at = three_kwh_a_day()
    item = reading("0171", recorded_at=at)
    assert codes(rollover(item, m, context(rollover_max_factor=Decimal(4)))) == ["rollover"]


def test_without_history_a_wrap_under_half_the_range_is_rollover():
    one_read = meter(dials=4, history={"total": (ActualRead(Decimal("9000"), LAST_READ_AT),)})
    assert codes(rollover(reading("3999"), one_read, context())) == ["rollover"]  # wraps 4,999 < 5,000
    assert codes(reverse_reading(reading("4000"), one_read, context())) == ["reverse_reading"]  # exactly half
    assert codes(reverse_reading(reading("8999"), one_read, context())) == ["reverse_reading"]


def test_unable_reading_is_neither_rollover_nor_reverse():
    assert rollover(unable(), meter(), context()) is None
    assert reverse_reading(unable(), meter(), context()) is None


# consumption_high / consumption_low (about 3.33 kWh a day; last read 30 days before NOW)

def test_consumption_inside_the_band_is_not_flagged():
    assert consumption_outside_band(reading("1600"), meter(), context()) is None


def test_consumption_above_twice_the_expected_is_high():
    assert codes(consumption_outside_band(reading("1750"), meter(), context())) == ["consumption_high"]


def test_consumption_below_half_the_expected_is_low():
    assert codes(consumption_outside_band(reading("1520"), meter(), context())) == ["consumption_low"]


def test_zero_consumption_after_regular_use_is_low():
    assert codes(consumption_outside_band(reading("1500"), meter(), context())) == ["consumption_low"]


def test_expected_consumption_grows_with_the_days_since_the_last_read():
    sixty_days = LAST_READ_AT + timedelta(days=60)
    assert consumption_outside_band(reading("1720", recorded_at=sixty_days), meter(), context()) is None
    assert consumption_outside_band(reading("1720"), meter(), context()).code == "consumption_high"


def test_consumption_is_register_advance_times_the_multiplier():
    # 100 units a month on a CT meter of multiplier 40 is 4,000 kWh a month.
    ct_meter = meter(multiplier=Decimal(40))
    assert consumption_outside_band(reading("1600"), ct_meter, context()) is None
    assert consumption_outside_band(reading("1520"), ct_meter, context()).code == "consumption_low"


def test_factors_of_the_band_are_thresholds():
    wide = context(consumption_high_factor=Decimal(3))
    assert consumption_outside_band(reading("1750"), meter(), wide) is None


def test_no_consumption_check_with_a_single_earlier_read():
    one_read = meter(history={"total": (ActualRead(Decimal("1500"), LAST_READ_AT),)})
    assert consumption_outside_band(reading("9000"), one_read, context()) is None


def test_two_earlier_reads_are_enough_for_a_consumption_check():
    two_reads = meter(history={"total": monthly_reads(count=2)})
    assert consumption_outside_band(reading("9000"), two_reads, context()).code == "consumption_high"


def test_no_consumption_check_when_the_register_went_back():
    assert consumption_outside_band(reading("1400"), meter(), context()) is None


# long_term_zero (3 cycles: this one and the 2 before)

def zero_cycles(*consumptions: str | None, method: str = "actual") -> tuple[CycleRead, ...]:
    cycles = ("2026-08", "2026-09", "2026-10", "2026-11")[-len(consumptions):]
    return tuple(CycleRead(c, method, None if k is None else Decimal(k)) for c, k in zip(cycles, consumptions))


def test_third_zero_cycle_running_is_flagged():
    m = meter(recent_cycles=zero_cycles("12", "0", "0"))
    assert codes(long_term_zero(reading("1500"), m, "2026-12", TH)) == ["long_term_zero"]


def test_second_zero_cycle_is_not_yet_flagged():
    m = meter(recent_cycles=zero_cycles("12", "0"))
    assert long_term_zero(reading("1500"), m, "2026-12", TH) is None


def test_zero_run_broken_by_use_or_an_unable_cycle_is_not_flagged():
    used = meter(recent_cycles=zero_cycles("0", "3", "0"))
    assert long_term_zero(reading("1500"), used, "2026-12", TH) is None
    not_read = meter(recent_cycles=zero_cycles("0") + (CycleRead("2026-11", "unable", None),))
    assert long_term_zero(reading("1500"), not_read, "2026-12", TH) is None


def test_consumption_this_cycle_ends_the_zero_run():
    m = meter(recent_cycles=zero_cycles("0", "0", "0"))
    assert long_term_zero(reading("1501"), m, "2026-12", TH) is None


def test_an_earlier_read_of_this_same_cycle_does_not_count_as_a_cycle():
    m = meter(recent_cycles=zero_cycles("5", "0") + (CycleRead("2026-12", "actual", Decimal(0)),))
    assert long_term_zero(reading("1500"), m, "2026-12", TH) is None


def test_long_term_zero_only_on_an_active_customer():
    cycles = zero_cycles("0", "0")
    assert long_term_zero(reading("1500"), meter(recent_cycles=cycles, customer_id=None), "2026-12", TH) is None
    removed = meter(recent_cycles=cycles, removed_at=NOW - timedelta(days=1))
    assert long_term_zero(reading("1500"), removed, "2026-12", TH) is None


def test_long_term_zero_looks_at_the_meters_total_register_only():
    tou = meter(registers=("total", "peak"), recent_cycles=zero_cycles("0", "0"),
                history={"total": monthly_reads(), "peak": monthly_reads()})
    assert long_term_zero(reading("1500", register="peak"), tou, "2026-12", TH) is None
    assert long_term_zero(reading("1500"), tou, "2026-12", TH).code == "long_term_zero"


# unable_repeat (2 cycles: this one and the one before)

def test_unable_for_the_second_cycle_running_is_flagged():
    m = meter(recent_cycles=zero_cycles("40") + (CycleRead("2026-11", "unable", None),))
    assert codes(unable_repeat(unable(), m, "2026-12", TH)) == ["unable_repeat"]


def test_unable_after_an_actual_cycle_is_not_flagged():
    m = meter(recent_cycles=zero_cycles("40"))
    assert unable_repeat(unable(), m, "2026-12", TH) is None


def test_first_ever_unable_is_not_flagged():
    assert unable_repeat(unable(), meter(recent_cycles=()), "2026-12", TH) is None


def test_actual_reading_is_never_unable_repeat():
    m = meter(recent_cycles=(CycleRead("2026-11", "unable", None),))
    assert unable_repeat(reading(), m, "2026-12", TH) is None


def test_unable_repeat_cycles_is_a_threshold():
    m = meter(recent_cycles=(CycleRead("2026-10", "actual", Decimal(3)), CycleRead("2026-11", "unable", None)))
    assert unable_repeat(unable(), m, "2026-12", Thresholds(unable_repeat_cycles=3)) is None


# new_customer_read

@pytest.mark.parametrize("reads_before", [0, 1])
def test_first_two_readings_of_a_new_meter_are_flagged(reads_before):
    assert codes(new_customer_read(meter(reads_before=reads_before), TH)) == ["new_customer_read"]


def test_third_reading_of_a_meter_is_not_new():
    assert new_customer_read(meter(reads_before=2), TH) is None


# duplicate_read

def test_different_value_already_stored_this_cycle_is_flagged():
    m = meter(stored_cycle_values={("total", "2026-12"): "1580"})
    assert codes(duplicate_read(reading("1600"), m, assignment())) == ["duplicate_read"]


def test_same_value_written_differently_is_not_a_duplicate_read():
    m = meter(stored_cycle_values={("total", "2026-12"): "1600.0"})
    assert duplicate_read(reading("1600"), m, assignment()) is None


def test_reread_supersedes_rather_than_duplicates():
    m = meter(stored_cycle_values={("total", "2026-12"): "1580"})
    assert duplicate_read(reading("1600"), m, assignment(task="reread")) is None


def test_value_stored_in_another_cycle_or_register_is_no_duplicate():
    m = meter(stored_cycle_values={("total", "2026-11"): "1500", ("peak", "2026-12"): "700"})
    assert duplicate_read(reading("1600"), m, assignment()) is None


def test_unable_reading_or_missing_assignment_is_no_duplicate():
    m = meter(stored_cycle_values={("total", "2026-12"): "1580"})
    assert duplicate_read(unable(), m, assignment()) is None
    assert duplicate_read(reading("1600"), m, None) is None


# register_sum_mismatch (tolerance 0.5 %)

TOU_METER = meter(registers=("total", "sharp", "peak", "flat", "valley"))


def tou_values(total: str, sharp: str = "100", peak: str = "300", flat: str = "400", valley: str = "200") -> dict:
    return {k: Decimal(v) for k, v in dict(total=total, sharp=sharp, peak=peak, flat=flat, valley=valley).items()}


@pytest.mark.parametrize("total", ["1000", "1005", "996"])
def test_time_of_use_registers_adding_up_within_tolerance_are_fine(total):
    assert register_sum_mismatch(tou_values(total), TOU_METER, TH) is None


@pytest.mark.parametrize("total", ["1006", "995", "0"])
def test_time_of_use_registers_off_by_more_than_tolerance_of_the_total_are_flagged(total):
    # 995: the parts (1,000) are 5 apart, more than 0.5 % of the total (4.975).
    assert codes(register_sum_mismatch(tou_values(total), TOU_METER, TH)) == ["register_sum_mismatch"]


def test_sum_is_not_checked_unless_every_register_was_read_together():
    partial = tou_values("5000")
    del partial["valley"]
    assert register_sum_mismatch(partial, TOU_METER, TH) is None
    no_total = tou_values("5000")
    del no_total["total"]
    assert register_sum_mismatch(no_total, TOU_METER, TH) is None


def test_meter_without_time_of_use_registers_has_no_sum_check():
    assert register_sum_mismatch({"total": Decimal(5)}, meter(), TH) is None


# temp_supply_expired (read on 2026-12-10, station time)

def test_reading_on_a_temporary_supply_past_its_end_is_flagged():
    m = meter(category="temporary", temp_supply_until=date(2026, 12, 9))
    assert codes(temp_supply_expired(reading(), m, context())) == ["temp_supply_expired"]


def test_reading_on_the_last_day_of_a_temporary_supply_is_fine():
    m = meter(category="temporary", temp_supply_until=date(2026, 12, 10))
    assert temp_supply_expired(reading(), m, context()) is None


def test_permanent_supply_never_expires():
    m = meter(category="residential", temp_supply_until=date(2020, 1, 1))
    assert temp_supply_expired(reading(), m, context()) is None


def test_temporary_supply_without_end_date_lasts_six_months_from_installation():
    expired = meter(category="temporary", installed_at=local(2026, 6, 9, 12))
    running = meter(category="temporary", installed_at=local(2026, 6, 10, 0, 30))  # 2026-06-09 in UTC
    assert codes(temp_supply_expired(reading(), expired, context())) == ["temp_supply_expired"]
    assert temp_supply_expired(reading(), running, context()) is None


def test_temporary_supply_months_is_a_threshold():
    m = meter(category="temporary", installed_at=local(2026, 6, 9, 12))
    assert temp_supply_expired(reading(), m, context(temp_supply_months=7)) is None


def test_temporary_supply_without_any_date_is_not_judged():
    assert temp_supply_expired(reading(), meter(category="temporary", installed_at=None), context()) is None


@pytest.mark.parametrize(
    "start,months,end",
    [(date(2026, 6, 10), 6, date(2026, 12, 10)), (date(2026, 8, 31), 6, date(2027, 2, 28)),
     (date(2027, 8, 31), 6, date(2028, 2, 29)), (date(2026, 12, 1), 1, date(2027, 1, 1))],
)
def test_add_months_clamps_to_the_end_of_shorter_months(start, months, end):
    assert add_months(start, months) == end
