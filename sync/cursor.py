"""The pull cursor: opaque to tablets, plain data to the server.

It holds the last ``seq`` delivered and, while a full snapshot is being
paged, the feed's high-water mark when the snapshot began: removals up to
that mark concern things the tablet never received and are skipped. It is
bound to the user it was issued to. Nothing in it depends on server memory,
so it survives restarts.
"""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass

import msgspec


class InvalidCursor(ValueError):
    pass


class _Wire(msgspec.Struct, forbid_unknown_fields=True, array_like=True):
    version: int
    user_id: str
    seq: int
    snapshot_until: int


@dataclass(frozen=True)
class Cursor:
    seq: int
    snapshot_until: int = 0


VERSION = 1
MAX_CURSOR_LENGTH = 512


def encode_cursor(cursor: Cursor, user_id: str) -> str:
    raw = msgspec.json.encode(_Wire(VERSION, user_id, cursor.seq, cursor.snapshot_until))
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


def decode_cursor(text: str, user_id: str) -> Cursor:
    if not text or len(text) > MAX_CURSOR_LENGTH:
        raise InvalidCursor("empty or overlong cursor")
    try:
        raw = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
        wire = msgspec.json.decode(raw, type=_Wire)
    except (binascii.Error, ValueError, msgspec.DecodeError, msgspec.ValidationError) as exc:
        raise InvalidCursor("not a cursor this server issued") from exc
    if wire.version != VERSION or wire.seq < 0 or wire.snapshot_until < 0:
        raise InvalidCursor("unknown cursor version")
    if wire.user_id != user_id:
        raise InvalidCursor("cursor issued to another user")
    return Cursor(wire.seq, wire.snapshot_until)
