"""Fault runs of the end-of-shift rush against a real server on a demo station: a network that
loses a fifth of the requests, and a server killed with SIGKILL twice mid-rush. Either way every
item in every outbox must be on the server exactly once with the tablet's verdict."""

from __future__ import annotations

import threading
import time

import httpx
import pytest
from sqlalchemy import delete, select, text

from server.db.tables import ops, readings
from server.demo import create_demo_station
from server.simulate.reconcile import reconcile
from server.simulate.run import Options, has_photo_routes, run_simulation
from sync.client import Api, Backoff, Outbox, SyncReport
from sync.client.session import Session
from server.serve_process import ServeProcess

pytestmark = pytest.mark.slow
TABLETS, READINGS, PHOTOS = 3, 40, 2
KILLS = 2


@pytest.fixture
def station(db, settings, tmp_path):
    """A demo station with a route of at least READINGS meters a reader, served on loopback."""
    create_demo_station(db, settings, seed=11, routes=TABLETS + 1, meters=(TABLETS + 1) * 70)
    server = ServeProcess(settings.database_url, tmp_path).start()
    yield server
    server.stop()


def options(server: ServeProcess, tmp_path, **extra) -> Options:
    photos = PHOTOS if has_photo_routes(server.url) else 0
    chosen = dict(server=server.url, tablets=TABLETS, readings_per_tablet=READINGS, photos_per_tablet=photos,
                  anomaly_rate=0.1, seed=5, chunk_bytes=8 * 1024, progress=False, workdir=tmp_path / "tablets",
                  backoff_cap_s=1.0, rush_timeout_s=120)
    return Options(**(chosen | extra))


def stored_from_simulated_tablets(db) -> int:
    with db.read() as conn:
        return len(conn.execute(select(ops.c.op_id).where(ops.c.device_id.like("sim-%"))).all())


def test_a_fifth_of_requests_lost_still_reconciles_exactly(station, db, tmp_path):
    result = run_simulation(options(station, tmp_path, flaky=0.2))
    assert result.ok, "\n".join(result.reconciliation.problems)
    cut = {"chunk_cut"} if result.options.photos_per_tablet else set()
    assert set(result.faults) == {"dropped_before", "answer_lost"} | cut
    totals = result.totals
    recorded = sum(t.shift.items for t in result.tablets)
    assert totals.sent == recorded == result.reconciliation.items_checked
    assert stored_from_simulated_tablets(db) == totals.accepted + totals.flagged
    assert totals.photos_uploaded + totals.photos_already_held == sum(t.shift.photos for t in result.tablets)
    assert totals.receipts_used + totals.resends > 0  # lost answers were settled, not guessed


def test_a_server_killed_twice_mid_rush_loses_nothing_and_stores_nothing_twice(station, db, settings, tmp_path):
    kills: list[int] = []
    server = {"process": station}

    def killer(answered, total) -> None:
        def run() -> None:
            for k in range(1, KILLS + 1):
                deadline = time.monotonic() + 60
                while answered() < total * k // (KILLS + 1) and time.monotonic() < deadline:
                    time.sleep(0.01)
                server["process"].kill()
                kills.append(answered())
                time.sleep(1.0)  # the tablets meet a dead server and back off
                server["process"] = ServeProcess(settings.database_url, tmp_path, port=station.port).start()

        threading.Thread(target=run, daemon=True).start()

    result = run_simulation(options(station, tmp_path, batch_size=5, on_rush=killer))
    assert len(kills) == KILLS and kills[0] < kills[1]
    assert result.ok, "\n".join(result.reconciliation.problems)
    assert result.totals.retries > 0
    assert stored_from_simulated_tablets(db) == result.totals.accepted + result.totals.flagged
    server["process"].stop()
    if db.is_sqlite:
        with db.read() as conn:
            assert conn.execute(text("PRAGMA integrity_check")).scalar() == "ok"


def test_reconciliation_reads_the_servers_store_not_the_answers(station, db, tmp_path):
    result = run_simulation(options(station, tmp_path, inspection_teams=0, photos_per_tablet=0))
    assert result.ok
    outbox = Outbox(tmp_path / "tablets" / "sim-tab-01.db")
    lost = next(i for i in outbox.items() if i.status == "accepted" and i.type == "reading")
    with db.write() as conn:  # the server loses an item it had answered for
        conn.execute(delete(readings).where(readings.c.op_id == lost.op_id))
        conn.execute(delete(ops).where(ops.c.op_id == lost.op_id))
    with httpx.Client(base_url=station.url, timeout=30) as http:
        api = Api(http)
        api.login("admin", "demo", "office-1")
        again = reconcile(Session(api, Backoff(max_attempts=3), SyncReport()), {"sim-tab-01": outbox})
    outbox.close()
    assert not again.ok
    assert again.problem_kinds == {"missing": 1}
    assert lost.op_id in again.problems[0]
