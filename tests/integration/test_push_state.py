"""The reading history kept per meter (meter_state) stays what ``readings`` says, whoever writes
the readings, and the verdicts made from it are those made from ``readings``."""

from __future__ import annotations

import threading
from datetime import date, datetime, timedelta, timezone

import pytest
from alembic import command
from sqlalchemy import delete, func, insert, select, update

from server.db import migrate
from server.db.tables import assignments, meter_state, readings
from server.services import meter_state as kept_history
from server.settings import Settings
from tests.factories import T0, add_route, add_user, login
from tests.push_helpers import batch, push, reading

TODAY = date.today()
LAST_READ_AT = T0 + timedelta(days=210)  # the factory's 8th monthly read, value 3100


@pytest.fixture
def station(db):
    add_user(db, "reader01", "reader")
    add_user(db, "inspector01", "inspector")
    add_user(db, "inspector02", "inspector")
    meters = add_route(db, "r-01", 4, history=8)
    from server.services import cycles

    cycles.open_cycle(db, TODAY.strftime("%Y-%m"), "r-01", "reader01", TODAY - timedelta(days=10),
                      TODAY + timedelta(days=10))
    with db.read() as conn:
        by_meter = dict(conn.execute(select(assignments.c.meter_id, assignments.c.id)).all())
    return {"meters": meters, "assignment": by_meter}


def plausible_value(extra_kwh: int = 0) -> str:
    days = (datetime.now(timezone.utc) - LAST_READ_AT).total_seconds() / 86400
    return str(3100 + round(10 * days) + extra_kwh)


def kept_rows(db) -> dict[str, tuple[bool, dict]]:
    """Each meter's kept readings, and whether they serve: fresh, and built from as many
    readings as the meter has now."""
    with db.read() as conn:
        rows = conn.execute(select(meter_state.c.meter_id, meter_state.c.fresh, meter_state.c.readings,
                                   meter_state.c.recent)).all()
        counts = dict(conn.execute(select(readings.c.meter_id, func.count()).group_by(readings.c.meter_id)).all())
    return {m: (bool(fresh) and built_from == counts.get(m, 0), kept_history.decode(recent))
            for m, fresh, built_from, recent in rows}


def assert_in_step_with_readings(db) -> None:
    """Every fresh row keeps exactly the newest valid readings of each register, KEEP at most."""
    rows = kept_rows(db)
    with db.read() as conn:
        truth = kept_history.from_history(kept_history.history_rows(conn, sorted(rows), 10_000), sorted(rows), 10_000)
    for meter_id, (fresh, kept) in rows.items():
        if not fresh:
            continue
        expected = truth.get(meter_id, {})
        assert set(kept) == set(expected), meter_id
        for register, everything in expected.items():
            mine = kept[register]
            assert len(mine.reads) == min(len(everything.reads), kept_history.KEEP), (meter_id, register)
            assert mine.reads == everything.reads[-len(mine.reads):], (meter_id, register)
            assert not mine.complete or len(mine.reads) == len(everything.reads), (meter_id, register)


def test_every_meter_gets_a_fresh_row_and_pushes_keep_it_in_step(client, db, station):
    rows = kept_rows(db)
    assert set(rows) == set(station["meters"])
    assert not any(fresh for fresh, _ in rows.values())  # history written straight to the table
    headers = login(client, "reader01")
    m0, m1 = station["meters"][:2]
    items = [reading(m0, station["assignment"][m0], plausible_value()),
             reading(m1, station["assignment"][m1], None, unable_reason="premises_locked")]
    assert push(client, headers, batch(items)).status_code == 200
    rows = kept_rows(db)
    assert rows[m0][0] and rows[m1][0]
    assert [r.value for r in rows[m0][1]["total"].reads][-2:] == ["3100", items[0]["value"]]
    assert rows[m1][1]["total"].reads[-1].method == "unable"
    assert_in_step_with_readings(db)


def test_more_readings_than_kept_drop_the_oldest(client, db, station):
    headers = login(client, "reader01")
    meter = station["meters"][0]
    for extra in range(kept_history.KEEP):  # the same assignment read again: stored, flagged duplicate_read
        res = push(client, headers, batch([reading(meter, station["assignment"][meter], plausible_value(extra))]))
        assert res.status_code == 200, res.text
    fresh, kept = kept_rows(db)[meter]
    assert fresh and len(kept["total"].reads) == kept_history.KEEP and not kept["total"].complete
    assert_in_step_with_readings(db)


