"""How fast concurrent tablets push validated readings, against raw inserts of the same rows.

Builds a station in a database of its own (SQLite in a temporary directory,
or a fresh PostgreSQL database created next to the one --database-url names,
dropped afterwards): --tablets readers, each with a route of
batches × batch size meters and a year of monthly history, a cycle open with
a read assignment per meter. Starts the real server (``fieldsync serve``) on
a free loopback port, logs every reader in, and then:

- every tablet pushes its batches of plausible readings, all tablets at
  once: items per second over the whole push, batch latency p50 / p99;
- a share of the batches is sent again: every item must come back
  ``duplicate``, and the database must hold each op_id once;
- the raw baseline, in the same database: the same number of rows inserted
  with ``executemany`` into a copy of the readings table (same columns and
  indexes), one transaction per batch, one connection.

Machines are noisy, so the figure to compare is the ratio pushed ÷ raw
(PERFORMANCE.md; the target is 0.5). ``--profile`` instead runs the push
service in this process on the same kind of batches and prints where the
time goes: sections of ``server.services.push.push`` and a cProfile top list.

    .venv/bin/python bench/push.py [--database-url URL] [--tablets 8] [--batches-per-tablet 15]
        [--batch-size 500] [--resend-share 0.1] [--workers 1] [--json FILE] [--profile]
"""

from __future__ import annotations

import argparse
import cProfile
import io
import json
import math
import os
import pstats
import sys
import tempfile
import threading
import time
import uuid
from collections import Counter, defaultdict
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, timezone
from pathlib import Path
from typing import Any, Iterator
from zoneinfo import ZoneInfo

import httpx
import msgspec
from sqlalchemy import MetaData, Table, create_engine, func, insert, select, text
from sqlalchemy.engine import make_url

from field_schemas.auth import LoginRequest
from field_schemas.push import PushRequest
from server.auth import Principal, hash_password
from server.cli.db_cmds import default_workers, tune_interpreter
from server.db import migrate
from server.db.engine import Database
from server.db.tables import assignments, batches, customers, districts, meters, ops, readings, routes, users
from server.services import cycles, feed, identity, meter_state
from server.services import push as push_service
from server.serve_process import ServeProcess
from server.settings import Settings, normalise_database_url
from sync import push as push_planner


PASSWORD = "bench-push-password"
DISTRICT = "d-bench"
HISTORY_MONTHS = 12
TARGET_RATIO = 0.5
REQUEST_TIMEOUT_S = 300
SCRATCH_TABLE = "bench_raw_readings"

_encode = msgspec.json.Encoder().encode


# --- the station ----------------------------------------------------------------------------------


@dataclass
class Tablet:
    """One reader on one device, and the reading each of its route's meters is due."""

    reader: str
    device_id: str
    route_id: str
    due: list[tuple[str, str, str]] = field(default_factory=list)  # (meter, assignment, value)
    token: str = ""


def station_today(settings: Settings) -> date:
    return datetime.now(ZoneInfo(settings.station_timezone)).date()


def last_history_read(today: date) -> datetime:
    # Mid last month: the open cycle holds no reading yet, whatever today's date.
    return datetime(today.year, today.month, 1, tzinfo=timezone.utc) - timedelta(days=15)


