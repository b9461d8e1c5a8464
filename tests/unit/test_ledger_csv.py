"""Reading the meters CSV and planning an import, without a database."""

from __future__ import annotations

import csv
import io
from datetime import date, datetime, timedelta, timezone
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st

from sync import csv_values as cv
from sync import ledger_csv as lc

STATION = ZoneInfo("Asia/Shanghai")

VALID = {
    "district_id": "D01", "district_name": "东村台区", "route_id": "R01", "customer_id": "C001",
    "account_no": "A-1001", "customer_name": "张伟", "address": "东村1号", "category": "residential", "class": "C",
    "temp_supply_until": "", "meter_id": "M-0001", "meter_serial": "SN100001", "multiplier": "1", "dials": "6",
    "phases": "1", "registers": "total", "lat": "30.2745", "lon": "120.1560", "installed_at": "2023-05-02",
    "seals": "meter_cover:S0012345",
}
DISTRICT_METER = {
    **VALID, "customer_id": "", "account_no": "", "customer_name": "", "class": "", "category": "district_meter",
    "meter_id": "M-D01", "meter_serial": "SN900001", "multiplier": "30", "phases": "3", "seals": "ct_box:S0000001",
}


def to_csv(rows: list[dict[str, str]], columns: tuple[str, ...] = lc.METER_COLUMNS) -> list[str]:
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=columns, lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    return out.getvalue().splitlines(keepends=True)


def parse(*rows: dict[str, str]) -> cv.Parsed[lc.LedgerRow]:
    return lc.parse_ledger(to_csv(list(rows)), STATION, temp_supply_months=6)


def problems_of(*rows: dict[str, str]) -> list[str]:
    return cv.format_problems(parse(*rows).problems)


def only_record(*rows: dict[str, str]) -> lc.LedgerRow:
    parsed = parse(*rows)
    assert parsed.problems == []
    (record,) = parsed.records
    return record


# -- one row -------------------------------------------------------------------------------------


def test_a_valid_row_gives_its_district_route_customer_meter_and_seals():
    row = only_record({**VALID, "multiplier": "30.00", "registers": "total;peak;valley",
                       "seals": "terminal_cover:S0012346;meter_cover:S0012345"})
    assert row.line == 2
    assert row.district == lc.District("D01", "东村台区")
    assert row.route == lc.Route("R01", "D01")
    assert row.customer == lc.Customer("C001", "A-1001", "张伟", "东村1号", "residential", "C", None)
    assert row.meter.customer_id == "C001"
    assert row.meter.multiplier == "30"
    assert row.meter.registers == ("total", "peak", "valley")
    assert row.seals == (("meter_cover", "S0012345"), ("terminal_cover", "S0012346"))


@pytest.mark.parametrize(("given_text", "utc"), [
    ("2024-03-01T08:00:00", datetime(2024, 3, 1, 0, 0, tzinfo=timezone.utc)),
    ("2024-03-01 08:00", datetime(2024, 3, 1, 0, 0, tzinfo=timezone.utc)),
    ("2024-03-01", datetime(2024, 2, 29, 16, 0, tzinfo=timezone.utc)),
    ("2024-03-01T08:00:00+00:00", datetime(2024, 3, 1, 8, 0, tzinfo=timezone.utc)),
    ("2024-03-01T08:00:00Z", datetime(2024, 3, 1, 8, 0, tzinfo=timezone.utc)),
])
def test_times_without_an_offset_are_station_time_and_come_out_as_utc(given_text, utc):
    installed_at = only_record({**VALID, "installed_at": given_text}).meter.installed_at
    assert installed_at == utc
    assert installed_at.utcoffset() == timedelta(0)


@pytest.mark.parametrize("multiplier", ["abc", "0", "-1", "1e3", "NaN", "1,5", "３"])
def test_a_multiplier_that_is_not_a_positive_decimal_is_named_with_its_line(multiplier):
    assert problems_of(VALID, {**VALID, "meter_id": "M-0002", "multiplier": multiplier}) == [
        f"line 3: multiplier {multiplier!r} is not a positive decimal"
    ]


