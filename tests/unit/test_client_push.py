"""The client's push against a fake station whose network loses requests and answers:
a lost answer is settled by the receipt, a batch is resent only when it never
committed, and a rejected item never holds back the rest."""

from __future__ import annotations

import random
from collections import Counter, deque
from datetime import datetime, timezone

import httpx
import msgspec
import pytest

from field_schemas import push as wire
from sync.client import Backoff, Outbox, TabletClient, items

BAD_METER = "m-unknown"  # the fake rejects items for it, as a server rejects not_assigned
ODD_METER = "m-odd"  # the fake flags items for it


class FakeStation:
    """Just enough of the protocol: login, push with idempotent op_ids and receipts, photos.

    ``fault(route, kind)`` queues a fault for the next request to ``route``
    ("POST /sync/push", "PATCH /photos/uploads", …): ``refuse`` (no connection,
    nothing done), ``lose_answer`` (done, the answer never arrives), or an
    ``httpx.Response`` to answer instead.
    """

    def __init__(self) -> None:
        self.stored: dict[str, str] = {}  # op_id -> status
        self.receipts: dict[str, bytes] = {}
        self.requests: list[tuple[str, str]] = []
        self.patch_offsets: list[int] = []
        self.pushes: list[dict] = []
        self.faults: dict[str, deque] = {}
        self.tokens: set[str] = set()
        self.photos: dict[str, bytes] = {}
        self.uploads: dict[str, dict] = {}
        self.resumable = True

    def fault(self, route: str, kind) -> None:
        self.faults.setdefault(route, deque()).append(kind)

    def client(self) -> httpx.Client:
        return httpx.Client(transport=httpx.MockTransport(self.handle), base_url="http://station.test")

    def handle(self, request: httpx.Request) -> httpx.Response:
        path = request.url.path.removeprefix("/api/v1")
        route = f"{request.method} {_route(path)}"
        self.requests.append((request.method, path))
        if request.method == "PATCH":
            self.patch_offsets.append(int(request.headers["upload-offset"]))
        queued = self.faults.get(route)
        fault = queued.popleft() if queued else None
        if fault == "refuse":
            raise httpx.ConnectError("connection refused", request=request)
        if isinstance(fault, httpx.Response):
            return fault
        if route != "POST /auth/login" and request.headers.get("authorization", "")[7:] not in self.tokens:
            return _error(401, "token_expired", "Log in again.")
        response = self._serve(route, path, request)
        if fault == "lose_answer":
            raise httpx.ReadError("connection reset after the server answered", request=request)
        return response

    def _serve(self, route: str, path: str, request: httpx.Request) -> httpx.Response:
        if route == "POST /auth/login":
            token = f"token-{len(self.tokens)}"
            self.tokens.add(token)
            return httpx.Response(200, json={"token": token, "expires_at": "2030-01-01T00:00:00Z", "user": {
                "id": "reader01", "name": "R", "roles": ["reader"]}, "server_time": "2026-01-01T00:00:00Z",
                "schema": {"min": 1, "current": 1}})
        if route == "POST /sync/push":
            return self._push(msgspec.json.decode(request.content))
        if route == "GET /sync/pull":
            return httpx.Response(200, json={"cursor": "c", "has_more": False,
                                             "server_time": "2026-01-01T00:00:00Z", "changes": []})
        if route == "GET /sync/batches":
            body = self.receipts.get(path.rsplit("/", 1)[1])
            return httpx.Response(200, content=body) if body else _error(404, "not_found", "Resend the batch.")
        return self._photos(route, path, request)

    def _push(self, body: dict) -> httpx.Response:
        self.pushes.append(body)
        results = []
        for item in body["items"]:
            op_id = item["op_id"]
            result = {"op_id": op_id, "status": "accepted", "original_status": None, "errors": [], "flags": [],
                      "review_task_id": None}
            if item["meter_id"] == BAD_METER:
                result.update(status="rejected", errors=[{"code": "not_assigned", "message": "Not yours.",
                                                          "field": "$.items[0].meter_id"}])
            elif op_id in self.stored:
                result.update(status="duplicate", original_status=self.stored[op_id])
            elif item["meter_id"] == ODD_METER:
                result.update(status="flagged", flags=[{"code": "reverse_reading", "message": "Below."}],
                              review_task_id="rt-1")
            if result["status"] in ("accepted", "flagged"):
                self.stored[op_id] = result["status"]
            if result["status"] == "duplicate" and self.stored[op_id] == "flagged":
                result.update(flags=[{"code": "reverse_reading", "message": "Below."}], review_task_id="rt-1")
            results.append(result)
        answer = msgspec.json.encode({"batch_id": body["batch_id"], "server_time": "2026-01-01T00:00:00Z",
                                      "clock_skew_s": 0.0, "results": results, "missing_photos": []})
        self.receipts[body["batch_id"]] = answer
        return httpx.Response(200, content=answer)

    def _photos(self, route: str, path: str, request: httpx.Request) -> httpx.Response:
        key = path.rsplit("/", 1)[1]
        if route == "HEAD /photos":
            return httpx.Response(200 if key in self.photos else 404)
        if route == "PUT /photos":
            self.photos[key] = request.content
            return httpx.Response(201, json={"sha256": key, "size": len(request.content)})
        if not self.resumable:
            return _error(404, "not_found", "No such resource.")
        if route == "POST /photos/uploads":
            body = msgspec.json.decode(request.content)
            upload_id = f"up-{len(self.uploads)}"
            self.uploads[upload_id] = {"sha256": body["sha256"], "size": body["size"], "data": b""}
            return httpx.Response(201, json={"upload_id": upload_id, "offset": 0})
        upload = self.uploads.get(key)
        if upload is None:
            return _error(404, "not_found", "No such upload.")
        if route == "HEAD /photos/uploads":
            return httpx.Response(200, headers={"Upload-Offset": str(len(upload["data"]))})
        offset = int(request.headers["upload-offset"])
        if offset != len(upload["data"]):
            return _error(409, "offset_mismatch", "Wrong offset.", {"Upload-Offset": str(len(upload["data"]))})
        upload["data"] += request.content
        if len(upload["data"]) < upload["size"]:
            return httpx.Response(200, json={"offset": len(upload["data"])})
        del self.uploads[key]
        self.photos[upload["sha256"]] = upload["data"]
        return httpx.Response(201, json={"sha256": upload["sha256"], "size": upload["size"]})


