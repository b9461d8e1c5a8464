"""How fast the server hands a reader the full snapshot of a route.

Builds a station with one route of 2,000 meters and a year of history (SQLite
in a temporary directory, or the empty database of --database-url), starts
the real server (``fieldsync serve``) on a free loopback port, logs the
route's reader in, and measures over --repeat runs:

- the median time to pull every page of a full snapshot, with the default
  page size (500) and with the largest (5,000), gzip and identity;
- the bytes on the wire (the raw response bodies) with and without gzip;
- the median time to select the same rows (meters, customers, assignments of
  the route) straight from the database, in the same run.

Machines are noisy, so the figure to compare is the ratio: pull time ÷ raw
query time.

    .venv/bin/python bench/pull.py [--meters 2000] [--repeat 5] [--database-url URL] [--json FILE]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Callable

import httpx
import msgspec
from sqlalchemy import create_engine, text

from server.db import migrate
from server.db.engine import Database
from server.demo import DEMO_PASSWORD, create_demo_station, meters_on_record
from server.serve_process import ServeProcess
from server.settings import Settings


ROUTE, READER = "R01", "reader01"
LIMITS = (500, 5000)
ENCODINGS = ("gzip", "identity")
RAW_QUERIES = (
    "SELECT * FROM meters WHERE route_id = :route",
    "SELECT c.* FROM customers c JOIN meters m ON m.customer_id = c.id WHERE m.route_id = :route",
    "SELECT * FROM assignments WHERE route_id = :route AND status = 'open'",
)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--meters", type=int, default=2000, help="meters on the route (default 2000)")
    parser.add_argument("--repeat", type=int, default=5, help="runs per figure; the median is reported (default 5)")
    parser.add_argument("--database-url", default="", help="an empty database (default: SQLite in a temp dir)")
    parser.add_argument("--json", type=Path, help="also write the figures to this file")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="fieldsync-bench-") as data_dir:
        settings = Settings(data_dir=Path(data_dir), database_url=args.database_url)
        build_s = build_station(settings, args.meters)
        with ServeProcess(settings.database_url, settings.data_dir) as server:
            figures = measure(server.url, settings, args.repeat)
    figures.update(meters=args.meters, repeat=args.repeat, build_s=round(build_s, 2),
                   database="sqlite" if settings.is_sqlite else "postgresql")
    print_table(figures)
    if args.json:
        args.json.write_text(json.dumps(figures, indent=2) + "\n", encoding="utf-8")
    return 0


def build_station(settings: Settings, meters: int) -> float:
    started = time.perf_counter()
    db = Database(settings.database_url)
    try:
        migrate.upgrade(db)
        if meters_on_record(db):
            raise SystemExit("the database already holds meters; give the benchmark an empty one")
        create_demo_station(db, settings, routes=1, meters=meters)
    finally:
        db.dispose()
    return time.perf_counter() - started


def full_snapshot(client: httpx.Client, headers: dict[str, str], limit: int) -> tuple[int, int, int]:
    """Pull every page without a cursor: (pages, changes, raw bytes received)."""
    pages = changes = received = 0
    cursor = None
    while True:
        params: dict[str, Any] = {"schema_version": 1, "limit": limit}
        if cursor:
            params["cursor"] = cursor
        res = client.get("/api/v1/sync/pull", params=params, headers=headers)
        res.raise_for_status()
        body = msgspec.json.decode(res.content)
        pages, changes, received = pages + 1, changes + len(body["changes"]), received + res.num_bytes_downloaded
        cursor = body["cursor"]
        if not body["has_more"]:
            return pages, changes, received


def median_seconds(run: Callable[[], object], repeat: int) -> float:
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        run()
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def raw_query_seconds(settings: Settings, repeat: int) -> tuple[float, int]:
    """The route's meters, customers and assignments selected directly: median time and rows."""
    engine = create_engine(settings.database_url)
    try:
        with engine.connect() as conn:
            def select_all() -> int:
                return sum(len(conn.execute(text(sql), {"route": ROUTE}).all()) for sql in RAW_QUERIES)

            rows = select_all()  # warm-up, as the pull gets one
            return median_seconds(select_all, repeat), rows
    finally:
        engine.dispose()


def measure(base_url: str, settings: Settings, repeat: int) -> dict[str, Any]:
    with httpx.Client(base_url=base_url, timeout=120) as client:
        res = client.post("/api/v1/auth/login", json={
            "username": READER, "password": DEMO_PASSWORD, "device_id": "bench-tablet",
            "app_version": "bench", "schema_version": 1,
        })
        res.raise_for_status()
        token = {"Authorization": f"Bearer {res.json()['token']}"}
        full_snapshot(client, {**token, "Accept-Encoding": "gzip"}, LIMITS[0])  # warm-up
        pulls: dict[str, Any] = {}
        for limit in LIMITS:
            for encoding in ENCODINGS:
                headers = {**token, "Accept-Encoding": encoding}
                pages, changes, received = full_snapshot(client, headers, limit)
                seconds = median_seconds(lambda: full_snapshot(client, headers, limit), repeat)
                pulls[f"limit_{limit}_{encoding}"] = {
                    "limit": limit, "encoding": encoding, "pages": pages, "changes": changes,
                    "bytes": received, "median_s": round(seconds, 6),
                }
    raw_s, raw_rows = raw_query_seconds(settings, repeat)
    ratios = {name: round(p["median_s"] / raw_s, 1) for name, p in pulls.items()}
    return {
        "pulls": pulls, "raw_query_median_s": round(raw_s, 6), "raw_rows": raw_rows,
        "ratios": ratios, "ratio": ratios[f"limit_{LIMITS[0]}_gzip"],
    }


def print_table(figures: dict[str, Any]) -> None:
    print(f"full snapshot of a {figures['meters']}-meter route on {figures['database']}, "
          f"median of {figures['repeat']} (station built in {figures['build_s']} s)")
    print(f"{'limit':>6} {'encoding':<9} {'pages':>5} {'changes':>7} {'bytes':>10} {'median ms':>10} {'÷ raw':>7}")
    for name, p in figures["pulls"].items():
        print(f"{p['limit']:>6} {p['encoding']:<9} {p['pages']:>5} {p['changes']:>7} {p['bytes']:>10} "
              f"{p['median_s'] * 1000:>10.1f} {figures['ratios'][name]:>7}")
    print(f"raw SELECT of the same {figures['raw_rows']} rows: {figures['raw_query_median_s'] * 1000:.1f} ms; "
          f"ratio (limit 500, gzip) {figures['ratio']}")


if __name__ == "__main__":
    sys.exit(main())
