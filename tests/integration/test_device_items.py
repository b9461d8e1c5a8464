"""Admins and supervisors list what a device delivered, page by page (the lost-tablet question)."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from sqlalchemy import select

from server.db.tables import assignments
from server.services import cycles
from tests.factories import add_route, add_user, login
from tests.push_helpers import anomaly, batch, push, reading

TODAY = date.today()


@pytest.fixture
def delivered(client, db):
    """reader01 on tab-7 delivered two batches: plausible and odd readings, an anomaly, one rejected item."""
    for name, role in (("reader01", "reader"), ("admin", "admin"), ("supervisor01", "supervisor"),
                       ("reviewer01", "reviewer")):
        add_user(db, name, role)
    meter_ids = add_route(db, "r-01", 4, history=8)
    cycles.open_cycle(db, TODAY.strftime("%Y-%m"), "r-01", "reader01", TODAY - timedelta(days=10),
                      TODAY + timedelta(days=10))
    with db.read() as conn:
        assignment = dict(conn.execute(select(assignments.c.meter_id, assignments.c.id)).all())
    headers = login(client, "reader01", device_id="tab-7")
    first = [reading(m, assignment[m], "3000") for m in meter_ids[:3]]  # below the last read: flagged
    second = [anomaly(meter_ids[3], "meter_box_damaged"), reading("m-nowhere", "as-none", "1")]
    answers = {}
    for items in (first, second):
        res = push(client, headers, batch(items, device_id="tab-7"))
        assert res.status_code == 200, res.text
        answers.update({r["op_id"]: r for r in res.json()["results"]})
    return answers


def list_all(client, headers, device_id="tab-7", limit=2):
    items, cursor, pages = [], None, 0
    while True:
        params = {"limit": limit} | ({"cursor": cursor} if cursor else {})
        res = client.get(f"/api/v1/devices/{device_id}/items", params=params, headers=headers)
        assert res.status_code == 200, res.text
        body = res.json()
        items += body["items"]
        pages += 1
        cursor = body["cursor"]
        if cursor is None:
            return items, pages


def test_an_admin_sees_every_stored_item_once_with_the_verdict_the_tablet_was_given(client, delivered):
    items, pages = list_all(client, login(client, "admin", device_id="office-1"))
    stored = {op: r for op, r in delivered.items() if r["status"] != "rejected"}
    assert sorted(i["op_id"] for i in items) == sorted(stored)
    assert pages == 2  # 4 items, 2 a page; the cursor is null on the last page
    for item in items:
        answer = stored[item["op_id"]]
        assert item["status"] == answer["status"]
        assert item["review_task_id"] == answer["review_task_id"]
        assert [f["code"] for f in item["flags"]] == [f["code"] for f in answer["flags"]]
        assert item["user_id"] == "reader01" and item["batch_id"]
        assert item["evidence"] == "none"
    assert {i["type"] for i in items} == {"reading", "anomaly"}
    # In the order the server received them: the first batch before the second.
    assert items[-1]["type"] == "anomaly"
    assert [i["received_at"] for i in items] == sorted(i["received_at"] for i in items)


def test_a_rejected_item_is_not_listed(client, delivered):
    items, _ = list_all(client, login(client, "supervisor01", device_id="office-2"), limit=500)
    rejected = [op for op, r in delivered.items() if r["status"] == "rejected"]
    assert len(rejected) == 1 and rejected[0] not in {i["op_id"] for i in items}


@pytest.mark.parametrize("user", ["reader01", "reviewer01"])
def test_other_roles_are_forbidden(client, delivered, user):
    res = client.get("/api/v1/devices/tab-7/items", headers=login(client, user, device_id=f"dev-{user}"))
    assert res.status_code == 403
    assert res.json()["error"]["code"] == "forbidden"


def test_an_unknown_device_is_not_found_and_a_foreign_cursor_is_invalid(client, delivered):
    headers = login(client, "admin", device_id="office-1")
    res = client.get("/api/v1/devices/tab-404/items", headers=headers)
    assert res.status_code == 404 and res.json()["error"]["code"] == "not_found"
    cursor = client.get("/api/v1/devices/tab-7/items", params={"limit": 1}, headers=headers).json()["cursor"]
    for bad in (cursor[:-3] + "xyz", "not-a-cursor"):
        res = client.get("/api/v1/devices/tab-7/items", params={"cursor": bad}, headers=headers)
        assert res.status_code == 400 and res.json()["error"]["code"] == "invalid_cursor"
    # A cursor issued for one device does not page another's items.
    res = client.get("/api/v1/devices/office-1/items", params={"cursor": cursor}, headers=headers)
    assert res.status_code == 400 and res.json()["error"]["code"] == "invalid_cursor"


def test_the_listing_is_in_the_openapi_document(client):
    paths = client.get("/schema/openapi.json").json()["paths"]
    assert "get" in paths["/api/v1/devices/{device_id}/items"]