def _route(path: str) -> str:
    parts = path.strip("/").split("/")
    if parts[:2] == ["photos", "uploads"]:
        return "/photos/uploads"
    if parts[0] == "photos":
        return "/photos"
    if parts[:2] == ["sync", "batches"]:
        return "/sync/batches"
    return path


def _error(status: int, code: str, message: str, headers: dict | None = None) -> httpx.Response:
    return httpx.Response(status, json={"error": {"code": code, "message": message, "field": None}}, headers=headers)


class Sleeps(list):
    def __call__(self, seconds: float) -> None:
        self.append(seconds)


@pytest.fixture
def station():
    return FakeStation()


@pytest.fixture
def sleeps():
    return Sleeps()


@pytest.fixture
def tablet(station, sleeps, tmp_path):
    client = TabletClient(Outbox(tmp_path / "tablet.db"), station.client(), device_id="tab-1",
                          backoff=Backoff(base_s=0.1, cap_s=1, max_attempts=6, rng=random.Random(3), sleep=sleeps),
                          batch_size=3, chunk_bytes=4)
    client.login("reader01", "pw")
    return client


def record_readings(tablet, meters):
    return [tablet.record(items.reading(m, f"as-{m}", "10")) for m in meters]


def test_a_lost_answer_is_learnt_from_the_receipt_without_sending_the_batch_again(tablet, station):
    ops = record_readings(tablet, ["m-1", "m-2"])
    station.fault("POST /sync/push", "lose_answer")
    report = tablet.sync()
    assert len(station.pushes) == 1  # committed once, never resent
    assert ("GET", f"/sync/batches/{station.pushes[0]['batch_id']}") in station.requests
    assert report.receipts_used == 1 and report.resends == 0 and report.accepted == 2
    assert [tablet.outbox.item(op).status for op in ops] == ["accepted", "accepted"]


def test_a_batch_that_never_arrived_is_resent_whole_under_the_same_batch_id(tablet, station):
    ops = record_readings(tablet, ["m-1", "m-2"])
    station.fault("POST /sync/push", "refuse")
    report = tablet.sync()
    first, again = station.pushes[0], station.pushes[-1]
    assert len(station.pushes) == 1  # the refused try never reached the server
    assert station.requests.count(("GET", f"/sync/batches/{first['batch_id']}")) == 1  # 404: then resent
    assert [i["op_id"] for i in again["items"]] == ops
    assert report.resends == 1 and report.accepted == 2 and report.retries >= 1


def test_an_answer_lost_twice_is_settled_once_and_nothing_is_counted_twice(tablet, station):
    ops = record_readings(tablet, ["m-1", "m-2", "m-3", "m-4"])
    station.fault("POST /sync/push", "lose_answer")
    station.fault("GET /sync/batches", "refuse")
    station.fault("GET /sync/batches", "lose_answer")
    report = tablet.sync()
    assert Counter(op for p in station.pushes for op in (i["op_id"] for i in p["items"])) == Counter(ops)
    assert report.sent == 4 and report.accepted == 4 and report.duplicates == 0