def test_readings_written_straight_to_the_database_are_seen_by_the_next_push(client, db, station):
    headers = login(client, "reader01")
    meter = station["meters"][0]
    push(client, headers, batch([reading(meter, station["assignment"][meter], plausible_value())]))
    assert kept_rows(db)[meter][0]
    with db.write() as conn:
        conn.execute(insert(readings).values(meter_id=meter, register="total", value="999999",
                                             read_at=datetime.now(timezone.utc) - timedelta(seconds=10),
                                             method="actual", source="import", cycle=None))
    assert not kept_rows(db)[meter][0]
    [result] = push(client, headers, batch([reading(meter, station["assignment"][meter],
                                                     plausible_value(5))])).json()["results"]
    assert "reverse_reading" in {f["code"] for f in result["flags"]}
    assert kept_rows(db)[meter][0]
    assert_in_step_with_readings(db)


@pytest.mark.parametrize("change", ["update", "delete"])
def test_a_reading_changed_or_deleted_straight_in_the_database_makes_its_meter_stale(client, db, station, change):
    headers = login(client, "reader01")
    meter = station["meters"][0]
    push(client, headers, batch([reading(meter, station["assignment"][meter], plausible_value())]))
    with db.write() as conn:
        target = readings.c.meter_id == meter
        if change == "update":
            conn.execute(update(readings).where(target, readings.c.op_id.is_not(None)).values(status="superseded"))
        else:
            conn.execute(delete(readings).where(target, readings.c.op_id.is_not(None)))
    assert not kept_rows(db)[meter][0]
    assert kept_rows(db)[station["meters"][1]][0] is False  # untouched, still as the factory left it
    # The reading is gone from the history: a second one is judged against the 8th monthly read again.
    [result] = push(client, headers, batch([reading(meter, station["assignment"][meter],
                                                     plausible_value())])).json()["results"]
    assert "duplicate_read" not in {f["code"] for f in result["flags"]}
    assert_in_step_with_readings(db)


def test_a_reread_leaves_its_meter_to_be_rebuilt_and_is_judged_without_the_superseded_reading(client, db, station):
    headers = login(client, "reader01")
    meter = station["meters"][0]
    cycle = TODAY.strftime("%Y-%m")
    push(client, headers, batch([reading(meter, station["assignment"][meter], "3000")]))  # reverse: flagged
    now = datetime.now(timezone.utc)
    with db.write() as conn:
        conn.execute(insert(assignments).values(
            id="as-reread", cycle=cycle, route_id="r-01", meter_id=meter, user_id="reader01", task="reread",
            due_from=TODAY - timedelta(days=1), due_until=TODAY + timedelta(days=5), status="open",
            created_at=now, updated_at=now))
    [result] = push(client, headers, batch([reading(meter, "as-reread", plausible_value())])).json()["results"]
    assert result["status"] == "accepted", result
    fresh, _ = kept_rows(db)[meter]
    assert not fresh
    push(client, headers, batch([reading(station["meters"][1], station["assignment"][station["meters"][1]],
                                         plausible_value())]))
    [again] = push(client, headers, batch([reading(meter, station["assignment"][meter],
                                                    plausible_value())])).json()["results"]
    assert again["status"] in ("accepted", "flagged")
    assert kept_rows(db)[meter][0]
    assert_in_step_with_readings(db)


def test_pushes_naming_the_same_meter_at_once_keep_every_reading(client, db, station):
    meter = station["meters"][0]
    pushers = [login(client, name, f"tab-{name}") for name in ("reader01", "inspector01", "inspector02")]
    kept_rows(db)
    errors: list[BaseException] = []

    def send(headers: dict[str, str], device: str, extra: int) -> None:
        try:
            for k in range(3):
                res = push(client, headers, batch([reading(meter, station["assignment"][meter],
                                                           plausible_value(extra + k))], device_id=device))
                assert res.status_code == 200, res.text
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=send, args=(h, f"tab-{n}", 10 * i))
               for i, (h, n) in enumerate(zip(pushers, ("reader01", "inspector01", "inspector02")))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors
    fresh, kept = kept_rows(db)[meter]
    assert fresh
    assert_in_step_with_readings(db)
    with db.read() as conn:
        pushed = conn.execute(select(readings.c.op_id).where(readings.c.meter_id == meter,
                                                             readings.c.op_id.is_not(None))).all()
    assert len(pushed) == 9


def test_the_ledger_import_keeps_the_rows_fresh(db, settings: Settings, station):
    from server.services.ledger import import_readings

    meter = station["meters"][0]
    day = (T0 + timedelta(days=240)).astimezone(timezone(timedelta(hours=8))).date()
    report = import_readings(db, settings, ["meter_id,register,read_at,value", f"{meter},total,{day}T10:00:00,3400"])
    assert report.errors == [] and report.inserted == 1
    fresh, kept = kept_rows(db)[meter]
    assert fresh and kept["total"].reads[-1].value == "3400"
    assert_in_step_with_readings(db)


