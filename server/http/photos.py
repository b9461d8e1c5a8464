"""Photo routes (PROTOCOL §6): upload whole or resumably, check, read and thumbnail.

Bodies are streamed to a temporary file while hashed, a block at a time, so
a photo is never whole in memory and a body past the limit is refused while
it arrives. Pillow, the store and the database run in worker threads.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, AsyncIterator, BinaryIO, Callable

import anyio.to_thread
import msgspec
from litestar import Request, Response, get, head, patch, post, put
from litestar.params import Parameter
from litestar.response import Stream
from sqlalchemy import Row

from server.auth import Principal
from server.context import AppContext, context, principal
from server.errors import ApiError
from server.http.body import read_json
from server.http.openapi import documented
from server.services import photos as service
from field_schemas.photos import PhotoInfo, UploadCreated, UploadProgress, UploadRequest

SPOOL_BLOCK = 1024 * 1024  # bytes gathered before each write-and-hash in a worker thread
# A full decode holds every pixel (~30 MB for a 10 MP photo) and keeps a core busy: more at once than
# cores only adds memory. Uploads beyond it wait here, in the event loop, not in worker threads.
DECODING = anyio.CapacityLimiter(max(2, os.cpu_count() or 1))
READ_BLOCK = 256 * 1024
UPLOAD_REQUEST_LIMIT = 1024
OFFSET_MEDIA_TYPE = "application/offset+octet-stream"
PHOTO_ERRORS = ["invalid_request", "checksum_mismatch", "image_too_large", "unsupported_image", "corrupt_image"]
PRIVATE = {"Cache-Control": "private, max-age=86400", "X-Content-Type-Options": "nosniff"}
# JPEG and PNG do not shrink under gzip: skipped once the app's CompressionConfig names this opt key.
NO_COMPRESSION = {"skip_compression": True}
_encoder = msgspec.json.Encoder()

Sha256Param = Annotated[str, Parameter(description="Lowercase hex SHA-256 of the photo's bytes",
                                       pattern=r"^[0-9a-f]{64}$")]
UploadIdParam = Annotated[str, Parameter(description="From POST /api/v1/photos/uploads", pattern=r"^[0-9a-f]{32}$")]


@dataclass(frozen=True)
class Spooled:
    path: Path
    sha256: str
    size: int


async def _decoded(request: Request, limit: int, too_large: Callable[[], ApiError]) -> AsyncIterator[bytes]:
    """The body's bytes, inflated when gzip (PROTOCOL §1), never inflating past ``limit``."""
    encoding = request.headers.get("content-encoding", "identity").strip().lower()
    if encoding not in ("identity", "gzip"):
        raise ApiError("invalid_request", f"Content-Encoding {encoding!r} is not supported; use gzip or none.")
    declared = request.headers.get("content-length", "")
    if encoding == "identity" and declared.isdigit() and int(declared) > limit:
        raise too_large()
    inflater = zlib.decompressobj(16 + zlib.MAX_WBITS) if encoding == "gzip" else None
    async for chunk in request.stream():
        if inflater is None:
            yield chunk
            continue
        try:
            chunk = inflater.decompress(chunk, limit + 1)
        except zlib.error as exc:
            raise ApiError("invalid_request", f"The gzip body is corrupt ({exc}). Send it again.") from exc
        if inflater.unconsumed_tail:
            raise too_large()
        yield chunk
    if inflater is not None and not inflater.eof:
        raise ApiError("invalid_request", "The gzip body is truncated. Send it again.")


def _append(out: BinaryIO, digest: "hashlib._Hash", block: bytearray) -> None:
    digest.update(block)
    out.write(block)


async def spool(request: Request, folder: Path, limit: int, too_large: Callable[[], ApiError]) -> Spooled:
    """Stream the body into a temporary file in ``folder`` while hashing it; refuse past ``limit`` bytes."""
    fd, name = tempfile.mkstemp(dir=folder, prefix="body-", suffix=".part")
    path, digest, size = Path(name), hashlib.sha256(), 0
    try:
        with os.fdopen(fd, "wb") as out:
            pending = bytearray()
            async for chunk in _decoded(request, limit, too_large):
                size += len(chunk)
                if size > limit:
                    raise too_large()
                pending += chunk
                if len(pending) >= SPOOL_BLOCK:
                    await anyio.to_thread.run_sync(_append, out, digest, pending)
                    pending = bytearray()
            await anyio.to_thread.run_sync(_append, out, digest, pending)
    except BaseException:
        path.unlink(missing_ok=True)
        raise
    return Spooled(path, digest.hexdigest(), size)