def build_station(settings: Settings, tablets: int, meters_per_route: int) -> list[Tablet]:
    """Readers, routes, customers, meters and their history inserted directly; the cycle
    opened by the service, so assignments and tablet feeds are what the server makes."""
    today = station_today(settings)
    last_read = last_history_read(today)
    created = datetime.now(timezone.utc)
    password_hash = hash_password(PASSWORD)
    db = Database(settings.database_url)
    try:
        migrate.upgrade(db)
        with db.write() as conn:
            conn.execute(insert(districts).values(id=DISTRICT, name="Bench district"))
        station: list[Tablet] = []
        for t in range(tablets):
            tablet = Tablet(reader=f"reader{t + 1:02d}", device_id=f"bench-tab-{t + 1:02d}", route_id=f"r-{t + 1:02d}")
            meter_ids = [f"m-{tablet.route_id}-{i:05d}" for i in range(meters_per_route)]
            daily_kwh = {m: 5 + i % 16 for i, m in enumerate(meter_ids)}
            with db.write() as conn:
                _insert_route(conn, tablet, meter_ids, daily_kwh, last_read, password_hash, created)
            cycles.open_cycle(db, today.strftime("%Y-%m"), tablet.route_id, tablet.reader,
                              today - timedelta(days=10), today + timedelta(days=10), actor="bench")
            with db.read() as conn:
                assignment_of = dict(conn.execute(
                    select(assignments.c.meter_id, assignments.c.id).where(assignments.c.route_id == tablet.route_id)
                ).all())
            days_since = (datetime.now(timezone.utc) - last_read).total_seconds() / 86400
            last_value = {m: 1000 + daily_kwh[m] * 30 * (HISTORY_MONTHS - 1) for m in meter_ids}
            tablet.due = [(m, assignment_of[m], str(last_value[m] + round(daily_kwh[m] * days_since)))
                          for m in meter_ids]
            station.append(tablet)
        if not db.is_sqlite:
            # Autovacuum would analyze the fresh tables within a minute; without statistics the
            # planner misjudges the history queries several times over, which no running station sees.
            with db.write() as conn:
                conn.exec_driver_sql("ANALYZE")
        return station
    finally:
        db.dispose()


def _insert_route(conn, tablet: Tablet, meter_ids: list[str], daily_kwh: dict[str, int], last_read: datetime,
                  password_hash: str, created: datetime) -> None:
    conn.execute(insert(users).values(id=tablet.reader, name=f"Reader {tablet.reader}", password_hash=password_hash,
                                      roles=["reader"], active=True, created_at=created))
    conn.execute(insert(routes).values(id=tablet.route_id, district_id=DISTRICT))
    conn.execute(insert(customers), [
        {"id": f"c-{m}", "account_no": f"acc-{m}", "name": f"Customer {m}", "address": f"{i} Village Road",
         "category": "residential", "class": "C", "temp_supply_until": None, "created_at": created}
        for i, m in enumerate(meter_ids)
    ])
    conn.execute(insert(meters), [
        {"id": m, "serial": f"S{m}", "customer_id": f"c-{m}", "district_id": DISTRICT, "route_id": tablet.route_id,
         "category": "residential", "address": f"{i} Village Road", "lat": "30.1", "lon": "120.2",
         "multiplier": "1", "dials": 6, "phases": 1, "registers": ["total"],
         "installed_at": last_read - timedelta(days=400), "removed_at": None}
        for i, m in enumerate(meter_ids)
    ])
    # A steady daily use per meter, so the pushed value lands mid-band and is accepted.
    for month in range(HISTORY_MONTHS):
        read_at = last_read - timedelta(days=30 * (HISTORY_MONTHS - 1 - month))
        cycle = read_at.strftime("%Y-%m")
        conn.execute(insert(readings), [
            {"meter_id": m, "register": "total", "value": str(1000 + daily_kwh[m] * 30 * month), "read_at": read_at,
             "method": "actual", "source": "import", "cycle": cycle}
            for m in meter_ids
        ])


def push_bodies(tablet: Tablet, batch_size: int) -> list[tuple[str, bytes]]:
    """The tablet's batches as it would send them: (batch_id, JSON body)."""
    recorded_at = (datetime.now(timezone.utc) - timedelta(seconds=60)).isoformat()
    out = []
    for start in range(0, len(tablet.due), batch_size):
        items = [{"type": "reading", "op_id": str(uuid.uuid4()), "meter_id": meter, "recorded_at": recorded_at,
                  "assignment_id": assignment, "value": value, "method": "actual"}
                 for meter, assignment, value in tablet.due[start:start + batch_size]]
        batch_id = str(uuid.uuid4())
        out.append((batch_id, _encode({"batch_id": batch_id, "device_id": tablet.device_id, "schema_version": 1,
                                       "sent_at": datetime.now(timezone.utc).isoformat(), "items": items})))
    return out


