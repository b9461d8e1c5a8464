"""The photo benchmark runs end to end in a tiny size and reports every figure."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

BENCH = Path(__file__).resolve().parents[2] / "bench" / "photos.py"
TINY = ["--photos", "3", "--concurrency", "2", "--at-once", "3", "--photo-mb", "0.1"]


def test_the_bench_uploads_photos_and_reports_every_figure(tmp_path: Path) -> None:
    out = tmp_path / "figures.json"

    run = subprocess.run([sys.executable, str(BENCH), *TINY, "--json", str(out)],
                         capture_output=True, text=True, timeout=120)

    assert run.returncode == 0, run.stdout + run.stderr
    figures = json.loads(out.read_text(encoding="utf-8"))
    assert figures["photos"] == 3 and figures["at_once"] == 3
    assert figures["statuses"] == {"201": 3} and figures["at_once_statuses"] == {"201": 3}
    for name in ("ratio", "http_photos_per_s", "raw_photos_per_s", "peak_rss_mb", "rss_before_at_once_mb"):
        assert figures[name] > 0, name
    assert 0.05 <= figures["photo_mb"] <= 0.2
    assert "ratio HTTP / raw" in run.stdout
