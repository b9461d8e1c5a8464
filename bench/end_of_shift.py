"""The end-of-shift rush: N tablets × readings and photos, all syncing at once, measured.

Builds one demo station big enough for the largest size (``fieldsync demo``'s
generator: one route a reader, every route at least --readings meters), then
for each size runs on a fresh copy of it (a copied SQLite file, or a
PostgreSQL database made from the template, dropped afterwards):

- ``fieldsync serve`` as a child process on a free loopback port;
- ``fieldsync simulate``'s driver: N readers and two inspector pairs record
  their shift, then sync at once; every outbox is reconciled against the
  server's stored items;
- items per second over the rush (photos and the final pull included) and
  until every item was answered (``push/s``), batch latency p50 / p99, the
  server's peak RSS (VmHWM) and peak anonymous memory, requests that failed
  on a database lock (from the server's log: must be 0);
- the raw baseline in the same database: executemany of as many rows into a
  scratch copy of the readings table, 500-row transactions; the ratio is
  items per second ÷ raw rows per second.

    .venv/bin/python bench/end_of_shift.py [--database-url URL] [--sizes 50,100,200] [--workers N]
        [--readings 300] [--photos 5] [--seed 1] [--json FILE]
"""

from __future__ import annotations

import argparse
import json
import math
import re
import shutil
import sqlite3
import sys
import tempfile
import threading
import time
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from random import Random
from typing import Any, Iterator
from zoneinfo import ZoneInfo

from sqlalchemy import create_engine, select, text
from sqlalchemy.engine import make_url

import push as push_bench  # the push bench's station database and raw baseline
from server.db import migrate
from server.db.engine import Database
from server.db.tables import assignments
from server.demo import create_demo_station
from server.demo.ledger import plan_station
from server.serve_process import ServeProcess
from server.settings import Settings, normalise_database_url
from server.simulate.run import Options, has_photo_routes, run_simulation
from server.simulate.summary import figures as simulation_figures

DEFAULT_SIZES = (50, 100, 200)
RAW_BATCH = 500
LOCK_ERROR = re.compile(r"database is locked|database table is locked|deadlock detected|lock timeout|"
                        r"LockNotAvailable|could not obtain lock", re.IGNORECASE)
LOG_RECORD = re.compile(r"^(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d|INFO:|WARNING:|ERROR:)")


# -- the station ------------------------------------------------------------------------------------


def meters_for(routes: int, readings: int, seed: int, today) -> int:
    """The fewest customer meters (in 5 % steps) for which every route holds ``readings`` of them."""
    wanted = math.ceil(routes * readings / 0.7)
    for _ in range(40):
        station = plan_station(Random(f"{seed}:ledger"), routes, wanted, today)
        per_route: dict[str, int] = {}
        for m in station.meters:
            per_route[m.route.id] = per_route.get(m.route.id, 0) + (not m.is_district_meter)
        if min(per_route.values()) >= readings:
            return wanted
        wanted = math.ceil(wanted * 1.05)
    raise SystemExit(f"no station of {routes} routes gives every route {readings} meters")


def build_template(settings: Settings, routes: int, readings: int, seed: int) -> dict[str, Any]:
    today = datetime.now(ZoneInfo(settings.station_timezone)).date()
    n_meters = meters_for(routes, readings, seed, today)
    db = Database(settings.database_url)
    try:
        migrate.upgrade(db)
        began = time.perf_counter()
        report = create_demo_station(db, settings, seed=seed, routes=routes, meters=n_meters, progress=True)
    finally:
        db.dispose()
    return {"routes": report.routes, "meters": report.meters, "history_readings": report.readings,
            "station_build_s": round(time.perf_counter() - began, 1)}


@contextmanager
def station_copy(template_url: str, data_dir: Path, label: str) -> Iterator[str]:
    """A fresh copy of the template station: a copied SQLite file, or a PostgreSQL database made from it."""
    if template_url.startswith("sqlite"):
        data_dir.mkdir(parents=True)
        target = data_dir / "fieldsync.db"
        with sqlite3.connect(make_url(template_url).database) as source, sqlite3.connect(target) as copy:
            source.backup(copy)  # the WAL's pages included
        try:
            yield f"sqlite:///{target}"
        finally:
            shutil.rmtree(data_dir, ignore_errors=True)
        return
    url = make_url(normalise_database_url(template_url))
    name = f"{url.database}_{label}"
    admin = create_engine(url.set(database="postgres"), isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}" TEMPLATE "{url.database}"'))
        data_dir.mkdir(parents=True)
        try:
            yield url.set(database=name).render_as_string(hide_password=False)
        finally:
            with admin.connect() as conn:
                conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
            shutil.rmtree(data_dir, ignore_errors=True)
    finally:
        admin.dispose()


