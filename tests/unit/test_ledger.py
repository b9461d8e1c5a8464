"""The plain ledger views the rules read."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from decimal import Decimal

from sync.consumption import ActualRead
from sync.ledger import PliersIssue, PliersView
from tests.unit.test_rules_builders import (
    NOW,
    READER,
    UTC,
    assignment,
    context,
    ledger,
    meter,
)


def test_primary_register_is_total_when_the_meter_has_one():
    assert meter(registers=("peak", "total", "valley")).primary_register == "total"
    assert meter(registers=("import", "export")).primary_register == "import"


def test_register_range_is_ten_to_the_dials():
    assert meter(dials=5).register_range == Decimal(100000)


def test_last_actual_is_the_latest_read_whatever_the_order_given():
    newer = ActualRead(Decimal(20), NOW)
    older = ActualRead(Decimal(10), NOW - timedelta(days=30))
    m = meter(history={"total": (newer, older)})
    assert m.last_actual("total") is newer
    assert m.last_actual("peak") is None


def test_pliers_holder_at_a_time_follows_the_register():
    t0 = datetime(2026, 1, 1, tzinfo=UTC)
    pliers = PliersView("P-1", holder_id="c", issued_at=t0 + timedelta(days=20), past=(
        PliersIssue("a", t0, t0 + timedelta(days=5)),
        PliersIssue("b", t0 + timedelta(days=10), t0 + timedelta(days=15)),
    ))
    assert pliers.holder_at(t0 - timedelta(seconds=1)) is None
    assert pliers.holder_at(t0) == "a"
    assert pliers.holder_at(t0 + timedelta(days=5)) is None  # returned at that instant
    assert pliers.holder_at(t0 + timedelta(days=12)) == "b"
    assert pliers.holder_at(t0 + timedelta(days=17)) is None
    assert pliers.holder_at(t0 + timedelta(days=30)) == "c"


def test_clock_ahead_gives_positive_skew_and_times_move_back():
    ctx = context(skew_s=90)
    assert ctx.corrected(NOW) == NOW - timedelta(seconds=90)


def test_naive_device_time_is_taken_as_utc():
    assert context().corrected(NOW.replace(tzinfo=None)) == NOW


def test_station_date_is_the_date_in_the_station_zone():
    ctx = context()
    assert ctx.station_date(datetime(2026, 11, 30, 16, 0, tzinfo=UTC)) == date(2026, 12, 1)
    assert ctx.station_date(datetime(2026, 11, 30, 15, 59, tzinfo=UTC)) == date(2026, 11, 30)


def test_open_meter_ids_are_the_meters_of_the_users_open_assignments():
    book = ledger(assignments=(
        assignment(id="as-1", meter_id="m-1"),
        assignment(id="as-2", meter_id="m-2", status="closed"),
        assignment(id="as-3", meter_id="m-3", user_id="reader-2"),
        assignment(id="as-4", meter_id="m-4", task="reread"),
    ))
    assert book.open_meter_ids(READER.id) == {"m-1", "m-4"}
    assert book.open_meter_ids("reader-2") == {"m-3"}
    assert book.open_meter_ids("nobody") == frozenset()
