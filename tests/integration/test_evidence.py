"""Evidence becomes complete when its last photo is held, whichever came first, and the
photos' EXIF time and place are checked against the item (PROTOCOL §6, DOMAIN_RULES evidence_*)."""

from __future__ import annotations

import threading
import time
from datetime import datetime, timedelta

import pytest
from sqlalchemy import select

from server.db.tables import audit_log, ops, photos, review_task_items, review_tasks
from server.services import push as push_service
from tests.factories import login
from tests.integration.test_photos_api import camera_jpeg, put_photo, sha
from tests.integration.test_push import plausible, station  # noqa: F401  (station is a fixture)
from tests.push_helpers import SHANGHAI, anomaly, batch, inspection, push

AT_THE_METER = ("N", (30, 6, 0), "E", (120, 12, 0))  # the factory's meters stand at 30.1, 120.2
FIVE_KM_NORTH = ("N", (30, 8, 42), "E", (120, 12, 0))


def station_clock(minutes_ago: float) -> str:
    """An EXIF time without an offset: the station's time, as a tablet's camera writes it."""
    return (datetime.now(SHANGHAI) - timedelta(minutes=minutes_ago)).strftime("%Y:%m:%d %H:%M:%S")


def photo(seed: int, minutes_ago: float = 15, place=AT_THE_METER) -> bytes:
    return camera_jpeg(seed, taken=station_clock(minutes_ago), gps=place)


def stored(db, op_id: str):
    with db.read() as conn:
        return conn.execute(select(ops).where(ops.c.op_id == op_id)).one()


def task_of(db, task_id: str):
    with db.read() as conn:
        task = conn.execute(select(review_tasks).where(review_tasks.c.id == task_id)).one()
        items = conn.execute(select(review_task_items.c.op_id).where(review_task_items.c.task_id == task_id)).scalars()
        return task, sorted(items)


def codes(flags: list[dict]) -> list[str]:
    return [f["code"] for f in flags]


@pytest.fixture
def inspector(client, station):
    return login(client, "inspector01")


def theft_check(station, photos: list[bytes]) -> dict:
    """A theft check by inspector01 and inspector02 (started 30 min ago, ended 2 min ago)."""
    return inspection(station["r-01"][0], ["inspector01", "inspector02"], photo_ids=[sha(p) for p in photos])


def test_photos_sent_before_the_item_make_its_evidence_complete_at_once(client, db, station, inspector):
    photos = [photo(1), photo(2)]
    for p in photos:
        assert put_photo(client, inspector, p).status_code == 201
    item = theft_check(station, photos)

    res = push(client, inspector, batch([item])).json()

    assert res["missing_photos"] == []
    assert stored(db, item["op_id"]).evidence == "complete"
    assert not {"evidence_time_mismatch", "evidence_place_mismatch"} & set(codes(res["results"][0]["flags"]))


def test_the_item_s_evidence_becomes_complete_when_its_last_photo_arrives(client, db, station, inspector):
    photos = [photo(1), photo(2)]
    item = theft_check(station, photos)

    res = push(client, inspector, batch([item])).json()
    assert res["missing_photos"] == sorted(sha(p) for p in photos)
    assert stored(db, item["op_id"]).evidence == "incomplete"

    put_photo(client, inspector, photos[0])
    assert stored(db, item["op_id"]).evidence == "incomplete"
    put_photo(client, inspector, photos[1])
    assert stored(db, item["op_id"]).evidence == "complete"
    assert push(client, inspector, batch([])).json()["missing_photos"] == []


def test_a_photo_that_arrives_while_its_item_is_being_pushed_completes_it(
    client, db, station, inspector, backend, monkeypatch
):
    if backend != "postgres":
        pytest.skip("SQLite has one writer: a push and an upload never overlap")
    first, last = photo(1), photo(2)
    put_photo(client, inspector, first)
    item = theft_check(station, [first, last])
    plan_batch = push_service.plan_batch

    def upload_once_planned(*args, **kwargs):
        # The push has read which photos are held; the last one is committed before it writes.
        plan = plan_batch(*args, **kwargs)
        uploader = threading.Thread(target=put_photo, args=(client, inspector, last))
        uploader.start()
        uploader.join()
        return plan

    monkeypatch.setattr(push_service, "plan_batch", upload_once_planned)

    res = push(client, inspector, batch([item])).json()

    assert res["missing_photos"] == []
    assert stored(db, item["op_id"]).evidence == "complete"


