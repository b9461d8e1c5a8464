"""The group writer (SQLite): jobs queued while a transaction runs commit together, each in a
savepoint of its own, and every answer waits for the shared commit."""

from __future__ import annotations

import threading
import time

import pytest
from sqlalchemy import event, insert, select

from server.db.tables import districts
from server.services.writer import MAX_JOBS_PER_COMMIT, GroupWriter, write, writer_of


def at_once(target, args) -> None:
    """``target(a)`` for every ``a`` of ``args``, each in a thread of its own, all started before any is joined."""
    threads = [threading.Thread(target=target, args=(a,)) for a in args]
    for t in threads:
        t.start()
    for t in threads:
        t.join()


@pytest.fixture
def writer(db, backend):
    if backend != "sqlite":
        pytest.skip("the group writer is SQLite's")
    w = GroupWriter(db)
    yield w
    w.stop()


def add_district(name: str):
    def run(conn):
        conn.execute(insert(districts).values(id=name, name=name))
        return name
    return run


def stored(db) -> set[str]:
    with db.read() as conn:
        return set(conn.execute(select(districts.c.id)).scalars())


def commits_of(db) -> list[object]:
    """The writer engine's commits from now on, as they happen."""
    commits: list[object] = []
    event.listen(db.writer, "commit", lambda conn: commits.append(conn))
    return commits


def held_job(submit, name: str):
    """A job that adds district ``name`` once released, submitted and running: (its future, release)."""
    started, release = threading.Event(), threading.Event()

    def slow(conn):
        started.set()
        release.wait(10)
        return add_district(name)(conn)

    future = submit(slow)
    assert started.wait(10)
    return future, release


def test_jobs_queued_while_one_runs_commit_together(db, writer):
    commits = commits_of(db)
    first, release = held_job(writer.submit, "d-first")
    rest = [writer.submit(add_district(f"d-{i}")) for i in range(5)]
    release.set()
    assert [f.result(10) for f in [first, *rest]] == ["d-first", *(f"d-{i}" for i in range(5))]
    assert len(commits) == 1
    assert stored(db) == {"d-first", *(f"d-{i}" for i in range(5))}


def test_a_failing_job_rolls_back_alone(db, writer):
    started, release = threading.Event(), threading.Event()

    def gate(conn):
        started.set()
        release.wait(10)

    def fails(conn):
        conn.execute(insert(districts).values(id="d-half", name="written, then rolled back"))
        raise ValueError("this batch is refused")

    gated = writer.submit(gate)
    assert started.wait(10)
    futures = [writer.submit(add_district("d-a")), writer.submit(fails), writer.submit(add_district("d-b"))]
    release.set()
    gated.result(10)
    assert futures[0].result(10) == "d-a" and futures[2].result(10) == "d-b"
    with pytest.raises(ValueError, match="refused"):
        futures[1].result(10)
    assert stored(db) == {"d-a", "d-b"}


def test_an_answer_is_released_only_after_the_commit(db, writer):
    seen_at_release: list[set[str]] = []
    looked = threading.Event()

    def look(_):
        seen_at_release.append(stored(db))
        looked.set()

    future = writer.submit(add_district("d-x"))
    future.add_done_callback(look)
    assert looked.wait(10)
    assert seen_at_release == [{"d-x"}]


def test_a_failed_commit_fails_every_job_of_its_group(db, writer, monkeypatch):
    started, release = threading.Event(), threading.Event()

    def gate(conn):
        started.set()
        release.wait(10)

    def refuse_commit(conn):
        raise RuntimeError("disk full")

    gated = writer.submit(gate)
    assert started.wait(10)
    futures = [writer.submit(add_district(f"d-{i}")) for i in range(3)]
    event.listen(db.writer, "commit", refuse_commit)
    try:
        release.set()
        for f in [gated, *futures]:
            with pytest.raises(RuntimeError, match="disk full"):
                f.result(10)
    finally:
        event.remove(db.writer, "commit", refuse_commit)
    assert stored(db) == set()
    assert writer.submit(add_district("d-after")).result(10) == "d-after"


