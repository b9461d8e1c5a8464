"""Items as the tablet records them: a fresh ``op_id`` and the device clock, at the moment
the reader or inspector records the thing, never later when it is sent."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from field_schemas import push as wire


def new_op_id() -> str:
    return str(uuid.uuid4())


def device_now() -> datetime:
    """The device clock with its own offset (the server measures and corrects skew)."""
    return datetime.now().astimezone()


def reading(meter_id: str, assignment_id: str, value: str | None, *, register: str = "total",
            unable_reason: str | None = None, **common: Any) -> wire.Reading:
    return wire.Reading(
        op_id=common.pop("op_id", None) or new_op_id(), meter_id=meter_id,
        recorded_at=common.pop("recorded_at", None) or device_now(), assignment_id=assignment_id,
        value=value, method="unable" if value is None else "actual", register=register,
        unable_reason=unable_reason, **common,
    )


def seal_event(meter_id: str, action: str, seal_number: str, position: str, **fields: Any) -> wire.SealEvent:
    return wire.SealEvent(
        op_id=fields.pop("op_id", None) or new_op_id(), meter_id=meter_id,
        recorded_at=fields.pop("recorded_at", None) or device_now(), action=action,  # type: ignore[arg-type]
        seal_number=seal_number, position=position, **fields,  # type: ignore[arg-type]
    )


def anomaly(meter_id: str, code: str, **fields: Any) -> wire.Anomaly:
    at = fields.pop("recorded_at", None) or device_now()
    return wire.Anomaly(
        op_id=fields.pop("op_id", None) or new_op_id(), meter_id=meter_id, recorded_at=at,
        code=code, observed_at=fields.pop("observed_at", None) or at, **fields,  # type: ignore[arg-type]
    )


def inspection(meter_id: str, participants: list[str], **fields: Any) -> wire.Inspection:
    return wire.Inspection(
        op_id=fields.pop("op_id", None) or new_op_id(), meter_id=meter_id,
        recorded_at=fields.pop("recorded_at", None) or device_now(), participants=participants, **fields,
    )