# --- the database ---------------------------------------------------------------------------------


@contextmanager
def own_database(admin_url: str, data_dir: Path) -> Iterator[str]:
    """SQLite in ``data_dir``, or a new PostgreSQL database beside ``admin_url``'s, dropped on the way out."""
    if not admin_url:
        yield f"sqlite:///{data_dir / 'fieldsync.db'}"
        return
    base = make_url(normalise_database_url(admin_url))
    name = f"fieldsync_bench_push_{os.getpid()}_{uuid.uuid4().hex[:8]}"
    admin = create_engine(base, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
        try:
            yield base.set(database=name).render_as_string(hide_password=False)
        finally:
            with admin.connect() as conn:
                conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    finally:
        admin.dispose()


# --- timing ---------------------------------------------------------------------------------------


class SectionClock:
    """Wall time per named call, by wrapping module attributes for the length of a ``with``."""

    def __init__(self) -> None:
        self.seconds: Counter[str] = Counter()
        self._restore: list[tuple[object, str, object]] = []

    def wrap(self, owner: object, name: str, label: str) -> None:
        original = getattr(owner, name)

        def timed(*args: Any, **kwargs: Any) -> Any:
            began = time.perf_counter()
            try:
                return original(*args, **kwargs)
            finally:
                self.seconds[label] += time.perf_counter() - began

        self._restore.append((owner, name, original))
        setattr(owner, name, timed)

    def __enter__(self) -> "SectionClock":
        return self

    def __exit__(self, *_exc: object) -> None:
        for owner, name, original in reversed(self._restore):
            setattr(owner, name, original)
        self._restore.clear()


class CommitTimedDatabase:
    """The server's Database with the commit of each write transaction timed on its own."""

    def __init__(self, db: Database, clock: SectionClock) -> None:
        self.db, self.clock = db, clock
        self.is_sqlite = db.is_sqlite

    def read(self) -> Any:
        return self.db.read()

    @contextmanager
    def write(self) -> Iterator[Any]:
        with self.db.writer.connect() as conn:
            transaction = conn.begin()
            try:
                yield conn
            except BaseException:
                transaction.rollback()
                raise
            began = time.perf_counter()
            transaction.commit()
            self.clock.seconds["commit"] += time.perf_counter() - began


# --- pushing --------------------------------------------------------------------------------------


@dataclass
class Sent:
    """One batch as sent and answered."""

    tablet: int
    batch_id: str
    body: bytes
    latency_s: float = 0.0
    statuses: list[str] = field(default_factory=list)
    original: list[str | None] = field(default_factory=list)


def log_in(base_url: str, tablet: Tablet) -> None:
    res = httpx.post(f"{base_url}/api/v1/auth/login", timeout=REQUEST_TIMEOUT_S, json={
        "username": tablet.reader, "password": PASSWORD, "device_id": tablet.device_id,
        "app_version": "bench", "schema_version": 1,
    })
    res.raise_for_status()
    tablet.token = res.json()["token"]


def push_concurrently(base_url: str, station: list[Tablet], work: list[Sent]) -> float:
    """Every tablet sends its share of ``work`` in order, all tablets at once; the wall time."""
    by_tablet: dict[int, list[Sent]] = defaultdict(list)
    for sent in work:
        by_tablet[sent.tablet].append(sent)
    start = threading.Barrier(len(by_tablet) + 1)
    failures: list[BaseException] = []

    def run(tablet: Tablet, mine: list[Sent]) -> None:
        headers = {"Authorization": f"Bearer {tablet.token}", "Content-Type": "application/json"}
        try:
            with httpx.Client(base_url=base_url, headers=headers, timeout=REQUEST_TIMEOUT_S) as client:
                client.get("/healthz")  # the connection is open before the clock starts
                start.wait()
                for sent in mine:
                    began = time.perf_counter()
                    res = client.post("/api/v1/sync/push", content=sent.body)
                    sent.latency_s = time.perf_counter() - began
                    res.raise_for_status()
                    results = msgspec.json.decode(res.content)["results"]
                    sent.statuses = [r["status"] for r in results]
                    sent.original = [r["original_status"] for r in results]
        except BaseException as exc:  # noqa: BLE001 - reported by the main thread
            failures.append(exc)
            start.abort()  # nobody waits forever for a tablet that will not come

    threads = [threading.Thread(target=run, args=(station[t], mine)) for t, mine in by_tablet.items()]
    for thread in threads:
        thread.start()
    try:
        start.wait()
    except threading.BrokenBarrierError:
        pass
    began = time.perf_counter()
    for thread in threads:
        thread.join()
    elapsed = time.perf_counter() - began
    if failures:
        raise failures[0]
    return elapsed


def percentile_ms(latencies_s: list[float], p: float) -> float:
    """Nearest rank: the smallest latency that ``p`` % of the batches do not exceed."""
    ordered = sorted(latencies_s)
    return round(ordered[max(0, math.ceil(p / 100 * len(ordered)) - 1)] * 1000, 1)


def resend_choice(sent: list[Sent], share: float) -> list[Sent]:
    """An evenly spread ``share`` of the batches, at least one."""
    count = min(len(sent), max(1, round(len(sent) * share)))
    return [sent[i * len(sent) // count] for i in range(count)]


def answered_as_before(first: list[str], again: Sent) -> bool:
    """Every stored item comes back ``duplicate`` with its first status; a rejected one
    (rejections are not remembered) is judged, and rejected, again."""
    if len(again.statuses) != len(first):
        return False
    return all(
        (now, original) == (("rejected", None) if before == "rejected" else ("duplicate", before))
        for before, now, original in zip(first, again.statuses, again.original)
    )


def stored_counts(database_url: str) -> dict[str, int]:
    db = Database(database_url)
    try:
        with db.read() as conn:
            return {
                "ops": conn.execute(select(func.count()).select_from(ops)).scalar_one(),
                "field_readings": conn.execute(
                    select(func.count()).where(readings.c.op_id.is_not(None))).scalar_one(),
                "distinct_op_ids": conn.execute(
                    select(func.count(func.distinct(readings.c.op_id)))).scalar_one(),
                "batches": conn.execute(select(func.count()).select_from(batches)).scalar_one(),
            }
    finally:
        db.dispose()


def measure_push(base_url: str, settings: Settings, station: list[Tablet], batch_size: int,
                 resend_share: float) -> dict[str, Any]:
    for tablet in station:
        log_in(base_url, tablet)
    work = [Sent(t, batch_id, body) for t, tablet in enumerate(station)
            for batch_id, body in push_bodies(tablet, batch_size)]
    seconds = push_concurrently(base_url, station, work)
    statuses = Counter(s for sent in work for s in sent.statuses)
    stored = statuses["accepted"] + statuses["flagged"]

    again = [Sent(s.tablet, s.batch_id, s.body) for s in resend_choice(work, resend_share)]
    first_answer = {s.batch_id: s.statuses for s in work}
    push_concurrently(base_url, station, again)
    resent_items = sum(len(s.statuses) for s in again)
    all_duplicate = all(answered_as_before(first_answer[s.batch_id], s) for s in again)
    counts = stored_counts(settings.database_url)
    stored_once = counts["ops"] == counts["field_readings"] == counts["distinct_op_ids"] == stored
    items = sum(len(s.statuses) for s in work)
    latencies = [s.latency_s for s in work]
    return {
        "items": items, "push_s": round(seconds, 3), "items_per_s": round(items / seconds, 1),
        "p50_ms": percentile_ms(latencies, 50), "p99_ms": percentile_ms(latencies, 99),
        "max_ms": percentile_ms(latencies, 100), "batches": len(work),
        "statuses": {k: statuses[k] for k in ("accepted", "flagged", "rejected")},
        "resent_batches": len(again), "resent_items": resent_items,
        "resend_all_duplicate": all_duplicate, "stored_once": stored_once, "stored_counts": counts,
        "resend_ok": all_duplicate and stored_once,
    }


# --- the raw baseline -----------------------------------------------------------------------------


def scratch_copy_of_readings(name: str) -> Table:
    """A table with the readings table's columns, constraints and indexes under another name."""
    scratch_metadata = MetaData()
    meters.to_metadata(scratch_metadata)  # the foreign key to meters resolves as on the real table
    scratch = readings.to_metadata(scratch_metadata, name=name)
    # Constraint and index names are copied as they are; they must not clash with the originals'.
    for named in (*scratch.constraints, *scratch.indexes):
        if isinstance(named.name, str):
            named.name = named.name.replace(readings.name, name, 1)
    return scratch


def raw_rows(station: list[Tablet], cycle: str) -> list[dict[str, Any]]:
    """The rows the push stores for the same readings."""
    at = datetime.now(timezone.utc) - timedelta(seconds=60)
    return [
        {"meter_id": meter, "register": "total", "value": value, "read_at": at, "method": "actual",
         "source": "field", "cycle": cycle, "op_id": str(uuid.uuid4()), "assignment_id": assignment,
         "user_id": tablet.reader, "unable_reason": None, "status": "valid"}
        for tablet in station for meter, assignment, value in tablet.due
    ]


def measure_raw(settings: Settings, station: list[Tablet], batch_size: int) -> dict[str, Any]:
    """``executemany`` of the same rows, one transaction per batch, through the server's writer engine."""
    rows = raw_rows(station, station_today(settings).strftime("%Y-%m"))
    scratch = scratch_copy_of_readings(SCRATCH_TABLE)
    db = Database(settings.database_url)
    clock = SectionClock()
    timed_db = CommitTimedDatabase(db, clock)
    try:
        with db.write() as conn:
            scratch.create(conn)
        began = time.perf_counter()
        for start in range(0, len(rows), batch_size):
            with timed_db.write() as conn:
                conn.execute(insert(scratch), rows[start:start + batch_size])
        seconds = time.perf_counter() - began
        with db.write() as conn:
            scratch.drop(conn)
    finally:
        db.dispose()
    return {"raw_rows": len(rows), "raw_s": round(seconds, 3), "raw_commit_s": round(clock.seconds["commit"], 3),
            "raw_rows_per_s": round(len(rows) / seconds, 1)}


# --- where the time goes --------------------------------------------------------------------------


PUSH_SECTIONS = (
    # (module, attribute, label): the calls of a push as the server makes them, nested ones indented.
    # On SQLite a batch is judged on a read snapshot, then stored by the group writer, which
    # fetches its rows again under the write lock; on PostgreSQL both happen in one transaction.
    (push_service, "judge_on_snapshot", "judge_on_snapshot (no lock held)"),
    (push_service, "fetch", "  fetch (rows, in both phases)"),
    (meter_state, "from_rows", "    meter_state.from_rows (decode)"),
    (meter_state, "history_rows", "    history_rows (stale meters)"),
    (push_service, "inputs", "  inputs (ledger views)"),
    (push_service, "plan_batch", "  plan_batch"),
    (push_planner, "judge_item", "    judge_item (rules)"),
    (push_planner, "to_rule_item", "    to_rule_item"),
    (push_planner, "_result", "    _result (ItemResult)"),
    (push_planner, "_apply_to_ledger", "    _apply_to_ledger"),
    (push_service, "store_judged", "store_judged (under the write lock)"),
    (push_service, "write_plan", "  write_plan (inserts)"),
    (meter_state, "add_batch", "  meter_state.add_batch"),
    (push_service, "missing_photos", "  missing_photos"),
    (push_service, "_save_receipt", "  _save_receipt"),
    (feed, "touch", "  feed.touch"),
    (feed, "write_feed", "    write_feed (upsert)"),
)


def push_as_served(db: Any, settings: Settings, who: Principal, req: PushRequest) -> bytes:
    """What the server does with a batch, in this thread (the group writer's part in one
    transaction of its own)."""
    if not settings.is_sqlite:
        return push_service.push(db, settings, who, req)
    judged = push_service.judge_on_snapshot(db, settings, who, req)
    with db.write() as conn:
        return push_service.store_judged(conn, settings, who, req, judged)


def profile_push(settings: Settings, station: list[Tablet], batch_size: int) -> dict[str, Any]:
    """The push service in this process, batch after batch: the first half timed by section,
    the second half under cProfile (which slows Python code, so its shares are skewed)."""
    db = Database(settings.database_url)
    try:
        with db.write() as conn:
            meter_state.rebuild_stale(conn)  # as 'fieldsync serve' does at start
        work: list[tuple[Principal, bytes]] = []
        for tablet in station:
            identity.login(db, settings, LoginRequest(username=tablet.reader, password=PASSWORD,
                                                      device_id=tablet.device_id, app_version="bench",
                                                      schema_version=1))
            who = Principal(user_id=tablet.reader, name=tablet.reader, roles=frozenset({"reader"}),
                            device_id=tablet.device_id, token_hash="")
            work += [(who, body) for _, body in push_bodies(tablet, batch_size)]
        half = max(1, len(work) // 2)
        decoder = msgspec.json.Decoder(PushRequest)
        tune_interpreter()  # as 'fieldsync serve' does
        clock = SectionClock()
        timed_db = CommitTimedDatabase(db, clock)
        for owner, name, label in PUSH_SECTIONS:
            clock.wrap(owner, name, label)
        items = 0
        with clock:
            began = time.perf_counter()
            for who, body in work[:half]:
                decoding = time.perf_counter()
                req = decoder.decode(body)
                clock.seconds["decode (msgspec)"] += time.perf_counter() - decoding
                push_as_served(timed_db, settings, who, req)
                items += len(req.items)
            total = time.perf_counter() - began
        profiler = cProfile.Profile()
        profiler.enable()
        for who, body in work[half:]:
            push_as_served(db, settings, who, decoder.decode(body))
        profiler.disable()
    finally:
        db.dispose()
    top = io.StringIO()
    pstats.Stats(profiler, stream=top).sort_stats("tottime").print_stats(25)
    sections = {label: round(clock.seconds[label] / items * 1e6, 2) for _, _, label in PUSH_SECTIONS}
    sections["commit"] = round(clock.seconds["commit"] / items * 1e6, 2)
    sections["decode (msgspec)"] = round(clock.seconds["decode (msgspec)"] / items * 1e6, 2)
    return {"profiled_items": items, "us_per_item_total": round(total / items * 1e6, 2),
            "us_per_item": sections, "cprofile_top": top.getvalue()}


def print_profile(figures: dict[str, Any]) -> None:
    print(f"push service in-process, {figures['profiled_items']} items: "
          f"{figures['us_per_item_total']} µs an item in all")
    for label, us in figures["us_per_item"].items():
        print(f"  {label:<36} {us:>8.2f} µs")
    print(figures["cprofile_top"])


# --- the run --------------------------------------------------------------------------------------


def print_table(f: dict[str, Any]) -> None:
    print(f"push of {f['items']} readings on {f['backend']} ({f['workers']} server process"
          f"{'es' if f['workers'] > 1 else ''}): {f['tablets']} tablets × {f['batches_per_tablet']} "
          f"batches × {f['batch_size']} (station built in {f['build_s']} s)")
    print(f"{'':<22} {'rows':>8} {'seconds':>8} {'rows/s':>10} {'p50 ms':>8} {'p99 ms':>8}")
    print(f"{'pushed over HTTP':<22} {f['items']:>8} {f['push_s']:>8.2f} {f['items_per_s']:>10.0f} "
          f"{f['p50_ms']:>8.1f} {f['p99_ms']:>8.1f}")
    print(f"{'raw executemany':<22} {f['raw_rows']:>8} {f['raw_s']:>8.2f} {f['raw_rows_per_s']:>10.0f}"
          f"   (of which commits {f['raw_commit_s']:.2f} s)")
    print(f"ratio pushed / raw: {f['ratio']:.2f} (target ≥ {TARGET_RATIO})")
    s = f["statuses"]
    print(f"statuses: {s['accepted']} accepted, {s['flagged']} flagged, {s['rejected']} rejected")
    print(f"resent {f['resent_batches']} batches ({f['resent_items']} items): "
          f"all duplicate {'yes' if f['resend_all_duplicate'] else 'NO'}; "
          f"each op_id stored once {'yes' if f['stored_once'] else 'NO'} {f['stored_counts']}")


def add_workers_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--workers", type=int, default=default_workers(),
                        help="server processes, 'fieldsync serve --workers' (default: as 'fieldsync serve', "
                             "FIELDSYNC_WORKERS or one a core, at most 4)")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--database-url", default="",
                        help="PostgreSQL server to create the bench's own database on (default: SQLite in a temp dir)")
    parser.add_argument("--tablets", type=int, default=8, help="concurrent tablets, one reader each (default 8)")
    parser.add_argument("--batches-per-tablet", type=int, default=15, help="batches each tablet pushes (default 15)")
    parser.add_argument("--batch-size", type=int, default=500, help="readings a batch (default 500)")
    parser.add_argument("--resend-share", type=float, default=0.1, help="share of batches sent again (default 0.1)")
    add_workers_option(parser)
    parser.add_argument("--json", type=Path, help="also write the figures to this file")
    parser.add_argument("--profile", action="store_true",
                        help="run the push service in this process and show where its time goes, instead")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="fieldsync-bench-push-") as tmp:
        data_dir = Path(tmp)
        with own_database(args.database_url, data_dir) as url:
            settings = Settings(data_dir=data_dir, database_url=url)
            began = time.perf_counter()
            station = build_station(settings, args.tablets, args.batches_per_tablet * args.batch_size)
            figures: dict[str, Any] = {
                "backend": "sqlite" if settings.is_sqlite else "postgresql", "tablets": args.tablets,
                "batches_per_tablet": args.batches_per_tablet, "batch_size": args.batch_size,
                "resend_share": args.resend_share, "history_months": HISTORY_MONTHS, "workers": args.workers,
                "build_s": round(time.perf_counter() - began, 1),
            }
            if args.profile:
                figures.update(profile_push(settings, station, args.batch_size))
                print_profile(figures)
            else:
                with ServeProcess(settings.database_url, settings.data_dir, workers=args.workers) as server:
                    figures.update(measure_push(server.url, settings, station, args.batch_size, args.resend_share))
                figures.update(measure_raw(settings, station, args.batch_size))
                figures["ratio"] = round(figures["items_per_s"] / figures["raw_rows_per_s"], 3)
                figures["target_ratio"] = TARGET_RATIO
                print_table(figures)
    if args.json:
        args.json.write_text(json.dumps(figures, indent=2) + "\n", encoding="utf-8")
    return 0 if args.profile or figures["resend_ok"] else 1


if __name__ == "__main__":
    sys.exit(main())
