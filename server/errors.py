"""The one error shape of the protocol, raised anywhere and rendered at the edge."""

from __future__ import annotations

import logging
import re

import msgspec
from litestar import Request, Response
from litestar.exceptions import HTTPException, NotFoundException, ValidationException

from field_schemas.errors import ERROR_STATUS, ErrorBody, ErrorDetail

log = logging.getLogger("fieldsync")
_PARAMETER = re.compile(r"parameter '([^']+)'")
_encoder = msgspec.json.Encoder()


class ApiError(Exception):
    """An answer the client must act on: ``code`` is stable, ``message`` says what to do."""

    def __init__(
        self,
        code: str,
        message: str,
        *,
        field: str | None = None,
        headers: dict[str, str] | None = None,
        status: int | None = None,
    ) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.field = field
        self.headers = headers or {}
        self.status = status or ERROR_STATUS[code]


def error_response(err: ApiError) -> Response[bytes]:
    body = _encoder.encode(ErrorBody(ErrorDetail(err.code, err.message, err.field)))
    return Response(body, status_code=err.status, media_type="application/json", headers=err.headers)


def handle_api_error(_: Request, exc: ApiError) -> Response[bytes]:
    return error_response(exc)


def handle_http_exception(request: Request, exc: HTTPException) -> Response[bytes]:
    if isinstance(exc, NotFoundException):
        return error_response(ApiError("not_found", "No such resource. Check the path."))
    if isinstance(exc, ValidationException):
        problems = exc.extra if isinstance(exc.extra, list) else []
        field = next((p.get("key") for p in problems if isinstance(p, dict) and p.get("key")), None)
        named = _PARAMETER.search(str(exc.detail))
        field = field or (named.group(1) if named else None)
        detail = "; ".join(f"{p.get('key')}: {p.get('message')}" for p in problems if isinstance(p, dict)) or exc.detail
        return error_response(ApiError("invalid_request", f"{detail}. Fix the request and send it again.", field=field))
    status = exc.status_code
    if status == 405:
        return error_response(ApiError("method_not_allowed", f"{request.method} is not allowed here."))
    if status == 413:
        return error_response(ApiError("body_too_large", "The request body is too large. Send less at once."))
    if status == 401:
        return error_response(ApiError("unauthenticated", "Log in and send the token as 'Authorization: Bearer …'."))
    if status == 403:
        return error_response(ApiError("forbidden", "Your role does not allow this."))
    if status >= 500:
        log.error("internal error on %s %s: %s", request.method, request.url.path, exc)
        return error_response(ApiError("internal_error", "The server failed. Try again later.", status=500))
    return error_response(ApiError("invalid_request", str(exc.detail), status=status if status < 500 else 400))


def handle_unexpected(request: Request, exc: Exception) -> Response[bytes]:
    log.exception("unhandled error on %s %s", request.method, request.url.path, exc_info=exc)
    return error_response(ApiError("internal_error", "The server failed. Try again later; nothing was lost.", status=500))


EXCEPTION_HANDLERS = {
    ApiError: handle_api_error,
    HTTPException: handle_http_exception,
    Exception: handle_unexpected,
}