@pytest.mark.parametrize("dials", ["0", "13", "six", "6.0", ""])
def test_dials_must_be_a_whole_number_from_1_to_12(dials):
    assert problems_of({**VALID, "dials": dials}) == [f"line 2: dials {dials!r} is not a whole number from 1 to 12"]


def test_phases_are_1_or_3():
    assert problems_of({**VALID, "phases": "2"}) == ["line 2: phases '2' is not 1 or 3"]


def test_an_unknown_category_is_refused_with_the_known_ones():
    assert problems_of({**VALID, "category": "household"}) == [
        "line 2: category 'household' is not one of district_meter, residential, commercial, industrial, "
        "agricultural, temporary"
    ]


@pytest.mark.parametrize(("seals", "message"), [
    ("meter_cover=S1", "seals 'meter_cover=S1' is not position:number pairs separated by ';'"),
    ("meter_cover:", "seals 'meter_cover:' is not position:number pairs separated by ';'"),
    ("meter_cover:S1;", "seals 'meter_cover:S1;' is not position:number pairs separated by ';'"),
    ("lid:S1", "seal position 'lid' is not one of meter_cover, terminal_cover, meter_box, ct_box"),
    ("meter_cover:S1;meter_cover:S2", "seals 'meter_cover:S1;meter_cover:S2' gives meter_cover twice"),
    ("meter_cover:S1;ct_box:S1", "seal S1 is also at meter_cover of this meter"),
])
def test_bad_seals_are_explained(seals, message):
    assert problems_of({**VALID, "seals": seals}) == [f"line 2: {message}"]


def test_a_meter_without_seals_is_allowed():
    assert only_record({**VALID, "seals": ""}).seals == ()


@pytest.mark.parametrize(("lat", "lon", "message"), [
    ("91", "120", "lat '91' is not a decimal from -90 to 90"),
    ("30", "east", "lon 'east' is not a decimal from -180 to 180"),
    ("30.1", "", "lat and lon go together: give both or neither"),
])
def test_coordinates_are_decimals_in_range_given_together(lat, lon, message):
    assert problems_of({**VALID, "lat": lat, "lon": lon}) == [f"line 2: {message}"]


def test_every_problem_of_a_row_is_reported_not_only_the_first():
    assert problems_of({**VALID, "multiplier": "x", "dials": "99", "registers": "total peak"}) == [
        "line 2: multiplier 'x' is not a positive decimal",
        "line 2: dials '99' is not a whole number from 1 to 12",
        "line 2: registers 'total peak' is not register names separated by ';' (like total;peak;valley)",
    ]


def test_a_value_longer_than_its_column_is_a_problem_of_the_line():
    assert problems_of({**VALID, "customer_name": "名" * 201}) == ["line 2: customer_name is longer than 200 characters"]


# -- district meters and temporary supply --------------------------------------------------------


def test_a_district_meter_has_no_customer():
    row = only_record(DISTRICT_METER)
    assert row.customer is None
    assert row.meter.customer_id is None
    assert row.meter.category == "district_meter"


def test_a_district_meter_with_customer_data_is_refused():
    assert problems_of({**DISTRICT_METER, "customer_id": "C009", "class": "A"}) == [
        "line 2: a district meter has no customer, but customer_id, class is given"
    ]


def test_a_customer_meter_needs_its_customer():
    assert problems_of({**VALID, "customer_id": "", "customer_name": ""}) == [
        "line 2: customer_id is empty", "line 2: customer_name is empty",
    ]


@pytest.mark.parametrize(("installed_at", "until"), [
    ("2024-01-15", date(2024, 7, 15)),
    ("2024-08-31", date(2025, 2, 28)),
    # 23:30 on 31 August in the station is still August there, whatever the UTC date.
    ("2023-08-31T23:30:00", date(2024, 2, 29)),
])
def test_temporary_supply_without_an_end_ends_six_months_after_installation(installed_at, until):
    row = only_record({**VALID, "category": "temporary", "class": "", "installed_at": installed_at})
    assert row.customer.temp_supply_until == until


