"""The verdict on one item: the rules run together, in the documented order."""

from __future__ import annotations

import ast
from datetime import timedelta
from decimal import Decimal
from pathlib import Path

import pytest

import sync
from field_schemas.anomalies import FLAG_LABELS, REJECTION_LABELS
from sync.ledger import PliersView
from sync.rules import device_clock_skew, judge_item
from tests.unit.test_rules_builders import (
    INSPECTOR,
    NOW,
    READER,
    anomaly,
    assignment,
    codes,
    context,
    inspection,
    ledger,
    meter,
    reading,
    seal_event,
    unable,
)


def test_plausible_reading_on_time_is_accepted_without_flags():
    verdict = judge_item(reading(), context(), ledger())
    assert (verdict.status, verdict.flags, verdict.errors) == ("accepted", [], [])


def test_rejected_item_gets_no_flags_however_odd_it_is():
    # A clock 1 h off and a value below the last read would both be flagged.
    verdict = judge_item(reading("1400x"), context(skew_s=3600), ledger())
    assert verdict.status == "rejected"
    assert codes(verdict.errors) == ["invalid_value"]
    assert verdict.flags == []


def test_all_content_errors_are_reported_together():
    item = unable(None, recorded_at=NOW + timedelta(hours=1))
    verdict = judge_item(item, context(), ledger())
    assert codes(verdict.errors) == ["unable_without_reason", "future_time"]
    assert [e.field for e in verdict.errors] == ["$.unable_reason", "$.recorded_at"]


def test_unknown_register_is_not_also_judged_as_a_value():
    verdict = judge_item(reading("NaN", register="peak"), context(), ledger())
    assert codes(verdict.errors) == ["unknown_register"]


def test_access_failure_is_the_only_answer():
    item = reading("-5", assignment_id="as-404", recorded_at=NOW + timedelta(days=1))
    verdict = judge_item(item, context(), ledger())
    assert codes(verdict.errors) == ["not_assigned"]


def test_reader_cannot_tell_an_unknown_meter_from_an_unassigned_one():
    book = ledger(meters=(meter(), meter(id="m-2")))
    unassigned = judge_item(anomaly(meter_id="m-2"), context(), book)
    unknown = judge_item(anomaly(meter_id="m-3"), context(), book)
    assert codes(unassigned.errors) == codes(unknown.errors) == ["not_assigned"]
    assert unassigned.errors[0].message.replace("m-2", "?") == unknown.errors[0].message.replace("m-3", "?")


def test_inspector_learns_that_a_meter_is_unknown():
    verdict = judge_item(anomaly(meter_id="m-404"), context(INSPECTOR), ledger())
    assert codes(verdict.errors) == ["unknown_meter"]


def test_role_is_checked_before_the_meter():
    verdict = judge_item(seal_event("installed", meter_id="m-404"), context(READER), ledger())
    assert codes(verdict.errors) == ["not_permitted"]


def test_inspector_installs_a_seal_with_their_pliers_on_any_meter():
    pliers = PliersView("P-1", holder_id=INSPECTOR.id, issued_at=NOW - timedelta(days=1))
    item = seal_event("installed", meter_id="m-2", pliers_id="P-1", participants=("insp-1",))
    book = ledger(meters=(meter(), meter(id="m-2")), assignments=(), pliers=(pliers,))
    assert judge_item(item, context(INSPECTOR), book).status == "accepted"


def test_inspector_removing_a_seal_alone_is_rejected():
    item = seal_event("removed", participants=("insp-1",))
    assert codes(judge_item(item, context(INSPECTOR), ledger()).errors) == ["two_person_rule"]


def test_every_flag_that_applies_is_given():
    book = ledger(meters=(meter(reads_before=0),), assignments=(assignment(due_until=NOW.date() - timedelta(days=5)),))
    verdict = judge_item(reading(), context(), book)
    assert verdict.status == "flagged"
    assert codes(verdict.flags) == ["outside_window", "new_customer_read"]


