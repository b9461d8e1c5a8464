"""Small ledgers written straight to the database, for tests that are not about importing."""

from __future__ import annotations

from datetime import date, datetime, timedelta, timezone
from decimal import Decimal
from functools import lru_cache

from sqlalchemy import insert, select

from server.auth import hash_password
from server.db.engine import Database
from server.db.tables import customers, districts, meters, readings, routes, seals, users

T0 = datetime(2026, 1, 1, tzinfo=timezone.utc)
PASSWORD = "pw-for-tests"


@lru_cache(maxsize=1)
def _password_hash() -> str:
    return hash_password(PASSWORD)


def add_user(db: Database, username: str, *roles: str, name: str | None = None) -> str:
    with db.write() as conn:
        conn.execute(insert(users).values(
            id=username, name=name or username.title(), password_hash=_password_hash(),
            roles=list(roles), active=True, created_at=T0,
        ))
    return username


def add_route(db: Database, route_id: str, n_meters: int, *, district_id: str = "d-01", history: int = 0,
              multiplier: str = "1", dials: int = 6, daily_kwh: int = 10) -> list[str]:
    """A route of ``n_meters`` residential meters (each with its customer and a seal), and
    ``history`` monthly actual reads per meter advancing ``daily_kwh`` a day."""
    with db.write() as conn:
        if conn.execute(select(districts.c.id).where(districts.c.id == district_id)).first() is None:
            conn.execute(insert(districts).values(id=district_id, name=f"District {district_id}"))
        conn.execute(insert(routes).values(id=route_id, district_id=district_id))
        meter_ids = [f"m-{route_id}-{i:04d}" for i in range(n_meters)]
        conn.execute(insert(customers), [
            {"id": f"c-{m}", "account_no": f"acc-{m}", "name": f"Customer {m}", "address": f"{i} Village Road",
             "category": "residential", "class": "C", "temp_supply_until": None, "created_at": T0}
            for i, m in enumerate(meter_ids)
        ])
        conn.execute(insert(meters), [
            {"id": m, "serial": f"S{m}", "customer_id": f"c-{m}", "district_id": district_id, "route_id": route_id,
             "category": "residential", "address": f"{i} Village Road", "lat": "30.1", "lon": "120.2",
             "multiplier": multiplier, "dials": dials, "phases": 1, "registers": ["total"],
             "installed_at": T0, "removed_at": None}
            for i, m in enumerate(meter_ids)
        ])
        conn.execute(insert(seals), [
            {"meter_id": m, "position": "meter_cover", "number": f"S-{m}", "installed_at": T0} for m in meter_ids
        ])
        if history:
            conn.execute(insert(readings), [
                {"meter_id": m, "register": "total", "value": str(Decimal(1000 + k * 30 * daily_kwh)),
                 "read_at": T0 + timedelta(days=30 * k), "method": "actual", "source": "import",
                 "cycle": (T0 + timedelta(days=30 * k)).strftime("%Y-%m")}
                for m in meter_ids for k in range(history)
            ])
    return meter_ids


def login(client, username: str, device_id: str = "tab-1", password: str = PASSWORD) -> dict[str, str]:
    res = client.post("/api/v1/auth/login", json={
        "username": username, "password": password, "device_id": device_id,
        "app_version": "1.0.0", "schema_version": 1,
    })
    assert res.status_code == 200, res.text
    return {"Authorization": f"Bearer {res.json()['token']}"}


def pull_all(client, headers: dict[str, str], cursor: str | None = None, limit: int = 500) -> tuple[list[dict], str]:
    """Every page until has_more is false: the changes in order and the final cursor."""
    changes: list[dict] = []
    while True:
        params = {"schema_version": 1, "limit": limit}
        if cursor:
            params["cursor"] = cursor
        res = client.get("/api/v1/sync/pull", params=params, headers=headers)
        assert res.status_code == 200, res.text
        body = res.json()
        changes += body["changes"]
        cursor = body["cursor"]
        if not body["has_more"]:
            return changes, cursor


def apply(state: dict[tuple[str, str], dict], changes: list[dict]) -> dict[tuple[str, str], dict]:
    """What a tablet holds after applying ``changes`` in order."""
    for c in changes:
        key = (c["kind"], c["id"])
        if c["op"] == "upsert":
            state[key] = c["data"]
        else:
            state.pop(key, None)
    return state


FAR_DAY = date(2026, 12, 31)
