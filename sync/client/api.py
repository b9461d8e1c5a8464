"""The server's endpoints as the tablet calls them, over an injected ``httpx.Client``
(tests and the simulator inject one whose transport drops requests or answers).

Two kinds of failure, because a tablet must treat them differently:

- ``ServerRefused``: the server answered with an error (the protocol's code,
  message, field and ``Retry-After``). What was asked was not done, except
  where the code says otherwise.
- ``OutcomeUnknown``: no answer (connection refused or dropped, timeout) or a
  5xx other than ``503 overloaded``: the request may or may not have been
  processed. A push is then settled by its receipt, never by guessing.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import httpx
import msgspec

from field_schemas import push as wire
from field_schemas.auth import LoginRequest, LoginResponse
from field_schemas.pull import PullResponse
from field_schemas.errors import ErrorBody, ErrorDetail
from field_schemas.version import SCHEMA_CURRENT

BASE = "/api/v1"
# Codes that say "the same request later", with the wait in Retry-After.
RETRY_LATER = {"rate_limited", "overloaded", "batch_in_progress"}


class ServerRefused(Exception):
    def __init__(self, status: int, code: str, message: str, field: str | None = None,
                 retry_after_s: float | None = None, headers: dict[str, str] | None = None) -> None:
        super().__init__(f"{status} {code}: {message}")
        self.status = status
        self.code = code
        self.message = message
        self.field = field
        self.retry_after_s = retry_after_s
        self.headers = headers or {}

    @property
    def retry_later(self) -> bool:
        return self.code in RETRY_LATER


class OutcomeUnknown(Exception):
    """No answer: the server may or may not have done what was asked."""


@dataclass(frozen=True)
class UploadProgress:
    """Where a resumable upload stands; ``photo`` is the server's answer once it is complete."""

    offset: int
    photo: dict | None = None