async def keep(ctx: AppContext, who: Principal, sha256: str, path: Path, actual_sha256: str) -> tuple[bool, PhotoInfo]:
    """Verify received bytes and keep them (PROTOCOL §6): (True, info) when newly stored."""
    service.check_checksum(sha256, actual_sha256)
    created, photo = False, await anyio.to_thread.run_sync(service.held_photo, ctx.db, sha256)
    if photo is None:
        info = await anyio.to_thread.run_sync(service.inspect_photo, path, ctx.settings, limiter=DECODING)
        created, photo = await anyio.to_thread.run_sync(service.store_photo, ctx.db, ctx.store, who, sha256, path, info)
    await anyio.to_thread.run_sync(service.complete_evidence, ctx.db, ctx.settings, who, sha256)
    return created, photo


def _photo_answer(created: bool, info: PhotoInfo) -> Response[Any]:
    return Response(_encoder.encode(info), status_code=201 if created else 200,  # type: ignore[arg-type]
                    media_type="application/json")


@put("/api/v1/photos/{sha256:str}", status_code=201, tags=["photos"], summary="Upload a photo whole")
@documented(request=bytes, request_media_type="application/octet-stream", errors=PHOTO_ERRORS)
async def put_photo(request: Request, sha256: Sha256Param) -> Response[PhotoInfo]:
    ctx = context(request)
    who = await principal(request)
    limit = ctx.settings.max_photo_bytes
    body = await spool(request, service.temp_dir(ctx.settings), limit, lambda: service.too_large(limit))
    try:
        return _photo_answer(*await keep(ctx, who, sha256, body.path, body.sha256))
    finally:
        body.path.unlink(missing_ok=True)


@head("/api/v1/photos/{sha256:str}", tags=["photos"], summary="Whether the server holds a photo")
@documented(errors=["invalid_request", "not_found"])
async def head_photo(request: Request, sha256: Sha256Param) -> Response[None]:
    ctx = context(request)
    await principal(request)
    if await anyio.to_thread.run_sync(service.held_photo, ctx.db, sha256) is None:
        raise service.not_found()
    return Response(b"", status_code=200, media_type="application/octet-stream")


async def _blocks(reader: BinaryIO) -> AsyncIterator[bytes]:
    try:
        while block := await anyio.to_thread.run_sync(reader.read, READ_BLOCK):
            yield block
    finally:
        await anyio.to_thread.run_sync(reader.close)


@get("/api/v1/photos/{sha256:str}", tags=["photos"], summary="The original bytes of a photo", opt=NO_COMPRESSION)
@documented(errors=["invalid_request", "not_found"])
async def get_photo(request: Request, sha256: Sha256Param) -> Stream:
    ctx = context(request)
    who = await principal(request)
    row = await anyio.to_thread.run_sync(service.readable_photo, ctx.db, who, sha256, "original")
    reader = await anyio.to_thread.run_sync(service.open_original, ctx.store, sha256)
    return Stream(_blocks(reader), media_type=row.content_type,
                  headers={**PRIVATE, "Content-Length": str(row.size), "ETag": f'"{sha256}"'})


@get("/api/v1/photos/{sha256:str}/thumbnail", tags=["photos"], summary="A JPEG of the photo, long side ≤ 1,024 px",
     opt=NO_COMPRESSION)
@documented(errors=["invalid_request", "not_found"])
async def get_thumbnail(request: Request, sha256: Sha256Param) -> Response[bytes]:
    ctx = context(request)
    who = await principal(request)
    await anyio.to_thread.run_sync(service.readable_photo, ctx.db, who, sha256, "thumbnail")
    jpeg = await anyio.to_thread.run_sync(service.thumbnail, ctx.store, ctx.settings, sha256, limiter=DECODING)
    return Response(jpeg, media_type="image/jpeg", headers=PRIVATE)


# --- resumable uploads (the tus conventions) -------------------------------------------------------


def _offset_headers(offset: int) -> dict[str, str]:
    return {"Upload-Offset": str(offset), "Cache-Control": "no-store"}


