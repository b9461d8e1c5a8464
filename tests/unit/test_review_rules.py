"""The review queue's pure decisions: states, decisions, teams, outcomes, energy, cursors."""

from __future__ import annotations

from datetime import datetime, timezone
from decimal import Decimal

import pytest

from sync.ledger import UserView
from sync.review import (
    Decision,
    InvalidPageCursor,
    ReadingPoint,
    Refusal,
    TaskKey,
    TaskState,
    check_approver,
    check_claim,
    check_holder,
    consumption_series,
    decode_audit_cursor,
    decode_task_cursor,
    encode_audit_cursor,
    encode_task_cursor,
    follow_up_reason,
    inspection_kind,
    judge_decision,
    outcome_recipients,
    pick_team,
    status_after_approval,
    team_problem,
)


def refused(call, *args) -> str:
    with pytest.raises(Refusal) as exc:
        call(*args)
    return exc.value.code


# Claims, releases, approvals

def test_an_open_task_can_be_claimed():
    assert check_claim(TaskState("open", None), "ann") is True


def test_claiming_your_own_task_again_changes_nothing():
    assert check_claim(TaskState("claimed", "ann"), "ann") is False


def test_a_task_held_by_another_is_already_claimed():
    assert refused(check_claim, TaskState("claimed", "bob"), "ann") == "already_claimed"


@pytest.mark.parametrize("status", ["pending_approval", "resolved"])
def test_decided_tasks_cannot_be_claimed(status):
    assert refused(check_claim, TaskState(status, "bob"), "ann") == "invalid_state"


@pytest.mark.parametrize("task", [TaskState("open", None), TaskState("claimed", "bob")])
def test_only_the_holder_may_release_or_resolve(task):
    assert refused(check_holder, task, "ann", "resolved") == "not_claimed_by_you"


def test_the_holder_may_release_or_resolve():
    check_holder(TaskState("claimed", "ann"), "ann", "resolved")


@pytest.mark.parametrize("status", ["pending_approval", "resolved"])
def test_a_decided_task_cannot_be_released(status):
    assert refused(check_holder, TaskState(status, "ann"), "ann", "released") == "invalid_state"


def test_the_decider_cannot_approve_their_own_decision():
    assert refused(check_approver, TaskState("pending_approval", "ann", "ann"), "ann") == "self_approval"


@pytest.mark.parametrize("status", ["open", "claimed", "resolved"])
def test_only_pending_tasks_are_approved(status):
    assert refused(check_approver, TaskState(status, "ann", "ann"), "sue") == "invalid_state"


def test_another_supervisor_may_approve():
    check_approver(TaskState("pending_approval", "ann", "ann"), "sue")


def test_approval_resolves_and_rejection_reopens():
    assert (status_after_approval(True), status_after_approval(False)) == ("resolved", "open")


# Decisions

@pytest.mark.parametrize("decision, adjustment, status", [
    ("confirm", None, "resolved"),
    ("dismiss", None, "resolved"),
    ("reread", None, "resolved"),
    ("inspect", None, "resolved"),
    ("escalate", None, "pending_approval"),
    ("confirm", "120.5", "pending_approval"),
    ("dismiss", "-30", "pending_approval"),
])
def test_where_each_decision_leads(decision, adjustment, status):
    assert judge_decision(decision, None, adjustment, None).status == status


def test_reread_and_inspect_send_someone_out():
    assert [judge_decision(d, None, None, None).follow_up for d in ("reread", "inspect", "confirm")] == [
        "reread", "inspect", None]


@pytest.mark.parametrize("decision, adjustment, team, field", [
    ("approve", None, None, "$.decision"),
    ("", None, None, "$.decision"),
    ("confirm", "12,5", None, "$.adjustment_kwh"),
    ("confirm", "NaN", None, "$.adjustment_kwh"),
    ("confirm", "1e3", None, "$.adjustment_kwh"),
    ("confirm", "", None, "$.adjustment_kwh"),
    ("inspect", "10", None, "$.adjustment_kwh"),
    ("reread", "10", None, "$.adjustment_kwh"),
    ("dismiss", None, ["a", "b"], "$.team"),
])
def test_decisions_the_server_cannot_carry_out(decision, adjustment, team, field):
    with pytest.raises(Refusal) as exc:
        judge_decision(decision, None, adjustment, team)
    assert (exc.value.code, exc.value.field) == ("invalid_decision", field)


def test_a_follow_up_note_must_fit_the_field_reason():
    with pytest.raises(Refusal):
        judge_decision("reread", "x" * 501, None, None)
    assert judge_decision("confirm", "x" * 501, None, None).note == "x" * 501


def test_a_decision_keeps_what_was_said():
    assert judge_decision("inspect", "look", None, ["b", "a"]) == Decision("inspect", "look", None, ("b", "a"))


