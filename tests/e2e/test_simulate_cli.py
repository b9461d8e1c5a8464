"""``fieldsync simulate`` as an operator runs it, and bench/end_of_shift.py in a tiny size."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from server.demo import create_demo_station
from server.simulate import run as simulation
from server.simulate.reconcile import Reconciliation
from server.serve_process import ServeProcess

pytestmark = pytest.mark.slow
BENCH = Path(__file__).resolve().parents[2] / "bench" / "end_of_shift.py"


@pytest.fixture
def station(db, settings, tmp_path):
    create_demo_station(db, settings, seed=3, routes=3, meters=150)
    server = ServeProcess(settings.database_url, tmp_path).start()
    yield server
    server.stop()


def test_the_command_prints_the_summary_and_succeeds_when_everything_reconciles(run, station, tmp_path):
    figures = tmp_path / "figures.json"
    photos = "1" if simulation.has_photo_routes(station.url) else "0"
    result = run("simulate", "--server", station.url, "--tablets", "2", "--readings-per-tablet", "15",
                 "--photos-per-tablet", photos, "--flaky", "0.1", "--quiet", "--json", str(figures))
    assert result.exit_code == 0, result.output
    assert "Reconciliation OK" in result.output
    for words in ("items sent", "accepted", "flagged", "rejected", "duplicates answered", "photos stored",
                  "review tasks", "items/s", "p50", "p99"):
        assert words in result.output, words
    numbers = json.loads(figures.read_text())
    assert numbers["reconciled"] and numbers["items_sent"] == numbers["reconciliation"]["items_checked"]


def test_the_command_says_so_and_fails_when_reconciliation_fails(run, station, monkeypatch):
    def broken(session, outboxes, since=None):
        found = Reconciliation(items_checked=1)
        found.problem("missing", "sim-tab-01: reading 0000 (M1) is accepted on the tablet but not stored")
        return found

    monkeypatch.setattr(simulation, "reconcile", broken)
    result = run("simulate", "--server", station.url, "--tablets", "1", "--readings-per-tablet", "5",
                 "--photos-per-tablet", "0", "--inspection-teams", "0", "--quiet")
    assert result.exit_code == 1
    assert "RECONCILIATION FAILED" in result.output and "not stored" in result.output


def test_a_station_without_such_readers_is_refused_with_a_reason(run, station):
    result = run("simulate", "--server", station.url, "--tablets", "1", "--password", "wrong", "--quiet")
    assert result.exit_code != 0 and "reader01" in result.output
    result = run("simulate", "--server", station.url, "--tablets", "5", "--quiet")  # the station has 3 readers
    assert result.exit_code != 0 and "reader04 cannot log in" in result.output


def test_the_bench_runs_a_tiny_rush_and_reports_every_figure(tmp_path):
    out = tmp_path / "figures.json"
    done = subprocess.run([sys.executable, str(BENCH), "--sizes", "2", "--readings", "10", "--photos", "1",
                           "--workers", "2", "--json", str(out)], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr
    [size] = json.loads(out.read_text())["runs"]
    assert size["reconciled"] and size["lock_errors"] == 0
    for name in ("items_per_s", "batch_p50_ms", "batch_p99_ms", "server_peak_rss_mib", "server_peak_anon_mib",
                 "raw_rows_per_s", "ratio_to_raw"):
        assert size[name] > 0, name
    assert "reconciled" in done.stdout
