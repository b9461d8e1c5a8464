"""What the push rules judge and what they answer.

Items mirror PROTOCOL §5 as plain data, so that the batch planner converts
the decoded wire structs to them and the rules never see msgspec. Register
values stay the strings the tablet sent: judging whether they are decimals
at all is a rule (``invalid_value``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import ClassVar, Literal, Union


@dataclass(frozen=True, slots=True)
class Location:
    lat: float
    lon: float
    accuracy_m: float | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class FieldItem:
    """The fields every item shares. Items are built by keyword."""

    op_id: str
    meter_id: str
    recorded_at: datetime
    location: Location | None = None
    photo_ids: tuple[str, ...] = ()
    note: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class ReadingItem(FieldItem):
    type: ClassVar[str] = "reading"
    assignment_id: str | None = None
    register: str = "total"
    value: str | None = None
    method: str = "actual"  # actual | unable
    unable_reason: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class SealEventItem(FieldItem):
    type: ClassVar[str] = "seal_event"
    action: str  # verified | installed | removed | found_broken | found_missing
    seal_number: str
    position: str  # meter_cover | terminal_cover | meter_box | ct_box
    pliers_id: str | None = None
    participants: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True, kw_only=True)
class AnomalyItem(FieldItem):
    type: ClassVar[str] = "anomaly"
    code: str
    observed_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class CustomerAck:
    status: str  # signed | refused | absent
    signer_name: str | None = None
    signature_photo_id: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class InspectionItem(FieldItem):
    """An inspection. ``reported_multiplier`` is the CT ratio ("200/5") or
    multiplier found on site, when the inspector states one."""

    type: ClassVar[str] = "inspection"
    kind: str  # theft_check | routine | census
    started_at: datetime
    ended_at: datetime
    participants: tuple[str, ...] = ()
    order_id: str | None = None
    findings: tuple[str, ...] = ()
    record_text: str = ""
    customer_ack: CustomerAck | None = None
    estimated_unbilled_kwh: Decimal | None = None
    reported_multiplier: str | None = None


Item = Union[ReadingItem, SealEventItem, AnomalyItem, InspectionItem]


@dataclass(frozen=True, slots=True)
class Flag:
    """Stored, but sent to review. The message says what happened and what to do."""

    code: str
    message: str


@dataclass(frozen=True, slots=True)
class Rejection:
    """Not stored. ``field`` is a JSON path relative to the item, e.g. ``$.value``."""

    code: str
    message: str
    field: str | None = None


@dataclass(frozen=True, slots=True)
class Verdict:
    status: Literal["accepted", "flagged", "rejected"]
    flags: list[Flag] = field(default_factory=list)
    errors: list[Rejection] = field(default_factory=list)


__all__ = [
    "AnomalyItem",
    "CustomerAck",
    "FieldItem",
    "Flag",
    "InspectionItem",
    "Item",
    "Location",
    "ReadingItem",
    "Rejection",
    "SealEventItem",
    "Verdict",
]
