"""Properties of the register rules over any meter, history and value."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

from hypothesis import assume, given
from hypothesis import strategies as st

from sync.consumption import ActualRead, expected_band, kwh_text, register_advance
from sync.rules import consumption_outside_band, future_time, invalid_value, reverse_reading, rollover
from sync.rules_reject import parse_register_value
from sync.thresholds import Thresholds
from tests.unit.test_rules_builders import LAST_READ_AT, NOW, context, meter, reading

TH = Thresholds()
FOUR_PLACES = Decimal("0.0001")

multipliers = st.sampled_from([Decimal(1), Decimal("0.5"), Decimal("2.5"), Decimal(30), Decimal(40), Decimal(120)])


@st.composite
def metered_history(draw, min_reads: int = 1):
    """A meter whose register has between min_reads and 7 actual reads, and a time to read it."""
    dials = draw(st.integers(3, 8))
    wrap = 10 ** dials
    value = draw(st.integers(0, wrap - 1))
    count = draw(st.integers(min_reads, 7))
    at = LAST_READ_AT
    reads = [ActualRead(Decimal(value), at)]
    for _ in range(count - 1):  # walk back in time
        value = (value - draw(st.integers(0, wrap // 4))) % wrap
        at -= timedelta(days=draw(st.integers(1, 60)), seconds=draw(st.integers(0, 86399)))
        reads.insert(0, ActualRead(Decimal(value), at))
    m = meter(dials=dials, multiplier=draw(multipliers), history={"total": tuple(reads)})
    read_at = LAST_READ_AT + timedelta(days=draw(st.integers(0, 90)), seconds=draw(st.integers(1, 86399)))
    return m, read_at


def plain(value: Decimal) -> str:
    return f"{value:f}"


@given(metered_history(), st.data())
def test_a_value_below_the_last_is_exactly_one_of_rollover_or_reverse(meter_and_time, data):
    m, at = meter_and_time
    last = m.last_actual("total").value
    assume(last > 0)
    value = data.draw(st.integers(0, int(last) - 1).map(Decimal) | st.just(last - FOUR_PLACES))
    item = reading(plain(value), recorded_at=at)
    found = [f.code for f in (rollover(item, m, context()), reverse_reading(item, m, context())) if f]
    assert found in (["rollover"], ["reverse_reading"])


@given(metered_history(), st.data())
def test_a_value_at_or_above_the_last_is_neither_rollover_nor_reverse(meter_and_time, data):
    m, at = meter_and_time
    last = m.last_actual("total").value
    value = data.draw(st.integers(int(last), 10 ** m.dials - 1).map(Decimal))
    item = reading(plain(value), recorded_at=at)
    assert rollover(item, m, context()) is None
    assert reverse_reading(item, m, context()) is None


@given(metered_history(), st.data())
def test_rollover_is_a_wrap_within_its_bound_and_reports_the_wrapped_energy(meter_and_time, data):
    m, at = meter_and_time
    last = m.last_actual("total").value
    assume(last > 0)
    # Values just past zero are the wraps a real register makes; any lower value may be a misread.
    value = Decimal(data.draw(st.integers(0, min(int(last) - 1, 99)) | st.integers(0, int(last) - 1)))
    flag = rollover(reading(plain(value), recorded_at=at), m, context())
    wrapped_units = m.register_range - last + value
    band = expected_band(m.history["total"], m.multiplier, m.dials, at, TH)
    if band is None:
        within_bound = wrapped_units < m.register_range / 2
    else:
        within_bound = wrapped_units * m.multiplier <= TH.rollover_max_factor * band.expected_kwh
    assert (flag is not None) is within_bound
    if flag is not None:
        assert kwh_text(wrapped_units * m.multiplier) in flag.message


@given(st.integers(1, 12), st.data())
def test_register_advance_undoes_a_wrap(dials, data):
    wrap = 10 ** dials
    last = data.draw(st.integers(0, wrap - 1))
    advance = data.draw(st.integers(0, wrap - 1))
    value = (last + advance) % wrap
    assert register_advance(Decimal(last), Decimal(value), dials) == advance


def band_and_last(m, at):
    """The expected band at ``at`` and the last actual value; cases without a band are skipped."""
    band = expected_band(m.history["total"], m.multiplier, m.dials, at, TH)
    assume(band is not None)
    return band, m.last_actual("total").value


@given(metered_history(min_reads=2), st.data())
def test_consumption_inside_the_band_is_never_flagged(meter_and_time, data):
    m, at = meter_and_time
    band, last = band_and_last(m, at)
    lowest = (band.low_kwh / m.multiplier).quantize(FOUR_PLACES, rounding="ROUND_CEILING")
    highest = (band.high_kwh / m.multiplier).quantize(FOUR_PLACES, rounding="ROUND_FLOOR")
    assume(lowest <= highest and last + highest < m.register_range)
    steps = data.draw(st.integers(int(lowest / FOUR_PLACES), int(highest / FOUR_PLACES)))
    advance = steps * FOUR_PLACES
    assume(band.low_kwh <= advance * m.multiplier <= band.high_kwh)
    item = reading(plain(last + advance), recorded_at=at)
    assert consumption_outside_band(item, m, context()) is None


@given(metered_history(min_reads=2), st.data())
def test_consumption_outside_the_band_is_flagged_on_the_side_it_lies(meter_and_time, data):
    m, at = meter_and_time
    band, last = band_and_last(m, at)
    value = Decimal(data.draw(st.integers(int(last), 10 ** m.dials - 1)))
    kwh = (value - last) * m.multiplier
    flag = consumption_outside_band(reading(plain(value), recorded_at=at), m, context())
    expected = "consumption_high" if kwh > band.high_kwh else "consumption_low" if kwh < band.low_kwh else None
    assert (flag.code if flag else None) == expected


@given(st.integers(1, 10), st.integers(0, 10 ** 12), st.integers(0, 4), st.data())
def test_a_plain_decimal_is_valid_exactly_when_it_fits_the_dials(dials, units, places, data):
    value = Decimal(units).scaleb(-places)
    text = plain(value)
    rejection = invalid_value(reading(text), meter(dials=dials), TH)
    assert (rejection is None) is (value < 10 ** dials)
    if rejection is None:
        assert parse_register_value(text, dials, TH) == value


@given(st.floats(-1e6, 1e6, allow_nan=False), st.integers(-10 ** 6, 10 ** 6))
def test_future_time_is_judged_on_the_skew_corrected_time(skew_s, ahead_s):
    item = reading(recorded_at=NOW + timedelta(seconds=ahead_s))
    corrected_ahead = (item.recorded_at - timedelta(seconds=skew_s) - NOW).total_seconds()
    rejected = future_time(item, context(skew_s=skew_s)) is not None
    assert rejected is (corrected_ahead > TH.future_time_s)
