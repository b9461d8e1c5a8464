"""The rejection rules, one at a time."""

from __future__ import annotations

from datetime import timedelta

import pytest

from sync.ledger import UserView
from sync.rules import (
    future_time,
    invalid_value,
    not_assigned,
    not_permitted,
    two_person_rule,
    unable_without_reason,
    unknown_meter,
    unknown_register,
)
from tests.unit.test_rules_builders import (
    INSPECTOR,
    INSPECTOR_2,
    NOW,
    READER,
    anomaly,
    assignment,
    context,
    inspection,
    ledger,
    meter,
    reading,
    seal_event,
    unable,
)
from sync.thresholds import Thresholds

TH = Thresholds()


# not_permitted

@pytest.mark.parametrize("item", [reading(), anomaly(), seal_event("verified"), seal_event("found_broken"),
                                  seal_event("found_missing")], ids=lambda i: f"{i.type}")
def test_reader_may_send_readings_anomalies_and_seal_checks(item):
    assert not_permitted(item, READER) is None


@pytest.mark.parametrize("action", ["installed", "removed"])
def test_reader_may_not_install_or_remove_seals(action):
    rejection = not_permitted(seal_event(action), READER)
    assert rejection.code == "not_permitted"
    assert rejection.field == "$.action"


def test_reader_may_not_send_inspections():
    rejection = not_permitted(inspection(), READER)
    assert (rejection.code, rejection.field) == ("not_permitted", "$.type")


@pytest.mark.parametrize("item", [reading(), anomaly(), inspection(), seal_event("installed"), seal_event("removed")],
                         ids=lambda i: i.type)
def test_inspector_may_send_every_item_type(item):
    assert not_permitted(item, INSPECTOR) is None


def test_user_with_neither_role_may_send_nothing():
    reviewer = UserView("rev-1", frozenset({"reviewer"}))
    assert not_permitted(reading(), reviewer).code == "not_permitted"


# unknown_meter / not_assigned

def test_inspector_gets_unknown_meter_for_a_meter_outside_the_ledger():
    rejection = unknown_meter(anomaly(meter_id="m-404"), INSPECTOR, ledger())
    assert (rejection.code, rejection.field) == ("unknown_meter", "$.meter_id")


def test_inspector_may_work_on_any_meter_of_the_ledger_without_an_assignment():
    item = anomaly(meter_id="m-2")
    book = ledger(meters=(meter(), meter(id="m-2")))
    assert unknown_meter(item, INSPECTOR, book) is None
    assert not_assigned(item, INSPECTOR, book) is None


def test_reader_never_gets_unknown_meter():
    assert unknown_meter(anomaly(meter_id="m-404"), READER, ledger()) is None


def test_reader_reading_on_own_open_assignment_is_assigned():
    assert not_assigned(reading(), READER, ledger()) is None


def test_reader_anomaly_for_a_meter_outside_their_assignments_is_not_assigned():
    book = ledger(meters=(meter(), meter(id="m-2")))
    rejection = not_assigned(anomaly(meter_id="m-2"), READER, book)
    assert (rejection.code, rejection.field) == ("not_assigned", "$.meter_id")


def test_not_assigned_answers_alike_for_an_existing_and_an_unknown_meter():
    book = ledger(meters=(meter(), meter(id="m-2")))
    existing = not_assigned(seal_event(meter_id="m-2"), READER, book)
    unknown = not_assigned(seal_event(meter_id="m-9"), READER, book)
    assert existing.code == unknown.code == "not_assigned"
    assert existing.message.replace("m-2", "X") == unknown.message.replace("m-9", "X")
    assert existing.field == unknown.field


@pytest.mark.parametrize("status", ["closed", "cancelled", "moved"])
def test_reading_on_an_assignment_that_is_no_longer_open_is_not_assigned(status):
    rejection = not_assigned(reading(), READER, ledger(assignments=(assignment(status=status),)))
    assert (rejection.code, rejection.field) == ("not_assigned", "$.assignment_id")


def test_reading_on_another_readers_assignment_is_not_assigned():
    book = ledger(assignments=(assignment(user_id="reader-2"),))
    assert not_assigned(reading(), READER, book).code == "not_assigned"


def test_reading_naming_own_assignment_for_another_meter_is_not_assigned():
    book = ledger(meters=(meter(), meter(id="m-2")))
    rejection = not_assigned(reading(meter_id="m-2"), READER, book)
    assert (rejection.code, rejection.field) == ("not_assigned", "$.meter_id")


def test_reader_reading_without_an_assignment_is_not_assigned():
    assert not_assigned(reading(assignment_id=None), READER, ledger()).code == "not_assigned"


def test_inspector_reading_without_an_assignment_is_allowed():
    assert not_assigned(reading(assignment_id=None), INSPECTOR, ledger()) is None


def test_inspector_reading_naming_an_unknown_assignment_is_not_assigned():
    rejection = not_assigned(reading(assignment_id="as-404"), INSPECTOR, ledger())
    assert (rejection.code, rejection.field) == ("not_assigned", "$.assignment_id")


# unknown_register

def test_register_the_meter_has_is_known():
    assert unknown_register(reading(), meter()) is None


def test_register_the_meter_lacks_is_rejected_naming_the_meters_registers():
    rejection = unknown_register(reading(register="peak"), meter())
    assert (rejection.code, rejection.field) == ("unknown_register", "$.register")
    assert "total" in rejection.message