def test_a_group_is_bounded(db, writer):
    started, release = threading.Event(), threading.Event()
    commits: list[object] = []
    event.listen(db.writer, "commit", lambda conn: commits.append(conn))

    def gate(conn):
        started.set()
        release.wait(10)

    gated = writer.submit(gate)
    assert started.wait(10)
    futures = [writer.submit(add_district(f"d-{i:03d}")) for i in range(2 * MAX_JOBS_PER_COMMIT)]
    release.set()
    for f in [gated, *futures]:
        f.result(10)
    assert len(commits) >= 2
    assert len(stored(db)) == 2 * MAX_JOBS_PER_COMMIT


def test_pushes_at_once_are_answered_and_stored_once(client, db, backend):
    """Concurrent batches through HTTP: every answer after its commit, nothing lost or doubled."""
    from datetime import date, timedelta

    from server.db.tables import assignments, ops
    from server.services import cycles
    from tests.factories import add_route, add_user, login
    from tests.push_helpers import batch, push, reading

    readers = [add_user(db, f"reader{i:02d}", "reader") for i in range(4)]
    today = date.today()
    meters = {}
    for i, reader in enumerate(readers):
        meters[reader] = add_route(db, f"r-{i:02d}", 20, history=3)
        cycles.open_cycle(db, today.strftime("%Y-%m"), f"r-{i:02d}", reader, today - timedelta(days=5),
                          today + timedelta(days=5))
    with db.read() as conn:
        assignment = dict(conn.execute(select(assignments.c.meter_id, assignments.c.id)).all())
    headers = {r: login(client, r, f"tab-{r}") for r in readers}
    bodies = {r: [batch([reading(m, assignment[m], "1700") for m in meters[r][k::2]], device_id=f"tab-{r}")
                  for k in range(2)] for r in readers}
    answers: dict[str, list] = {r: [] for r in readers}

    def send(reader: str) -> None:
        for body in bodies[reader] + bodies[reader][:1]:  # the first batch sent again
            answers[reader].append(push(client, headers[reader], body))

    at_once(send, readers)
    for reader in readers:
        first, second, again = answers[reader]
        assert first.status_code == second.status_code == again.status_code == 200
        assert {r["status"] for r in again.json()["results"]} == {"duplicate"}
    with db.read() as conn:
        assert len(conn.execute(select(ops.c.op_id)).all()) == 80


# A batch judged on a read snapshot, outside the write lock, and stored later


@pytest.fixture
def route(db):
    from datetime import date, timedelta

    from server.db.tables import assignments
    from server.services import cycles
    from tests.factories import add_route, add_user

    add_user(db, "reader01", "reader")
    meters = add_route(db, "r-01", 3, history=8)
    today = date.today()
    cycles.open_cycle(db, today.strftime("%Y-%m"), "r-01", "reader01", today - timedelta(days=10),
                      today + timedelta(days=10))
    with db.read() as conn:
        assignment = dict(conn.execute(select(assignments.c.meter_id, assignments.c.id)).all())
    return meters, assignment


def _request(items):
    import msgspec

    from field_schemas.push import PushRequest
    from tests.push_helpers import batch

    return msgspec.convert(batch(items), PushRequest, strict=False)


def _reader():
    from server.auth import Principal

    return Principal(user_id="reader01", name="Reader", roles=frozenset({"reader"}), device_id="tab-1", token_hash="")


def _plausible() -> str:
    from datetime import datetime, timedelta, timezone

    from tests.factories import T0

    days = (datetime.now(timezone.utc) - (T0 + timedelta(days=210))).total_seconds() / 86400
    return str(3100 + round(10 * days))


def _store(db, settings, req, judged) -> list[dict]:
    import msgspec

    from server.services import push as push_service

    with db.write() as conn:
        body = push_service.store_judged(conn, settings, _reader(), req, judged)
    return msgspec.json.decode(body)["results"]


def test_a_batch_whose_rows_did_not_change_is_stored_as_judged(db, settings, route, monkeypatch):
    from server.services import push as push_service
    from tests.push_helpers import reading

    meters, assignment = route
    req = _request([reading(meters[0], assignment[meters[0]], _plausible())])
    judged = push_service.judge_on_snapshot(db, settings, _reader(), req)
    calls = []
    monkeypatch.setattr(push_service, "plan_batch", lambda *a, **k: calls.append(1))
    assert [r["status"] for r in _store(db, settings, req, judged)] == ["accepted"]
    assert calls == []


