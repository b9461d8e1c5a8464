"""At the end of a shift every tablet pushes at once: a server process judges and stores only a
few batches at a time (each holds megabytes while judged), the rest wait their turn, and every
batch is still answered and stored once."""

from __future__ import annotations

import asyncio
import threading
import time
from datetime import date, timedelta

import msgspec
import pytest
from sqlalchemy import func, select

from field_schemas.push import PushRequest
from server.auth import Principal
from server.db.tables import assignments, ops
from server.services import cycles
from server.services import push as push_service
from tests.factories import add_route, add_user
from tests.push_helpers import batch, reading

TABLETS = 3 * push_service.BATCHES_AT_ONCE


@pytest.fixture
def route(db):
    add_user(db, "reader01", "reader")
    meters = add_route(db, "r-01", TABLETS)
    today = date.today()
    cycles.open_cycle(db, today.strftime("%Y-%m"), "r-01", "reader01", today - timedelta(days=10),
                      today + timedelta(days=10))
    with db.read() as conn:
        return dict(conn.execute(select(assignments.c.meter_id, assignments.c.id)).all())


class Overlap:
    """How many calls of a function run at the same moment, at most."""

    def __init__(self, inner):
        self.inner, self.now, self.most, self._lock = inner, 0, 0, threading.Lock()

    def __call__(self, *args, **kwargs):
        with self._lock:
            self.now += 1
            self.most = max(self.most, self.now)
        try:
            time.sleep(0.02)  # long enough for the others to pile up
            return self.inner(*args, **kwargs)
        finally:
            with self._lock:
                self.now -= 1


def test_a_rush_of_batches_is_judged_a_few_at_a_time_and_all_stored_once(db, settings, route, monkeypatch):
    # SQLite judges on a snapshot, PostgreSQL judges and stores in one transaction.
    judging = "judge_on_snapshot" if db.is_sqlite else "push"
    overlap = Overlap(getattr(push_service, judging))
    monkeypatch.setattr(push_service, judging, overlap)
    reader = Principal("reader01", "Reader", frozenset({"reader"}), "tab-1", "")
    requests = [msgspec.convert(batch([reading(meter_id, assignment_id, None, unable_reason="premises_locked")]),
                                PushRequest, strict=False)
                for meter_id, assignment_id in sorted(route.items())]

    async def rush():
        return await asyncio.gather(*(push_service.push_async(db, settings, reader, r) for r in requests))

    answers = [msgspec.json.decode(body) for body in asyncio.run(rush())]

    assert 1 < overlap.most <= push_service.BATCHES_AT_ONCE
    assert [a["results"][0]["status"] for a in answers] == ["flagged"] * TABLETS
    with db.read() as conn:
        assert conn.execute(select(func.count()).select_from(ops)).scalar() == TABLETS
