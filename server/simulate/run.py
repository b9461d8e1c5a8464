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
import os
import tempfile
import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from random import Random
from typing import Any, Callable
from zoneinfo import ZoneInfo

import httpx

from server.simulate.flaky import FlakyTransport
from server.simulate.photos import camera_jpeg
from server.simulate.reconcile import Reconciliation, reconcile
from server.simulate.shift import ShiftLog, reader_shift, theft_checks
from sync.client import Api, Backoff, Outbox, ServerRefused, SyncReport, TabletClient
from sync.client.report import SyncReport as Report
from sync.client.session import Session

INSPECTOR_TEAMS = (("inspector01", "inspector02", "P-01"), ("inspector03", "inspector04", "P-03"))
# Argon2 takes tens of MiB a login: a few at a time keep the server's memory flat.
LOGINS_AT_ONCE = 4
MAX_SYNC_ROUNDS = 50


class SimulationError(RuntimeError):
    """The simulation could not run (no server, no such users, no photo routes)."""


@dataclass
class Options:
    server: str
    tablets: int
    readings_per_tablet: int = 40
    photos_per_tablet: int = 0
    anomaly_rate: float = 0.05
    flaky: float = 0.0
    seed: int = 1
    password: str = "demo"
    admin_user: str = "admin"
    admin_password: str = "demo"
    inspection_teams: int = 2
    checks_per_team: int | None = None  # default: one for every ten readers, at least one
    batch_size: int = 500
    chunk_bytes: int = 256 * 1024
    request_timeout_s: float = 120.0
    rush_timeout_s: float = 900.0
    backoff_cap_s: float = 5.0
    max_attempts: int = 40
    station_timezone: str = field(default_factory=lambda: os.environ.get("FIELDSYNC_STATION_TIMEZONE",
                                                                        "Asia/Shanghai"))
    workdir: Path | None = None
    progress: bool = True
    on_rush: Callable[[Callable[[], int], int], None] | None = None  # (items answered so far, total)


@dataclass
class Tablet:
    device_id: str
    username: str
    client: TabletClient
    transport: FlakyTransport | None
    http: httpx.Client
    password: str = ""
    team: list[str] = field(default_factory=list)
    pliers_id: str | None = None
    shift: ShiftLog = field(default_factory=ShiftLog)
    logged_in_at: datetime | None = None  # the server's clock
    report: SyncReport = field(default_factory=SyncReport)
    rounds: int = 0


@dataclass
class Result:
    options: Options
    tablets: list[Tablet]
    totals: SyncReport
    rush_s: float
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
    tablets = _readers(options, workdir, rng) + _inspectors(options, workdir, rng)
    try:
        began = time.perf_counter()
        _shift(options, tablets, rng)
        shift_s = time.perf_counter() - began
        rush_s = _rush(options, tablets)
        reconciliation = _reconcile(options, tablets)
        totals = Report()
        for t in tablets:
            totals.add(t.report)
        unsettled = [t.device_id for t in tablets if not settled(t.client.outbox)]
        faults = sum((t.transport.injected for t in tablets if t.transport), Counter())
        tasks = {i.review_task_id for t in tablets for i in t.client.outbox.items() if i.review_task_id}
        return Result(options, tablets, totals, rush_s, shift_s, faults, len(tasks), reconciliation, unsettled)
    finally:
        for t in tablets:
            t.http.close()
            t.client.outbox.close()


def server_paths(server: str) -> set[str]:
    """The API paths the server documents (its OpenAPI document)."""
    try:
        res = httpx.get(f"{server}/schema/openapi.json", timeout=30)
    except httpx.HTTPError as exc:
        raise SimulationError(f"no server answers at {server}: {exc}") from exc
    if res.status_code != 200:
        raise SimulationError(f"{server} does not look like a fieldsync server ({res.status_code})")
    return set(res.json().get("paths", {}))


def has_photo_routes(server: str) -> bool:
    return "/api/v1/photos/{sha256}" in server_paths(server)


def check_server(options: Options) -> None:
    paths = server_paths(options.server)
    if options.photos_per_tablet and "/api/v1/photos/{sha256}" not in paths:
        raise SimulationError("this server has no photo routes: run with --photos-per-tablet 0")
    if "/api/v1/devices/{device_id}/items" not in paths:
        raise SimulationError("this server cannot list a device's items, so nothing can be reconciled")