@dataclass
class Api:
    http: httpx.Client
    app_version: str = "fieldsync-reference-client/1"
    schema_version: int = SCHEMA_CURRENT
    token: str | None = None
    _decoders: dict = field(default_factory=dict, repr=False)

    # -- plumbing ------------------------------------------------------------------------------

    def _send(self, method: str, path: str, *, ok: tuple[int, ...] = (200,), **kwargs) -> httpx.Response:
        headers = dict(kwargs.pop("headers", {}) or {})
        if self.token:
            headers["Authorization"] = f"Bearer {self.token}"
        try:
            res = self.http.request(method, BASE + path, headers=headers, **kwargs)
        except httpx.TransportError as exc:  # refused, dropped, timed out: no answer
            raise OutcomeUnknown(f"{method} {path}: {type(exc).__name__}: {exc}") from exc
        if res.status_code in ok:
            return res
        raise _refusal(method, path, res)

    def _decode(self, res: httpx.Response, type_: type):
        decoder = self._decoders.get(type_)
        if decoder is None:
            decoder = self._decoders[type_] = msgspec.json.Decoder(type_)
        try:
            return decoder.decode(res.content)
        except msgspec.DecodeError as exc:  # a cut answer is no answer
            raise OutcomeUnknown(f"undecodable answer ({exc})") from exc

    # -- identity, pull, push ------------------------------------------------------------------

    def login(self, username: str, password: str, device_id: str) -> LoginResponse:
        body = msgspec.json.encode(LoginRequest(username=username, password=password, device_id=device_id,
                                                app_version=self.app_version, schema_version=self.schema_version))
        res = self._send("POST", "/auth/login", content=body, headers={"Content-Type": "application/json"})
        answer = self._decode(res, LoginResponse)
        self.token = answer.token
        return answer

    def pull(self, cursor: str | None, limit: int) -> PullResponse:
        params: dict[str, str | int] = {"schema_version": self.schema_version, "limit": limit}
        if cursor:
            params["cursor"] = cursor
        return self._decode(self._send("GET", "/sync/pull", params=params), PullResponse)

    def push(self, body: bytes) -> wire.PushResponse:
        res = self._send("POST", "/sync/push", content=body, headers={"Content-Type": "application/json"})
        return self._decode(res, wire.PushResponse)

    def receipt(self, batch_id: str) -> wire.PushResponse | None:
        """The stored answer of a committed batch, or None when the batch never committed."""
        try:
            return self._decode(self._send("GET", f"/sync/batches/{batch_id}"), wire.PushResponse)
        except ServerRefused as exc:
            if exc.code == "not_found":
                return None
            raise

    def device_items(self, device_id: str, cursor: str | None = None, limit: int = 500) -> dict:
        """An admin's or supervisor's page of the items stored from ``device_id``."""
        params: dict[str, str | int] = {"limit": limit} | ({"cursor": cursor} if cursor else {})
        return msgspec.json.decode(self._send("GET", f"/devices/{device_id}/items", params=params).content)

    # -- photos --------------------------------------------------------------------------------

    def photo_held(self, sha256: str) -> bool:
        res = self._send("HEAD", f"/photos/{sha256}", ok=(200, 404))
        return res.status_code == 200

    def put_photo(self, sha256: str, data: bytes) -> dict:
        res = self._send("PUT", f"/photos/{sha256}", ok=(200, 201), content=data,
                         headers={"Content-Type": "application/octet-stream"})
        return msgspec.json.decode(res.content)

    def start_upload(self, sha256: str, size: int) -> tuple[str, int]:
        res = self._send("POST", "/photos/uploads", ok=(200, 201), content=msgspec.json.encode(
            {"sha256": sha256, "size": size}), headers={"Content-Type": "application/json"})
        answer = msgspec.json.decode(res.content)
        return answer["upload_id"], int(answer.get("offset") or 0)

    def upload_offset(self, upload_id: str) -> int | None:
        """The server's offset of an unfinished upload; None when it knows no such upload."""
        res = self._send("HEAD", f"/photos/uploads/{upload_id}", ok=(200, 204, 404))
        if res.status_code == 404:
            return None
        return int(res.headers.get("upload-offset", "0"))

    def send_chunk(self, upload_id: str, offset: int, chunk: bytes) -> UploadProgress:
        res = self._send("PATCH", f"/photos/uploads/{upload_id}", ok=(200, 201, 204), content=chunk, headers={
            "Content-Type": "application/offset+octet-stream", "Upload-Offset": str(offset)})
        answer = msgspec.json.decode(res.content) if res.content else {}
        if "sha256" in answer:
            return UploadProgress(offset + len(chunk), answer)
        return UploadProgress(int(answer.get("offset", res.headers.get("upload-offset", offset + len(chunk)))))


def _refusal(method: str, path: str, res: httpx.Response) -> Exception:
    if res.status_code >= 500 and res.status_code != 503:
        return OutcomeUnknown(f"{method} {path}: {res.status_code} {res.text[:200]}")
    try:
        detail = msgspec.json.decode(res.content, type=ErrorBody).error
    except (msgspec.DecodeError, msgspec.ValidationError):
        if res.status_code == 503:
            detail = ErrorDetail("overloaded", res.text[:200])
        else:
            detail = ErrorDetail(_code_without_body(res.status_code), res.text[:200])
    return ServerRefused(res.status_code, detail.code, detail.message, detail.field,
                         retry_after_s(res.headers.get("retry-after")), dict(res.headers))


def _code_without_body(status: int) -> str:
    # HEAD answers and proxies' pages carry no protocol body.
    return {404: "not_found", 405: "method_not_allowed", 409: "conflict", 429: "rate_limited"}.get(status, "unknown")


def retry_after_s(value: str | None) -> float | None:
    """Retry-After in seconds (the protocol sends seconds; an HTTP date is not used)."""
    if not value:
        return None
    try:
        seconds = float(value)
    except ValueError:
        return None
    return seconds if math.isfinite(seconds) and seconds >= 0 else None
