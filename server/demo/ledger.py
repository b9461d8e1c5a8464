"""The demo station's ledger: districts, routes, customers and meters, written as
the importer's meters CSV. Pure: the same random source gives the same station.
"""

from __future__ import annotations

import csv
import io
import math
from dataclasses import dataclass
from datetime import date, timedelta
from random import Random

from server.demo import names
from sync.ledger_csv import DISTRICT_METER, METER_COLUMNS

# A hilly rural area (lat, lon); districts are villages scattered around it.
CENTRE = (30.2300, 119.4700)
VILLAGE_SPREAD_DEG = 0.06
HOUSE_SPREAD_DEG = 0.004
TOU_REGISTERS = ("total", "peak", "valley")
DISTRICT_MULTIPLIERS = (200, 300, 400, 500, 600)
A_MULTIPLIERS = (30, 50, 100)
# About this many routes share one district; never fewer than six districts when there are routes enough.
ROUTES_PER_DISTRICT = 5
MIN_DISTRICTS = 6
# Days of history a meter must be able to hold without wrapping more than a near-rollover meter should.
HISTORY_DAYS = 380


@dataclass(frozen=True)
class District:
    id: str
    name: str
    village: str
    lat: float
    lon: float
    loss_pct: float  # the district's usual line loss


@dataclass(frozen=True)
class Route:
    id: str
    district: District
    reader: str


@dataclass(frozen=True)
class Meter:
    id: str
    serial: str
    route: Route
    category: str
    customer_class: str | None
    customer_id: str | None
    account_no: str | None
    customer_name: str | None
    address: str
    temp_supply_until: date | None
    multiplier: int
    dials: int
    decimals: int  # register resolution: 10^-decimals
    phases: int
    registers: tuple[str, ...]
    lat: str
    lon: str
    installed_on: date
    seals: tuple[tuple[str, str], ...]
    daily_kwh: float  # average use a day, before the season
    start: int  # register at the first read of the history, in steps of 10^-decimals
    peak_share: float  # of a time-of-use meter's energy, on the peak register

    @property
    def is_district_meter(self) -> bool:
        return self.category == DISTRICT_METER

    @property
    def capacity(self) -> int:
        """Steps until the register wraps to zero."""
        return 10 ** (self.dials + self.decimals)


@dataclass(frozen=True)
class Station:
    districts: list[District]
    routes: list[Route]
    meters: list[Meter]  # in reading order: route by route, a district's own meter first


def reader_username(route_index: int, routes: int) -> str:
    return f"reader{route_index + 1:0{max(2, len(str(routes)))}d}"


