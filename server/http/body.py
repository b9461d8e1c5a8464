"""Request bodies: size-bounded while read, gzip inflated with the same bound, decoded once."""

from __future__ import annotations

import re
import zlib
from functools import lru_cache
from typing import Any, TypeVar

import msgspec
from litestar import Request

from server.errors import ApiError

T = TypeVar("T")

_PATH = re.compile(r" - at `(?P<path>[^`]*)`$")
_UNKNOWN = re.compile(r"Object contains unknown field `(?P<name>[^`]*)`")
_MISSING = re.compile(r"Object missing required field `(?P<name>[^`]*)`")


@lru_cache(maxsize=None)
def _decoder(type_: Any) -> msgspec.json.Decoder:
    return msgspec.json.Decoder(type_)


def _too_large(limit: int) -> ApiError:
    return ApiError(
        "body_too_large",
        f"The request body is larger than {limit} bytes. Split the batch and send the parts.",
    )


async def read_body(request: Request, limit: int) -> bytes:
    """The whole body, inflated if gzip, refusing past ``limit`` bytes before parsing anything."""
    declared = request.headers.get("content-length")
    encoding = request.headers.get("content-encoding", "identity").strip().lower()
    if encoding not in ("identity", "gzip"):
        raise ApiError("invalid_request", f"Content-Encoding {encoding!r} is not supported; use gzip or none.")
    if declared and declared.isdigit() and encoding == "identity" and int(declared) > limit:
        raise _too_large(limit)
    inflater = zlib.decompressobj(16 + zlib.MAX_WBITS) if encoding == "gzip" else None
    parts: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        if inflater is not None:
            try:
                chunk = inflater.decompress(chunk, limit + 1 - size)
            except zlib.error as exc:
                raise ApiError("invalid_request", f"The gzip body is corrupt ({exc}). Send it again.") from exc
            if inflater.unconsumed_tail:
                raise _too_large(limit)
        size += len(chunk)
        if size > limit:
            raise _too_large(limit)
        parts.append(chunk)
    if inflater is not None and not inflater.eof:
        raise ApiError("invalid_request", "The gzip body is truncated. Send it again.")
    return b"".join(parts)


def decode(raw: bytes, type_: type[T]) -> T:
    """Strict decoding; a schema error names the JSON path of the offending value."""
    try:
        return _decoder(type_).decode(raw)
    except msgspec.ValidationError as exc:
        raise schema_error(str(exc)) from exc
    except msgspec.DecodeError as exc:
        raise ApiError("invalid_request", f"The body is not valid JSON ({exc}).", field="$") from exc


def schema_error(message: str) -> ApiError:
    match = _PATH.search(message)
    path = match.group("path") if match else "$"
    text = message[: match.start()] if match else message
    unknown = _UNKNOWN.search(text)
    if unknown:
        return ApiError(
            "unknown_field",
            f"{text}. Remove the field `{unknown.group('name')}` and send again.",
            field=f"{path}.{unknown.group('name')}",
        )
    missing = _MISSING.search(text)
    if missing:
        path = f"{path}.{missing.group('name')}"
    return ApiError("invalid_request", f"{text} (at {path}). Fix that value and send again.", field=path)


async def read_json(request: Request, type_: type[T], limit: int) -> T:
    return decode(await read_body(request, limit), type_)