def test_the_temporary_supply_period_follows_the_threshold():
    parsed = lc.parse_ledger(to_csv([{**VALID, "category": "temporary", "installed_at": "2024-01-15"}]), STATION, 3)
    assert parsed.records[0].customer.temp_supply_until == date(2024, 4, 15)


def test_a_given_temporary_supply_end_is_kept():
    row = only_record({**VALID, "category": "temporary", "temp_supply_until": "2024-03-31"})
    assert row.customer.temp_supply_until == date(2024, 3, 31)


def test_temporary_supply_needs_an_end_or_an_installation_date():
    assert problems_of({**VALID, "category": "temporary", "installed_at": ""}) == [
        "line 2: a temporary customer needs temp_supply_until or installed_at"
    ]


def test_a_bad_installation_date_of_temporary_supply_is_reported_once():
    assert problems_of({**VALID, "category": "temporary", "installed_at": "2024-02-30"}) == [
        "line 2: installed_at '2024-02-30' is not an ISO 8601 date or time"
    ]


def test_only_temporary_customers_have_a_supply_end():
    assert problems_of({**VALID, "temp_supply_until": "2024-03-31"}) == [
        "line 2: temp_supply_until is for temporary customers, not residential"
    ]


# -- the file as a whole -------------------------------------------------------------------------


def test_missing_columns_in_the_header_are_named_and_no_row_is_read():
    columns = tuple(c for c in lc.METER_COLUMNS if c not in ("lat", "seals"))
    lines = to_csv([{c: VALID[c] for c in columns}], columns)
    parsed = lc.parse_ledger(lines, STATION, 6)
    assert cv.format_problems(parsed.problems) == ["line 1: missing columns: lat, seals"]
    assert parsed.records == [] and parsed.rows == 0


def test_an_empty_file_names_the_columns_it_needs():
    (problem,) = cv.format_problems(lc.parse_ledger([], STATION, 6).problems)
    assert problem.startswith("line 1: the file is empty; the header must name district_id, district_name")


def test_rows_with_a_wrong_number_of_fields_are_refused():
    lines = to_csv([VALID]) + ["D01,东村台区,R01\n"]
    assert cv.format_problems(lc.parse_ledger(lines, STATION, 6).problems) == [
        "line 3: 3 fields, but the header has 20"
    ]


def test_blank_rows_are_skipped_and_line_numbers_stay_those_of_the_file():
    lines = to_csv([VALID])
    lines[1:1] = ["\n", "," * 19 + "\n"]
    lines += to_csv([{**VALID, "meter_id": "M-0002", "multiplier": "abc"}])[1:]
    parsed = lc.parse_ledger(lines, STATION, 6)
    assert [r.line for r in parsed.records] == [4]
    assert cv.format_problems(parsed.problems) == ["line 5: multiplier 'abc' is not a positive decimal"]


def test_a_byte_order_mark_before_the_header_is_ignored():
    lines = to_csv([VALID])
    lines[0] = "\ufeff" + lines[0]
    assert lc.parse_ledger(lines, STATION, 6).problems == []


def test_three_bad_rows_are_all_reported_in_file_order():
    rows = [
        VALID,
        {**VALID, "meter_id": "M-0002", "dials": "0"},
        {**VALID, "meter_id": "M-0003", "seals": "meter_cover:S0012399"},
        {**VALID, "meter_id": "M-0004", "category": "house"},
        {**VALID, "meter_id": "M-0005", "seals": "lid:S9"},
    ]
    assert [p.split(":")[0] for p in problems_of(*rows)] == ["line 3", "line 5", "line 6"]


def test_a_meter_listed_twice_is_refused_on_its_second_line():
    assert problems_of(VALID, {**VALID, "seals": ""}) == ["line 3: meter M-0001 is already on line 2"]


def test_a_customer_told_two_ways_is_refused():
    second = {**VALID, "meter_id": "M-0002", "customer_name": "张薇", "class": "B", "seals": ""}
    assert problems_of(VALID, second) == [
        "line 3: customer C001 differs from line 2: customer_name 张薇 here but 张伟; class B here but C"
    ]


