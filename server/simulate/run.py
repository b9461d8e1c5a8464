"""Run a simulated shift and end-of-shift rush against a running server.

1. Shift: each reader logs in on its own tablet (``sim-tab-XX``), pulls its
   route and records its readings (photos included) into its own outbox;
   inspector pairs record theft checks (``sim-insp-XX``). Nothing is sent.
2. Rush: every tablet syncs at once, one thread each, through a transport
   that may lose requests and answers (``--flaky``). A tablet whose run
   stopped (the server away) syncs again until its outbox is settled or the
   time is up.
3. Reconciliation, logged in as an admin over a clean connection.
"""

from __future__ import annotations

import math
import tempfile
import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from random import Random
from typing import Any, Callable
from zoneinfo import ZoneInfo

import httpx

from server.simulate.fleet import (
    Options, SimulationError, Tablet, check_server, has_photo_routes, inspector_tablets, reader_tablets,
)
from server.simulate.photos import camera_jpeg
from server.simulate.reconcile import Reconciliation, reconcile
from server.simulate.shift import reader_shift, theft_checks
from sync.client import Api, Backoff, Outbox, ServerRefused, SyncReport
from sync.client.session import Session

# Argon2 takes tens of MiB a login: a few at a time keep the server's memory flat.
LOGINS_AT_ONCE = 4
MAX_SYNC_ROUNDS = 50


@dataclass
class Result:
    options: Options
    tablets: list[Tablet]
    totals: SyncReport
    rush_s: float
    items_s: float | None  # until every item was answered (photos and pulls go on after)
    shift_s: float
    faults: Counter[str]
    review_tasks: int
    reconciliation: Reconciliation
    unsettled: list[str]

    @property
    def ok(self) -> bool:
        return self.reconciliation.ok and not self.unsettled


def run_simulation(options: Options) -> Result:
    if options.workdir is not None:
        options.workdir.mkdir(parents=True, exist_ok=True)
        return _run(options, options.workdir)
    with tempfile.TemporaryDirectory(prefix="fieldsync-simulate-") as tmp:
        return _run(options, Path(tmp))


def _run(options: Options, workdir: Path) -> Result:
    check_server(options)
    rng = Random(options.seed)
    tablets = reader_tablets(options, workdir, rng) + inspector_tablets(options, workdir, rng)
    try:
        began = time.perf_counter()
        _shift(options, tablets, rng)
        shift_s = time.perf_counter() - began
        rush = _rush(options, tablets)
        reconciliation = _reconcile(options, tablets)
        totals = SyncReport()
        for t in tablets:
            totals.add(t.report)
        unsettled = [t.device_id for t in tablets if not settled(t.client.outbox)]
        faults = sum((t.transport.injected for t in tablets if t.transport), Counter())
        tasks = {i.review_task_id for t in tablets for i in t.client.outbox.items() if i.review_task_id}
        return Result(options, tablets, totals, rush.rush_s, rush.items_s, shift_s, faults, len(tasks),
                      reconciliation, unsettled)
    finally:
        for t in tablets:
            t.http.close()
            t.client.outbox.close()


# -- the shift -----------------------------------------------------------------------------------


def _photographer(options: Options, tablet: Tablet, rng: Random):
    tz = ZoneInfo(options.station_timezone)

    def take(at: datetime, meter: dict[str, Any], caption: str) -> str:
        where = meter.get("location") or {}
        lat = float(where["lat"]) if where.get("lat") else None
        lon = float(where["lon"]) if where.get("lon") else None
        return tablet.client.record_photo(camera_jpeg(rng, at.astimezone(tz), lat, lon, caption))

    return take


def _log_in_and_pull(tablet: Tablet, gate: threading.Semaphore) -> None:
    try:
        with gate:
            tablet.logged_in_at = tablet.client.login(tablet.username, tablet.password).server_time
    except ServerRefused as exc:
        raise SimulationError(f"{tablet.username} cannot log in on {tablet.device_id} ({exc}): "
                              "does the station have that many readers?") from exc
    report = tablet.client.pull()
    if not report.ok:
        raise SimulationError(f"{tablet.device_id} could not pull its work: {report.stopped}")


def _read_route(options: Options, tablet: Tablet, rng: Random, now: datetime, gate: threading.Semaphore) -> None:
    _log_in_and_pull(tablet, gate)
    assignments = tablet.client.outbox.pulled("assignment")
    if not assignments:
        raise SimulationError(f"{tablet.username} has no open assignment: open a cycle (fieldsync demo does)")
    tablet.shift = reader_shift(
        rng, tablet.client.record, _photographer(options, tablet, rng), assignments,
        tablet.client.outbox.pulled("meter"), readings=options.readings_per_tablet,
        photos=options.photos_per_tablet, anomaly_rate=options.anomaly_rate, now=now,
        station_tz=ZoneInfo(options.station_timezone),
    )


def _unread_meters(readers: list[Tablet]) -> list[dict[str, Any]]:
    """Meters the readers pulled but did not read today: the inspectors' beat."""
    spare: list[dict[str, Any]] = []
    for t in readers:
        read = {i.meter_id for i in t.client.outbox.items()}
        spare += [m for m_id, m in sorted(t.client.outbox.pulled("meter").items()) if m_id not in read]
    return spare


