"""The error body of every non-2xx answer, and every error code with its HTTP status."""

from __future__ import annotations

import msgspec


class ErrorDetail(msgspec.Struct, frozen=True):
    code: str
    message: str
    field: str | None = None


class ErrorBody(msgspec.Struct, frozen=True):
    error: ErrorDetail


# code -> HTTP status (PROTOCOL §1). The code is stable; the message may change.
ERROR_STATUS: dict[str, int] = {
    "invalid_request": 400,
    "unknown_field": 400,
    "schema_too_new": 400,
    "checksum_mismatch": 400,
    "invalid_cursor": 400,
    "unauthenticated": 401,
    "invalid_credentials": 401,
    "token_expired": 401,
    "token_revoked": 401,
    "forbidden": 403,
    "device_mismatch": 403,
    "device_revoked": 403,
    "not_found": 404,
    "method_not_allowed": 405,
    "already_claimed": 409,
    "not_claimed_by_you": 409,
    "offset_mismatch": 409,
    "batch_in_progress": 409,
    "self_approval": 409,
    "invalid_state": 409,
    "cursor_expired": 410,
    "body_too_large": 413,
    "batch_too_large": 413,
    "image_too_large": 413,
    "unsupported_image": 415,
    "unsupported_media_type": 415,
    "corrupt_image": 422,
    "invalid_decision": 422,
    "schema_too_old": 426,
    "rate_limited": 429,
    "internal_error": 500,
    "overloaded": 503,
}
