"""Rules over a meter's earlier cycles, through the push: a meter standing still for cycles
running, a meter that could not be read again."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from sqlalchemy import insert, select

from server.db.tables import assignments, readings
from server.services import cycles
from tests.factories import T0, add_route, add_user, login
from tests.push_helpers import batch, push, reading

TODAY = date.today()
HISTORY = 4


@pytest.fixture
def route(db):
    add_user(db, "reader01", "reader")
    meters = add_route(db, "r-01", 2, history=HISTORY, daily_kwh=0)  # four monthly reads, all 1000
    cycles.open_cycle(db, TODAY.strftime("%Y-%m"), "r-01", "reader01", TODAY - timedelta(days=10),
                      TODAY + timedelta(days=10))
    with db.read() as conn:
        assignment_of = dict(conn.execute(select(assignments.c.meter_id, assignments.c.id)).all())
    return meters, assignment_of


def codes(result: dict) -> set[str]:
    return {f["code"] for f in result["flags"]}


def test_a_meter_standing_still_for_cycles_running_is_flagged(client, route):
    (meter, other), assignment_of = route
    headers = login(client, "reader01")
    res = push(client, headers, batch([reading(meter, assignment_of[meter], "1000"),
                                       reading(other, assignment_of[other], "1012")]))
    assert res.status_code == 200, res.text
    still, moved = res.json()["results"]
    assert "long_term_zero" in codes(still)
    assert "long_term_zero" not in codes(moved)


def test_a_meter_unable_to_be_read_again_is_flagged(client, db, route):
    (meter, other), assignment_of = route
    last_cycle = (T0 + timedelta(days=30 * (HISTORY - 1))).strftime("%Y-%m")
    unread_at = T0 + timedelta(days=30 * HISTORY)
    with db.write() as conn:  # the cycle after the history: the door was locked
        conn.execute(insert(readings).values(meter_id=meter, register="total", value=None, read_at=unread_at,
                                             method="unable", unable_reason="premises_locked", source="import",
                                             cycle=unread_at.strftime("%Y-%m")))
    assert unread_at.strftime("%Y-%m") != last_cycle
    headers = login(client, "reader01")
    res = push(client, headers, batch([
        reading(meter, assignment_of[meter], None, unable_reason="premises_locked"),
        reading(other, assignment_of[other], None, unable_reason="premises_locked"),
    ]))
    assert res.status_code == 200, res.text
    again, first_time = res.json()["results"]
    assert "unable_repeat" in codes(again)
    assert "unable_repeat" not in codes(first_time)
