"""The review queue over HTTP (PROTOCOL §7): listing, a task in full, claims,
decisions, approvals, inspection orders and the audit log."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest
from click.testing import CliRunner
from sqlalchemy import event, insert, select, update

from server.cli import cli
from server.db.tables import assignments, photos, readings, users
from server.services import cycles, inspections, review_detail
from tests.factories import add_route, pull_all
from tests.push_helpers import anomaly, batch, inspection, push
from tests.review_helpers import CYCLE, TODAY, TASKS, Staff, error_code, push_reverse_reading, staff, station  # noqa: F401 (fixtures)


@pytest.fixture
def task_id(staff, station) -> str:
    return push_reverse_reading(staff, station)["review_task_id"]


def queue(staff: Staff, **params) -> dict:
    res = staff.client.get(TASKS, params=params, headers=staff["reviewer01"])
    assert res.status_code == 200, res.text
    return res.json()


# The queue

def test_the_queue_puts_theft_first_then_oldest(staff, station):
    reading_task = push_reverse_reading(staff, station, 0)["review_task_id"]
    later_reading = push_reverse_reading(staff, station, 1)["review_task_id"]
    theft = push(staff.client, staff["inspector01"], batch(
        [inspection(station["meters"][2], ["inspector01", "inspector02"])], device_id="tab-inspector01",
    )).json()["results"][0]["review_task_id"]
    tasks = queue(staff)["tasks"]
    assert [t["id"] for t in tasks] == [theft, reading_task, later_reading]
    assert tasks[1]["flags"][0]["code"] == "reverse_reading"
    assert set(tasks[1]) == {"id", "kind", "status", "priority", "meter_id", "district_id", "cycle", "flags",
                             "created_at", "claimed_by"}


def test_the_queue_filters_by_kind_status_and_district(staff, station, task_id):
    push(staff.client, staff["reader01"], batch([anomaly(station["meters"][1], "meter_box_damaged")],
                                                 device_id="tab-reader01"))
    assert [t["kind"] for t in queue(staff, kind="anomaly")["tasks"]] == ["anomaly"]
    assert queue(staff, district_id="d-elsewhere")["tasks"] == []
    assert len(queue(staff, district_id="d-01")["tasks"]) == 2
    staff.act("reviewer01", task_id, "claim")
    assert [t["id"] for t in queue(staff, status="claimed")["tasks"]] == [task_id]
    assert staff.client.get(TASKS, params={"status": "done"}, headers=staff["reviewer01"]).status_code == 400


def test_paging_the_queue_gives_every_task_once(staff, station):
    for i in range(4):
        push_reverse_reading(staff, station, i)
    everything = [t["id"] for t in queue(staff)["tasks"]]
    seen, cursor = [], None
    while True:
        page = queue(staff, limit=3, **({"cursor": cursor} if cursor else {}))
        seen += [t["id"] for t in page["tasks"]]
        cursor = page["cursor"]
        if cursor is None:
            break
    assert seen == everything and len(seen) == 4


def test_a_garbage_cursor_is_invalid_cursor(staff, task_id):
    res = staff.client.get(TASKS, params={"cursor": "not-a-cursor"}, headers=staff["reviewer01"])
    assert res.status_code == 400 and error_code(res) == "invalid_cursor"


# A task in full

def test_a_task_shows_its_items_meter_readings_seals_and_photos(db, staff, station, task_id):
    meter = station["meters"][0]
    photo = "c" * 64
    with db.write() as conn:
        conn.execute(insert(photos).values(sha256=photo, size=10, content_type="image/jpeg", width=1, height=1,
                                           uploaded_by="reader01", device_id="tab-reader01",
                                           uploaded_at=datetime.now(timezone.utc)))
    push(staff.client, staff["reader01"], batch(
        [anomaly(meter, "meter_box_damaged", photo_ids=[photo, "d" * 64])], device_id="tab-reader01"))
    detail = staff.detail("reviewer01", task_id)

    assert [i["type"] for i in detail["items"]] == ["reading", "anomaly"]
    assert [f["code"] for f in detail["flags"]] == ["reverse_reading", "anomaly:meter_box_damaged"]
    reading_item, anomaly_item = detail["items"]
    assert reading_item["payload"]["value"] == "3000" and reading_item["evidence"] == "none"
    assert anomaly_item["evidence"] == "incomplete"
    assert [(p["sha256"], p["held"], p["url"]) for p in anomaly_item["photos"]] == [
        (photo, True, f"/api/v1/photos/{photo}"), ("d" * 64, False, f"/api/v1/photos/{'d' * 64}")]
    assert detail["meter"]["id"] == meter and detail["customer"]["id"] == f"c-{meter}"
    assert detail["customer"]["class"] == "C"
    assert {i["op_id"] for i in detail["meter_items"]} == {i["op_id"] for i in detail["items"]}

    assert detail["register"] == "total"
    values = [(r["value"], r["consumption_kwh"]) for r in detail["readings"]]
    # Newest first; the drop from 3100 to 3000 counts as a wrap of the six-dial register.
    assert values[0] == ("3000", "-100.0")
    assert values[1:8] == [(str(3100 - 300 * k), "300.0") for k in range(7)]
    assert values[8] == ("1000", None)
    assert [(s["number"], s["removed_at"]) for s in detail["seals"]] == [(f"S-{meter}", None)]
    # The anomaly joined the open task: its history says so.
    assert [h["action"] for h in detail["history"]] == ["task.create", "task.update"]
    assert detail["history"][1]["after"]["flags_added"] == ["anomaly:meter_box_damaged"]


def test_only_the_last_twelve_readings_are_shown(db, staff, station):
    [meter] = add_route(db, "r-long", 1, history=20)
    cycles.open_cycle(db, CYCLE, "r-long", "reader01", TODAY - timedelta(days=10), TODAY + timedelta(days=10))
    with db.read() as conn:
        station["assignment"][meter] = conn.execute(
            select(assignments.c.id).where(assignments.c.meter_id == meter)).scalar_one()
    station["meters"].append(meter)
    task_id = push_reverse_reading(staff, station, len(station["meters"]) - 1)["review_task_id"]
    shown = staff.detail("reviewer01", task_id)["readings"]
    with db.read() as conn:
        newest = conn.execute(select(readings.c.op_id, readings.c.value).where(readings.c.meter_id == meter)
                              .order_by(readings.c.read_at.desc()).limit(12)).all()
    assert [(r["op_id"], r["value"]) for r in shown] == [tuple(r) for r in newest]
    assert shown[-1]["consumption_kwh"] is not None  # the read before the oldest shown was fetched too


def test_an_unknown_task_is_404(staff, station):
    res = staff.client.get(f"{TASKS}/rt-nope", headers=staff["reviewer01"])
    assert res.status_code == 404 and error_code(res) == "not_found"


def test_showing_a_task_costs_the_same_queries_however_many_items(db, staff, station, task_id):
    def statements_for_detail() -> int:
        count = 0

        def on_execute(*_args):
            nonlocal count
            count += 1

        # On PostgreSQL the reading engine is the writer's, with other options.
        engine = db.reader if db.is_sqlite else db.writer
        event.listen(engine, "before_cursor_execute", on_execute)
        try:
            review_detail.task_detail(db, task_id)
        finally:
            event.remove(engine, "before_cursor_execute", on_execute)
        return count

    one_item = statements_for_detail()
    push(staff.client, staff["reader01"], batch(
        [anomaly(station["meters"][0], code) for code in ("meter_box_damaged", "meter_moved", "register_stuck")],
        device_id="tab-reader01"))
    assert len(staff.detail("reviewer01", task_id)["items"]) == 4
    assert statements_for_detail() == one_item


# Claims

def test_a_claimed_task_cannot_be_claimed_by_another(staff, task_id):
    res = staff.act("reviewer01", task_id, "claim")
    assert res.status_code == 200 and res.json()["status"] == "claimed" and res.json()["claimed_by"] == "reviewer01"
    other = staff.act("reviewer02", task_id, "claim")
    assert other.status_code == 409 and error_code(other) == "already_claimed"
    assert staff.act("reviewer01", task_id, "claim").status_code == 200  # claiming again is harmless


def test_only_the_holder_releases_and_the_task_is_open_again(staff, task_id):
    staff.act("reviewer01", task_id, "claim")
    res = staff.act("reviewer02", task_id, "release")
    assert res.status_code == 409 and error_code(res) == "not_claimed_by_you"
    res = staff.act("reviewer01", task_id, "release")
    assert res.status_code == 200 and (res.json()["status"], res.json()["claimed_by"]) == ("open", None)
    assert staff.act("reviewer02", task_id, "claim").status_code == 200


# Decisions

def test_resolving_needs_the_claim(staff, task_id):
    res = staff.resolve("reviewer01", task_id, "confirm")
    assert res.status_code == 409 and error_code(res) == "not_claimed_by_you"
    staff.act("reviewer02", task_id, "claim")
    res = staff.resolve("reviewer01", task_id, "confirm")
    assert res.status_code == 409 and error_code(res) == "not_claimed_by_you"


@pytest.mark.parametrize("body, field", [
    ({"decision": "ignore"}, "$.decision"),
    ({"decision": "confirm", "adjustment_kwh": "lots"}, "$.adjustment_kwh"),
    ({"decision": "confirm", "adjustment_kwh": "1e5"}, "$.adjustment_kwh"),
    ({"decision": "reread", "adjustment_kwh": "10"}, "$.adjustment_kwh"),
    ({"decision": "confirm", "team": ["inspector01", "inspector02"]}, "$.team"),
    ({"decision": "inspect", "team": ["inspector01"]}, "$.team"),
    ({"decision": "inspect", "team": ["inspector01", "reader01"]}, "$.team"),
    ({"decision": "inspect", "team": ["inspector01", "inspector01"]}, "$.team"),
])
def test_a_bad_decision_is_422_and_changes_nothing(staff, task_id, body, field):
    staff.act("reviewer01", task_id, "claim")
    res = staff.act("reviewer01", task_id, "resolve", body)
    assert res.status_code == 422, res.text
    assert (error_code(res), res.json()["error"]["field"]) == ("invalid_decision", field)
    assert staff.detail("reviewer01", task_id)["status"] == "claimed"


def test_a_body_that_breaks_the_schema_is_400(staff, task_id):
    staff.act("reviewer01", task_id, "claim")
    assert error_code(staff.act("reviewer01", task_id, "resolve", {"decision": "confirm", "extra": 1})) == "unknown_field"
    assert error_code(staff.act("reviewer01", task_id, "resolve", {"note": "x"})) == "invalid_request"


def test_confirming_resolves_and_tells_the_reader(staff, station, task_id):
    _, cursor = pull_all(staff.client, staff["reader01"])
    res = staff.claim_and_resolve("reviewer01", task_id, "confirm", note="Meter was replaced; new register.")
    body = res.json()
    assert (body["status"], body["decision"], body["decided_by"]) == ("resolved", "confirm", "reviewer01")
    assert body["resolved_at"] is not None
    changes, _ = pull_all(staff.client, staff["reader01"], cursor)
    assert [(c["kind"], c["data"]["decision"], c["data"]["note"]) for c in changes] == [
        ("outcome", "confirm", "Meter was replaced; new register.")]
    again = staff.act("reviewer01", task_id, "release")
    assert again.status_code == 409 and error_code(again) == "invalid_state"


def test_every_user_whose_items_the_task_holds_gets_an_outcome(staff, station, task_id):
    meter = station["meters"][0]
    push(staff.client, staff["inspector01"], batch(
        [inspection(meter, ["inspector01", "inspector02"])], device_id="tab-inspector01"))
    reader_before = pull_all(staff.client, staff["reader01"])[1]
    inspector_before = pull_all(staff.client, staff["inspector01"])[1]
    staff.claim_and_resolve("reviewer01", task_id, "dismiss")
    [to_reader] = [c["data"] for c in pull_all(staff.client, staff["reader01"], reader_before)[0]]
    [to_inspector] = [c["data"] for c in pull_all(staff.client, staff["inspector01"], inspector_before)[0]]
    assert to_reader["decision"] == to_inspector["decision"] == "dismiss"
    assert len(to_reader["op_ids"]) == len(to_inspector["op_ids"]) == 1
    assert to_reader["op_ids"] != to_inspector["op_ids"]


# Approval

def test_an_adjustment_waits_for_a_supervisor_who_did_not_decide(staff, station, task_id):
    _, cursor = pull_all(staff.client, staff["reader01"])
    res = staff.claim_and_resolve("super01", task_id, "confirm", adjustment_kwh="-120.5", note="Refund the misread.")
    assert (res.json()["status"], res.json()["adjustment_kwh"]) == ("pending_approval", "-120.5")
    own = staff.act("super01", task_id, "approve", {"approved": True})
    assert own.status_code == 409 and error_code(own) == "self_approval"
    assert pull_all(staff.client, staff["reader01"], cursor)[0] == []  # nothing final yet

    res = staff.act("super02", task_id, "approve", {"approved": True, "note": "Agreed."})
    body = res.json()
    assert (body["status"], body["approved_by"], body["approval_note"]) == ("resolved", "super02", "Agreed.")
    [outcome] = [c["data"] for c in pull_all(staff.client, staff["reader01"], cursor)[0]]
    assert (outcome["decision"], outcome["note"]) == ("confirm", "Refund the misread.")


def test_a_rejected_decision_goes_back_to_the_queue_unclaimed_with_the_note(staff, task_id):
    staff.claim_and_resolve("reviewer01", task_id, "escalate", note="Looks like a bypass.")
    res = staff.act("super01", task_id, "approve", {"approved": False, "note": "Send inspectors first."})
    body = res.json()
    assert (body["status"], body["claimed_by"], body["decision"]) == ("open", None, None)
    assert body["approval_note"] == "Send inspectors first."
    history = staff.detail("reviewer02", task_id)["history"]
    assert [h["action"] for h in history] == ["task.create", "task.claim", "task.decide", "task.reject"]
    assert (history[-1]["actor"], history[-1]["after"]) == ("super01", {"status": "open", "note": "Send inspectors first."})
    assert history[-1]["before"]["status"] == "pending_approval"
    assert staff.act("reviewer02", task_id, "claim").status_code == 200


def test_approval_needs_a_pending_task(staff, task_id):
    res = staff.act("super01", task_id, "approve", {"approved": True})
    assert res.status_code == 409 and error_code(res) == "invalid_state"


# Inspections

def test_inspect_sends_the_named_team_an_order(staff, station, task_id):
    meter = station["meters"][0]
    res = staff.claim_and_resolve("reviewer01", task_id, "inspect", team=["inspector03", "inspector02"],
                                  note="Check the terminal cover.")
    body = res.json()
    assert body["status"] == "resolved" and body["decision_team"] == ["inspector03", "inspector02"]
    [order] = body["follow_ups"]
    assert (order["kind"], order["users"], order["reason"]) == (
        "inspection_order", ["inspector02", "inspector03"], "Check the terminal cover.")
    changes, _ = pull_all(staff.client, staff["inspector03"])
    [data] = [c["data"] for c in changes if c["kind"] == "inspection_order"]
    assert (data["id"], data["kind"], data["meter_id"]) == (order["id"], "theft_check", meter)
    assert pull_all(staff.client, staff["inspector01"])[0] == []


def test_inspect_without_a_team_picks_the_two_least_busy_inspectors(db, staff, station, task_id):
    with db.write() as conn:
        inspections.insert_order(conn, meter_id=station["meters"][3], kind="routine", team=["inspector01", "inspector03"],
                                 due_until=None, reason=None, actor="super01", now=datetime.now(timezone.utc))
    res = staff.claim_and_resolve("reviewer01", task_id, "inspect")
    assert res.json()["decision_team"] == ["inspector02", "inspector01"]  # 0 open orders, then 1 (ties by name)


def test_inspect_without_two_active_inspectors_says_so(db, staff, station, task_id):
    with db.write() as conn:
        conn.execute(update(users).where(users.c.id.in_(["inspector02", "inspector03"])).values(active=False))
    res = staff.claim_and_resolve("reviewer01", task_id, "inspect")
    assert res.status_code == 422 and "fewer than two active inspectors" in res.json()["error"]["message"]


def test_supervisors_order_inspections_directly(staff, station):
    meter = station["meters"][1]
    due = (datetime.now(timezone.utc) + timedelta(days=5)).date().isoformat()
    res = staff.client.post("/api/v1/inspection-orders", headers=staff["super01"], json={
        "meter_id": meter, "kind": "census", "team": ["inspector01", "inspector02"], "due_until": due,
        "reason": "Quarterly census."})
    assert res.status_code == 201, res.text
    order = res.json()
    assert {k: order[k] for k in ("kind", "meter_id", "team", "due_until", "reason", "status")} == {
        "kind": "census", "meter_id": meter, "team": ["inspector01", "inspector02"], "due_until": due,
        "reason": "Quarterly census.", "status": "open"}
    changes, _ = pull_all(staff.client, staff["inspector02"])
    assert [c["id"] for c in changes if c["kind"] == "inspection_order"] == [order["id"]]
    assert {c["kind"] for c in changes} == {"inspection_order", "meter", "customer"}


@pytest.mark.parametrize("body, field", [
    ({"meter_id": "m-nowhere", "kind": "routine"}, "$.meter_id"),
    ({"meter_id": "m-r-01-0000", "kind": "routine", "team": ["inspector01", "reviewer01"]}, "$.team"),
    ({"meter_id": "m-r-01-0000", "kind": "routine", "due_until": "2020-01-01"}, "$.due_until"),
    ({"meter_id": "m-r-01-0000", "kind": "fishing"}, "$.kind"),
])
def test_a_wrong_order_is_400_with_the_field(staff, station, body, field):
    res = staff.client.post("/api/v1/inspection-orders", headers=staff["admin01"], json=body)
    assert res.status_code == 400 and res.json()["error"]["field"] == field


def test_the_command_line_orders_an_inspection(db, settings, staff, station, monkeypatch):
    monkeypatch.setenv("FIELDSYNC_DATABASE_URL", settings.database_url)
    meter = station["meters"][2]
    result = CliRunner().invoke(cli, ["inspections", "order", meter, "--kind", "theft_check",
                                      "--team", "inspector01,inspector03", "--due", "2099-01-31",
                                      "--reason", "Tip from a neighbour."])
    assert result.exit_code == 0, result.output
    assert "theft_check" in result.output and "inspector01, inspector03" in result.output
    [order] = [c["data"] for c in pull_all(staff.client, staff["inspector03"])[0] if c["kind"] == "inspection_order"]
    assert (order["meter_id"], order["reason"], order["due_until"]) == (meter, "Tip from a neighbour.", "2099-01-31")
    refused = CliRunner().invoke(cli, ["inspections", "order", meter, "--team", "inspector01"])
    assert refused.exit_code != 0 and "at least 2 inspectors" in refused.output


# The audit log

def audit(staff: Staff, user: str = "super01", **params):
    return staff.client.get("/api/v1/audit", params=params, headers=staff[user])


def test_the_audit_log_filters_by_entity_actor_and_time(staff, station, task_id):
    staff.claim_and_resolve("reviewer01", task_id, "reread")
    entries = audit(staff, entity="review_task", entity_id=task_id).json()["entries"]
    assert [e["action"] for e in entries] == ["task.create", "task.claim", "task.resolve"]
    assert entries[-1]["before"]["status"] == "claimed" and entries[-1]["after"]["status"] == "resolved"
    mine = audit(staff, actor="reviewer01").json()["entries"]
    assert {e["actor"] for e in mine} == {"reviewer01"}
    assert {"review_task", "assignment"} <= {e["entity"] for e in mine}
    since = entries[1]["at"]
    assert [e["action"] for e in audit(staff, entity="review_task", since=since).json()["entries"]] == [
        "task.claim", "task.resolve"]
    assert audit(staff, since="2026-01-01T00:00:00").status_code == 400  # a time needs its offset


def test_the_audit_log_pages_oldest_first_without_gaps(staff, station):
    whole = audit(staff, limit=200).json()
    assert whole["cursor"] is None and len(whole["entries"]) > 5
    seen, cursor = [], None
    while True:
        page = audit(staff, limit=2, **({"cursor": cursor} if cursor else {})).json()
        seen += [e["id"] for e in page["entries"]]
        cursor = page["cursor"]
        if cursor is None:
            break
    assert seen == [e["id"] for e in whole["entries"]] == sorted(seen)
    bad = audit(staff, cursor="garbage")
    assert bad.status_code == 400 and error_code(bad) == "invalid_cursor"
