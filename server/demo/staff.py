"""The demo station's people: logins for every role, seal pliers for the inspectors,
and the reading cycle of the current month with one reader a route."""

from __future__ import annotations

import calendar
from dataclasses import dataclass
from datetime import date
from random import Random

from sqlalchemy import insert, select

from server.auth import hash_password
from server.clock import utcnow
from server.db.audit import audit_many
from server.db.engine import Database
from server.db.tables import users
from server.demo import names
from server.demo.ledger import Station
from server.errors import ApiError
from server.services import cycles, pliers

DEMO_PASSWORD = "demo"
ACTOR = "demo"
REVIEWERS = 3
INSPECTORS = 4
# Read on the first ten days of the month, as the station does; later in the
# month the window runs to its end so that a read made today is on time.
DUE_DAYS = 10


@dataclass(frozen=True)
class Person:
    username: str
    role: str
    name: str


def staff(rng: Random, station: Station) -> list[Person]:
    people = [Person("admin", "admin", "系统管理员"), Person("supervisor01", "supervisor", names.person(rng))]
    people += [Person(f"reviewer{i:02d}", "reviewer", names.person(rng)) for i in range(1, REVIEWERS + 1)]
    people += [Person(f"inspector{i:02d}", "inspector", names.person(rng)) for i in range(1, INSPECTORS + 1)]
    return people + [Person(route.reader, "reader", names.person(rng)) for route in station.routes]


def add_users(db: Database, people: list[Person], password: str, actor: str = ACTOR) -> int:
    """Add the people not yet on record, in one statement and with the password hashed
    once (hashing is slow on purpose: once a user would cost seconds). Returns users added."""
    now = utcnow()
    password_hash = hash_password(password)
    with db.write() as conn:
        known = set(conn.execute(select(users.c.id).where(users.c.id.in_([p.username for p in people]))).scalars())
        new = [p for p in people if p.username not in known]
        if new:
            conn.execute(insert(users), [
                {"id": p.username, "name": p.name, "password_hash": password_hash, "roles": [p.role],
                 "active": True, "created_at": now}
                for p in new
            ])
            audit_many(conn, (
                {"at": now, "actor": actor, "action": "user.create", "entity": "user", "entity_id": p.username,
                 "after": {"name": p.name, "roles": [p.role]}}
                for p in new
            ))
    return len(new)


def issue_pliers(db: Database, inspectors: list[str], by: str = "admin") -> int:
    """Seal pliers ``P-01``, ``P-02``, … issued to the inspectors through the pliers register.
    Pliers already held by someone else stay with them. Returns the inspectors holding theirs."""
    issued = 0
    for i, inspector in enumerate(inspectors, start=1):
        try:
            pliers.issue_pliers(db, f"P-{i:02d}", inspector, actor=by)
        except ApiError:
            continue
        issued += 1
    return issued


@dataclass(frozen=True)
class ReadingWindow:
    cycle: str
    due_from: date
    due_until: date


def reading_window(today: date) -> ReadingWindow:
    """This month's cycle, due from the 1st to the 10th, or to the month's end once the 10th is past."""
    last_day = calendar.monthrange(today.year, today.month)[1]
    until = today.replace(day=DUE_DAYS) if today.day <= DUE_DAYS else today.replace(day=last_day)
    return ReadingWindow(f"{today:%Y-%m}", today.replace(day=1), until)


def open_reading_cycle(db: Database, station: Station, window: ReadingWindow) -> int:
    """Every route assigned to its own reader. Returns the assignments made."""
    made = 0
    for route in station.routes:
        result = cycles.open_cycle(db, window.cycle, route.id, route.reader, window.due_from, window.due_until, ACTOR)
        made += result.created
    return made