# Teams

INSPECTORS = {u: UserView(u, frozenset({"inspector"})) for u in ("ann", "bob", "cid")}
OTHERS = {"rex": UserView("rex", frozenset({"reader"})), "old": UserView("old", frozenset({"inspector"}), False)}


@pytest.mark.parametrize("team", [["ann", "bob"], ["ann", "bob", "cid"]])
def test_two_or_more_active_inspectors_make_a_team(team):
    assert team_problem(team, INSPECTORS) is None


@pytest.mark.parametrize("team, says", [
    (["ann"], "at least 2"),
    ([], "at least 2"),
    (["ann", "ann"], "twice"),
    (["ann", "rex"], "rex"),
    (["ann", "old"], "old"),
    (["ann", "nobody"], "nobody"),
])
def test_teams_that_cannot_inspect(team, says):
    assert says in (team_problem(team, {**INSPECTORS, **OTHERS}) or "")


def test_the_two_least_busy_inspectors_are_picked_ties_by_name():
    assert pick_team({"cid": 0, "bob": 2, "ann": 0, "dan": 1}) == ("ann", "cid")
    assert pick_team({"bob": 1, "ann": 1, "cid": 1}) == ("ann", "bob")


def test_no_team_without_two_inspectors():
    assert pick_team({"ann": 0}) is None


@pytest.mark.parametrize("task_kind, held, kind", [
    ("reading", [], "theft_check"),
    ("theft", ["routine"], "theft_check"),
    ("anomaly", ["routine", "census"], "census"),
    ("inspection", ["routine"], "routine"),
])
def test_the_kind_of_follow_up_inspection(task_kind, held, kind):
    assert inspection_kind(task_kind, held) == kind


def test_the_field_is_told_the_note_or_else_the_flags():
    flags = [{"code": "reverse_reading"}, {"code": "seal_broken"}, {"code": "reverse_reading"}]
    assert follow_up_reason("Check dial 3", flags) == "Check dial 3"
    assert follow_up_reason(None, flags) == "Review: reverse_reading, seal_broken"
    assert follow_up_reason(None, []) == "Requested by review"


# Outcomes

def test_each_user_learns_about_their_own_items():
    items = [("op-3", "rex"), ("op-1", "ann"), ("op-2", "rex")]
    assert outcome_recipients(items) == {"ann": ["op-1"], "rex": ["op-2", "op-3"]}


def test_a_task_without_items_tells_nobody():
    assert outcome_recipients([]) == {}


# Energy between readings

def test_consumption_is_advance_times_multiplier_with_wraps_and_gaps():
    points = [ReadingPoint("990", "actual", "valid"), ReadingPoint(None, "unable", "valid"),
              ReadingPoint("10", "actual", "valid"), ReadingPoint("40", "actual", "valid")]
    assert consumption_series(points, Decimal("30"), 3) == [None, None, Decimal(600), Decimal(900)]


def test_a_superseded_reading_is_not_the_base_of_the_next():
    points = [ReadingPoint("100", "actual", "valid"), ReadingPoint("90", "actual", "superseded"),
              ReadingPoint("130", "actual", "valid")]
    assert consumption_series(points, Decimal(1), 6) == [None, Decimal(-10), Decimal(30)]


def test_a_reverse_reading_shows_as_negative_and_a_rollover_as_wrapped():
    points = [ReadingPoint("3100", "actual", "valid"), ReadingPoint("3000", "actual", "valid"),
              ReadingPoint("999950", "actual", "valid"), ReadingPoint("20", "actual", "valid")]
    assert consumption_series(points, Decimal(2), 6) == [None, Decimal(-200), Decimal(1993900), Decimal(140)]


# Cursors

def test_a_queue_cursor_round_trips():
    key = TaskKey(2, datetime(2026, 11, 3, 4, 5, 6, 789, tzinfo=timezone.utc), "rt-1")
    assert decode_task_cursor(encode_task_cursor(key)) == key


def test_an_audit_cursor_round_trips():
    assert decode_audit_cursor(encode_audit_cursor(12345)) == 12345


@pytest.mark.parametrize("text", ["", "garbage!", "W10", "x" * 600])
def test_garbage_is_not_a_cursor(text):
    with pytest.raises(InvalidPageCursor):
        decode_task_cursor(text)
    with pytest.raises(InvalidPageCursor):
        decode_audit_cursor(text)


def test_a_cursor_of_one_listing_is_refused_by_the_other():
    with pytest.raises(InvalidPageCursor):
        decode_task_cursor(encode_audit_cursor(5))
    with pytest.raises(InvalidPageCursor):
        decode_audit_cursor(encode_task_cursor(TaskKey(1, datetime.now(timezone.utc), "rt-1")))