# -- one size ------------------------------------------------------------------------------------


def peak_rss_mib(pid: int) -> float | None:
    """The server's peak resident memory (VmHWM): with worker processes, the sum of each one's peak."""
    total, found_any = 0, False
    for process in (pid, *_children(pid)):
        try:
            status = Path(f"/proc/{process}/status").read_text()
        except OSError:
            continue
        found = re.search(r"^VmHWM:\s+(\d+) kB", status, re.MULTILINE)
        if found:
            total, found_any = total + int(found.group(1)), True
    return round(total / 1024, 1) if found_any else None


class AnonymousPeak:
    """The server's peak anonymous memory (RssAnon, summed over its processes), sampled while it
    runs. VmHWM also counts the database file's pages each process reads through its memory map:
    shared, and given back under memory pressure like any page cache."""

    def __init__(self, pid: int, every_s: float = 0.5) -> None:
        self.pid, self.every_s, self.peak_kib = pid, every_s, 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)

    def __enter__(self) -> "AnonymousPeak":
        self._thread.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self._stop.set()
        self._thread.join()

    @property
    def mib(self) -> float:
        return round(self.peak_kib / 1024, 1)

    def _sample(self) -> None:
        while True:
            total = 0
            for process in (self.pid, *_children(self.pid)):
                try:
                    status = Path(f"/proc/{process}/status").read_text()
                except OSError:
                    continue
                found = re.search(r"^RssAnon:\s+(\d+) kB", status, re.MULTILINE)
                total += int(found.group(1)) if found else 0
            self.peak_kib = max(self.peak_kib, total)
            if self._stop.wait(self.every_s):
                return


