"""Create the demo station on an empty database, through the ledger importer."""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import date, datetime
from random import Random
from zoneinfo import ZoneInfo

from sqlalchemy import func, select

from server.db.engine import Database
from server.db.tables import meters, users
from server.demo import history, ledger, staff
from server.services.ledger import ImportReport, import_meters, import_readings
from server.settings import Settings


class DemoError(RuntimeError):
    """The importer refused the generated files: the generator is wrong, not the database."""


@dataclass(frozen=True)
class DemoReport:
    created: bool
    meters_on_record: int
    districts: int = 0
    routes: int = 0
    meters: int = 0
    readings: int = 0
    users: int = 0
    pliers: int = 0
    assignments: int = 0
    window: staff.ReadingWindow | None = None
    seconds: float = 0.0


def meters_on_record(db: Database) -> int:
    with db.read() as conn:
        return conn.execute(select(func.count()).select_from(meters)).scalar_one()


def create_demo_station(
    db: Database, settings: Settings, *, seed: int = 1, routes: int = 30, meters: int = 5000,
    today: date | None = None, progress: bool = False,
) -> DemoReport:
    """A station made from ``seed`` alone: the same seed gives the same ledger and history.
    On a database that already holds meters nothing is created."""
    started = time.perf_counter()
    on_record = meters_on_record(db)
    if on_record:
        return DemoReport(created=False, meters_on_record=on_record)
    today = today or datetime.now(ZoneInfo(settings.station_timezone)).date()
    station = ledger.plan_station(Random(f"{seed}:ledger"), routes, meters, today)
    reads = history.station_reads(Random(f"{seed}:history"), station, today)
    _check(import_meters(db, settings, ledger.meter_lines(station), progress=progress, actor=staff.ACTOR), "meters")
    readings = _check(
        import_readings(db, settings, history.reading_lines(station, reads), progress=progress, actor=staff.ACTOR),
        "readings",
    )
    people = staff.staff(Random(f"{seed}:staff"), station)
    added = staff.add_users(db, people, staff.DEMO_PASSWORD)
    issued = staff.issue_pliers(db, [p.username for p in people if p.role == "inspector"])
    window = staff.reading_window(today)
    assignments = staff.open_reading_cycle(db, station, window)
    return DemoReport(
        created=True, meters_on_record=len(station.meters), districts=len(station.districts),
        routes=len(station.routes), meters=len(station.meters), readings=readings.inserted, users=added,
        pliers=issued, assignments=assignments, window=window, seconds=time.perf_counter() - started,
    )


def _check(report: ImportReport, what: str) -> ImportReport:
    if report.errors:
        shown = "\n".join(report.errors[:10])
        raise DemoError(f"the importer refused the demo {what} ({len(report.errors)} problems):\n{shown}")
    return report


def logins(db: Database) -> list[tuple[str, list[str]]]:
    """``(role, usernames)`` of the active users on record, in the order of the roles' duties."""
    order = ("admin", "supervisor", "reviewer", "inspector", "reader")
    with db.read() as conn:
        rows = conn.execute(select(users.c.id, users.c.roles).where(users.c.active).order_by(users.c.id)).all()
    by_role: dict[str, list[str]] = {role: [] for role in order}
    for username, roles in rows:
        for role in roles:
            by_role.setdefault(role, []).append(username)
    return [(role, names) for role, names in by_role.items() if names]
