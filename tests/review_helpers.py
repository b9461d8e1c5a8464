"""A station with staff and one route, and the review actions as a reviewer's screen sends them.

Test modules import the ``station`` and ``staff`` fixtures from here.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta, timezone
from typing import Any

import pytest
from sqlalchemy import insert, select

from server.db.tables import assignments, review_tasks
from server.services import cycles
from tests.factories import add_route, add_user, login
from tests.push_helpers import batch, push, reading

TODAY = date.today()
CYCLE = TODAY.strftime("%Y-%m")
STAFF = {
    "reader01": "reader", "reader02": "reader",
    "inspector01": "inspector", "inspector02": "inspector", "inspector03": "inspector",
    "reviewer01": "reviewer", "reviewer02": "reviewer",
    "super01": "supervisor", "super02": "supervisor",
    "admin01": "admin",
}
TASKS = "/api/v1/review/tasks"


def make_station(db) -> dict[str, Any]:
    """Route r-01 (4 meters, 8 monthly reads each, last 3100) read by reader01 in this month's cycle."""
    for username, role in STAFF.items():
        add_user(db, username, role)
    meter_ids = add_route(db, "r-01", 4, history=8)
    cycles.open_cycle(db, CYCLE, "r-01", "reader01", TODAY - timedelta(days=10), TODAY + timedelta(days=10))
    with db.read() as conn:
        by_meter = dict(conn.execute(select(assignments.c.meter_id, assignments.c.id)).all())
    return {"meters": meter_ids, "assignment": by_meter}


@pytest.fixture
def station(db) -> dict[str, Any]:
    return make_station(db)


@pytest.fixture
def staff(client) -> "Staff":
    return Staff(client)


class Staff:
    """Logs each user in once, on a device of their own."""

    def __init__(self, client) -> None:
        self.client = client
        self._headers: dict[str, dict[str, str]] = {}

    def __getitem__(self, username: str) -> dict[str, str]:
        if username not in self._headers:
            self._headers[username] = login(self.client, username, device_id=f"tab-{username}")
        return self._headers[username]

    def act(self, username: str, task_id: str, verb: str, body: dict[str, Any] | None = None):
        return self.client.post(f"{TASKS}/{task_id}/{verb}", json=body, headers=self[username])

    def resolve(self, username: str, task_id: str, decision: str, **fields: Any):
        return self.act(username, task_id, "resolve", {"decision": decision, **fields})

    def claim_and_resolve(self, username: str, task_id: str, decision: str, **fields: Any):
        assert self.act(username, task_id, "claim").status_code == 200
        return self.resolve(username, task_id, decision, **fields)

    def detail(self, username: str, task_id: str) -> dict[str, Any]:
        res = self.client.get(f"{TASKS}/{task_id}", headers=self[username])
        assert res.status_code == 200, res.text
        return res.json()


def push_reverse_reading(staff: Staff, station: dict[str, Any], meter_index: int = 0, value: str = "3000") -> dict[str, Any]:
    """reader01 reads the meter below its last read (3100): flagged ``reverse_reading``. Returns the result."""
    meter = station["meters"][meter_index]
    item = reading(meter, station["assignment"][meter], value)
    res = push(staff.client, staff["reader01"], batch([item], device_id="tab-reader01"))
    assert res.status_code == 200, res.text
    [result] = res.json()["results"]
    assert result["status"] == "flagged", result
    return result


def error_code(res) -> str:
    return res.json()["error"]["code"]


def insert_task(db, task_id: str = "rt-direct") -> str:
    """An open district task, written straight to the database: for tests about who may act, not why."""
    now = datetime.now(timezone.utc)
    with db.write() as conn:
        conn.execute(insert(review_tasks).values(
            id=task_id, kind="district", status="open", priority=5, meter_id=None, district_id="d-01",
            cycle=CYCLE, flags=[], created_at=now, updated_at=now,
        ))
    return task_id
