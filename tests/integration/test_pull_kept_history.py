"""The pull's last reading and expected band come from each meter's kept reading history
(``meter_state``) where it serves, else from ``readings``: either way exactly what the
readings say."""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime, timedelta, timezone

import pytest
from sqlalchemy import insert, select, update

from server.db.queries import recent_reads
from server.db.tables import meter_state, readings
from server.services import meter_state as kept_history
from tests.factories import T0, add_route

PER_REGISTER = 7  # the default consumption_intervals + 1


def from_readings(db, meter_ids: list[str]) -> dict[tuple[str, str], list[tuple[str, datetime]]]:
    out: dict[tuple[str, str], list[tuple[str, datetime]]] = defaultdict(list)
    with db.read() as conn:
        for r in recent_reads(conn, meter_ids, PER_REGISTER, actual_only=True):
            out[(r.meter_id, r.register)].append((r.value, r.read_at))
    return dict(out)


def kept_and_read(db, meter_ids: list[str]):
    with db.read() as conn:
        return dict(kept_history.actual_reads(conn, meter_ids, PER_REGISTER)), from_readings(db, meter_ids)


def add_unable_reads(db, meter_id: str, n: int) -> None:
    with db.write() as conn:
        conn.execute(insert(readings), [
            {"meter_id": meter_id, "register": "total", "value": None, "read_at": T0 + timedelta(days=400 + 30 * k),
             "method": "unable", "source": "import", "cycle": None, "unable_reason": "premises_locked"}
            for k in range(n)])


def reads_from_kept_rows(db, monkeypatch, meter_ids: list[str]) -> set[str]:
    """The meters whose reads ``actual_reads`` did not look up in ``readings``."""
    looked_up: list[str] = []
    real = kept_history.recent_reads
    monkeypatch.setattr(kept_history, "recent_reads",
                        lambda conn, ids, *a, **k: (looked_up.extend(ids), real(conn, ids, *a, **k))[1])
    kept_and_read(db, meter_ids)
    return set(meter_ids) - set(looked_up)


@pytest.fixture
def meters(db):
    return add_route(db, "r-01", 5, history=10)


def test_fresh_rows_serve_and_agree_with_the_readings(db, meters, monkeypatch):
    with db.write() as conn:
        kept_history.rebuild(conn, meters)
    kept, truth = kept_and_read(db, meters)
    assert kept == truth and len(truth[(meters[0], "total")]) == PER_REGISTER
    assert reads_from_kept_rows(db, monkeypatch, meters) == set(meters)


def test_rows_that_do_not_serve_are_read_from_readings(db, meters, monkeypatch):
    stale, recounted, few_actual, fresh, no_row = meters
    add_unable_reads(db, few_actual, 9)  # the 12 kept readings hold only 3 actual ones, not all there are
    with db.write() as conn:
        kept_history.rebuild(conn, meters)
        conn.execute(update(meter_state).where(meter_state.c.meter_id == stale).values(fresh=False))
        conn.execute(meter_state.delete().where(meter_state.c.meter_id == no_row))
        conn.execute(insert(readings).values(meter_id=recounted, register="total", value="9999",
                                             read_at=datetime.now(timezone.utc), method="actual", source="import"))
    kept, truth = kept_and_read(db, meters)
    assert kept == truth
    assert truth[(recounted, "total")][-1][0] == "9999"
    assert len(truth[(few_actual, "total")]) == PER_REGISTER
    assert reads_from_kept_rows(db, monkeypatch, meters) == {fresh}


def test_a_meter_with_fewer_readings_than_the_band_needs_is_served_whole(db, monkeypatch):
    [meter] = add_route(db, "r-short", 1, history=3)
    with db.write() as conn:
        kept_history.rebuild(conn, [meter])
        assert conn.execute(select(meter_state.c.fresh).where(meter_state.c.meter_id == meter)).scalar()
    kept, truth = kept_and_read(db, [meter])
    assert kept == truth and len(truth[(meter, "total")]) == 3
    assert reads_from_kept_rows(db, monkeypatch, [meter]) == {meter}