def _children(pid: int) -> list[int]:
    try:
        return [int(c) for c in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
    except OSError:
        return []


def lock_failures(log_path: Path) -> int:
    """Log records (a line and its traceback) of the server that mention a database lock."""
    failures, record = 0, ""
    for line in log_path.read_text(errors="replace").splitlines() + ["INFO: end"]:
        if LOG_RECORD.match(line):
            failures += bool(LOCK_ERROR.search(record))
            record = ""
        record += line + "\n"
    return failures


def measure_raw(settings: Settings, rows: int) -> dict[str, Any]:
    """The push bench's baseline on this station: executemany of ``rows`` readings into a scratch
    copy of the readings table, RAW_BATCH rows a transaction."""
    db = Database(settings.database_url)
    try:
        with db.read() as conn:
            due = conn.execute(select(assignments.c.user_id, assignments.c.meter_id, assignments.c.id)
                               .order_by(assignments.c.id).limit(rows)).all()
    finally:
        db.dispose()
    readers: dict[str, push_bench.Tablet] = {}
    for i in range(rows):
        user, meter, assignment = due[i % len(due)]
        reader = readers.setdefault(user, push_bench.Tablet(reader=user, device_id=user, route_id=""))
        reader.due.append((meter, assignment, f"{1000 + i % 997}.0"))
    return push_bench.measure_raw(settings, list(readers.values()), RAW_BATCH)


def run_size(template_url: str, work: Path, tablets: int, args: argparse.Namespace) -> dict[str, Any]:
    with station_copy(template_url, work / f"size-{tablets}", f"s{tablets}") as url:
        settings = Settings(data_dir=work / f"size-{tablets}", database_url=url)
        with ServeProcess(settings.database_url, settings.data_dir, workers=args.workers) as server:
            base_url = server.url
            photos = args.photos if has_photo_routes(base_url) else 0
            if photos != args.photos:
                print("this server has no photo routes: the tablets take no photos", flush=True)
            with AnonymousPeak(server.pid) as anonymous:
                result = run_simulation(Options(
                    server=base_url, tablets=tablets, readings_per_tablet=args.readings,
                    photos_per_tablet=photos, seed=args.seed, workdir=work / f"tablets-{tablets}",
                ))
            rss = peak_rss_mib(server.pid)
        figures = simulation_figures(result)
        figures.update(server_peak_rss_mib=rss, server_peak_anon_mib=anonymous.mib,
                       lock_errors=lock_failures(server.log))
        figures.update(measure_raw(settings, figures["items_sent"]))
    shutil.rmtree(work / f"tablets-{tablets}", ignore_errors=True)
    figures["ratio_to_raw"] = round(figures["items_per_s"] / figures["raw_rows_per_s"], 3)
    figures["push_ratio_to_raw"] = round((figures["push_items_per_s"] or 0) / figures["raw_rows_per_s"], 3)
    print(f"{tablets} tablets: {figures['items_sent']} items at {figures['items_per_s']:.0f}/s, "
          f"reconciled: {'yes' if figures['reconciled'] else 'NO'}", flush=True)
    return figures


# -- the run -------------------------------------------------------------------------------------


def print_table(backend: str, workers: int, station: dict[str, Any], runs: list[dict[str, Any]]) -> None:
    print(f"\nend of shift on {backend}, {workers} server process{'es' if workers > 1 else ''}: "
          f"station of {station['routes']} routes, {station['meters']} meters "
          f"(built in {station['station_build_s']} s)")
    print(f"{'tablets':>7} {'items':>7} {'items/s':>8} {'push/s':>7} {'p50 ms':>7} {'p99 ms':>7} {'RSS MiB':>8} {'anon MiB':>8} {'locks':>5} "
          f"{'raw/s':>8} {'ratio':>6} {'push ratio':>10} {'photos':>6} {'reconciled':>10}")
    for f in runs:
        print(f"{f['tablets']:>7} {f['items_sent']:>7} {f['items_per_s']:>8.0f} {f['push_items_per_s'] or 0:>7.0f} "
              f"{f['batch_p50_ms'] or 0:>7.0f} "
              f"{f['batch_p99_ms'] or 0:>7.0f} {f['server_peak_rss_mib'] or 0:>8.0f} "
              f"{f.get('server_peak_anon_mib') or 0:>8.0f} {f['lock_errors']:>5} "
              f"{f['raw_rows_per_s']:>8.0f} {f['ratio_to_raw']:>6.2f} {f['push_ratio_to_raw']:>10.2f} {f['photos_stored']:>6} "
              f"{'yes' if f['reconciled'] else 'NO':>10}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--database-url", default="",
                        help="PostgreSQL server to create the bench's own databases on (default: SQLite in a temp dir)")
    parser.add_argument("--sizes", default=",".join(map(str, DEFAULT_SIZES)),
                        help="tablet counts, comma-separated (default 50,100,200)")
    parser.add_argument("--readings", type=int, default=300, help="readings a tablet (default 300)")
    parser.add_argument("--photos", type=int, default=5, help="photos a reader tablet (default 5)")
    parser.add_argument("--seed", type=int, default=1)
    push_bench.add_workers_option(parser)
    parser.add_argument("--json", type=Path, help="also write the figures to this file")
    args = parser.parse_args(argv)
    sizes = sorted({int(s) for s in args.sizes.split(",") if s.strip()})
    with tempfile.TemporaryDirectory(prefix="fieldsync-bench-shift-") as tmp:
        work = Path(tmp)
        with push_bench.own_database(args.database_url, work / "template") as template_url:
            (work / "template").mkdir(exist_ok=True)
            settings = Settings(data_dir=work / "template", database_url=template_url)
            station = build_template(settings, max(sizes), args.readings, args.seed)
            runs = [run_size(template_url, work, n, args) for n in sizes]
    backend = "sqlite" if template_url.startswith("sqlite") else "postgresql"
    print_table(backend, args.workers, station, runs)
    if args.json:
        args.json.write_text(json.dumps({"backend": backend, "workers": args.workers, "station": station, "readings_per_tablet": args.readings,
                                         "photos_per_tablet": args.photos, "runs": runs}, indent=2) + "\n")
    return 0 if all(f["reconciled"] and f["lock_errors"] == 0 for f in runs) else 1


if __name__ == "__main__":
    sys.exit(main())
