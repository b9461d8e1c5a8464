"""'fieldsync serve --workers 2': batches judged in two processes at once, stored once, and the
workers go when the serving process is killed."""

from __future__ import annotations

import time
from datetime import date, timedelta

import httpx
import pytest
from sqlalchemy import func, select, text

from server.db.tables import ops
from server.services import cycles
from server.serve_process import ServeProcess
from tests.factories import PASSWORD, add_route, add_user
from tests.integration.test_push_state_writer import at_once
from tests.push_helpers import batch, now_text, reading

pytestmark = pytest.mark.slow
TABLETS = 4


def _login(url: str, reader: str) -> dict[str, str]:
    res = httpx.post(f"{url}/api/v1/auth/login", json={
        "username": reader, "password": PASSWORD, "device_id": f"tab-{reader}", "app_version": "1",
        "schema_version": 1}, timeout=30)
    res.raise_for_status()
    return {"Authorization": f"Bearer {res.json()['token']}"}


def test_two_workers_store_every_batch_once_and_go_with_the_server(db, settings, tmp_path):
    readers = [add_user(db, f"reader{i:02d}", "reader") for i in range(TABLETS)]
    today = date.today()
    bodies: dict[str, list[dict]] = {}
    for i, reader in enumerate(readers):
        meters = add_route(db, f"r-{i:02d}", 60, history=3)
        cycles.open_cycle(db, today.strftime("%Y-%m"), f"r-{i:02d}", reader, today - timedelta(days=5),
                          today + timedelta(days=5))
        with db.read() as conn:
            assignment = dict(conn.execute(text("SELECT meter_id, id FROM assignments")).all())
        bodies[reader] = [batch([reading(m, assignment[m], "1700") for m in meters[k::3]],
                                device_id=f"tab-{reader}") for k in range(3)]
    server = ServeProcess(settings.database_url, tmp_path, workers=2).start()
    try:
        answers: dict[str, list[httpx.Response]] = {r: [] for r in readers}

        def send(reader: str) -> None:
            headers = _login(server.url, reader)
            for body in bodies[reader] + bodies[reader][:1]:  # the first batch sent again
                answers[reader].append(httpx.post(f"{server.url}/api/v1/sync/push",
                                                  json={**body, "sent_at": now_text()}, headers=headers, timeout=60))

        at_once(send, readers)
        for reader in readers:
            assert [a.status_code for a in answers[reader]] == [200] * 4
            assert {r["status"] for r in answers[reader][-1].json()["results"]} == {"duplicate"}
        with db.read() as conn:
            assert conn.execute(select(func.count()).select_from(ops)).scalar_one() == TABLETS * 60
            assert conn.execute(select(func.count(func.distinct(ops.c.batch_id)))).scalar_one() == TABLETS * 3

        server.kill()
        assert _stops_answering(server.url), "a worker outlived the killed server"
        server = ServeProcess(settings.database_url, tmp_path, port=server.port, workers=2).start()
        headers = _login(server.url, readers[0])
        res = httpx.post(f"{server.url}/api/v1/sync/push", json={**bodies[readers[0]][1], "sent_at": now_text()},
                         headers=headers, timeout=60)
        assert {r["status"] for r in res.json()["results"]} == {"duplicate"}
    finally:
        server.stop()


def _stops_answering(url: str, within_s: float = 10) -> bool:
    deadline = time.monotonic() + within_s
    while time.monotonic() < deadline:
        try:
            httpx.get(f"{url}/healthz", timeout=1)
        except httpx.TransportError:
            return True
        time.sleep(0.1)
    return False