def held_within(db, sha256: str, seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        with db.read() as conn:
            if conn.execute(select(photos.c.sha256).where(photos.c.sha256 == sha256)).first():
                return True
        time.sleep(0.05)
    return False


def test_a_photo_that_arrives_while_a_push_holds_its_meter_s_task_completes_every_item(
    client, db, station, inspector, backend, monkeypatch
):
    if backend != "postgres":
        pytest.skip("SQLite has one writer: a push and an upload never overlap")
    first, shared = photo(1), photo(2)
    earlier = theft_check(station, [first, shared])
    push(client, inspector, batch([earlier]))  # opens the meter's task; waits for both photos
    put_photo(client, inspector, first)
    later = theft_check(station, [first, shared])
    plan_batch = push_service.plan_batch
    uploader = threading.Thread(target=put_photo, args=(client, inspector, shared))

    def upload_while_tasks_are_held(*args, **kwargs):
        # The push now holds the meter's open task; the upload must still commit its photo.
        plan = plan_batch(*args, **kwargs)
        uploader.start()
        assert held_within(db, sha(shared), seconds=10)
        return plan

    monkeypatch.setattr(push_service, "plan_batch", upload_while_tasks_are_held)

    res = push(client, inspector, batch([later]))
    uploader.join(timeout=30)

    assert res.status_code == 200, res.text
    assert [stored(db, i["op_id"]).evidence for i in (earlier, later)] == ["complete", "complete"]


@pytest.mark.parametrize(("minutes_ago", "place", "code"), [
    (180, AT_THE_METER, "evidence_time_mismatch"),
    (15, FIVE_KM_NORTH, "evidence_place_mismatch"),
], ids=["taken three hours earlier", "taken five km away"])
def test_a_late_photo_that_does_not_fit_the_inspection_joins_its_open_task(
    client, db, station, inspector, minutes_ago, place, code
):
    fitting, late_photo = photo(1), photo(3, minutes_ago, place)
    item = theft_check(station, [fitting, late_photo])
    [result] = push(client, inspector, batch([item])).json()["results"]
    task_id = result["review_task_id"]
    put_photo(client, inspector, fitting)

    put_photo(client, inspector, late_photo)

    op = stored(db, item["op_id"])
    assert (op.evidence, op.status, op.review_task_id) == ("complete", "flagged", task_id)
    assert codes(op.flags) == [*codes(result["flags"]), code]
    task, items = task_of(db, task_id)
    assert (task.kind, task.status) == ("theft", "open")
    assert {"code": code, "op_id": item["op_id"]}.items() <= task.flags[-1].items()
    assert items == [item["op_id"]]
    with db.read() as conn:
        assert len(conn.execute(select(review_tasks)).all()) == 1


def test_photos_sent_first_are_checked_in_the_push_answer(client, db, station, inspector):
    fitting, early = photo(1), photo(5, minutes_ago=120)
    put_photo(client, inspector, fitting)
    put_photo(client, inspector, early)
    item = theft_check(station, [fitting, early])

    [result] = push(client, inspector, batch([item])).json()["results"]

    assert result["status"] == "flagged" and "evidence_time_mismatch" in codes(result["flags"])
    task, _ = task_of(db, result["review_task_id"])
    assert "evidence_time_mismatch" in codes(task.flags)
    assert codes(stored(db, item["op_id"]).flags) == codes(result["flags"])


def test_an_accepted_reading_whose_late_photo_was_taken_elsewhere_gets_a_review_task(client, db, station):
    reader = login(client, "reader01")
    far = photo(6, place=FIVE_KM_NORTH)
    item = plausible(station)
    item["photo_ids"] = [sha(far)]
    [result] = push(client, reader, batch([item])).json()["results"]
    assert (result["status"], result["review_task_id"]) == ("accepted", None)

    put_photo(client, reader, far)

    op = stored(db, item["op_id"])
    assert (op.status, codes(op.flags)) == ("flagged", ["evidence_place_mismatch"])
    task, items = task_of(db, op.review_task_id)
    assert (task.status, task.meter_id, items) == ("open", item["meter_id"], [item["op_id"]])
    with db.read() as conn:
        created = conn.execute(select(audit_log).where(audit_log.c.action == "task.create")).one()
    assert (created.entity_id, created.actor) == (task.id, "reader01")


def test_a_late_photo_s_flag_joining_an_open_task_is_in_the_task_s_history(client, db, station):
    reader = login(client, "reader01")
    far = photo(6, place=FIVE_KM_NORTH)
    item = plausible(station) | {"value": "3000", "photo_ids": [sha(far)]}  # a reverse reading: a task now
    [result] = push(client, reader, batch([item])).json()["results"]
    assert result["status"] == "flagged"

    put_photo(client, reader, far)

    with db.read() as conn:
        history = conn.execute(select(audit_log.c.actor, audit_log.c.action, audit_log.c.after)
                               .where(audit_log.c.entity_id == result["review_task_id"]).order_by(audit_log.c.id)).all()
    assert [(h.actor, h.action) for h in history] == [("reader01", "task.create"), ("reader01", "task.update")]
    assert history[1].after == {"flags_added": ["evidence_place_mismatch"], "op_ids": [item["op_id"]]}


@pytest.mark.parametrize(("minutes_ago", "flagged"), [(20, False), (45, True)])
def test_a_photo_of_an_item_that_is_not_an_inspection_is_checked_against_the_item_s_time(
    client, db, station, minutes_ago, flagged
):
    reader = login(client, "reader01")
    picture = photo(7, minutes_ago=minutes_ago)
    item = anomaly(station["r-01"][1], "meter_box_damaged", photo_ids=[sha(picture)])
    push(client, reader, batch([item]))

    put_photo(client, reader, picture)

    assert ("evidence_time_mismatch" in codes(stored(db, item["op_id"]).flags)) is flagged
