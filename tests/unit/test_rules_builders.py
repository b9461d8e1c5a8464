"""Builders shared by the rule tests: a plausible station, meter and items, each
overridable by keyword. No tests here.

The station clock stands at 2026-12-10 12:00 station time (04:00 UTC). Meter
m-1 is a household meter on 5 dials with monthly actual reads that advance
100 kWh every 30 days (about 3.33 kWh a day), the last on 2026-11-10.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import date, datetime, timedelta, timezone
from decimal import Decimal
from typing import Any

from sync.consumption import ActualRead
from sync.ledger import (
    AssignmentView,
    BatchContext,
    BatchLedger,
    MeterView,
    UserView,
)
from sync.rules_types import AnomalyItem, CustomerAck, InspectionItem, ReadingItem, SealEventItem
from sync.thresholds import Thresholds

UTC = timezone.utc
NOW = datetime(2026, 12, 10, 4, 0, tzinfo=UTC)
LAST_READ_AT = datetime(2026, 11, 10, 4, 0, tzinfo=UTC)
LAST_VALUE = Decimal("1500")

READER = UserView("reader-1", frozenset({"reader"}))
INSPECTOR = UserView("insp-1", frozenset({"inspector"}))
INSPECTOR_2 = UserView("insp-2", frozenset({"inspector"}))


def monthly_reads(last_value: Decimal = LAST_VALUE, per_read: Decimal = Decimal(100), count: int = 7,
                  last_at: datetime = LAST_READ_AT, dials: int = 5) -> tuple[ActualRead, ...]:
    """``count`` actual reads 30 days apart, oldest first, ending at ``last_value``."""
    wrap = Decimal(10) ** dials
    return tuple(
        ActualRead((last_value - per_read * (count - 1 - i)) % wrap, last_at - timedelta(days=30 * (count - 1 - i)))
        for i in range(count)
    )


def meter(**overrides: Any) -> MeterView:
    base = MeterView(
        id="m-1",
        customer_id="c-1",
        route_id="r-1",
        district_id="d-1",
        category="residential",
        customer_class="C",
        multiplier=Decimal(1),
        dials=5,
        registers=("total",),
        installed_at=datetime(2020, 3, 1, tzinfo=UTC),
        history={"total": monthly_reads()},
        reads_before=40,
    )
    return replace(base, **overrides)


def assignment(**overrides: Any) -> AssignmentView:
    base = AssignmentView(
        id="as-1", user_id=READER.id, meter_id="m-1", cycle="2026-12", task="read",
        due_from=date(2026, 12, 1), due_until=date(2026, 12, 15), status="open",
    )
    return replace(base, **overrides)


def context(submitter: UserView = READER, skew_s: float = 0.0, **thresholds: Any) -> BatchContext:
    return BatchContext(now=NOW, skew_s=skew_s, station_tz="Asia/Shanghai", submitter=submitter,
                        thresholds=Thresholds(**thresholds))


def ledger(meters: tuple[MeterView, ...] | None = None, assignments: tuple[AssignmentView, ...] | None = None,
           users: tuple[UserView, ...] = (READER, INSPECTOR, INSPECTOR_2), pliers: tuple[Any, ...] = ()) -> BatchLedger:
    meters = (meter(),) if meters is None else meters
    assignments = (assignment(),) if assignments is None else assignments
    return BatchLedger(
        meters={m.id: m for m in meters},
        assignments={a.id: a for a in assignments},
        users={u.id: u for u in users},
        pliers={p.id: p for p in pliers},
    )


def reading(value: str | None = "1600", **overrides: Any) -> ReadingItem:
    """A reading of m-1's total register one hour ago: 100 kWh after the last, as expected."""
    base = ReadingItem(op_id="op-1", meter_id="m-1", recorded_at=NOW - timedelta(hours=1),
                       assignment_id="as-1", register="total", value=value, method="actual")
    return replace(base, **overrides)


def unable(reason: str | None = "premises_locked", **overrides: Any) -> ReadingItem:
    return reading(**{"value": None, "method": "unable", "unable_reason": reason, **overrides})


def seal_event(action: str = "verified", **overrides: Any) -> SealEventItem:
    base = SealEventItem(op_id="op-2", meter_id="m-1", recorded_at=NOW - timedelta(hours=1), action=action,
                         seal_number="S-100", position="meter_cover")
    return replace(base, **overrides)


def anomaly(code: str = "meter_stopped", **overrides: Any) -> AnomalyItem:
    base = AnomalyItem(op_id="op-3", meter_id="m-1", recorded_at=NOW - timedelta(hours=1), code=code,
                       observed_at=NOW - timedelta(hours=2))
    return replace(base, **overrides)


def inspection(kind: str = "routine", **overrides: Any) -> InspectionItem:
    """A routine inspection by insp-1 and insp-2 that took the last two hours."""
    base = InspectionItem(
        op_id="op-4", meter_id="m-1", recorded_at=NOW - timedelta(minutes=30), kind=kind,
        started_at=NOW - timedelta(hours=2), ended_at=NOW - timedelta(hours=1),
        participants=(INSPECTOR.id, INSPECTOR_2.id), record_text="Checked wiring, locks and seals.",
        photo_ids=("a" * 64, "b" * 64, "c" * 64),
        customer_ack=CustomerAck("signed", "Wang", "c" * 64),
    )
    return replace(base, **overrides)


def codes(found: Any) -> list[str]:
    """The codes of a list of flags or rejections, or of a single one (None: [])."""
    if found is None:
        return []
    if isinstance(found, list):
        return [f.code for f in found]
    return [found.code]
