"""Push (PROTOCOL §5): the batch, its four item types as a tagged union on ``type``, the answer.

Register values, multipliers and energy are decimal strings; whether a string
is a valid value for its meter is judged per item, so only its length is
bounded here. Enumerations (actions, positions, anomaly codes) are part of
the schema: an unknown one is a 400 for the whole request, with its path.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal, Union

import msgspec

from field_schemas.anomalies import AnomalyCode
from field_schemas.common import DeviceId, SchemaVersion, Strict

Uuid = Annotated[
    str, msgspec.Meta(pattern=r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")
]
Sha256 = Annotated[str, msgspec.Meta(pattern=r"^[0-9a-f]{64}$")]
LedgerId = Annotated[str, msgspec.Meta(min_length=1, max_length=64)]
DecimalText = Annotated[str, msgspec.Meta(max_length=32)]
AwareTime = Annotated[datetime, msgspec.Meta(tz=True)]
Note = Annotated[str, msgspec.Meta(max_length=2000)]
Name = Annotated[str, msgspec.Meta(max_length=200)]
Participants = Annotated[list[LedgerId], msgspec.Meta(max_length=10)]
PhotoIds = Annotated[list[Sha256], msgspec.Meta(max_length=50)]


class GeoPoint(Strict, frozen=True):
    lat: Annotated[float, msgspec.Meta(ge=-90, le=90)]
    lon: Annotated[float, msgspec.Meta(ge=-180, le=180)]
    accuracy_m: Annotated[float, msgspec.Meta(ge=0)] | None = None


class ItemBase(Strict, frozen=True, tag_field="type", kw_only=True):
    op_id: Uuid
    meter_id: LedgerId
    recorded_at: AwareTime
    location: GeoPoint | None = None
    photo_ids: PhotoIds = []
    note: Note | None = None


UnableReason = Literal["premises_locked", "meter_inaccessible", "display_unreadable", "customer_refused", "hazard"]


class Reading(ItemBase, frozen=True, tag="reading", kw_only=True):
    assignment_id: LedgerId
    value: DecimalText | None
    method: Literal["actual", "unable"]
    register: Annotated[str, msgspec.Meta(min_length=1, max_length=32)] = "total"
    unable_reason: UnableReason | None = None


SealAction = Literal["verified", "installed", "removed", "found_broken", "found_missing"]
SealPosition = Literal["meter_cover", "terminal_cover", "meter_box", "ct_box"]


class SealEvent(ItemBase, frozen=True, tag="seal_event", kw_only=True):
    action: SealAction
    seal_number: Annotated[str, msgspec.Meta(min_length=1, max_length=64)]
    position: SealPosition
    pliers_id: LedgerId | None = None
    participants: Participants = []


class Anomaly(ItemBase, frozen=True, tag="anomaly", kw_only=True):
    code: AnomalyCode
    observed_at: AwareTime


class CustomerAck(Strict, frozen=True):
    status: Literal["signed", "refused", "absent"]
    signer_name: Name | None = None
    signature_photo_id: Sha256 | None = None


class Inspection(ItemBase, frozen=True, tag="inspection", kw_only=True):
    kind: Literal["theft_check", "routine", "census"]
    participants: Participants
    started_at: AwareTime
    ended_at: AwareTime
    findings: Annotated[list[AnomalyCode], msgspec.Meta(max_length=16)]
    record_text: Annotated[str, msgspec.Meta(max_length=20_000)]
    customer_ack: CustomerAck
    order_id: LedgerId | None = None
    estimated_unbilled_kwh: DecimalText | None = None


Item = Union[Reading, SealEvent, Anomaly, Inspection]


class PushRequest(Strict, frozen=True):
    batch_id: Uuid
    device_id: DeviceId
    schema_version: SchemaVersion
    sent_at: AwareTime
    items: list[Item]


class ResultFlag(msgspec.Struct, frozen=True):
    code: str
    message: str


class ResultError(msgspec.Struct, frozen=True):
    code: str
    message: str
    field: str | None


Status = Literal["accepted", "flagged", "rejected", "duplicate"]


class ItemResult(msgspec.Struct, frozen=True):
    op_id: str
    status: Status
    original_status: Literal["accepted", "flagged"] | None
    errors: list[ResultError]
    flags: list[ResultFlag]
    review_task_id: str | None


class PushResponse(msgspec.Struct, frozen=True):
    batch_id: str
    server_time: datetime
    clock_skew_s: float
    results: list[ItemResult]
    missing_photos: list[str]
