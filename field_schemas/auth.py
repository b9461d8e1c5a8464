"""Login (PROTOCOL §2)."""

from __future__ import annotations

from datetime import datetime

import msgspec

from field_schemas.common import DeviceId, Password, SchemaVersion, ShortText, Strict, Username


class LoginRequest(Strict, frozen=True):
    username: Username
    password: Password
    device_id: DeviceId
    app_version: ShortText
    schema_version: SchemaVersion


class UserInfo(msgspec.Struct, frozen=True):
    id: str
    name: str
    roles: list[str]


class SchemaRange(msgspec.Struct, frozen=True):
    min: int
    current: int


class LoginResponse(msgspec.Struct, frozen=True):
    token: str
    expires_at: datetime
    user: UserInfo
    server_time: datetime
    schema: SchemaRange