def test_reading_flags_come_in_the_documented_order():
    odd = meter(reads_before=1, category="temporary", temp_supply_until=NOW.date() - timedelta(days=1),
                stored_cycle_values={("total", "2026-12"): "1580"})
    item = reading("1750", recorded_at=NOW - timedelta(hours=1))
    verdict = judge_item(item, context(skew_s=-400), ledger(meters=(odd,)))
    assert codes(verdict.flags) == [
        "device_clock_skew", "temp_supply_expired", "new_customer_read", "consumption_high", "duplicate_read",
    ]


def test_reading_on_a_reread_assignment_supersedes_without_a_duplicate_flag():
    stored = meter(stored_cycle_values={("total", "2026-12"): "1580"})
    book = ledger(meters=(stored,), assignments=(assignment(task="reread"),))
    assert judge_item(reading("1600"), context(), book).status == "accepted"
    assert codes(judge_item(reading("1600"), context(), ledger(meters=(stored,))).flags) == ["duplicate_read"]


@pytest.mark.parametrize("item", [reading(), anomaly(), seal_event("verified")], ids=lambda i: i.type)
def test_clock_skew_beyond_the_limit_flags_every_item(item):
    book = ledger(meters=(meter(seals=()),))
    assert "device_clock_skew" in codes(judge_item(item, context(skew_s=-301), book).flags)


@pytest.mark.parametrize("skew,flagged", [(300, False), (-300, False), (300.5, True), (-301, True)])
def test_clock_skew_limit_is_inclusive_both_ways(skew, flagged):
    assert (device_clock_skew(context(skew_s=skew)) is not None) is flagged


def test_time_of_use_sum_is_checked_on_the_total_reading_with_its_companions():
    tou = meter(registers=("total", "peak", "valley"), history={})
    together = {"peak": Decimal("700"), "valley": Decimal("200")}
    total = judge_item(reading("1000"), context(), ledger(meters=(tou,)), read_together=together)
    assert codes(total.flags) == ["register_sum_mismatch"]
    peak = judge_item(reading("700", register="peak"), context(), ledger(meters=(tou,)),
                      read_together={"total": Decimal("1000"), "valley": Decimal("200")})
    assert "register_sum_mismatch" not in codes(peak.flags)
    fine = judge_item(reading("900"), context(), ledger(meters=(tou,)), read_together=together)
    assert "register_sum_mismatch" not in codes(fine.flags)


def test_reported_anomaly_is_flagged_under_its_own_code():
    verdict = judge_item(anomaly("meter_creeping"), context(), ledger())
    assert (verdict.status, codes(verdict.flags)) == ("flagged", ["anomaly:meter_creeping"])


def test_theft_check_with_thin_evidence_and_findings():
    item = inspection("theft_check", photo_ids=("a" * 64,), customer_ack=None,
                      findings=("suspected_theft",), reported_multiplier="150/5")
    verdict = judge_item(item, context(INSPECTOR), ledger(meters=(meter(multiplier=Decimal(40)),)))
    assert codes(verdict.flags) == [
        "evidence_incomplete", "multiplier_mismatch", "anomaly:suspected_theft", "theft_check",
    ]


def test_routine_inspection_with_nothing_found_is_accepted():
    assert judge_item(inspection(), context(INSPECTOR), ledger()).status == "accepted"


def _codes_in_source(constructor: str) -> set[str]:
    """Every literal code passed to Flag(...) or Rejection(...) in the rule modules."""
    found = set()
    for path in Path(sync.__file__).parent.glob("rules*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if (isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == constructor
                    and node.args and isinstance(node.args[0], ast.Constant)):
                found.add(node.args[0].value)
    return found


def test_every_code_the_rules_can_give_has_labels_for_the_review_pages():
    flag_codes, rejection_codes = _codes_in_source("Flag"), _codes_in_source("Rejection")
    assert len(flag_codes) >= 19 and len(rejection_codes) >= 8
    assert flag_codes <= set(FLAG_LABELS)
    assert rejection_codes <= set(REJECTION_LABELS)
