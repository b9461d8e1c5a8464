"""The report figures on their own: consumption, loss rate, flags, imbalance, read rate, inspections due."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from sync.ledger import primary_register
from sync.reports import (
    CustomerInspection,
    CustomerMeter,
    DistrictData,
    MeterMonths,
    abnormal_customers,
    days_overdue,
    district_line_loss,
    loss_rate_pct,

    month_loss,
    moved_beyond,
    overdue_by_class,
    read_rates,
    relative_change_pct,
    shift_month,
    three_phase_imbalance_pct,
)
from sync.thresholds import Thresholds

TH = Thresholds()
MONTH = "2026-11"
NOW = datetime(2026, 11, 30, 12, tzinfo=timezone.utc)
D = Decimal


def meter(meter_id: str, values: dict[str, str], *, multiplier: str = "1", dials: int = 6) -> MeterMonths:
    return MeterMonths(meter_id, D(multiplier), dials, {cycle: D(v) for cycle, v in values.items()})


def customer(meter_id: str, values: dict[str, str], **kw) -> CustomerMeter:
    return CustomerMeter(meter(meter_id, values, **kw), f"c-{meter_id}", f"acc-{meter_id}", meter_id)


def district(supply: int, sales: int, *, target: str | None = None, currents: tuple[str, ...] = ()) -> DistrictData:
    """One month (November) of ``supply`` and ``sales``, nothing before October."""
    return DistrictData(
        "d-01", "东岭村1号台区", D(target) if target else None,
        (meter("dm", {"2026-10": "0", MONTH: str(supply)}),),
        (customer("cm", {"2026-10": "0", MONTH: str(sales)}),),
        tuple(D(c) for c in currents),
    )


def codes(result) -> list[str]:
    return [f.code for f in result.flags]


# -- months and meters ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("month, by, expected", [
    ("2026-11", -1, "2026-10"), ("2026-01", -1, "2025-12"), ("2026-12", 1, "2027-01"), ("2026-03", -14, "2025-01"),
])
def test_months_move_across_years(month, by, expected):
    assert shift_month(month, by) == expected


def test_the_total_register_stands_for_the_meter_when_there_is_one():
    assert primary_register(["peak", "valley", "total"]) == "total"
    assert primary_register(["import", "export"]) == "import"


def test_month_consumption_is_the_advance_times_the_multiplier():
    assert meter("m", {"2026-10": "1500", MONTH: "3000"}, multiplier="40").consumption(MONTH) == D(60_000)


def test_a_register_that_wrapped_counts_the_wrap():
    # 100,000 − 99,000 + 33,000 on five dials.
    assert meter("m", {"2026-10": "99000", MONTH: "33000"}, dials=5).consumption(MONTH) == D(34_000)


@pytest.mark.parametrize("values", [{MONTH: "10"}, {"2026-10": "10"}, {"2026-09": "5", MONTH: "10"}])
def test_no_consumption_without_reads_of_the_month_and_the_month_before(values):
    assert meter("m", values).consumption(MONTH) is None


# -- loss rate ------------------------------------------------------------------------------------------------


@given(st.integers(1, 10**9), st.integers(0, 10**9))
def test_the_loss_rate_is_the_loss_over_the_supply(supply, sales):
    result = month_loss(district(supply, sales), MONTH, TH)
    assert result.loss == supply - sales
    assert result.rate_pct * supply == pytest.approx(D(100) * (supply - sales))
    assert ("negative_loss" in codes(district_line_loss(district(supply, sales), MONTH, TH))) == (sales > supply)


def test_a_hand_computed_loss_rate():
    assert loss_rate_pct(D(100_000), D(94_000)) == D(6)


def test_zero_supply_makes_the_loss_not_computable():
    result = district_line_loss(district(0, 0), MONTH, TH)
    assert (result.this_month.rate_pct, codes(result)) == (None, ["not_computable"])


def test_two_district_meters_make_the_loss_not_computable():
    two = DistrictData("d-01", "d", None, (meter("a", {}), meter("b", {})), ())
    assert "2 district meters" in month_loss(two, MONTH, TH).why_not


@pytest.mark.parametrize("missing, computable", [(0, True), (1, True), (2, False)])
def test_at_most_two_percent_of_customer_reads_may_be_missing(missing, computable):
    read = {"2026-10": "0", MONTH: "10"}
    customers = tuple(customer(f"c{i}", {MONTH: "10"} if i < missing else read) for i in range(50))
    data = DistrictData("d-01", "d", None, (meter("dm", {"2026-10": "0", MONTH: "1000"}),), customers)
    assert (month_loss(data, MONTH, TH).rate_pct is not None) == computable


# -- change against last month ------------------------------------------------------------------------------------

rates = st.decimals(min_value=-50, max_value=100, places=2, allow_nan=False, allow_infinity=False)


@given(last=rates.filter(lambda r: r != 0), step=st.decimals(min_value=0, max_value=100, places=2))
def test_a_rise_and_a_fall_of_the_same_size_are_flagged_alike(last, step):
    rise, fall = relative_change_pct(last + step, last), relative_change_pct(last - step, last)
    assert rise == -fall
    assert moved_beyond(rise, TH.loss_change_pct) == moved_beyond(fall, TH.loss_change_pct)


@pytest.mark.parametrize("current, flagged", [("6.00", False), ("6.01", True), ("3.99", True), ("4.00", False)])
def test_a_change_of_exactly_20_percent_is_not_flagged(current, flagged):
    assert moved_beyond(relative_change_pct(D(current), D(5)), TH.loss_change_pct) == flagged


def test_no_relative_change_from_zero():
    assert relative_change_pct(D(5), D(0)) is None
    assert not moved_beyond(None, TH.loss_change_pct)


def test_the_change_flag_compares_with_last_months_rate():
    # October: 10,000 supplied, 9,500 sold → 5 %; November: 10,000 and 9,300 → 7 % (+40 %).
    data = DistrictData("d-01", "d", None, (meter("dm", {"2026-09": "0", "2026-10": "10000", MONTH: "20000"}),),
                        (customer("cm", {"2026-09": "0", "2026-10": "9500", MONTH: "18800"}),))
    result = district_line_loss(data, MONTH, TH)
    assert (result.last_month.rate_pct, result.change_pct, codes(result)) == (D(5), D(40), ["loss_change"])


def test_the_target_run_follows_the_setting():
    # Two months above target: flagged when the setting asks for two.
    data = DistrictData("d-01", "d", D(5), (meter("dm", {"2026-09": "0", "2026-10": "100", MONTH: "200"}),),
                        (customer("cm", {"2026-09": "0", "2026-10": "90", MONTH: "180"}),))
    assert "target_missed_3_months" not in codes(district_line_loss(data, MONTH, TH))
    two = Thresholds(loss_missed_target_months=2)
    assert "target_missed_3_months" in codes(district_line_loss(data, MONTH, two))


# -- three-phase imbalance --------------------------------------------------------------------------------------

currents = st.decimals(min_value=0, max_value=2000, places=1)


@given(st.lists(currents, min_size=3, max_size=3), st.permutations(range(3)))
def test_imbalance_is_a_share_of_the_largest_phase_whatever_the_order(amps, order):
    imbalance = three_phase_imbalance_pct(amps)
    assert imbalance == three_phase_imbalance_pct([amps[i] for i in order])
    if max(amps) > 0:
        assert 0 <= imbalance <= 100
        assert (imbalance == 0) == (len(set(amps)) == 1)


@pytest.mark.parametrize("amps, expected", [
    (("100", "80", "70"), D(30)), (("50", "50", "50"), D(0)), (("0", "0", "0"), None), (("100", "80"), None),
])
def test_imbalance_of_given_currents(amps, expected):
    assert three_phase_imbalance_pct([D(a) for a in amps]) == expected


def test_imbalance_above_20_percent_is_flagged_even_when_the_loss_is_not_computable():
    data = DistrictData("d-01", "d", None, (meter("dm", {}),), (), (D(100), D(79), D(90)))
    assert codes(district_line_loss(data, MONTH, TH)) == ["not_computable", "imbalance"]
    assert codes(district_line_loss(district(100, 95, currents=("100", "80", "90")), MONTH, TH)) == []


# -- abnormal customers -------------------------------------------------------------------------------------------


def test_abnormal_customers_are_ranked_by_the_size_of_the_change_and_capped():
    months = ("2026-09", "2026-10", MONTH)
    customers = tuple(
        customer(f"m{use:03d}", dict(zip(months, ("0", "100", str(100 + use)))))
        for use in (10, 30, 300, 50, 0)
    ) + (customer("woke", dict(zip(months, ("0", "0", "5")))),)
    data = DistrictData("d-01", "d", None, (), customers)
    found = abnormal_customers(data, MONTH, TH, limit=3)
    assert [(a.customer.meter.meter_id, a.change_pct) for a in found] == [
        ("woke", None), ("m300", D(200)), ("m000", D(-100)),
    ]


# -- read rate ----------------------------------------------------------------------------------------------------


@given(st.lists(st.tuples(st.sampled_from(["r-1", "r-2"]), st.sampled_from(["u1", "u2"]),
                          st.sampled_from(["actual", "unable", "missing"]))))
def test_each_assignment_is_counted_once_by_route_and_reader(outcomes):
    rates = read_rates(outcomes)
    assert sum(r.assigned for r in rates) == len(outcomes)
    for r in rates:
        mine = [o for route, user, o in outcomes if (route, user) == (r.route_id, r.user_id)]
        assert (r.actual, r.unable, r.missing) == (mine.count("actual"), mine.count("unable"), mine.count("missing"))
        assert r.actual_rate_pct == D(r.actual) * 100 / r.assigned


# -- inspections due ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("days_ago, expected", [(6.9, None), (7, None), (7.5, 0), (8, 1), (30.2, 23)])
def test_an_a_customer_is_due_weekly(days_ago, expected):
    assert days_overdue(NOW - timedelta(days=days_ago), NOW - timedelta(days=400), 7, NOW) == expected


def test_a_customer_never_inspected_is_overdue_from_entering_the_ledger():
    assert days_overdue(None, NOW - timedelta(days=40), 31, NOW) == 9
    assert days_overdue(None, NOW - timedelta(days=1), 31, NOW) == 0


def test_overdue_customers_by_class_most_overdue_first():
    def inspection(customer_id: str, cls: str, days_ago: float | None) -> CustomerInspection:
        last = None if days_ago is None else NOW - timedelta(days=days_ago)
        return CustomerInspection(customer_id, f"acc-{customer_id}", customer_id, "addr", cls,
                                  NOW - timedelta(days=100), last)

    found = overdue_by_class([inspection("b1", "B", 40), inspection("b2", "B", 100), inspection("b3", "B", None),
                              inspection("b4", "B", 10), inspection("c1", "C", 91)], NOW, TH)
    assert {cls: [(c.customer_id, late) for c, late in rows] for cls, rows in found.items()} == {
        "A": [], "B": [("b3", 69), ("b2", 69), ("b1", 9)], "C": [],
    }