def test_a_customer_with_two_meters_told_the_same_way_is_fine():
    parsed = parse(VALID, {**VALID, "meter_id": "M-0002", "seals": ""})
    assert parsed.problems == [] and len(parsed.records) == 2


def test_a_route_claimed_by_two_districts_is_refused():
    other = {**VALID, "district_id": "D02", "district_name": "西村台区", "customer_id": "C002", "meter_id": "M-0002",
             "seals": ""}
    assert problems_of(VALID, other) == ["line 3: route R01 is in district D02 here but in D01 on line 2"]


def test_a_district_named_two_ways_is_refused():
    other = {**VALID, "district_name": "东村", "customer_id": "C002", "meter_id": "M-0002", "seals": ""}
    assert problems_of(VALID, other) == ["line 3: district D01 is named '东村' here but '东村台区' on line 2"]


def test_one_seal_on_two_meters_is_refused():
    other = {**VALID, "customer_id": "C002", "meter_id": "M-0002"}
    assert problems_of(VALID, other) == ["line 3: seal S0012345 is also at meter_cover of meter M-0001 on line 2"]


# -- planning ------------------------------------------------------------------------------------


def on_record_of(rows: list[lc.LedgerRow]) -> lc.OnRecord:
    """What the database holds after importing ``rows``."""
    record = lc.OnRecord()
    for n, row in enumerate(rows):
        record.district_names[row.district.id] = row.district.name
        record.route_districts[row.route.id] = row.route.district_id
        if row.customer:
            record.customers[row.customer.id] = row.customer
        record.meters[row.meter.id] = row.meter
        record.seals[row.meter.id] = {p: lc.SealOnRecord(100 * n + i, s) for i, (p, s) in enumerate(row.seals)}
    return record


def test_a_new_file_inserts_everything_once():
    rows = parse(DISTRICT_METER, VALID, {**VALID, "meter_id": "M-0002", "seals": ""}).records
    plan = lc.plan_ledger(rows, lc.OnRecord())
    assert (plan.inserted, plan.updated, plan.unchanged) == (3, 0, 0)
    assert plan.districts_new == [lc.District("D01", "东村台区")]
    assert plan.routes_new == [lc.Route("R01", "D01")]
    assert [c.id for c in plan.customers_new] == ["C001"]
    assert [m.id for m in plan.meters_new] == ["M-D01", "M-0001", "M-0002"]
    assert plan.seals_new == [("M-D01", "ct_box", "S0000001"), ("M-0001", "meter_cover", "S0012345")]
    assert plan.resend == set()  # no tablet holds what is new


def test_a_file_already_on_record_changes_nothing():
    rows = parse(DISTRICT_METER, VALID).records
    plan = lc.plan_ledger(rows, on_record_of(rows))
    assert (plan.inserted, plan.updated, plan.unchanged) == (0, 0, 2)
    assert plan.resend == set()
    assert not (plan.districts_new or plan.districts_renamed or plan.routes_new or plan.customers_new
                or plan.customers_changed or plan.meters_new or plan.meters_changed or plan.seals_new
                or plan.seals_removed)


def test_a_meter_moving_to_another_route_is_updated():
    before = parse(VALID).records
    after = parse({**VALID, "route_id": "R02"}).records
    plan = lc.plan_ledger(after, on_record_of(before))
    assert (plan.inserted, plan.updated, plan.unchanged) == (0, 1, 0)
    assert plan.routes_new == [lc.Route("R02", "D01")]
    assert [m.route_id for m in plan.meters_changed] == ["R02"]
    assert plan.resend == {("meter", "M-0001")}


def test_a_route_on_record_in_another_district_is_refused():
    before = parse(VALID).records
    after = parse({**VALID, "district_id": "D02", "district_name": "西村台区"}).records
    assert cv.format_problems(lc.plan_ledger(after, on_record_of(before)).problems) == [
        "line 2: route R01 is in district D01 on record, not D02; a route does not change district"
    ]


