"""Photos (PROTOCOL §6): what a photo upload answers, and the resumable upload messages."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

import msgspec

from field_schemas.common import Strict
from field_schemas.push import Sha256


class PhotoLocation(msgspec.Struct, frozen=True):
    lat: float
    lon: float


class PhotoInfo(msgspec.Struct, frozen=True):
    sha256: str
    size: int
    content_type: str
    width: int
    height: int
    taken_at: datetime | None
    location: PhotoLocation | None


class UploadRequest(Strict, frozen=True):
    sha256: Sha256
    size: Annotated[int, msgspec.Meta(ge=1)]


class UploadCreated(msgspec.Struct, frozen=True):
    upload_id: str
    offset: int


class UploadProgress(msgspec.Struct, frozen=True):
    offset: int
