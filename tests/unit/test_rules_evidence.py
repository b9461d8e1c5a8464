"""The rules on inspections, reported anomalies and photo evidence."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest

from sync.rules import (
    evidence_incomplete,
    evidence_place_mismatch,
    evidence_time_mismatch,
    multiplier_mismatch,
    reported_anomalies,
)
from sync.rules_evidence import distance_m, parse_multiplier
from sync.rules_types import CustomerAck
from sync.thresholds import Thresholds
from tests.unit.test_rules_builders import NOW, anomaly, codes, inspection, meter

TH = Thresholds()
SIGNATURE = "c" * 64
TWO_PHOTOS = ("a" * 64, "b" * 64)


# evidence_incomplete

def test_theft_check_with_two_photos_and_a_signature_is_complete():
    item = inspection("theft_check", photo_ids=TWO_PHOTOS + (SIGNATURE,))
    assert evidence_incomplete(item, TH) is None


@pytest.mark.parametrize("status", ["refused", "absent"])
def test_stated_refusal_or_absence_stands_in_for_the_signature(status):
    item = inspection("theft_check", photo_ids=TWO_PHOTOS, customer_ack=CustomerAck(status))
    assert evidence_incomplete(item, TH) is None


def test_signature_photo_does_not_count_towards_the_photos():
    item = inspection("theft_check", photo_ids=(TWO_PHOTOS[0], SIGNATURE))
    flag = evidence_incomplete(item, TH)
    assert codes(flag) == ["evidence_incomplete"]
    assert "1 named" in flag.message


def test_signed_without_a_signature_photo_is_incomplete():
    item = inspection("theft_check", photo_ids=TWO_PHOTOS, customer_ack=CustomerAck("signed", "Wang", None))
    flag = evidence_incomplete(item, TH)
    assert codes(flag) == ["evidence_incomplete"]
    assert "signature" in flag.message


def test_no_customer_acknowledgement_at_all_is_incomplete():
    item = inspection("theft_check", photo_ids=TWO_PHOTOS, customer_ack=None)
    assert codes(evidence_incomplete(item, TH)) == ["evidence_incomplete"]


def test_minimum_photos_is_a_threshold():
    item = inspection("theft_check", photo_ids=TWO_PHOTOS + (SIGNATURE,))
    assert evidence_incomplete(item, Thresholds(evidence_min_photos=3)).code == "evidence_incomplete"


@pytest.mark.parametrize("kind", ["routine", "census"])
def test_only_theft_checks_need_full_evidence(kind):
    assert evidence_incomplete(inspection(kind, photo_ids=(), customer_ack=None), TH) is None


# evidence_time_mismatch (inspection from NOW-2h to NOW-1h, ±30 min)

@pytest.mark.parametrize("offset_min", [-150, -90, -30])
def test_photo_taken_during_or_near_the_inspection_is_fine(offset_min):
    taken = NOW + timedelta(minutes=offset_min)
    assert evidence_time_mismatch(taken, NOW - timedelta(hours=2), NOW - timedelta(hours=1), TH) is None


@pytest.mark.parametrize("offset_min", [-151, -29, 600])
def test_photo_taken_away_from_the_inspection_time_is_flagged(offset_min):
    taken = NOW + timedelta(minutes=offset_min)
    flag = evidence_time_mismatch(taken, NOW - timedelta(hours=2), NOW - timedelta(hours=1), TH)
    assert codes(flag) == ["evidence_time_mismatch"]


def test_photo_without_exif_time_is_not_judged():
    assert evidence_time_mismatch(None, NOW - timedelta(hours=2), NOW - timedelta(hours=1), TH) is None


# evidence_place_mismatch (500 m)

def test_distance_of_one_hundredth_degree_of_latitude_is_about_1112_m():
    assert distance_m(30.0, 120.0, 30.01, 120.0) == pytest.approx(1111.95, abs=0.5)


def test_distance_along_a_parallel_shrinks_with_latitude():
    assert distance_m(60.0, 120.0, 60.0, 120.01) == pytest.approx(distance_m(0.0, 120.0, 0.0, 120.01) / 2, rel=1e-3)


def test_photo_near_the_meter_is_fine():
    assert evidence_place_mismatch(30.004, 120.0, Decimal("30.0"), Decimal("120.0"), TH) is None  # about 445 m


def test_photo_far_from_the_meter_is_flagged():
    flag = evidence_place_mismatch(30.005, 120.0, Decimal("30.0"), Decimal("120.0"), TH)  # about 556 m
    assert codes(flag) == ["evidence_place_mismatch"]
    assert "556 m" in flag.message


def test_place_is_not_judged_without_both_positions():
    assert evidence_place_mismatch(None, None, Decimal("30"), Decimal("120"), TH) is None
    assert evidence_place_mismatch(31.0, 121.0, None, None, TH) is None


# multiplier_mismatch

@pytest.mark.parametrize("text,value", [("40", Decimal(40)), ("200/5", Decimal(40)), (" 100 / 5 ", Decimal(20)),
                                         ("1", Decimal(1))])
def test_multiplier_and_ct_ratio_are_read_as_a_decimal(text, value):
    assert parse_multiplier(text) == value


@pytest.mark.parametrize("text", ["", "abc", "0", "-40", "5/0", "0/0", "NaN", "Infinity", "200/"])
def test_unreadable_multiplier_is_none(text):
    assert parse_multiplier(text) is None


def test_reported_multiplier_matching_the_ledger_is_fine():
    assert multiplier_mismatch("200/5", meter(multiplier=Decimal("40"))) is None
    assert multiplier_mismatch("40.0", meter(multiplier=Decimal("40"))) is None


def test_reported_multiplier_unlike_the_ledger_is_flagged():
    flag = multiplier_mismatch("300/5", meter(multiplier=Decimal("40")))
    assert codes(flag) == ["multiplier_mismatch"]
    assert "60" in flag.message and "40" in flag.message


def test_unreadable_reported_multiplier_is_flagged_for_a_person_to_read():
    assert codes(multiplier_mismatch("two hundred", meter())) == ["multiplier_mismatch"]


def test_nothing_reported_nothing_compared():
    assert multiplier_mismatch(None, meter()) is None


# reported anomalies and theft checks

def test_every_reported_anomaly_opens_review_under_anomaly_code():
    assert codes(reported_anomalies(anomaly("register_stuck"))) == ["anomaly:register_stuck"]


def test_each_distinct_finding_of_an_inspection_is_flagged_once():
    item = inspection("census", findings=("wiring_tampered", "meter_moved", "wiring_tampered"))
    assert codes(reported_anomalies(item)) == ["anomaly:wiring_tampered", "anomaly:meter_moved"]


def test_every_theft_check_is_flagged_even_without_findings():
    assert codes(reported_anomalies(inspection("theft_check"))) == ["theft_check"]


def test_routine_inspection_without_findings_raises_nothing():
    assert reported_anomalies(inspection("routine")) == []


def test_anomaly_flag_message_names_the_anomaly_in_words():
    assert "meter burnt" in reported_anomalies(anomaly("meter_burnt"))[0].message
