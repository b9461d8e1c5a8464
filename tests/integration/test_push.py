"""Tablets upload their work: stored exactly once, judged against the ledger (PROTOCOL §5)."""

from __future__ import annotations

import gzip
import json
import threading
from datetime import date, datetime, timedelta, timezone

import pytest
from sqlalchemy import event, func, insert, select

from server.db.tables import assignments, audit_log, ops, readings, review_task_items, review_tasks, seals
from server.services import cycles
from tests.factories import T0, add_route, add_user, login, pull_all
from tests.push_helpers import anomaly, batch, inspection, new_id, now_text, push, reading, seal_event

TODAY = date.today()
LAST_READ_AT = T0 + timedelta(days=210)  # the 8th monthly read of the factory's history, value 3100


@pytest.fixture
def station(db):
    add_user(db, "reader01", "reader")
    add_user(db, "reader02", "reader")
    add_user(db, "inspector01", "inspector")
    add_user(db, "inspector02", "inspector")
    add_user(db, "reviewer01", "reviewer")
    r1 = add_route(db, "r-01", 6, history=8)
    r2 = add_route(db, "r-02", 2, history=8)
    cycle = TODAY.strftime("%Y-%m")
    window = (TODAY - timedelta(days=10), TODAY + timedelta(days=10))
    cycles.open_cycle(db, cycle, "r-01", "reader01", *window)
    cycles.open_cycle(db, cycle, "r-02", "reader02", *window)
    with db.read() as conn:
        by_meter = dict(conn.execute(select(assignments.c.meter_id, assignments.c.id)).all())
    return {"r-01": r1, "r-02": r2, "assignment": by_meter}


def plausible(station, i: int = 0) -> dict:
    """A reading right in the middle of the expected band: 10 kWh a day since the last read."""
    meter = station["r-01"][i]
    days = (datetime.now(timezone.utc) - LAST_READ_AT).total_seconds() / 86400
    return reading(meter, station["assignment"][meter], str(3100 + round(10 * days)))


def count(db, table) -> int:
    with db.read() as conn:
        return conn.execute(select(func.count()).select_from(table)).scalar_one()


def test_a_reverse_reading_is_stored_flagged_with_a_review_task(client, db, station):
    headers = login(client, "reader01")
    meter = station["r-01"][0]
    res = push(client, headers, batch([reading(meter, station["assignment"][meter], "3000")]))
    assert res.status_code == 200, res.text
    [result] = res.json()["results"]
    assert result["status"] == "flagged"
    assert "reverse_reading" in {f["code"] for f in result["flags"]}
    assert result["review_task_id"] is not None
    with db.read() as conn:
        task = conn.execute(select(review_tasks)).one()
    assert (task.meter_id, task.status, task.kind) == (meter, "open", "reading")


def test_every_result_in_request_order_with_every_status(client, db, station):
    headers = login(client, "reader01")
    m0, m1 = station["r-01"][0], station["r-01"][1]
    first = reading(m0, station["assignment"][m0], "3000")
    push(client, headers, batch([first]))
    items = [
        first,                                                      # duplicate
        reading(station["r-02"][0], station["assignment"][station["r-02"][0]], "3400"),  # not_assigned
        seal_event(m1, "verified", "WRONG-NUMBER"),                 # flagged seal_mismatch
        anomaly(m1, "meter_box_damaged"),                           # flagged anomaly
        inspection(m1, ["reader01", "inspector01"]),                # not_permitted for a reader
        seal_event(m1, "verified", f"S-{m1}"),                      # accepted
    ]
    res = push(client, headers, batch(items))
    results = res.json()["results"]
    assert [r["op_id"] for r in results] == [i["op_id"] for i in items]
    assert [r["status"] for r in results] == ["duplicate", "rejected", "flagged", "flagged", "rejected", "accepted"]
    assert results[0]["original_status"] == "flagged"
    assert results[1]["errors"][0]["code"] == "not_assigned"
    assert results[2]["flags"][0]["code"] == "seal_mismatch"
    assert results[3]["flags"][0]["code"] == "anomaly:meter_box_damaged"
    assert results[4]["errors"][0]["code"] == "not_permitted"
    # One unresolved task per meter and cycle collects the seal and anomaly flags.
    assert results[2]["review_task_id"] == results[3]["review_task_id"]
    assert count(db, ops) == 4


