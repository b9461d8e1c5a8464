"""The flag rules on seal events, one at a time."""

from __future__ import annotations

from datetime import timedelta

import pytest

from sync.ledger import PliersIssue, PliersView, SealView
from sync.rules import pliers_not_issued, seal_broken, seal_mismatch
from tests.unit.test_rules_builders import INSPECTOR, NOW, codes, context, meter, seal_event

SEALED = meter(seals=(SealView("meter_cover", "S-100"), SealView("meter_box", "B-7")))
TEAM = ("insp-1", "insp-2")


# seal_mismatch

def test_verified_seal_the_ledger_holds_at_that_position_is_fine():
    assert seal_mismatch(seal_event("verified"), SEALED) is None


def test_verified_seal_with_another_number_is_flagged_with_the_ledgers_number():
    flag = seal_mismatch(seal_event("verified", seal_number="S-999"), SEALED)
    assert codes(flag) == ["seal_mismatch"]
    assert "S-100" in flag.message


def test_verified_seal_known_only_at_another_position_is_flagged():
    assert codes(seal_mismatch(seal_event("verified", seal_number="B-7"), SEALED)) == ["seal_mismatch"]


def test_verified_seal_where_the_ledger_holds_none_is_flagged():
    flag = seal_mismatch(seal_event("verified", position="ct_box"), SEALED)
    assert codes(flag) == ["seal_mismatch"]
    assert "no seal" in flag.message


@pytest.mark.parametrize("action", ["installed", "removed", "found_broken", "found_missing"])
def test_only_verification_is_compared_with_the_ledger(action):
    assert seal_mismatch(seal_event(action, seal_number="S-999"), SEALED) is None


# seal_broken

@pytest.mark.parametrize("action,state", [("found_broken", "broken"), ("found_missing", "missing")])
def test_seal_found_broken_or_missing_is_flagged(action, state):
    flag = seal_broken(seal_event(action))
    assert codes(flag) == ["seal_broken"]
    assert state in flag.message


@pytest.mark.parametrize("action", ["verified", "installed", "removed"])
def test_other_seal_events_are_not_broken_seals(action):
    assert seal_broken(seal_event(action)) is None


# pliers_not_issued (the seal is installed one hour before NOW)

ISSUED_TO_PARTNER = PliersView("P-1", holder_id="insp-2", issued_at=NOW - timedelta(days=3))


def installed(**overrides):
    return seal_event("installed", **{"pliers_id": "P-1", "participants": TEAM, **overrides})


def test_pliers_issued_to_a_participant_are_fine():
    assert pliers_not_issued(installed(), ISSUED_TO_PARTNER, context(INSPECTOR)) is None


def test_pliers_issued_to_the_submitter_are_fine_even_when_not_listed():
    mine = PliersView("P-1", holder_id="insp-1", issued_at=NOW - timedelta(days=3))
    assert pliers_not_issued(installed(participants=()), mine, context(INSPECTOR)) is None


def test_pliers_issued_to_someone_else_are_flagged_naming_the_holder():
    elsewhere = PliersView("P-1", holder_id="insp-9", issued_at=NOW - timedelta(days=3))
    flag = pliers_not_issued(installed(), elsewhere, context(INSPECTOR))
    assert codes(flag) == ["pliers_not_issued"]
    assert "insp-9" in flag.message


def test_pliers_in_store_are_flagged():
    in_store = PliersView("P-1", holder_id=None, issued_at=None)
    assert codes(pliers_not_issued(installed(), in_store, context(INSPECTOR))) == ["pliers_not_issued"]


def test_pliers_issued_only_after_the_installation_are_flagged():
    late = PliersView("P-1", holder_id="insp-2", issued_at=NOW - timedelta(minutes=30))
    assert codes(pliers_not_issued(installed(), late, context(INSPECTOR))) == ["pliers_not_issued"]


def test_pliers_held_by_a_participant_at_the_time_but_returned_since_are_fine():
    returned = PliersView("P-1", holder_id="insp-9", issued_at=NOW - timedelta(minutes=10), past=(
        PliersIssue("insp-2", NOW - timedelta(days=2), NOW - timedelta(minutes=20)),
    ))
    assert pliers_not_issued(installed(), returned, context(INSPECTOR)) is None


def test_installation_time_is_corrected_by_the_skew_before_consulting_the_register():
    # Issued 30 minutes ago; the tablet, 2 hours slow, says it installed 2.5 hours ago.
    late = PliersView("P-1", holder_id="insp-2", issued_at=NOW - timedelta(minutes=30))
    item = installed(recorded_at=NOW - timedelta(hours=2, minutes=30))
    assert pliers_not_issued(item, late, context(INSPECTOR, skew_s=-7200)) is None
    assert pliers_not_issued(item, late, context(INSPECTOR)).code == "pliers_not_issued"


def test_unknown_or_unnamed_pliers_are_flagged():
    assert codes(pliers_not_issued(installed(pliers_id="P-404"), None, context(INSPECTOR))) == ["pliers_not_issued"]
    assert codes(pliers_not_issued(installed(pliers_id=None), None, context(INSPECTOR))) == ["pliers_not_issued"]


@pytest.mark.parametrize("action", ["verified", "removed", "found_broken"])
def test_only_installation_needs_issued_pliers(action):
    assert pliers_not_issued(seal_event(action), None, context(INSPECTOR)) is None
