"""A server killed with SIGKILL in the middle of a batch loses nothing and stores nothing
twice: the tablet resends the batch to the restarted server (PROTOCOL §5)."""

from __future__ import annotations

import threading
import time
from datetime import date, datetime, timedelta, timezone

import httpx
import pytest
from sqlalchemy import func, select, text

from server.db.tables import ops, readings
from server.services import cycles
from server.serve_process import ServeProcess
from tests.factories import PASSWORD, T0, add_route, add_user
from tests.push_helpers import batch, now_text, reading

pytestmark = pytest.mark.slow
BATCH = 400
# Kill points as shares of the time one batch takes on this machine, measured first:
# while the body is read, while the transaction is open, around the commit.
KILL_AT = (0.1, 0.5, 0.8, 1.0)


def _login(url: str) -> dict[str, str]:
    res = httpx.post(f"{url}/api/v1/auth/login", json={
        "username": "reader01", "password": PASSWORD, "device_id": "tab-1", "app_version": "1", "schema_version": 1,
    }, timeout=30)
    res.raise_for_status()
    return {"Authorization": f"Bearer {res.json()['token']}"}


def _push(url: str, body: dict, headers: dict[str, str]) -> httpx.Response:
    # As a tablet does: the same batch_id and items on every send, the clock read at sending.
    return httpx.post(f"{url}/api/v1/sync/push", json={**body, "sent_at": now_text()}, headers=headers, timeout=60)


def _stored(db) -> int:
    with db.read() as conn:
        return conn.execute(select(func.count()).select_from(ops)).scalar_one()


def test_killed_mid_batch_then_resent_stores_every_item_exactly_once(db, settings, tmp_path):
    add_user(db, "reader01", "reader")
    meter_ids = add_route(db, "r-01", BATCH * (len(KILL_AT) + 1), history=3)
    today = date.today()
    cycles.open_cycle(db, today.strftime("%Y-%m"), "r-01", "reader01", today - timedelta(days=5), today + timedelta(days=5))
    with db.read() as conn:
        assignment = dict(conn.execute(text("SELECT meter_id, id FROM assignments")).all())
    days = (datetime.now(timezone.utc) - (T0 + timedelta(days=60))).days
    batches = [
        batch([reading(m, assignment[m], str(1600 + 10 * days)) for m in meter_ids[i * BATCH:(i + 1) * BATCH]])
        for i in range(len(KILL_AT) + 1)
    ]

    server = ServeProcess(settings.database_url, tmp_path).start()
    outcomes = []
    try:
        headers = _login(server.url)
        started = time.monotonic()
        assert _push(server.url, batches[0], headers).status_code == 200
        one_batch_s = time.monotonic() - started
        for share, body in zip(KILL_AT, batches[1:]):
            before = _stored(db)
            sender = threading.Thread(target=lambda b=body: outcomes.append(_safe_push(server.url, b, headers)))
            sender.start()
            time.sleep(share * one_batch_s)
            server.kill()
            sender.join()
            committed = _stored(db) - before
            assert committed in (0, BATCH), "a batch committed in part"
            server = ServeProcess(settings.database_url, tmp_path, port=server.port).start()
            # The tablet got no answer (or may not have kept it): it resends the same batch.
            res = _push(server.url, body, headers)
            assert res.status_code == 200, res.text
            statuses = {r["status"] for r in res.json()["results"]}
            assert statuses == ({"duplicate"} if committed else {"accepted"})
            receipt = httpx.get(f"{server.url}/api/v1/sync/batches/{body['batch_id']}", headers=headers, timeout=30)
            assert receipt.json()["results"] == res.json()["results"]
    finally:
        server.stop()

    with db.read() as conn:
        field_reads = conn.execute(select(func.count()).where(readings.c.source == "field")).scalar_one()
        if db.is_sqlite:
            assert conn.execute(text("PRAGMA integrity_check")).scalar() == "ok"
    assert _stored(db) == field_reads == BATCH * len(batches)


def _safe_push(url: str, body: dict, headers: dict[str, str]) -> object:
    try:
        return _push(url, body, headers).status_code
    except httpx.HTTPError as exc:
        return exc