def test_resending_a_batch_stores_nothing_twice(client, db, station):
    headers = login(client, "reader01")
    m0 = station["r-01"][0]
    body = batch([reading(m0, station["assignment"][m0], "3000"), plausible(station, 1),
                  reading("m-nowhere", "as-x", "1")])
    first = push(client, headers, body).json()["results"]
    again = push(client, headers, body).json()["results"]
    assert [r["status"] for r in again] == ["duplicate", "duplicate", "rejected"]
    assert [r["original_status"] for r in again[:2]] == [r["status"] for r in first[:2]]
    assert again[0]["flags"] == first[0]["flags"] and again[0]["review_task_id"] == first[0]["review_task_id"]
    assert count(db, ops) == 2
    with db.read() as conn:
        assert conn.execute(select(func.count()).where(readings.c.source == "field")).scalar_one() == 2


def test_the_same_batch_twice_at_once_is_stored_once(client, db, station, settings):
    headers = login(client, "reader01")
    body = batch([plausible(station, i) for i in range(6)])
    answers = []

    def send():
        answers.append(push(client, headers, body).json()["results"])

    threads = [threading.Thread(target=send) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert count(db, ops) == 6
    all_duplicates = [all(r["status"] == "duplicate" for r in a) for a in answers]
    assert sorted(all_duplicates) == [False, True, True]


def test_same_op_id_with_other_content_is_a_conflict(client, station):
    headers = login(client, "reader01")
    item = plausible(station)
    push(client, headers, batch([item]))
    changed = {**item, "value": "3450"}
    [result] = push(client, headers, batch([changed])).json()["results"]
    assert result["status"] == "rejected" and result["errors"][0]["code"] == "op_id_conflict"


def test_not_assigned_reads_the_same_for_missing_and_foreign_meters(client, station):
    headers = login(client, "reader01")
    foreign = station["r-02"][0]
    results = push(client, headers, batch([
        reading(foreign, "as-x", "1"), reading("m-does-not-exist", "as-x", "1"),
    ])).json()["results"]
    assert results[0]["errors"][0]["code"] == results[1]["errors"][0]["code"] == "not_assigned"
    assert results[0]["errors"][0]["message"] == results[1]["errors"][0]["message"]


def test_two_person_rule(client, station):
    headers = login(client, "inspector01", "tab-i1")
    m = station["r-01"][2]
    results = push(client, headers, batch([
        inspection(m, ["inspector01"]),
        inspection(m, ["inspector01", "reader01"]),
        inspection(m, ["inspector02", "inspector01"]),
    ], device_id="tab-i1")).json()["results"]
    assert [r["status"] for r in results] == ["rejected", "rejected", "flagged"]
    assert {r["errors"][0]["code"] for r in results[:2]} == {"two_person_rule"}
    assert "theft_check" in {f["code"] for f in results[2]["flags"]}


def test_theft_tasks_come_first(client, db, station):
    push(client, login(client, "reader01"), batch([plausible(station, 0) | {"value": "3000"}]))
    push(client, login(client, "inspector01", "tab-i1"),
         batch([inspection(station["r-01"][3], ["inspector01", "inspector02"])], device_id="tab-i1"))
    with db.read() as conn:
        tasks = conn.execute(select(review_tasks.c.kind, review_tasks.c.priority).order_by(review_tasks.c.priority)).all()
    assert [t.kind for t in tasks] == ["theft", "reading"]


def test_flags_added_later_to_an_open_task_are_in_its_history(client, db, station):
    headers = login(client, "reader01")
    meter = station["r-01"][0]
    first = push(client, headers, batch([anomaly(meter, "meter_box_damaged")])).json()["results"][0]
    later = anomaly(meter, "wiring_tampered")
    second = push(client, headers, batch([later])).json()["results"][0]
    assert second["review_task_id"] == first["review_task_id"]
    with db.read() as conn:
        history = conn.execute(select(audit_log.c.actor, audit_log.c.action, audit_log.c.after)
                               .where(audit_log.c.entity_id == first["review_task_id"]).order_by(audit_log.c.id)).all()
    assert [(actor, action) for actor, action, _ in history] == [("reader01", "task.create"), ("reader01", "task.update")]
    assert history[1].after == {"flags_added": ["anomaly:wiring_tampered"], "op_ids": [later["op_id"]]}


def test_installed_seal_replaces_the_old_one_and_reaches_the_reader(client, db, station):
    reader = login(client, "reader01")
    _, cursor = pull_all(client, reader)
    m = station["r-01"][4]
    inspector = login(client, "inspector01", "tab-i1")
    res = push(client, inspector, batch([
        seal_event(m, "removed", f"S-{m}", participants=["inspector01", "inspector02"]),
        seal_event(m, "installed", "S-NEW-1", participants=["inspector01", "inspector02"]),
    ], device_id="tab-i1"))
    assert [r["status"] for r in res.json()["results"]][0] in ("accepted", "flagged")
    with db.read() as conn:
        rows = conn.execute(select(seals.c.number, seals.c.removed_at).where(seals.c.meter_id == m)
                            .order_by(seals.c.id)).all()
    assert [(n, r is None) for n, r in rows] == [(f"S-{m}", False), ("S-NEW-1", True)]
    delta, _ = pull_all(client, reader, cursor)
    meter = next(c["data"] for c in delta if c["kind"] == "meter" and c["id"] == m)
    assert [s["number"] for s in meter["seals"]] == ["S-NEW-1"]


def test_an_accepted_reading_is_the_last_reading_on_the_next_pull(client, station):
    headers = login(client, "reader01")
    _, cursor = pull_all(client, headers)
    item = plausible(station, 2)
    push(client, headers, batch([item]))
    delta, _ = pull_all(client, headers, cursor)
    meter = next(c["data"] for c in delta if c["id"] == item["meter_id"])
    assert meter["last_reading"]["value"] == item["value"]


def test_clock_skew_is_reported_and_flagged(client, station):
    headers = login(client, "reader01")
    res = push(client, headers, batch([plausible(station)], sent_at=now_text(600))).json()
    assert res["clock_skew_s"] == pytest.approx(600, abs=5)
    assert "device_clock_skew" in {f["code"] for f in res["results"][0]["flags"]}


def test_an_old_app_can_still_upload(client, station, settings):
    headers = login(client, "reader01")
    res = push(client, headers, batch([plausible(station)], schema_version=0))
    assert res.status_code == 200 and res.json()["results"][0]["status"] != "rejected"


def test_the_receipt_repeats_the_answer_and_is_private(client, station):
    headers = login(client, "reader01")
    body = batch([plausible(station)])
    answer = push(client, headers, body).json()
    receipt = client.get(f"/api/v1/sync/batches/{body['batch_id']}", headers=headers)
    assert receipt.json() == answer
    other = client.get(f"/api/v1/sync/batches/{body['batch_id']}", headers=login(client, "reader02", "tab-2"))
    assert other.status_code == 404 and other.json()["error"]["code"] == "not_found"


def test_missing_photos_are_listed_until_uploaded(client, station):
    headers = login(client, "inspector01", "tab-i1")
    res = push(client, headers, batch([inspection(station["r-01"][0], ["inspector01", "inspector02"])],
                                      device_id="tab-i1")).json()
    assert res["missing_photos"] == ["a" * 64, "b" * 64]


@pytest.mark.parametrize(("mutate", "status", "code", "field"), [
    (lambda b: b["items"][0].update(colour="red"), 400, "unknown_field", "$.items[0].colour"),
    (lambda b: b["items"][0].update(type="selfie"), 400, "invalid_request", "$.items[0].type"),
    (lambda b: b["items"][0].pop("meter_id"), 400, "invalid_request", "$.items[0].meter_id"),
    (lambda b: b.update(schema_version=99), 400, "schema_too_new", "$.schema_version"),
    (lambda b: b.update(device_id="tab-other"), 403, "device_mismatch", "$.device_id"),
])
def test_bad_requests_store_nothing(client, db, station, mutate, status, code, field):
    body = batch([plausible(station)])
    mutate(body)
    res = push(client, login(client, "reader01"), body)
    assert (res.status_code, res.json()["error"]["code"]) == (status, code)
    assert res.json()["error"]["field"] == field
    assert count(db, ops) == 0


def test_too_many_items_is_413(client, station, settings):
    body = batch([plausible(station)] * (settings.max_batch_items + 1))
    res = push(client, login(client, "reader01"), body)
    assert (res.status_code, res.json()["error"]["code"]) == (413, "batch_too_large")


def test_an_oversized_body_is_refused_before_parsing(client, station, settings):
    headers = {**login(client, "reader01"), "Content-Type": "application/json"}
    res = client.post("/api/v1/sync/push", content=b"[" * (settings.max_body_bytes + 1), headers=headers)
    assert (res.status_code, res.json()["error"]["code"]) == (413, "body_too_large")


def test_a_gzip_bomb_is_refused(client, station, settings):
    headers = {**login(client, "reader01"), "Content-Encoding": "gzip", "Content-Type": "application/json"}
    bomb = gzip.compress(b" " * (settings.max_body_bytes + 10))
    res = client.post("/api/v1/sync/push", content=bomb, headers=headers)
    assert (res.status_code, res.json()["error"]["code"]) == (413, "body_too_large")


def test_a_gzipped_batch_is_accepted(client, db, station):
    headers = {**login(client, "reader01"), "Content-Encoding": "gzip", "Content-Type": "application/json"}
    res = client.post("/api/v1/sync/push", content=gzip.compress(json.dumps(batch([plausible(station)])).encode()),
                      headers=headers)
    assert res.status_code == 200 and count(db, ops) == 1


def test_reviewers_cannot_push(client, station):
    res = push(client, login(client, "reviewer01", "pc-1"), batch([plausible(station)], device_id="pc-1"))
    assert (res.status_code, res.json()["error"]["code"]) == (403, "forbidden")


def test_a_batch_costs_the_same_queries_whatever_its_size(client, db, station):
    headers = login(client, "reader01")
    statements: list[str] = []

    def count_statement(conn, cursor, statement, *args):
        statements.append(statement)

    def queries_for(items) -> int:
        statements.clear()
        event.listen(db.writer, "before_cursor_execute", count_statement)
        try:
            assert push(client, headers, batch(items)).status_code == 200
        finally:
            event.remove(db.writer, "before_cursor_execute", count_statement)
        return len(statements)

    small = queries_for([plausible(station, 0)])
    large = queries_for([plausible(station, i) for i in range(1, 6)] +
                        [anomaly(station["r-01"][i], "meter_stopped") for i in range(1, 6)])
    assert large <= small + 6  # a few more tables written (tasks, task items), never one query per item


def test_an_inspection_naming_its_order_closes_it_for_the_team(client, db, settings, station):
    from field_schemas.review import InspectionOrderRequest
    from server.services.inspections import create_order

    meter = station["r-01"][5]
    order = create_order(db, settings, InspectionOrderRequest(
        meter_id=meter, kind="theft_check", team=["inspector01", "inspector02"], due_until=None, reason="tip-off"),
        actor="supervisor01")
    headers = login(client, "inspector02", "tab-i2")
    changes, cursor = pull_all(client, headers)
    assert ("inspection_order", order.id) in {(c["kind"], c["id"]) for c in changes}
    res = push(client, login(client, "inspector01", "tab-i1"), batch(
        [inspection(meter, ["inspector01", "inspector02"], order_id=order.id)], device_id="tab-i1"))
    assert res.json()["results"][0]["status"] == "flagged"
    delta, _ = pull_all(client, headers, cursor)
    assert ("remove", "inspection_order", order.id) in {(c["op"], c["kind"], c["id"]) for c in delta}