def _shift(options: Options, tablets: list[Tablet], rng: Random) -> None:
    """Every tablet logs in, pulls and records its shift, several at a time (recording is disk-bound)."""
    now = datetime.now(timezone.utc)
    gate = threading.Semaphore(LOGINS_AT_ONCE)
    seeds = {t.device_id: Random(rng.random()) for t in tablets}
    readers = [t for t in tablets if not t.team]
    teams = [t for t in tablets if t.team]
    with ThreadPoolExecutor(max_workers=8) as pool:
        list(pool.map(lambda t: _read_route(options, t, seeds[t.device_id], now, gate), readers))
        list(pool.map(lambda t: _log_in_and_pull(t, gate), teams))
    spare = _unread_meters(readers)
    per_team = options.checks_per_team or max(1, len(readers) // 10)
    for k, t in enumerate(teams):
        mine = spare[k::max(1, len(teams))][:per_team]
        rng_t = seeds[t.device_id]
        t.shift = theft_checks(rng_t, t.client.record, _photographer(options, t, rng_t), mine, team=t.team,
                               pliers_id=t.pliers_id, now=now, station_tz=ZoneInfo(options.station_timezone),
                               seal_prefix=f"SIM{options.seed % 1000:03d}{k}-")


# -- the rush ------------------------------------------------------------------------------------


def settled(outbox: Outbox) -> bool:
    states = outbox.counts()
    return not states.get("pending") and not states.get("sending") and not outbox.photos("pending")


def answered(outbox: Outbox) -> int:
    states = outbox.counts()
    return states.get("done", 0) + states.get("rejected", 0)


def _sync_until_settled(tablet: Tablet, deadline: float) -> None:
    """Sync again while the server is away (a stopped run keeps everything), until settled."""
    for _ in range(MAX_SYNC_ROUNDS):
        tablet.rounds += 1
        tablet.report.add(tablet.client.sync())
        if settled(tablet.client.outbox) or time.monotonic() > deadline:
            return
        if tablet.report.stopped and "no answer" not in tablet.report.stopped:
            return  # revoked, forbidden …: syncing again would not help
        tablet.report.stopped = None


@dataclass
class RushTimes:
    rush_s: float = 0.0  # until every tablet was settled: items, photos and the last pull
    items_s: float | None = None  # until every item was answered


def _rush(options: Options, tablets: list[Tablet]) -> RushTimes:
    total = sum(len(t.client.outbox.items()) for t in tablets)
    done = lambda: sum(answered(t.client.outbox) for t in tablets)  # noqa: E731
    deadline = time.monotonic() + options.rush_timeout_s
    threads = [threading.Thread(target=_sync_until_settled, args=(t, deadline), name=t.device_id) for t in tablets]
    times = RushTimes()
    stop = threading.Event()
    began = time.perf_counter()
    monitor = threading.Thread(target=_watch, args=(options, done, total, stop, began, times), daemon=True)
    for thread in threads:
        thread.start()
    monitor.start()
    if options.on_rush is not None:
        options.on_rush(done, total)
    for thread in threads:
        thread.join()
    times.rush_s = time.perf_counter() - began
    stop.set()
    monitor.join()
    return times


def _watch(options: Options, done: Callable[[], int], total: int, stop: threading.Event, began: float,
           times: RushTimes) -> None:
    """Notes when every item was answered; shows a progress bar unless asked not to."""
    bar = None
    if options.progress:
        from tqdm import tqdm

        bar = tqdm(total=total, unit="item", desc="end-of-shift sync", dynamic_ncols=True)
    while True:
        finished = stop.wait(0.1)
        answered_now = done()
        if times.items_s is None and answered_now >= total:
            times.items_s = time.perf_counter() - began
        if bar is not None:
            bar.update(answered_now - bar.n)
        if finished:
            break
    if bar is not None:
        bar.close()


# -- reconciliation -------------------------------------------------------------------------------


def _reconcile(options: Options, tablets: list[Tablet]) -> Reconciliation:
    with httpx.Client(base_url=options.server, timeout=options.request_timeout_s) as http:
        api = Api(http, app_version="fieldsync-simulate/1")
        session = Session(api, Backoff(base_s=0.2, cap_s=2, max_attempts=20), SyncReport())
        try:
            api.login(options.admin_user, options.admin_password, "sim-office")
        except ServerRefused as exc:
            raise SimulationError(f"{options.admin_user} cannot log in to reconcile: {exc}") from exc
        since = min(t.logged_in_at for t in tablets if t.logged_in_at is not None)
        return reconcile(session, {t.device_id: t.client.outbox for t in tablets}, since)


def percentile_ms(values_s: list[float], p: float) -> float | None:
    """Nearest rank: the smallest value that ``p`` % of the values do not exceed."""
    if not values_s:
        return None
    ordered = sorted(values_s)
    return round(ordered[max(0, math.ceil(p / 100 * len(ordered)) - 1)] * 1000, 1)


__all__ = ["Options", "Result", "SimulationError", "has_photo_routes", "percentile_ms", "run_simulation"]