def plan_station(rng: Random, n_routes: int, n_meters: int, today: date) -> Station:
    """``n_routes`` routes over the districts and ``n_meters`` customer meters, plus one meter a district."""
    if n_routes < 1 or n_meters < n_routes:
        raise ValueError("a station needs at least one route and at least one meter a route")
    n_districts = min(n_routes, max(MIN_DISTRICTS, n_routes // ROUTES_PER_DISTRICT))
    districts = [_district(rng, i) for i in range(n_districts)]
    routes = [
        Route(f"R{i + 1:02d}", districts[i * n_districts // n_routes], reader_username(i, n_routes))
        for i in range(n_routes)
    ]
    first_route: dict[str, Route] = {}
    for route in routes:
        first_route.setdefault(route.district.id, route)
    seals = _SealBook(rng.randint(1_000_000, 2_000_000))
    meters: list[Meter] = []
    customer_no = 0
    for route, size in zip(routes, _route_sizes(rng, n_routes, n_meters)):
        if first_route[route.district.id] is route:  # the district's own meter is read first
            meters.append(_district_meter(rng, route, today, seals))
        for _ in range(size):
            customer_no += 1
            meters.append(_customer_meter(rng, route, customer_no, today, seals))
    return Station(districts, routes, meters)


def _district(rng: Random, index: int) -> District:
    return District(
        id=f"TQ{index + 1:02d}",
        name=names.district_name(index),
        village=names.village_of(index),
        lat=CENTRE[0] + rng.uniform(-VILLAGE_SPREAD_DEG, VILLAGE_SPREAD_DEG),
        lon=CENTRE[1] + rng.uniform(-VILLAGE_SPREAD_DEG, VILLAGE_SPREAD_DEG),
        loss_pct=rng.uniform(3.8, 7.2),
    )


def _route_sizes(rng: Random, n_routes: int, n_meters: int) -> list[int]:
    """Routes of uneven length (±30 %), at least one meter each, adding up to ``n_meters``."""
    weights = [rng.uniform(0.7, 1.3) for _ in range(n_routes)]
    total = sum(weights)
    sizes = [max(1, math.floor(n_meters * w / total)) for w in weights]
    i = 0
    while sum(sizes) != n_meters:
        step = 1 if sum(sizes) < n_meters else -1
        if sizes[i % n_routes] + step >= 1:
            sizes[i % n_routes] += step
        i += 1
    return sizes


class _SealBook:
    """Consecutive seal numbers, as a station takes them off a roll."""

    def __init__(self, first: int) -> None:
        self.next = first

    def take(self, positions: tuple[str, ...]) -> tuple[tuple[str, str], ...]:
        numbers = tuple((p, f"S{self.next + k:07d}") for k, p in enumerate(positions))
        self.next += len(positions)
        return numbers


def _position(rng: Random, district: District, spread: float) -> tuple[str, str]:
    return f"{district.lat + rng.gauss(0, spread):.6f}", f"{district.lon + rng.gauss(0, spread):.6f}"


def _district_meter(rng: Random, route: Route, today: date, seals: _SealBook) -> Meter:
    district = route.district
    lat, lon = _position(rng, district, HOUSE_SPREAD_DEG / 4)
    installed = today - timedelta(days=rng.randint(800, 3000))
    return Meter(
        id=f"M{district.id}", serial=f"{installed.year % 100:02d}9{rng.randint(10**6, 10**7 - 1)}", route=route,
        category=DISTRICT_METER, customer_class=None, customer_id=None, account_no=None, customer_name=None,
        address=f"{names.TOWN}{district.name}配电房", temp_supply_until=None,
        multiplier=rng.choice(DISTRICT_MULTIPLIERS), dials=8, decimals=2, phases=3, registers=("total",),
        lat=lat, lon=lon, installed_on=installed,
        seals=seals.take(("meter_cover", "terminal_cover", "meter_box", "ct_box")),
        daily_kwh=0.0,  # follows from the sales of the district (see history)
        start=rng.randrange(10**6, 10**8), peak_share=0.0,
    )


@dataclass(frozen=True)
class _Profile:
    category: str
    customer_class: str
    phases: int
    multiplier: int
    dials: int
    daily_kwh: float
    time_of_use: bool


def _profile(rng: Random) -> _Profile:
    """Mostly households (C); shops and workshops (B); a few large CT-metered customers (A)."""
    x = rng.random()
    if x < 0.80:
        daily = min(40.0, max(0.5, rng.lognormvariate(math.log(5.5), 0.5)))
        return _Profile("residential", "C", 3 if rng.random() < 0.05 else 1, 1, rng.choice((5, 5, 6, 6, 6)),
                        daily, rng.random() < 0.15)
    if x < 0.89:
        klass = rng.choices("ABC", (2, 68, 30))[0]
        if klass == "A":
            return _Profile("commercial", "A", 3, rng.choice(A_MULTIPLIERS), rng.choice((7, 8)),
                            rng.uniform(600, 2500), rng.random() < 0.7)
        if klass == "B":
            return _Profile("commercial", "B", rng.choice((1, 3)), 1, 6, rng.uniform(15, 90), rng.random() < 0.4)
        return _Profile("commercial", "C", 1, 1, rng.choice((5, 6)), rng.uniform(4, 20), rng.random() < 0.1)
    if x < 0.92:
        if rng.random() < 0.15:
            return _Profile("industrial", "A", 3, rng.choice(A_MULTIPLIERS), rng.choice((7, 8)),
                            rng.uniform(1000, 4000), rng.random() < 0.7)
        return _Profile("industrial", "B", 3, rng.choice((1, 1, 10, 20)), rng.choice((6, 7)),
                        rng.uniform(80, 500), rng.random() < 0.5)
    if x < 0.99:
        return _Profile("agricultural", rng.choice("BC"), 3, 1, 6, rng.uniform(5, 60), False)
    return _Profile("temporary", "B", 3, 1, 6, rng.uniform(20, 120), False)


def _installed_on(rng: Random, category: str, today: date) -> date:
    if category == "temporary":
        return today - timedelta(days=rng.randint(30, 300))
    if rng.random() < 0.01:  # new customers: their first reads are followed
        return today - timedelta(days=rng.randint(20, 120))
    return today - timedelta(days=rng.randint(400, 4000))


def _customer_meter(rng: Random, route: Route, n: int, today: date, seals: _SealBook) -> Meter:
    p = _profile(rng)
    decimals = 2 if p.multiplier > 1 else 0
    capacity = 10 ** (p.dials + decimals)
    installed = _installed_on(rng, p.category, today)
    history_steps = int(p.daily_kwh * HISTORY_DAYS * 10**decimals / p.multiplier)
    if installed > today - timedelta(days=HISTORY_DAYS):
        start = rng.randrange(0, 50 * 10**decimals)  # a new meter starts near zero
    elif p.dials == 5 and not p.time_of_use and rng.random() < 0.08:
        # Near the top: the register wraps within the history or at the coming read.
        start = max(0, capacity - int(history_steps * rng.uniform(0.4, 1.05)))
    else:
        start = rng.randrange(0, max(1, int(capacity * 0.9) - history_steps))
    positions = ("meter_cover", "terminal_cover")
    if p.multiplier > 1:
        positions += ("ct_box",)
    if rng.random() < 0.3:
        positions += ("meter_box",)
    lat, lon = _position(rng, route.district, HOUSE_SPREAD_DEG)
    until = None
    if p.category == "temporary":
        until = installed + timedelta(days=rng.choice((90, 120, 150, 180)))
    return Meter(
        id=f"M{n:06d}", serial=f"{installed.year % 100:02d}{rng.randint(100, 999)}{n:07d}", route=route,
        category=p.category, customer_class=p.customer_class, customer_id=f"C{n:06d}", account_no=f"33{n:08d}",
        customer_name=names.customer_name(rng, p.category, p.customer_class, route.district.village),
        address=names.address(rng, route.district.village), temp_supply_until=until,
        multiplier=p.multiplier, dials=p.dials, decimals=decimals, phases=p.phases,
        registers=TOU_REGISTERS if p.time_of_use else ("total",), lat=lat, lon=lon, installed_on=installed,
        seals=seals.take(positions), daily_kwh=p.daily_kwh, start=start, peak_share=rng.uniform(0.55, 0.7),
    )


def meter_lines(station: Station) -> list[str]:
    """The station as the importer's meters CSV, header first."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(METER_COLUMNS)
    for m in station.meters:
        district = m.route.district
        writer.writerow((
            district.id, district.name, m.route.id, m.customer_id or "", m.account_no or "", m.customer_name or "",
            m.address, m.category, m.customer_class or "",
            m.temp_supply_until.isoformat() if m.temp_supply_until else "", m.id, m.serial, m.multiplier, m.dials,
            m.phases, ";".join(m.registers), m.lat, m.lon, m.installed_on.isoformat(),
            ";".join(f"{position}:{number}" for position, number in m.seals),
        ))
    return out.getvalue().splitlines(keepends=True)
