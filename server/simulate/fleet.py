"""The simulated fleet: the options of a run, one reader tablet per route (``sim-tab-XX``) and
the inspector pairs (``sim-insp-XX``), each with its own outbox file and its own network."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from random import Random
from typing import Callable

import httpx

from server.simulate.flaky import FlakyTransport
from server.simulate.shift import ShiftLog
from sync.client import Api, Backoff, Outbox, ServerRefused, SyncReport, TabletClient

INSPECTOR_TEAMS = (("inspector01", "inspector02", "P-01"), ("inspector03", "inspector04", "P-03"))


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


def reader_tablets(options: Options, workdir: Path, rng: Random) -> list[Tablet]:
    return [_tablet(options, workdir, rng, f"sim-tab-{i:02d}", name)
            for i, name in enumerate(reader_names(options), start=1)]


def inspector_tablets(options: Options, workdir: Path, rng: Random) -> list[Tablet]:
    out = []
    for k, (lead, partner, pliers) in enumerate(INSPECTOR_TEAMS[:options.inspection_teams], start=1):
        tablet = _tablet(options, workdir, rng, f"sim-insp-{k:02d}", lead)
        tablet.team, tablet.pliers_id = [lead, partner], pliers
        out.append(tablet)
    return out
