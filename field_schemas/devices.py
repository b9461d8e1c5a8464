"""Devices (PROTOCOL §2): what an admin sees of a tablet."""

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
