"""Shared pieces of the wire format: strict request decoding and bounded strings."""

from __future__ import annotations

from typing import Annotated

import msgspec


class Strict(msgspec.Struct, forbid_unknown_fields=True):
    """Base of every request a tablet sends: an unknown field is an error."""


Username = Annotated[str, msgspec.Meta(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.@-]+$")]
DeviceId = Annotated[str, msgspec.Meta(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.:-]+$")]
Password = Annotated[str, msgspec.Meta(min_length=1, max_length=1024)]
ShortText = Annotated[str, msgspec.Meta(max_length=200)]
SchemaVersion = Annotated[int, msgspec.Meta(ge=0, le=10_000)]