def test_a_changed_customer_is_updated_and_resent():
    before = parse(VALID).records
    plan = lc.plan_ledger(parse({**VALID, "class": "A"}).records, on_record_of(before))
    assert (plan.updated, [c.customer_class for c in plan.customers_changed]) == (1, ["A"])
    assert plan.resend == {("customer", "C001")}


def test_a_different_seal_replaces_the_one_on_record_and_the_same_seal_stays():
    before = parse({**VALID, "seals": "meter_cover:S1;terminal_cover:S2;meter_box:S3"}).records
    record = on_record_of(before)
    after = parse({**VALID, "seals": "meter_cover:S1;terminal_cover:S9"}).records
    plan = lc.plan_ledger(after, record)
    replaced, dropped = record.seals["M-0001"]["terminal_cover"].id, record.seals["M-0001"]["meter_box"].id
    assert sorted(plan.seals_removed) == sorted([replaced, dropped])
    assert plan.seals_new == [("M-0001", "terminal_cover", "S9")]
    assert (plan.updated, plan.meters_changed) == (1, [])
    assert plan.resend == {("meter", "M-0001")}


def test_a_seal_the_file_no_longer_lists_is_removed():
    before = parse(VALID).records
    plan = lc.plan_ledger(parse({**VALID, "seals": ""}).records, on_record_of(before))
    assert plan.seals_removed == [0] and plan.seals_new == [] and plan.updated == 1
    assert plan.resend == {("meter", "M-0001")}


# -- any valid row round-trips -------------------------------------------------------------------

ids = st.text("ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_", min_size=1, max_size=64)
names = st.text(st.characters(blacklist_categories=("Cs", "Cc", "Zs", "Zl", "Zp")), min_size=1, max_size=200)
places = st.builds(lambda text: f"村{text}号", st.text(st.characters(blacklist_categories=("Cs", "Cc")), max_size=100))
decimals = st.decimals(min_value=Decimal("0.001"), max_value=Decimal("99999"), places=3)
moments = st.datetimes(min_value=datetime(2000, 1, 1), max_value=datetime(2030, 12, 31), timezones=st.just(STATION))
seal_sets = st.dictionaries(st.sampled_from(cv.SEAL_POSITIONS), ids, max_size=4).filter(
    lambda seals: len(set(seals.values())) == len(seals)
)


@given(
    meter_id=ids, customer_id=ids, customer_name=names, address=places, category=st.sampled_from(lc.CATEGORIES[1:]),
    customer_class=st.sampled_from(["", "A", "B", "C"]), multiplier=decimals, dials=st.integers(1, 12),
    phases=st.sampled_from([1, 3]), registers=st.lists(st.sampled_from(["total", "peak", "flat", "valley", "sharp"]),
                                                       min_size=1, max_size=5, unique=True),
    installed_at=moments, seals=seal_sets,
)
def test_any_valid_row_reads_back_as_written(meter_id, customer_id, customer_name, address, category, customer_class,
                                             multiplier, dials, phases, registers, installed_at, seals):
    written = {
        **VALID, "meter_id": meter_id, "customer_id": customer_id, "customer_name": customer_name,
        "address": address, "category": category, "class": customer_class, "multiplier": str(multiplier),
        "dials": str(dials), "phases": str(phases), "registers": ";".join(registers),
        "installed_at": installed_at.isoformat(), "seals": ";".join(f"{p}:{n}" for p, n in seals.items()),
    }
    row = only_record(written)
    assert row.customer.name == customer_name and row.meter.address == row.customer.address == address
    assert (row.meter.id, row.meter.customer_id, row.customer.category) == (meter_id, customer_id, category)
    assert row.customer.customer_class == (customer_class or None)
    # Normalised, yet the same number; normalising again changes nothing.
    assert Decimal(row.meter.multiplier) == multiplier
    assert cv.positive_decimal("multiplier", row.meter.multiplier) == row.meter.multiplier
    assert (row.meter.dials, row.meter.phases, row.meter.registers) == (dials, phases, tuple(registers))
    assert row.meter.installed_at == installed_at and row.meter.installed_at.tzinfo == timezone.utc
    assert dict(row.seals) == seals
