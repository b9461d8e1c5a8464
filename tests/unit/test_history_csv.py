"""Reading the reading history CSV and planning an import, without a database."""

from __future__ import annotations

from datetime import datetime, timezone

import pytest

from sync import csv_values as cv
from sync import history_csv as hc
from tests.unit.test_ledger_csv import STATION, to_csv

NOW = datetime(2026, 3, 1, tzinfo=timezone.utc)

READING = {"meter_id": "M-0001", "register": "total", "read_at": "2024-01-05T10:00:00", "value": "123.4"}
FACTS = {"M-0001": hc.MeterFacts(("total", "peak"), 4)}


def parse_readings(*rows: dict[str, str]) -> cv.Parsed[hc.Reading]:
    return hc.parse_readings(to_csv(list(rows), hc.READING_COLUMNS), STATION, NOW)


def reading_problems(*rows: dict[str, str], stored=None) -> list[str]:
    parsed = parse_readings(*rows)
    plan = hc.plan_readings(parsed.records, FACTS, stored or {}, STATION)
    return cv.format_problems(parsed.problems + plan.problems)


def test_a_reading_is_stored_in_utc_in_the_cycle_of_its_station_month():
    (reading,) = parse_readings({**READING, "read_at": "2024-02-01T07:00:00"}).records
    assert reading.read_at == datetime(2024, 1, 31, 23, 0, tzinfo=timezone.utc)
    assert reading.cycle == "2024-02"


@pytest.mark.parametrize(("change", "message"), [
    ({"value": "-5"}, "value '-5' is not a non-negative decimal"),
    ({"value": "NaN"}, "value 'NaN' is not a non-negative decimal"),
    ({"value": ""}, "value '' is not a non-negative decimal"),
    ({"read_at": "05/01/2024"}, "read_at '05/01/2024' is not an ISO 8601 date or time"),
    ({"read_at": "2026-03-02T00:00:00Z"}, "read_at '2026-03-02T00:00:00Z' is in the future"),
    ({"meter_id": "M-9999"}, "meter M-9999 is not in the ledger"),
    ({"register": "valley"}, "register 'valley' is not one of meter M-0001's registers (total, peak)"),
    ({"value": "10000"}, "value 10000 does not fit the 4 dials of meter M-0001"),
])
def test_a_bad_reading_is_explained(change, message):
    assert reading_problems({**READING, **change}) == [f"line 2: {message}"]


def test_a_reading_already_stored_with_the_same_value_is_skipped():
    (reading,) = parse_readings(READING).records
    plan = hc.plan_readings([reading], FACTS, {("M-0001", "total", reading.read_at): "123.40"}, STATION)
    assert (plan.new, plan.unchanged, plan.problems) == ([], 1, [])


def test_a_reading_stored_with_another_value_is_a_conflict():
    (reading,) = parse_readings(READING).records
    assert reading_problems(READING, stored={("M-0001", "total", reading.read_at): "120"}) == [
        "line 2: meter M-0001 total at 2024-01-05T10:00:00+08:00 is 120 on record, not 123.4"
    ]


def test_a_reading_repeated_in_the_file_counts_once_and_a_contradiction_is_refused():
    same = parse_readings(READING, {**READING, "read_at": "2024-01-05T02:00:00Z"}).records
    plan = hc.plan_readings(same, FACTS, {}, STATION)
    assert (len(plan.new), plan.unchanged) == (1, 1)
    assert reading_problems(READING, {**READING, "value": "99"}) == [
        "line 3: meter M-0001 total at 2024-01-05T10:00:00+08:00 is 123.4 on line 2, not 99"
    ]
    assert hc.plan_readings(same, FACTS, {}, STATION).resend == {("meter", "M-0001")}
