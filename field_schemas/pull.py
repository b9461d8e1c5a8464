"""Pull (PROTOCOL §4): the page of changes and the data of each kind."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any, Literal

import msgspec

Kind = Literal["assignment", "meter", "customer", "inspection_order", "outcome"]


class Location(msgspec.Struct, frozen=True):
    address: str | None
    lat: str | None
    lon: str | None


class LastReading(msgspec.Struct, frozen=True):
    register: str
    value: str | None
    read_at: datetime


class ExpectedBand(msgspec.Struct, frozen=True):
    low_kwh: str
    high_kwh: str


class SealOnRecord(msgspec.Struct, frozen=True):
    number: str
    position: str
    installed_at: datetime | None


class AssignmentData(msgspec.Struct, frozen=True):
    id: str
    cycle: str
    route_id: str
    meter_id: str
    task: Literal["read", "reread", "inspect"]
    due_from: date
    due_until: date
    reason: str | None


class MeterData(msgspec.Struct, frozen=True, rename={"meter_class": "class"}):
    id: str
    serial: str
    customer_id: str | None
    district_id: str
    route_id: str
    location: Location
    multiplier: str
    dials: int
    registers: list[str]
    phases: int
    meter_class: Literal["A", "B", "C"] | None
    last_reading: LastReading | None
    expected: ExpectedBand | None
    seals: list[SealOnRecord]


class CustomerData(msgspec.Struct, frozen=True):
    id: str
    account_no: str
    name: str
    address: str
    category: str
    temp_supply_until: date | None


class InspectionOrderData(msgspec.Struct, frozen=True):
    id: str
    kind: str
    meter_id: str
    team: list[str]
    due_until: date | None
    reason: str | None


class OutcomeData(msgspec.Struct, frozen=True):
    op_ids: list[str]
    task_id: str
    decision: str
    note: str | None


class Change(msgspec.Struct, frozen=True):
    seq: int
    op: Literal["upsert", "remove"]
    kind: Kind
    id: str
    data: Any


class PullResponse(msgspec.Struct, frozen=True):
    cursor: str
    has_more: bool
    server_time: datetime
    changes: list[Change]