@post("/api/v1/photos/uploads", status_code=201, tags=["photos"], summary="Start a resumable photo upload")
@documented(request=UploadRequest, errors=["invalid_request", "unknown_field", "body_too_large", "image_too_large"])
async def start_upload(request: Request) -> Response[UploadCreated]:
    ctx = context(request)
    who = await principal(request)
    req = await read_json(request, UploadRequest, UPLOAD_REQUEST_LIMIT)
    created = await anyio.to_thread.run_sync(service.start_upload, ctx.db, ctx.store, ctx.settings, who, req)
    return Response(created, status_code=201, headers=_offset_headers(created.offset))


def _requested_offset(request: Request) -> int:
    if request.headers.get("content-type", "").split(";")[0].strip().lower() != OFFSET_MEDIA_TYPE:
        raise ApiError("unsupported_media_type", f"Send the chunk as Content-Type: {OFFSET_MEDIA_TYPE}.")
    text = request.headers.get("upload-offset", "")
    if not text.isdigit() or len(text) > 18:
        raise ApiError("invalid_request", "Send the chunk's start as the header Upload-Offset: <bytes>.",
                       field="Upload-Offset")
    return int(text)


async def _take_chunk(ctx: AppContext, request: Request, upload_id: str, offset: int, room: int) -> None:
    """Store the body as the part of the upload at ``offset``, refusing more than ``room`` bytes."""
    def past_the_end() -> ApiError:
        return ApiError("body_too_large", f"This chunk runs past the photo's size: at most {room} bytes remain.")

    chunk = await spool(request, service.temp_dir(ctx.settings), room, past_the_end)
    try:
        if chunk.size:
            await anyio.to_thread.run_sync(ctx.store.upload_part_put, upload_id, offset, chunk.path)
    finally:
        chunk.path.unlink(missing_ok=True)


@patch("/api/v1/photos/uploads/{upload_id:str}", status_code=200, tags=["photos"],
       summary="Send the next chunk of a resumable upload")
@documented(request=bytes, request_media_type=OFFSET_MEDIA_TYPE, errors=[
    *PHOTO_ERRORS, "not_found", "offset_mismatch", "body_too_large", "unsupported_media_type",
])
async def patch_upload(request: Request, upload_id: UploadIdParam) -> Response[UploadProgress | PhotoInfo]:
    ctx = context(request)
    who = await principal(request)
    offset = _requested_offset(request)
    upload = await anyio.to_thread.run_sync(service.find_upload, ctx.db, who, upload_id)
    held = await anyio.to_thread.run_sync(service.upload_offset, ctx.store, upload_id)
    if offset != held:
        raise ApiError("offset_mismatch", f"The server holds {held} bytes of this upload; send from there.",
                       headers=_offset_headers(held))
    await _take_chunk(ctx, request, upload_id, offset, upload.size - offset)
    held = await anyio.to_thread.run_sync(service.upload_offset, ctx.store, upload_id)
    if held < upload.size:
        return Response(UploadProgress(held), headers=_offset_headers(held))
    return await _finish(ctx, who, upload)


async def _finish(ctx: AppContext, who: Principal, upload: Row[Any]) -> Response[UploadProgress | PhotoInfo]:
    """Join the parts and verify the photo as a PUT would; a photo refused is discarded with its upload."""
    joined, actual_sha256 = await anyio.to_thread.run_sync(service.compose_upload, ctx.store, ctx.settings, upload.id)
    try:
        outcome = await keep(ctx, who, upload.sha256, joined, actual_sha256)
    except ApiError:
        await anyio.to_thread.run_sync(service.discard_upload, ctx.db, ctx.store, upload.id)
        raise
    finally:
        joined.unlink(missing_ok=True)
    await anyio.to_thread.run_sync(service.discard_upload, ctx.db, ctx.store, upload.id)
    return _photo_answer(*outcome)


@head("/api/v1/photos/uploads/{upload_id:str}", tags=["photos"], summary="How much of an upload the server holds")
@documented(errors=["invalid_request", "not_found"])
async def head_upload(request: Request, upload_id: UploadIdParam) -> Response[None]:
    ctx = context(request)
    who = await principal(request)
    upload = await anyio.to_thread.run_sync(service.find_upload, ctx.db, who, upload_id)
    held = await anyio.to_thread.run_sync(service.upload_offset, ctx.store, upload_id)
    return Response(b"", status_code=200, media_type="application/octet-stream",
                    headers={**_offset_headers(held), "Upload-Length": str(upload.size)})


ROUTES = [put_photo, head_photo, get_photo, get_thumbnail, start_upload, patch_upload, head_upload]
