"""The loop back to the field, through HTTP only: an odd reading becomes a task, the
reviewer asks for a re-read, the reader's tablet gets it with the outcome, and the
re-read comes back linked to the task it answers."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone



from tests.factories import T0, pull_all
from tests.push_helpers import batch, push, reading
from tests.review_helpers import TASKS, Staff, push_reverse_reading, staff, station  # noqa: F401 (fixtures)


def _reread_requested(staff: Staff, station) -> tuple[str, str, str]:
    """An odd reading, a re-read asked for it; returns (task id, odd op_id, reader's cursor before)."""
    _, cursor = pull_all(staff.client, staff["reader01"])
    odd = push_reverse_reading(staff, station)
    task_id = odd["review_task_id"]
    queue = staff.client.get(TASKS, headers=staff["reviewer01"]).json()["tasks"]
    assert [t["id"] for t in queue] == [task_id]
    res = staff.claim_and_resolve("reviewer01", task_id, "reread", note="Read the display again, all six dials.")
    assert res.status_code == 200, res.text
    return task_id, odd["op_id"], cursor


def test_a_reread_reaches_the_reader_with_the_outcome_and_answers_the_task(staff, station):
    meter = station["meters"][0]
    task_id, odd_op, cursor = _reread_requested(staff, station)

    changes, _ = pull_all(staff.client, staff["reader01"], cursor)
    rereads = [c["data"] for c in changes if c["kind"] == "assignment" and c["data"]["task"] == "reread"]
    assert [(a["meter_id"], a["reason"]) for a in rereads] == [(meter, "Read the display again, all six dials.")]
    [outcome] = [c["data"] for c in changes if c["kind"] == "outcome"]
    assert outcome == {"op_ids": [odd_op], "task_id": task_id, "decision": "reread",
                       "note": "Read the display again, all six dials."}

    again = reading(meter, rereads[0]["id"], "3200")
    res = push(staff.client, staff["reader01"], batch([again], device_id="tab-reader01"))
    [result] = res.json()["results"]
    assert result["status"] in ("accepted", "flagged")
    assert "duplicate_read" not in {f["code"] for f in result["flags"]}

    detail = staff.detail("reviewer01", task_id)
    assert detail["status"] == "resolved"
    assert [a["op_id"] for a in detail["answers"]] == [again["op_id"]]
    assert detail["answers"][0]["answers_task_id"] == task_id
    by_op = {r["op_id"]: r["status"] for r in detail["readings"]}
    assert by_op[odd_op] == "superseded" and by_op[again["op_id"]] == "valid"


def test_a_plausible_reread_is_accepted_without_flags(staff, station):
    meter = station["meters"][0]
    _reread_requested(staff, station)
    changes, _ = pull_all(staff.client, staff["reader01"])
    [reread] = [c["data"] for c in changes if c["kind"] == "assignment" and c["data"]["task"] == "reread"]
    _, cursor = pull_all(staff.client, staff["reader01"])
    [result] = push(staff.client, staff["reader01"],
                    batch([reading(meter, reread["id"], _plausible_now())], device_id="tab-reader01")).json()["results"]
    assert (result["status"], result["flags"]) == ("accepted", [])
    # The re-read is done: it leaves the tablet on the next pull.
    delta, _ = pull_all(staff.client, staff["reader01"], cursor)
    assert {(c["op"], c["id"]) for c in delta if c["kind"] == "assignment"} == {("remove", reread["id"])}


def _plausible_now() -> str:
    """10 kWh a day since the factory history's last read (3100 on T0 + 210 days): mid-band."""
    days = (datetime.now(timezone.utc) - (T0 + timedelta(days=210))).total_seconds() / 86400
    return str(3100 + round(10 * days))


def test_an_odd_reread_opens_a_new_task_that_says_what_it_answers(staff, station):
    meter = station["meters"][0]
    task_id, _, _ = _reread_requested(staff, station)
    changes, _ = pull_all(staff.client, staff["reader01"])
    [reread] = [c["data"] for c in changes if c["kind"] == "assignment" and c["data"]["task"] == "reread"]

    [result] = push(staff.client, staff["reader01"],
                    batch([reading(meter, reread["id"], "2000")], device_id="tab-reader01")).json()["results"]
    assert result["status"] == "flagged" and result["review_task_id"] not in (None, task_id)
    new_task = staff.detail("reviewer01", result["review_task_id"])
    assert [i["answers_task_id"] for i in new_task["items"]] == [task_id]


def test_a_second_reread_replaces_the_first_on_the_tablet(staff, station):
    meter = station["meters"][0]
    _, _, cursor = _reread_requested(staff, station)
    changes, _ = pull_all(staff.client, staff["reader01"], cursor)
    [first] = [c["data"] for c in changes if c["kind"] == "assignment" and c["data"]["task"] == "reread"]
    [result] = push(staff.client, staff["reader01"],
                    batch([reading(meter, first["id"], "2000")], device_id="tab-reader01")).json()["results"]
    assert staff.claim_and_resolve("reviewer02", result["review_task_id"], "reread").status_code == 200

    later, _ = pull_all(staff.client, staff["reader01"], cursor)
    held = {}
    for c in later:
        if c["kind"] == "assignment":
            held[c["id"]] = c["data"]
    open_rereads = [a for a in held.values() if a and a["task"] == "reread"]
    assert len(open_rereads) == 1 and open_rereads[0]["id"] != first["id"]
    assert open_rereads[0]["reason"].startswith("Review: ")
