"""The items stored from one device, page by page: what a lost tablet had delivered,
and the server's side of a reconciliation with the tablets' outboxes.

Pages are keyset pages in the order the server received the items
(``received_at``, then ``op_id``); the cursor is opaque to callers and bound
to the device it was issued for.
"""

from __future__ import annotations

import base64
import binascii
from datetime import datetime

import msgspec
from sqlalchemy import and_, or_, select

from field_schemas.devices import DeviceItem, DeviceItemFlag, DeviceItemsPage
from server.db.engine import Database
from server.db.tables import devices, ops
from server.errors import ApiError

DEFAULT_LIMIT = 500
MAX_LIMIT = 5000


class _Cursor(msgspec.Struct, array_like=True, forbid_unknown_fields=True):
    device_id: str
    received_at: datetime
    op_id: str


def encode_cursor(device_id: str, received_at: datetime, op_id: str) -> str:
    raw = msgspec.json.encode(_Cursor(device_id, received_at, op_id))
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


def decode_cursor(text: str, device_id: str) -> _Cursor:
    try:
        raw = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
        cursor = msgspec.json.decode(raw, type=_Cursor)
    except (binascii.Error, ValueError, msgspec.DecodeError, msgspec.ValidationError) as exc:
        raise _invalid_cursor() from exc
    if cursor.device_id != device_id or cursor.received_at.tzinfo is None:
        raise _invalid_cursor()
    return cursor


def _invalid_cursor() -> ApiError:
    return ApiError("invalid_cursor", "This cursor was not issued for this device's items. Start again without one.",
                    field="cursor")


def clamp_limit(limit: int | None) -> int:
    return DEFAULT_LIMIT if limit is None else max(1, min(MAX_LIMIT, limit))


def device_items(db: Database, device_id: str, cursor_text: str | None, limit: int | None) -> DeviceItemsPage:
    n = clamp_limit(limit)
    after = decode_cursor(cursor_text, device_id) if cursor_text else None
    query = (
        select(ops.c.op_id, ops.c.type, ops.c.meter_id, ops.c.user_id, ops.c.status, ops.c.flags,
               ops.c.review_task_id, ops.c.batch_id, ops.c.recorded_at, ops.c.received_at, ops.c.evidence)
        .where(ops.c.device_id == device_id)
        .order_by(ops.c.received_at, ops.c.op_id)
        .limit(n + 1)
    )
    if after is not None:
        query = query.where(or_(
            ops.c.received_at > after.received_at,
            and_(ops.c.received_at == after.received_at, ops.c.op_id > after.op_id),
        ))
    with db.read() as conn:
        if conn.execute(select(devices.c.id).where(devices.c.id == device_id)).first() is None:
            raise ApiError("not_found", f"No device {device_id} has ever logged in here. Check the device id.")
        rows = conn.execute(query).all()
    page = [
        DeviceItem(
            op_id=r.op_id, type=r.type, meter_id=r.meter_id, user_id=r.user_id, status=r.status,
            flags=[DeviceItemFlag(f["code"], f["message"]) for f in r.flags], review_task_id=r.review_task_id,
            batch_id=r.batch_id, recorded_at=r.recorded_at, received_at=r.received_at, evidence=r.evidence,
        )
        for r in rows[:n]
    ]
    cursor = encode_cursor(device_id, page[-1].received_at, page[-1].op_id) if len(rows) > n else None
    return DeviceItemsPage(device_id=device_id, items=page, cursor=cursor)