# invalid_value

@pytest.mark.parametrize("value", ["0", "1600", "01600", "99999", "99999.9999", "1600.5"])
def test_plain_decimals_within_the_dials_are_valid(value):
    assert invalid_value(reading(value), meter(dials=5), TH) is None


@pytest.mark.parametrize(
    "value",
    ["-5", "+5", "NaN", "nan", "Infinity", "-Infinity", "sNaN", "1e3", "1E3", "1,600", " 1600", "1600 ", "",
     ".5", "5.", "0x10", "１６００", "١٦٠٠", "1_600", "12.3.4"],
)
def test_anything_but_a_plain_non_negative_decimal_is_invalid(value):
    rejection = invalid_value(reading(value), meter(), TH)
    assert (rejection.code, rejection.field) == ("invalid_value", "$.value")


def test_value_that_does_not_fit_the_dials_is_invalid():
    assert invalid_value(reading("100000"), meter(dials=5), TH).code == "invalid_value"
    assert invalid_value(reading("100000"), meter(dials=6), TH) is None


def test_too_many_fraction_digits_is_invalid():
    assert invalid_value(reading("1600.12345"), meter(), TH).code == "invalid_value"
    assert invalid_value(reading("1600.12345"), meter(), Thresholds(value_max_fraction_digits=5)) is None


def test_absurdly_long_value_is_invalid_even_when_numerically_small():
    assert invalid_value(reading("0" * 40 + "1"), meter(), TH).code == "invalid_value"


def test_actual_reading_without_a_value_is_invalid():
    assert invalid_value(reading(None), meter(), TH).code == "invalid_value"


def test_unable_reading_has_no_value():
    assert invalid_value(unable(), meter(), TH) is None
    assert invalid_value(unable(value="1600"), meter(), TH).code == "invalid_value"


# unable_without_reason

def test_unable_with_a_reason_is_fine():
    assert unable_without_reason(unable("hazard")) is None


@pytest.mark.parametrize("reason", [None, ""])
def test_unable_without_a_reason_is_rejected(reason):
    rejection = unable_without_reason(unable(reason))
    assert (rejection.code, rejection.field) == ("unable_without_reason", "$.unable_reason")


def test_actual_reading_needs_no_reason():
    assert unable_without_reason(reading()) is None


# future_time

def test_time_just_within_the_allowance_is_fine():
    assert future_time(reading(recorded_at=NOW + timedelta(seconds=300)), context()) is None


def test_time_beyond_the_allowance_is_rejected():
    rejection = future_time(reading(recorded_at=NOW + timedelta(seconds=301)), context())
    assert (rejection.code, rejection.field) == ("future_time", "$.recorded_at")


def test_skew_correction_rescues_a_tablet_whose_clock_runs_ahead():
    item = reading(recorded_at=NOW + timedelta(hours=1))
    assert future_time(item, context(skew_s=3600)) is None
    assert future_time(item, context(skew_s=0)).code == "future_time"


def test_skew_correction_condemns_a_time_that_is_future_on_a_slow_tablet():
    item = reading(recorded_at=NOW)
    assert future_time(item, context(skew_s=-600)).code == "future_time"


def test_future_observed_and_ended_times_are_rejected_at_their_own_field():
    assert future_time(anomaly(observed_at=NOW + timedelta(hours=1)), context()).field == "$.observed_at"
    late = inspection(ended_at=NOW + timedelta(hours=1))
    assert future_time(late, context(INSPECTOR)).field == "$.ended_at"


# two_person_rule

def test_inspection_by_two_active_inspectors_including_the_submitter_is_fine():
    assert two_person_rule(inspection(), INSPECTOR, ledger()) is None


@pytest.mark.parametrize("participants", [(), ("insp-1",), ("insp-1", "insp-1")])
def test_inspection_with_fewer_than_two_distinct_participants_is_rejected(participants):
    rejection = two_person_rule(inspection(participants=participants), INSPECTOR, ledger())
    assert (rejection.code, rejection.field) == ("two_person_rule", "$.participants")


def test_submitter_must_be_among_the_participants():
    third = UserView("insp-3", frozenset({"inspector"}))
    rejection = two_person_rule(inspection(), third, ledger(users=(INSPECTOR, INSPECTOR_2, third)))
    assert rejection.code == "two_person_rule"
    assert "insp-3" in rejection.message


@pytest.mark.parametrize(
    "partner",
    [UserView("insp-2", frozenset({"inspector"}), active=False), UserView("insp-2", frozenset({"reader"})), None],
    ids=["inactive", "reader", "unknown"],
)
def test_every_participant_must_be_an_active_inspector(partner):
    users = (INSPECTOR,) + ((partner,) if partner else ())
    rejection = two_person_rule(inspection(), INSPECTOR, ledger(users=users))
    assert rejection.code == "two_person_rule"
    assert "insp-2" in rejection.message


def test_seal_removal_needs_two_people_but_other_seal_events_do_not():
    alone = ("insp-1",)
    assert two_person_rule(seal_event("removed", participants=alone), INSPECTOR, ledger()).code == "two_person_rule"
    assert two_person_rule(seal_event("removed", participants=("insp-1", "insp-2")), INSPECTOR, ledger()) is None
    assert two_person_rule(seal_event("installed", participants=alone), INSPECTOR, ledger()) is None
    assert two_person_rule(reading(), READER, ledger()) is None
