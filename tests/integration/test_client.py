"""The reference client against the real application (SQLite and PostgreSQL): a route pulled,
work recorded offline, synced through lost answers, reconciled with what the server stored."""

from __future__ import annotations

import random
from datetime import date, datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import httpx
import pytest
from sqlalchemy import func, select

from server.db.tables import ops
from server.services import cycles
from server.simulate.photos import camera_jpeg
from sync.client import Backoff, Outbox, TabletClient, items
from tests.factories import PASSWORD, add_route, add_user, login

TODAY = date.today()
LAST_READ = datetime(2026, 7, 30, tzinfo=timezone.utc)  # the factory's 8th monthly read, value 3100


class LosesAnswers(httpx.BaseTransport):
    """Passes requests to the app; the answers of the first ``n`` matching requests are lost."""

    def __init__(self, inner: httpx.BaseTransport, method: str, path_part: str, n: int = 1) -> None:
        self.inner, self.method, self.path_part, self.left = inner, method, path_part, n

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        response = self.inner.handle_request(request)
        if self.left and request.method == self.method and self.path_part in request.url.path:
            self.left -= 1
            response.read()
            raise httpx.ReadError("answer lost", request=request)
        return response


@pytest.fixture
def route(db):
    add_user(db, "reader01", "reader")
    add_user(db, "admin", "admin")
    meter_ids = add_route(db, "r-01", 6, history=8)
    cycles.open_cycle(db, TODAY.strftime("%Y-%m"), "r-01", "reader01", TODAY - timedelta(days=10),
                      TODAY + timedelta(days=10))
    return meter_ids


def tablet_on(client, tmp_path, transport: httpx.BaseTransport | None = None) -> TabletClient:
    http = client if transport is None else httpx.Client(transport=transport, base_url=str(client.base_url))
    tablet = TabletClient(Outbox(tmp_path / "tab-1.db"), http, device_id="tab-1",
                          backoff=Backoff(base_s=0.01, cap_s=0.05, rng=random.Random(1)))
    tablet.login("reader01", PASSWORD)
    assert tablet.pull().ok
    return tablet


def plausible_value() -> str:
    days = (datetime.now(timezone.utc) - LAST_READ).total_seconds() / 86400
    return str(3100 + round(10 * days))  # the factory's meters use 10 kWh a day


def read_route(tablet: TabletClient, value=plausible_value) -> list[str]:
    return [tablet.record(items.reading(a["meter_id"], a["id"], value()))
            for a in tablet.outbox.pulled("assignment").values()]


def stored(db) -> int:
    with db.read() as conn:
        return conn.execute(select(func.count()).select_from(ops)).scalar_one()


def test_a_pulled_route_read_offline_is_synced_once_and_the_answers_kept(client, db, route, tmp_path):
    tablet = tablet_on(client, tmp_path)
    assert sorted(tablet.outbox.pulled("meter")) == sorted(route)
    assert len(tablet.outbox.pulled("customer")) == len(route)
    ops_recorded = read_route(tablet)
    report = tablet.sync()
    assert report.ok and report.sent == report.accepted == len(route)
    assert {tablet.outbox.item(op).verdict for op in ops_recorded} == {"accepted"}
    assert stored(db) == len(route)
    again = tablet.sync()
    assert again.sent == 0 and stored(db) == len(route)  # nothing is sent twice


def test_a_lost_push_answer_is_settled_by_the_receipt_and_nothing_stored_twice(client, db, route, tmp_path):
    tablet = tablet_on(client, tmp_path, LosesAnswers(client._transport, "POST", "/sync/push"))
    read_route(tablet)
    report = tablet.sync()
    assert report.receipts_used == 1 and report.resends == 0
    assert report.accepted == len(route) and stored(db) == len(route)


def test_a_rejected_item_is_set_aside_and_not_stored(client, db, route, tmp_path):
    tablet = tablet_on(client, tmp_path)
    good = read_route(tablet)
    stray = tablet.record(items.reading("m-elsewhere", "as-elsewhere", "10"))
    report = tablet.sync()
    assert report.rejected == 1 and report.accepted == len(good)
    item = tablet.outbox.item(stray)
    assert item.state == "rejected" and item.errors[0]["code"] == "not_assigned"
    assert stored(db) == len(good)


def test_an_unusable_cursor_pulls_the_route_again_in_full(client, db, route, tmp_path):
    tablet = tablet_on(client, tmp_path)
    tablet.outbox.put("pull_cursor", "not-a-cursor-the-server-issued")
    report = tablet.pull()
    assert report.ok and report.pulled_changes >= 3 * len(route)
    assert sorted(tablet.outbox.pulled("meter")) == sorted(route)
    assert tablet.outbox.cursor() != "not-a-cursor-the-server-issued"


def test_an_expired_token_is_renewed_without_losing_work(client, db, route, tmp_path):
    tablet = tablet_on(client, tmp_path)
    read_route(tablet)
    tablet.api.token = "an-expired-or-unknown-token"
    report = tablet.sync()
    assert report.ok and report.accepted == len(route)


def test_photos_go_up_resumably_and_make_the_evidence_complete(client, db, route, tmp_path):
    if "/api/v1/photos/uploads" not in client.get("/schema/openapi.json").json()["paths"]:
        pytest.skip("this server has no photo routes")
    tablet = tablet_on(client, tmp_path, LosesAnswers(client._transport, "PATCH", "/photos/uploads/"))
    tablet.chunk_bytes = 4096
    meter = tablet.outbox.pulled("meter")[route[0]]
    shot = camera_jpeg(random.Random(2), datetime.now(ZoneInfo("Asia/Shanghai")) - timedelta(minutes=2),
                       float(meter["location"]["lat"]), float(meter["location"]["lon"]), "burnt")
    sha = tablet.record_photo(shot)
    op = tablet.record(items.anomaly(route[0], "meter_burnt", photo_ids=[sha],
                                     recorded_at=datetime.now().astimezone() - timedelta(minutes=1)))
    report = tablet.sync()
    assert report.ok and report.photos_uploaded == 1 and report.retries >= 1
    admin = login(client, "admin", device_id="office-1")
    assert client.head(f"/api/v1/photos/{sha}", headers=admin).status_code == 200
    [listed] = client.get("/api/v1/devices/tab-1/items", headers=admin).json()["items"]
    assert listed["op_id"] == op and listed["evidence"] == "complete"
    assert listed["status"] == tablet.outbox.item(op).verdict == "flagged"
