"""Bulk reads shared by pull and push: one query for any number of meters."""

from __future__ import annotations

from datetime import datetime, timezone
from typing import NamedTuple

from sqlalchemy import Connection, func, select

from server.db.tables import readings


class RecentRead(NamedTuple):
    meter_id: str
    register: str
    value: str | None
    read_at: datetime
    method: str
    cycle: str | None


def recent_reads(conn: Connection, meter_ids: list[str], per_register: int, *, actual_only: bool) -> list[RecentRead]:
    """The newest ``per_register`` valid readings of each register of each meter, oldest first."""
    if not meter_ids:
        return []
    conditions = [readings.c.meter_id.in_(meter_ids), readings.c.status == "valid"]
    if actual_only:
        conditions += [readings.c.method == "actual", readings.c.value.is_not(None)]
    ranked = (
        select(
            readings.c.meter_id, readings.c.register, readings.c.value, readings.c.read_at, readings.c.method,
            readings.c.cycle,
            func.row_number().over(
                partition_by=(readings.c.meter_id, readings.c.register), order_by=readings.c.read_at.desc()
            ).label("rank"),
        )
        .where(*conditions)
        .subquery()
    )
    rows = conn.execute(
        select(ranked.c.meter_id, ranked.c.register, ranked.c.value, ranked.c.read_at, ranked.c.method, ranked.c.cycle)
        .where(ranked.c.rank <= per_register)
        .order_by(ranked.c.meter_id, ranked.c.register, ranked.c.read_at)
    ).all()
    return [RecentRead(r[0], r[1], r[2], _utc(r[3]), r[4], r[5]) for r in rows]


def _utc(value: datetime | str) -> datetime:
    # Values read through a subquery bypass the column type's conversion.
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    return value if value.tzinfo else value.replace(tzinfo=timezone.utc)
