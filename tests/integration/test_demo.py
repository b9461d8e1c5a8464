"""The demo station: made from a seed alone through the ledger importer, ready for every role."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from collections import defaultdict
from datetime import datetime
from decimal import Decimal
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select

from server.db.engine import Database
from server.db.tables import assignments, audit_log, districts, meters, pliers, pliers_history, readings, users
from server.demo import DEMO_PASSWORD, create_demo_station
from server.settings import Settings
from sync.consumption import register_advance
from tests.factories import apply, login, pull_all

ROOT = Path(__file__).resolve().parents[2]
SIZE = {"routes": 2, "meters": 60}
SEED = 7


@pytest.fixture
def demo(db, settings):
    return create_demo_station(db, settings, seed=SEED, **SIZE)


def ledger_and_history(db: Database) -> tuple[list[tuple], list[tuple]]:
    with db.read() as conn:
        ledger = conn.execute(select(meters).order_by(meters.c.id)).all()
        history = conn.execute(
            select(readings.c.meter_id, readings.c.register, readings.c.read_at, readings.c.value)
            .order_by(readings.c.meter_id, readings.c.register, readings.c.read_at)
        ).all()
    return [tuple(r) for r in ledger], [tuple(r) for r in history]


@pytest.fixture
def fresh_sqlite(tmp_path: Path, sqlite_template: Path):
    """Another empty database, to build a second station in."""
    path = tmp_path / "other" / "fieldsync.db"
    path.parent.mkdir()
    shutil.copyfile(sqlite_template, path)
    settings = Settings(data_dir=path.parent, database_url=f"sqlite:///{path}")
    database = Database(settings.database_url)
    yield database, settings
    database.dispose()


def test_the_same_seed_makes_the_same_meters_and_readings(db, demo, fresh_sqlite):
    other_db, other_settings = fresh_sqlite
    create_demo_station(other_db, other_settings, seed=SEED, **SIZE)
    ours, theirs = ledger_and_history(db), ledger_and_history(other_db)
    assert ours == theirs
    assert len(ours[0]) == demo.meters and len(ours[1]) == demo.readings


def test_another_seed_makes_another_station(db, demo, fresh_sqlite):
    other_db, other_settings = fresh_sqlite
    create_demo_station(other_db, other_settings, seed=SEED + 1, **SIZE)
    assert ledger_and_history(db)[1] != ledger_and_history(other_db)[1]


def test_every_active_meter_is_assigned_to_its_routes_reader_this_month(db, settings, demo):
    today = datetime.now(ZoneInfo(settings.station_timezone)).date()
    with db.read() as conn:
        route_meters = conn.execute(select(meters.c.route_id, meters.c.id).where(meters.c.removed_at.is_(None))).all()
        work = conn.execute(select(assignments).where(assignments.c.status == "open")).all()
    expected = defaultdict(set)
    for route_id, meter_id in route_meters:
        expected[route_id].add(meter_id)
    assert set(expected) == {"R01", "R02"}
    for route_id, meter_ids in expected.items():
        route_work = [a for a in work if a.route_id == route_id]
        assert sorted(a.meter_id for a in route_work) == sorted(meter_ids)
        assert {a.user_id for a in route_work} == {f"reader{route_id[1:]}"}
        assert {(a.cycle, a.task) for a in route_work} == {(f"{today:%Y-%m}", "read")}
        assert all(a.due_from <= today <= a.due_until for a in route_work)


def test_each_district_has_one_ct_metered_district_meter(db, demo):
    with db.read() as conn:
        district_ids = conn.execute(select(districts.c.id)).scalars().all()
        own = conn.execute(select(meters).where(meters.c.category == "district_meter")).all()
    assert len(district_ids) == demo.districts == 2
    assert sorted(m.district_id for m in own) == sorted(district_ids)
    for m in own:
        assert m.customer_id is None and m.phases == 3
        assert 200 <= int(m.multiplier) <= 600


def test_district_supply_exceeds_its_sales_by_a_plausible_line_loss(db, demo):
    with db.read() as conn:
        ledger = {m.id: m for m in conn.execute(select(meters)).all()}
        totals = conn.execute(
            select(readings.c.meter_id, readings.c.value, readings.c.cycle)
            .where(readings.c.register == "total").order_by(readings.c.meter_id, readings.c.read_at)
        ).all()
    supply: dict[tuple[str, str], Decimal] = defaultdict(Decimal)
    sales: dict[tuple[str, str], Decimal] = defaultdict(Decimal)
    for earlier, later in zip(totals, totals[1:]):
        if earlier.meter_id != later.meter_id:
            continue
        m = ledger[later.meter_id]
        energy = register_advance(Decimal(earlier.value), Decimal(later.value), m.dials) * Decimal(m.multiplier)
        (supply if m.category == "district_meter" else sales)[(m.district_id, later.cycle)] += energy
    assert len(supply) == 2 * 11  # two districts, eleven months between twelve reads
    for month, supplied in supply.items():
        assert Decimal("0.03") <= (supplied - sales[month]) / supplied <= Decimal("0.08"), month


def test_time_of_use_registers_add_up_to_the_total(db, demo):
    with db.read() as conn:
        rows = conn.execute(select(readings.c.meter_id, readings.c.read_at, readings.c.register, readings.c.value)).all()
    by_read: dict[tuple, dict[str, Decimal]] = defaultdict(dict)
    for meter_id, read_at, register, value in rows:
        by_read[(meter_id, read_at)][register] = Decimal(value)
    split = [r for r in by_read.values() if "peak" in r]
    assert split, "some meters have time-of-use registers"
    assert all(r["peak"] + r["valley"] == r["total"] for r in split)


def test_a_second_run_on_a_populated_database_creates_nothing(db, settings, demo):
    def counts():
        with db.read() as conn:
            return [len(conn.execute(select(t)).all()) for t in (meters, readings, users, assignments, audit_log)]

    before = counts()
    again = create_demo_station(db, settings, seed=SEED + 1, **SIZE)
    assert not again.created and again.meters_on_record == demo.meters
    assert counts() == before


def test_a_reader_pulls_exactly_their_route(client, db, demo):
    with db.read() as conn:
        route = conn.execute(select(meters.c.id, meters.c.customer_id).where(meters.c.route_id == "R01")).all()
    changes, _ = pull_all(client, login(client, "reader01", password=DEMO_PASSWORD))
    state = apply({}, changes)
    held = defaultdict(set)
    for kind, entity_id in state:
        held[kind].add(entity_id)
    assert held["meter"] == {m for m, _ in route}
    assert held["customer"] == {c for _, c in route if c is not None}
    assert len(held["assignment"]) == len(route)


def test_every_role_logs_in_with_the_demo_password_and_inspectors_hold_pliers(client, db, demo):
    for username in ("admin", "supervisor01", "reviewer03", "inspector04", "reader02"):
        login(client, username, device_id=f"tab-{username}", password=DEMO_PASSWORD)
    with db.read() as conn:
        holders = dict(conn.execute(select(pliers.c.id, pliers.c.holder_id)).all())
        register = conn.execute(select(pliers_history.c.pliers_id, pliers_history.c.action, pliers_history.c.by)).all()
    assert holders == {f"P-0{i}": f"inspector0{i}" for i in range(1, 5)}
    assert sorted(register) == [(f"P-0{i}", "issued", "admin") for i in range(1, 5)]


@pytest.mark.slow
def test_the_pull_benchmark_reports_its_figures(tmp_path):
    out = tmp_path / "pull.json"
    result = subprocess.run(
        [sys.executable, str(ROOT / "bench" / "pull.py"), "--meters", "50", "--repeat", "1", "--json", str(out)],
        cwd=ROOT, capture_output=True, text=True, timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    figures = json.loads(out.read_text())
    pulls = figures["pulls"]
    assert set(pulls) == {"limit_500_gzip", "limit_500_identity", "limit_5000_gzip", "limit_5000_identity"}
    # 51 meters (one is the district's), their 50 customers, 51 assignments: the same rows as the raw SELECTs.
    assert {p["changes"] for p in pulls.values()} == {figures["raw_rows"]} == {152}
    assert pulls["limit_500_gzip"]["bytes"] < pulls["limit_500_identity"]["bytes"] / 3
    assert figures["ratio"] > 0 and figures["raw_query_median_s"] > 0