def test_busy_answers_are_waited_out_for_at_least_retry_after(tablet, station, sleeps):
    record_readings(tablet, ["m-1"])
    station.fault("POST /sync/push", _error(503, "overloaded", "Busy.", {"Retry-After": "7"}))
    station.fault("POST /sync/push", _error(429, "rate_limited", "Slow down.", {"Retry-After": "3"}))
    report = tablet.sync()
    assert report.accepted == 1
    assert sleeps[0] >= 7 and sleeps[1] >= 3
    batch_ids = {p["batch_id"] for p in station.pushes}
    assert len(batch_ids) == 1


def test_a_batch_in_progress_elsewhere_is_settled_by_its_receipt_after_the_wait(tablet, station, sleeps):
    record_readings(tablet, ["m-1"])
    station.fault("POST /sync/push", "lose_answer")  # the first copy commits, its answer is lost
    station.fault("GET /sync/batches", _error(409, "batch_in_progress", "Wait.", {"Retry-After": "2"}))
    report = tablet.sync()
    assert len(station.pushes) == 1 and report.receipts_used == 1 and sleeps[-1] >= 2


def test_rejected_items_are_set_aside_and_the_rest_of_the_queue_goes_on(tablet, station):
    ops = record_readings(tablet, ["m-1", BAD_METER, "m-2", "m-3", ODD_METER])
    report = tablet.sync()
    assert (report.accepted, report.flagged, report.rejected) == (3, 1, 1)
    bad = tablet.outbox.item(ops[1])
    assert bad.state == "rejected" and bad.errors[0]["code"] == "not_assigned"
    odd = tablet.outbox.item(ops[4])
    assert odd.verdict == "flagged" and odd.review_task_id == "rt-1" and odd.flags[0]["code"] == "reverse_reading"
    pushed = len(station.pushes)
    tablet.sync()
    assert len(station.pushes) == pushed  # nothing resent: the rejected item waits for the user


def test_an_item_that_breaks_the_schema_is_set_aside_and_the_others_sent_in_a_new_batch(tablet, station):
    ops = record_readings(tablet, ["m-1", "m-2", "m-3"])
    station.fault("POST /sync/push", httpx.Response(400, json={"error": {
        "code": "invalid_request", "message": "Expected a decimal string.", "field": "$.items[1].value"}}))
    report = tablet.sync()
    assert tablet.outbox.item(ops[1]).state == "rejected"
    assert tablet.outbox.item(ops[1]).errors[0]["field"] == "$.items[1].value"
    [sent] = station.pushes
    assert [i["op_id"] for i in sent["items"]] == [ops[0], ops[2]]
    assert report.accepted == 2 and report.rejected == 1


def test_a_batch_too_large_is_split(tablet, station):
    record_readings(tablet, ["m-1", "m-2", "m-3"])
    station.fault("POST /sync/push", _error(413, "batch_too_large", "At most 1 item."))
    report = tablet.sync()
    assert report.accepted == 3
    assert [len(p["items"]) for p in station.pushes] == [1, 1, 1]


def test_after_a_crash_mid_send_the_next_run_asks_for_the_receipt_first(tablet, station, tmp_path, sleeps):
    ops = record_readings(tablet, ["m-1", "m-2"])
    batch = tablet.outbox.new_batch(10)
    tablet.outbox.note_attempt(batch.batch_id)  # the app died after sending, before the answer
    station._push({"batch_id": batch.batch_id, "items": [{"op_id": op, "meter_id": "m"} for op in ops]})
    station.pushes.clear()
    report = tablet.sync()
    assert station.pushes == [] and report.receipts_used == 1
    assert {tablet.outbox.item(op).verdict for op in ops} == {"accepted"}


def test_an_expired_token_is_renewed_by_logging_in_again(tablet, station):
    record_readings(tablet, ["m-1"])
    station.tokens.clear()
    report = tablet.sync()
    assert report.accepted == 1 and report.ok


def test_a_revoked_token_stops_the_run_and_keeps_the_outbox(tablet, station):
    ops = record_readings(tablet, ["m-1"])
    revoked = _error(401, "token_revoked", "Ask an administrator.")
    station.fault("POST /sync/push", revoked)
    report = tablet.sync()
    assert not report.ok and "token_revoked" in report.stopped
    assert tablet.outbox.item(ops[0]).state == "sending"  # kept, to be settled by a later run


def test_a_server_gone_for_good_ends_the_run_with_everything_kept(tablet, station, sleeps):
    ops = record_readings(tablet, ["m-1"])
    for _ in range(20):
        station.fault("POST /sync/push", "refuse")
        station.fault("GET /sync/batches", "refuse")
    report = tablet.sync()
    assert not report.ok and "no answer" in report.stopped
    assert len(sleeps) <= 6 and tablet.outbox.item(ops[0]).state == "sending"


def test_a_server_that_cannot_be_reached_to_log_in_again_ends_the_run_cleanly(tablet, station):
    record_readings(tablet, ["m-1"])
    station.tokens.clear()
    for _ in range(10):
        station.fault("POST /auth/login", "refuse")
    report = tablet.sync()
    assert not report.ok and report.stopped
    assert station.pushes == []