def test_the_migration_builds_the_row_of_every_meter_on_record(db, station):
    cfg = migrate.alembic_config()
    with db.write() as conn:
        cfg.attributes["connection"] = conn
        command.downgrade(cfg, "0004")
    add_route(db, "r-09", 2, history=3)
    migrate.upgrade(db)
    rows = kept_rows(db)
    assert set(rows) == set(station["meters"]) | {"m-r-09-0000", "m-r-09-0001"}
    assert all(fresh for fresh, _ in rows.values())
    assert [r.value for r in rows["m-r-09-0001"][1]["total"].reads] == ["1000", "1300", "1600"]
    assert_in_step_with_readings(db)


def test_a_meter_inserted_again_under_an_old_id_is_rebuilt(db, station):
    from server.db.tables import meters

    rows = kept_rows(db)
    with db.write() as conn:
        kept_history.rebuild_stale(conn)
    assert all(fresh for fresh, _ in kept_rows(db).values())
    with db.write() as conn:
        meter = conn.execute(select(meters).where(meters.c.id == station["meters"][3])).one()
        conn.execute(delete(assignments).where(assignments.c.meter_id == meter.id))
        conn.execute(delete(readings).where(readings.c.meter_id == meter.id))
        from server.db.tables import seals
        conn.execute(delete(seals).where(seals.c.meter_id == meter.id))
        conn.execute(delete(meters).where(meters.c.id == meter.id))
    assert meter.id not in kept_rows(db)
    with db.write() as conn:
        conn.execute(insert(meters).values(**meter._mapping))
    fresh, kept = kept_rows(db)[meter.id]
    assert fresh and kept == {}
    assert rows.keys() == kept_rows(db).keys()


def test_rows_written_through_the_driver_are_those_sqlalchemy_would_write(client, db, station):
    """ops and readings go in as tuples through the driver: the same stored values, times and JSON."""
    from server.db.bulk import time_binder
    from server.db.tables import ops

    headers = login(client, "reader01")
    meter = station["meters"][0]
    item = reading(meter, station["assignment"][meter], "3000", note="表箱门锁坏了 — lock broken",
                   location={"lat": 30.1, "lon": 120.2, "accuracy_m": 8.5},
                   recorded_at=(datetime.now(timezone(timedelta(hours=8))) - timedelta(minutes=1)).isoformat())
    [result] = push(client, headers, batch([item])).json()["results"]
    assert result["status"] == "flagged"
    with db.read() as conn:
        op = conn.execute(select(ops).where(ops.c.op_id == item["op_id"])).one()
        stored = conn.execute(select(readings).where(readings.c.op_id == item["op_id"])).one()
        if conn.dialect.name == "sqlite":
            raw = conn.exec_driver_sql("SELECT recorded_at, received_at FROM ops WHERE op_id = ?",
                                       (item["op_id"],)).one()
            processor = ops.c.recorded_at.type._cached_bind_processor(conn.dialect)
            assert tuple(raw) == (processor(op.recorded_at), processor(op.received_at))
            assert time_binder(conn)(op.recorded_at) == raw[0]
    assert op.recorded_at == datetime.fromisoformat(item["recorded_at"])
    assert op.recorded_at.tzinfo is not None and op.recorded_at.utcoffset() == timedelta(0)
    assert op.payload["note"] == item["note"] and op.payload["location"] == item["location"]
    assert datetime.fromisoformat(op.payload["recorded_at"]) == op.recorded_at
    assert [f["code"] for f in op.flags] == [f["code"] for f in result["flags"]]
    assert (stored.meter_id, stored.value, stored.method, stored.source, stored.status, stored.user_id) == (
        meter, "3000", "actual", "field", "valid", "reader01")
    assert stored.read_at == op.recorded_at_corrected


def test_a_row_written_twice_through_the_driver_is_an_integrity_error_on_both_databases(db):
    """The push judges a batch again on IntegrityError (a concurrent copy stored it first):
    rows copied through the driver must raise SQLAlchemy's, not the driver's own."""
    from sqlalchemy.exc import IntegrityError

    from server.db.bulk import ids, insert_rows, select_rows
    from server.db.tables import districts

    with pytest.raises(IntegrityError):
        with db.write() as conn:
            insert_rows(conn, districts, ("id", "name"), [("d-1", "One"), ("d-1", "One again")])
    with pytest.raises(IntegrityError):
        with db.write() as conn:
            select_rows(conn, "INSERT INTO districts (id, name) VALUES (?, ?), (?, ?)", "d-2", "Two", "d-2", "Two")
    with db.read() as conn:
        assert select_rows(conn, "SELECT id FROM districts WHERE id {ids}", ids(conn, ["d-1", "d-2"])) == []
