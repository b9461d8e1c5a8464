"""The push benchmark runs end to end in a tiny size and reports every figure."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[2] / "bench" / "push.py"
PG_URL = os.environ.get("FIELDSYNC_TEST_POSTGRES_URL")
TINY = ["--tablets", "2", "--batches-per-tablet", "2", "--batch-size", "20", "--resend-share", "0.5"]


@pytest.mark.parametrize("backend", [
    "sqlite",
    pytest.param("postgres", marks=pytest.mark.skipif(not PG_URL, reason="FIELDSYNC_TEST_POSTGRES_URL is not set")),
])
def test_the_bench_pushes_resends_and_reports_every_figure(backend: str, tmp_path: Path) -> None:
    out = tmp_path / "figures.json"
    database = ["--database-url", PG_URL] if backend == "postgres" else []
    run = subprocess.run([sys.executable, str(BENCH), *TINY, *database, "--json", str(out)],
                         capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stdout + run.stderr
    figures = json.loads(out.read_text(encoding="utf-8"))
    assert figures["backend"] == ("postgresql" if backend == "postgres" else "sqlite")
    assert figures["items"] == figures["raw_rows"] == 2 * 2 * 20
    for name in ("ratio", "items_per_s", "raw_rows_per_s", "p50_ms", "p99_ms"):
        assert figures[name] > 0, name
    assert figures["p50_ms"] <= figures["p99_ms"]
    # Plausible readings: stored, not rejected.
    assert figures["statuses"]["rejected"] == 0
    assert figures["statuses"]["accepted"] + figures["statuses"]["flagged"] == figures["items"]
    assert figures["resent_batches"] == 2 and figures["resent_items"] == 40
    assert figures["resend_all_duplicate"] and figures["stored_once"] and figures["resend_ok"]
    assert "ratio pushed / raw" in run.stdout