def _http(options: Options, rng: Random) -> tuple[httpx.Client, FlakyTransport | None]:
    inner = httpx.HTTPTransport(retries=0)
    transport = FlakyTransport(inner, options.flaky, Random(rng.random())) if options.flaky > 0 else None
    client = httpx.Client(base_url=options.server, transport=transport or inner,
                          timeout=httpx.Timeout(options.request_timeout_s, connect=10))
    return client, transport


def _tablet(options: Options, workdir: Path, rng: Random, device_id: str, username: str) -> Tablet:
    http, transport = _http(options, rng)
    backoff = Backoff(base_s=0.2, cap_s=options.backoff_cap_s, max_attempts=options.max_attempts,
                      rng=Random(rng.random()))
    client = TabletClient(Outbox(workdir / f"{device_id}.db"), http, device_id=device_id, backoff=backoff,
                          batch_size=options.batch_size, chunk_bytes=options.chunk_bytes,
                          app_version="fieldsync-simulate/1")
    return Tablet(device_id, username, client, transport, http, password=options.password)


def reader_names(options: Options) -> list[str]:
    """The demo names its readers reader01 …, or reader001 … on a station of 100 routes or more."""
    width = _reader_width(options)
    return [f"reader{i:0{width}d}" for i in range(1, options.tablets + 1)]


def _reader_width(options: Options) -> int:
    with httpx.Client(base_url=options.server, timeout=options.request_timeout_s) as http:
        api = Api(http, app_version="fieldsync-simulate/1")
        for width in (2, 3, 4):
            try:
                api.login(f"reader{1:0{width}d}", options.password, "sim-tab-01")
                return width
            except ServerRefused as exc:
                if exc.code != "invalid_credentials":
                    raise SimulationError(f"reader01 cannot log in: {exc}") from exc
    raise SimulationError("no reader01 (or reader001) logs in with that password: is this a demo station?")


def _readers(options: Options, workdir: Path, rng: Random) -> list[Tablet]:
    return [_tablet(options, workdir, rng, f"sim-tab-{i:02d}", name)
            for i, name in enumerate(reader_names(options), start=1)]


def _inspectors(options: Options, workdir: Path, rng: Random) -> list[Tablet]:
    out = []
    for k, (lead, partner, pliers) in enumerate(INSPECTOR_TEAMS[:options.inspection_teams], start=1):
        tablet = _tablet(options, workdir, rng, f"sim-insp-{k:02d}", lead)
        tablet.team, tablet.pliers_id = [lead, partner], pliers
        out.append(tablet)
    return out


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
    with gate:
        tablet.logged_in_at = tablet.client.login(tablet.username, tablet.password).server_time
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


def _rush(options: Options, tablets: list[Tablet]) -> float:
    total = sum(len(t.client.outbox.items()) for t in tablets)
    done = lambda: sum(answered(t.client.outbox) for t in tablets)  # noqa: E731
    deadline = time.monotonic() + options.rush_timeout_s
    threads = [threading.Thread(target=_sync_until_settled, args=(t, deadline), name=t.device_id) for t in tablets]
    stop = threading.Event()
    monitor = threading.Thread(target=_progress, args=(options, done, total, stop), daemon=True)
    began = time.perf_counter()
    for thread in threads:
        thread.start()
    monitor.start()
    if options.on_rush is not None:
        options.on_rush(done, total)
    for thread in threads:
        thread.join()
    elapsed = time.perf_counter() - began
    stop.set()
    monitor.join()
    return elapsed


def _progress(options: Options, done: Callable[[], int], total: int, stop: threading.Event) -> None:
    if not options.progress:
        return
    from tqdm import tqdm

    with tqdm(total=total, unit="item", desc="end-of-shift sync", dynamic_ncols=True) as bar:
        while not stop.wait(0.25):
            bar.update(done() - bar.n)
        bar.update(done() - bar.n)


# -- reconciliation -------------------------------------------------------------------------------


def _reconcile(options: Options, tablets: list[Tablet]) -> Reconciliation:
    with httpx.Client(base_url=options.server, timeout=options.request_timeout_s) as http:
        api = Api(http, app_version="fieldsync-simulate/1")
        session = Session(api, Backoff(base_s=0.2, cap_s=2, max_attempts=20), Report())
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