def test_a_batch_stored_meanwhile_by_its_copy_is_judged_again_as_duplicate(db, settings, route):
    from server.db.tables import ops
    from server.services import push as push_service
    from tests.push_helpers import reading

    meters, assignment = route
    req = _request([reading(meters[0], assignment[meters[0]], _plausible())])
    judged = push_service.judge_on_snapshot(db, settings, _reader(), req)
    push_service.push(db, settings, _reader(), req)  # the copy, committed first
    assert [(r["status"], r["original_status"]) for r in _store(db, settings, req, judged)] == [
        ("duplicate", "accepted")]
    with db.read() as conn:
        assert len(conn.execute(select(ops.c.op_id)).all()) == 1


def test_a_reading_written_meanwhile_is_seen(db, settings, route):
    from datetime import datetime, timedelta, timezone

    from server.db.tables import readings
    from server.services import push as push_service
    from tests.push_helpers import reading

    meters, assignment = route
    req = _request([reading(meters[0], assignment[meters[0]], _plausible())])
    judged = push_service.judge_on_snapshot(db, settings, _reader(), req)
    with db.write() as conn:
        conn.execute(insert(readings).values(meter_id=meters[0], register="total", value="999999",
                                             read_at=datetime.now(timezone.utc) - timedelta(seconds=5),
                                             method="actual", source="import", cycle=None))
    [result] = _store(db, settings, req, judged)
    assert "reverse_reading" in {f["code"] for f in result["flags"]}


def test_an_assignment_closed_meanwhile_rejects_its_reading(db, settings, route):
    from sqlalchemy import update

    from server.db.tables import assignments
    from server.services import push as push_service
    from tests.push_helpers import reading

    meters, assignment = route
    req = _request([reading(meters[1], assignment[meters[1]], _plausible())])
    judged = push_service.judge_on_snapshot(db, settings, _reader(), req)
    assert [r.status for r in judged.plan.results] == ["accepted"]
    with db.write() as conn:
        conn.execute(update(assignments).where(assignments.c.id == assignment[meters[1]]).values(status="closed"))
    [result] = _store(db, settings, req, judged)
    assert (result["status"], [e["code"] for e in result["errors"]]) == ("rejected", ["not_assigned"])


def test_two_copies_of_a_batch_at_once_store_it_once(client, db, route):
    from server.db.tables import ops
    from tests.factories import login
    from tests.push_helpers import batch, push, reading

    meters, assignment = route
    headers = login(client, "reader01")
    body = batch([reading(m, assignment[m], _plausible()) for m in meters])
    answers = []
    at_once(lambda _: answers.append(push(client, headers, body)), range(2))
    assert sorted(a.status_code for a in answers) == [200, 200]
    statuses = sorted({r["status"] for r in a.json()["results"]}.pop() for a in answers)
    assert statuses == ["accepted", "duplicate"]
    with db.read() as conn:
        assert len(conn.execute(select(ops.c.op_id)).all()) == 3


def test_small_writes_of_requests_join_the_group_commit(db, backend):
    """An upload started, a photo's row, a token's last use: written beside the batches, one fsync."""
    if backend != "sqlite":
        pytest.skip("the group writer is SQLite's")
    commits = commits_of(db)
    batch, release = held_job(writer_of(db).submit, "d-batch")
    answers: dict[str, str] = {}
    threads = [threading.Thread(target=lambda i=i: answers.update({f"d-{i}": write(db, add_district(f"d-{i}"))}))
               for i in range(6)]
    for t in threads:
        t.start()
    deadline = time.monotonic() + 10
    while writer_of(db)._queue.qsize() < 6 and time.monotonic() < deadline:
        time.sleep(0.01)
    release.set()
    for t in threads:
        t.join(10)
    assert batch.result(10) == "d-batch"
    assert answers == {f"d-{i}": f"d-{i}" for i in range(6)}
    assert len(commits) == 1
    assert stored(db) == {"d-batch", *answers}


def test_a_small_write_that_fails_is_raised_and_leaves_nothing(db):
    def fails(conn):
        conn.execute(insert(districts).values(id="d-half", name="written, then rolled back"))
        raise ValueError("refused")

    with pytest.raises(ValueError, match="refused"):
        write(db, fails)
    assert write(db, add_district("d-after")) == "d-after"
    assert stored(db) == {"d-after"}
