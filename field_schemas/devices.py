"""Devices (PROTOCOL §2): what an admin sees of a tablet, and the items it delivered."""

from __future__ import annotations

from datetime import datetime

import msgspec


class DeviceInfo(msgspec.Struct, frozen=True):
    id: str
    last_user_id: str | None
    app_version: str | None
    first_seen_at: datetime
    last_seen_at: datetime
    last_pull_at: datetime | None
    last_push_at: datetime | None
    revoked_at: datetime | None
    active_tokens: int


class DeviceList(msgspec.Struct, frozen=True):
    devices: list[DeviceInfo]


class DeviceItemFlag(msgspec.Struct, frozen=True):
    code: str
    message: str


class DeviceItem(msgspec.Struct, frozen=True):
    op_id: str
    type: str
    meter_id: str
    user_id: str
    status: str  # accepted | flagged: rejected items are never stored
    flags: list[DeviceItemFlag]
    review_task_id: str | None
    batch_id: str
    recorded_at: datetime  # the device clock's time, in UTC
    received_at: datetime
    evidence: str  # none | incomplete | complete


class DeviceItemsPage(msgspec.Struct, frozen=True):
    device_id: str
    items: list[DeviceItem]
    cursor: str | None  # null on the last page
