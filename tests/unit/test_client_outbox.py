"""The tablet's outbox keeps every item and photo from the moment it is recorded."""

from __future__ import annotations

import hashlib
import sqlite3
from datetime import datetime, timezone

import pytest

from field_schemas import push as wire
from field_schemas.pull import Change, PullResponse
from sync.client import items
from sync.client.outbox import Outbox


@pytest.fixture
def outbox(tmp_path):
    box = Outbox(tmp_path / "tablet.db")
    yield box
    box.close()


def answer(batch_id, results, missing=()):
    return wire.PushResponse(batch_id=batch_id, server_time=datetime.now(timezone.utc), clock_skew_s=0.0,
                             results=results, missing_photos=list(missing))


def result(op_id, status, *, flags=(), errors=(), task=None, original=None):
    return wire.ItemResult(op_id=op_id, status=status, original_status=original, errors=list(errors),
                           flags=list(flags), review_task_id=task)


def test_a_recorded_item_survives_a_restart_of_the_app_with_its_op_id(tmp_path):
    box = Outbox(tmp_path / "tablet.db")
    item = items.reading("m-1", "as-1", "123.4")
    box.record(item)
    box.close()
    again = Outbox(tmp_path / "tablet.db")
    [stored] = again.items()
    assert stored.op_id == item.op_id and stored.state == "pending"
    assert stored.item() == item
    conn = sqlite3.connect(tmp_path / "tablet.db")
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_a_batch_keeps_its_id_and_items_until_answered(outbox):
    recorded = [outbox.record(items.reading(f"m-{i}", f"as-{i}", str(i))) for i in range(5)]
    batch = outbox.new_batch(3)
    assert [i.op_id for i in batch.items] == recorded[:3]  # oldest first
    assert outbox.open_batch() == batch
    outbox.note_attempt(batch.batch_id)
    assert outbox.open_batch().attempts == 1
    outbox.apply_answer(batch, answer(batch.batch_id, [result(op, "accepted") for op in recorded[:3]]))
    assert outbox.open_batch() is None
    assert [i.op_id for i in outbox.new_batch(3).items] == recorded[3:]


def test_answers_are_kept_per_item_and_rejected_items_are_set_aside(outbox):
    ok, odd, bad, again = (outbox.record(items.reading(f"m-{i}", f"as-{i}", "1")) for i in range(4))
    batch = outbox.new_batch(10)
    outbox.apply_answer(batch, answer(batch.batch_id, [
        result(ok, "accepted"),
        result(odd, "flagged", flags=[wire.ResultFlag("reverse_reading", "below the last")], task="rt-1"),
        result(bad, "rejected", errors=[wire.ResultError("not_assigned", "not yours", "$.items[2].meter_id")]),
        result(again, "duplicate", original="flagged", flags=[wire.ResultFlag("rollover", "wrapped")], task="rt-2"),
    ]))
    by_op = {i.op_id: i for i in outbox.items()}
    assert by_op[odd].verdict == "flagged" and by_op[odd].review_task_id == "rt-1"
    assert by_op[odd].flags == [{"code": "reverse_reading", "message": "below the last"}]
    assert by_op[again].verdict == "flagged" and by_op[again].status == "duplicate"
    assert by_op[bad].state == "rejected" and by_op[bad].errors[0]["code"] == "not_assigned"
    assert outbox.new_batch(10) is None  # a rejected item is never sent again unchanged


def test_a_corrected_rejected_item_goes_back_in_the_queue(outbox):
    op = outbox.record(items.reading("m-1", "as-1", "-5"))
    batch = outbox.new_batch(10)
    outbox.apply_answer(batch, answer(batch.batch_id, [result(op, "rejected", errors=[
        wire.ResultError("invalid_value", "not a reading", "$.items[0].value")])]))
    outbox.amend(op, items.reading("m-1", "as-1", "5", op_id=op))
    [queued] = outbox.new_batch(10).items
    assert queued.op_id == op and queued.item().value == "5"


def test_a_photo_is_kept_by_its_sha256_once(outbox):
    data = b"\xff\xd8 a photo \xff\xd9"
    sha = outbox.record_photo(data)
    assert sha == hashlib.sha256(data).hexdigest()
    assert outbox.record_photo(data) == sha
    assert [p.sha256 for p in outbox.photos("pending")] == [sha]
    assert outbox.photo_bytes(sha) == data


def test_photos_the_server_says_it_lacks_are_queued_again(outbox):
    sha = outbox.record_photo(b"photo")
    outbox.set_photo(sha, state="uploaded")
    op = outbox.record(items.anomaly("m-1", "meter_burnt", photo_ids=[sha]))
    batch = outbox.new_batch(10)
    outbox.apply_answer(batch, answer(batch.batch_id, [result(op, "flagged", task="rt-1")], missing=[sha]))
    assert [p.sha256 for p in outbox.photos("pending")] == [sha]


def page(changes, cursor, has_more=False):
    return PullResponse(cursor=cursor, has_more=has_more, server_time=datetime.now(timezone.utc), changes=[
        Change(seq=seq, op=op, kind=kind, id=id_, data=data) for seq, op, kind, id_, data in changes])


def test_pulled_changes_apply_in_seq_order_with_their_cursor(outbox):
    outbox.apply_page(page([
        (3, "remove", "assignment", "as-1", None),
        (1, "upsert", "meter", "m-1", {"id": "m-1"}),
        (2, "upsert", "assignment", "as-1", {"id": "as-1", "meter_id": "m-1"}),
        (4, "upsert", "assignment", "as-2", {"id": "as-2", "meter_id": "m-1"}),
    ], "c1"))
    assert set(outbox.pulled("assignment")) == {"as-2"}
    assert outbox.pulled("meter") == {"m-1": {"id": "m-1"}}
    assert outbox.cursor() == "c1"


def test_a_fresh_snapshot_replaces_what_the_tablet_held_once_its_last_page_arrives(outbox):
    outbox.apply_page(page([(1, "upsert", "assignment", "as-old", {"id": "as-old"}),
                            (2, "upsert", "assignment", "as-kept", {"id": "as-kept"})], "c1"))
    outbox.record(items.reading("m-1", "as-old", "1"))
    outbox.forget_cursor()  # the server said invalid_cursor or cursor_expired
    outbox.apply_page(page([(7, "upsert", "assignment", "as-kept", {"id": "as-kept", "v": 2})], "c7", has_more=True))
    assert set(outbox.pulled("assignment")) == {"as-old", "as-kept"}  # nothing dropped mid-snapshot
    outbox.apply_page(page([(8, "upsert", "assignment", "as-new", {"id": "as-new"})], "c8"))
    assert set(outbox.pulled("assignment")) == {"as-kept", "as-new"}
    assert len(outbox.items()) == 1  # the outbox is not part of the pulled work


def test_an_outcome_tells_the_items_it_answers_why(outbox):
    op = outbox.record(items.reading("m-1", "as-1", "1"))
    outbox.apply_page(page([(5, "upsert", "outcome", "o-1", {"op_ids": [op], "task_id": "rt-9",
                                                              "decision": "reread", "note": "Read it again."})], "c5"))
    assert outbox.item(op).outcome == {"task_id": "rt-9", "decision": "reread", "note": "Read it again."}
