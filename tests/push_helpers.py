"""Building push batches the way a tablet would."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta, timezone
from typing import Any

SHANGHAI = timezone(timedelta(hours=8))


def now_text(offset_s: float = 0) -> str:
    return (datetime.now(SHANGHAI) + timedelta(seconds=offset_s)).isoformat()


def new_id() -> str:
    return str(uuid.uuid4())


def reading(meter_id: str, assignment_id: str, value: str | None, **extra: Any) -> dict[str, Any]:
    item = {"type": "reading", "op_id": new_id(), "meter_id": meter_id, "recorded_at": now_text(-60),
            "assignment_id": assignment_id, "value": value, "method": "actual" if value is not None else "unable"}
    item.update(extra)
    return item


def seal_event(meter_id: str, action: str, number: str, position: str = "meter_cover", **extra: Any) -> dict[str, Any]:
    item = {"type": "seal_event", "op_id": new_id(), "meter_id": meter_id, "recorded_at": now_text(-60),
            "action": action, "seal_number": number, "position": position}
    item.update(extra)
    return item


def anomaly(meter_id: str, code: str, **extra: Any) -> dict[str, Any]:
    item = {"type": "anomaly", "op_id": new_id(), "meter_id": meter_id, "recorded_at": now_text(-60),
            "code": code, "observed_at": now_text(-120)}
    item.update(extra)
    return item


def inspection(meter_id: str, participants: list[str], **extra: Any) -> dict[str, Any]:
    item = {"type": "inspection", "op_id": new_id(), "meter_id": meter_id, "recorded_at": now_text(-60),
            "kind": "theft_check", "participants": participants, "started_at": now_text(-1800),
            "ended_at": now_text(-120), "findings": ["wiring_tampered"], "record_text": "Bypass found at the box.",
            "customer_ack": {"status": "refused", "signer_name": None, "signature_photo_id": None},
            "photo_ids": ["a" * 64, "b" * 64]}
    item.update(extra)
    return item


def batch(items: list[dict[str, Any]], device_id: str = "tab-1", **extra: Any) -> dict[str, Any]:
    body = {"batch_id": new_id(), "device_id": device_id, "schema_version": 1, "sent_at": now_text(), "items": items}
    body.update(extra)
    return body


def push(client, headers: dict[str, str], body: dict[str, Any]):
    return client.post("/api/v1/sync/push", json=body, headers=headers)
