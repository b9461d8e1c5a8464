"""Photos (PROTOCOL §6): keep a verified photo, resumable uploads, who may read one, thumbnails.

Every function blocks (Pillow, the photo store, the database); the HTTP
layer runs them in worker threads. The bytes arrive in a temporary file
under the data directory; nothing is kept unless the file hashes to its
name and is a whole JPEG or PNG within the limits.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, BinaryIO

from sqlalchemy import Connection, Row, delete, exists, select
from sqlalchemy.dialects import postgresql, sqlite

from photo_store.base import COPY_BLOCK, PhotoNotFound, PhotoStore, contiguous_length, file_sha256, shard_path
from photo_store.images import (
    CorruptImage,
    ImageInfo,
    ImageRejected,
    ImageTooLarge,
    UnsupportedImage,
    inspect_image,
    make_thumbnail,
)
from server.auth import Principal
from server.clock import utcnow
from server.db.audit import audit
from server.db.engine import Database
from server.db.tables import op_photos, ops, photo_uploads, photos
from field_schemas.photos import PhotoInfo, PhotoLocation, UploadCreated, UploadRequest
from server.errors import ApiError
from server.services import evidence, writer
from server.services.push import new_task_id, write_plan
from server.settings import Settings

STAFF = ("reviewer", "supervisor", "admin")
STALE_TEMP_AGE = timedelta(days=1)  # far longer than any request spends verifying a photo
_REJECTION_CODES = {UnsupportedImage: "unsupported_image", CorruptImage: "corrupt_image",
                    ImageTooLarge: "image_too_large"}


def temp_dir(settings: Settings) -> Path:
    """Where bytes wait to be verified: on the data directory's disk, never in memory."""
    folder = Path(settings.data_dir) / "tmp"
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def not_found() -> ApiError:
    return ApiError("not_found", "No photo with this hash is held for you. Check the hash, or upload it first.")


def too_large(limit: int) -> ApiError:
    return ApiError("image_too_large", f"A photo may have at most {limit} bytes. "
                                       "Take it again at a lower resolution or quality.")


# --- keeping a photo -----------------------------------------------------------------------------


def check_checksum(sha256: str, actual_sha256: str) -> None:
    if actual_sha256 != sha256:
        raise ApiError("checksum_mismatch", f"The bytes hash to {actual_sha256}, not {sha256}. "
                                            "Nothing was kept: send the photo again.")


def held_photo(db: Database, sha256: str) -> PhotoInfo | None:
    with db.read() as conn:
        row = _photo_row(conn, sha256)
    return None if row is None else photo_info(row)


def inspect_photo(path: Path, settings: Settings) -> ImageInfo:
    """Decode the whole file: a JPEG or PNG within the limits, or the protocol's refusal."""
    try:
        return inspect_image(path, settings.max_photo_pixels, settings.max_photo_bytes, settings.station_timezone)
    except ImageRejected as exc:
        raise ApiError(_REJECTION_CODES[type(exc)], exc.message) from exc


def store_photo(db: Database, store: PhotoStore, who: Principal, sha256: str, path: Path,
                info: ImageInfo) -> tuple[bool, PhotoInfo]:
    """Keep an inspected photo: (True, info) when newly stored, (False, info) when another upload was first."""
    store.put_file(sha256, path, info.content_type)
    size, now = os.path.getsize(path), utcnow()

    def keep_row(conn: Connection) -> tuple[bool, PhotoInfo]:
        evidence.take_turns_with_uploads(conn, [sha256], uploading=True)
        created = _insert_photo(conn, sha256, size, info, who, now)
        if created:
            # The chain of custody: who delivered these bytes, from which device.
            audit(conn, at=now, actor=who.user_id, action="photo.upload", entity="photo", entity_id=sha256,
                  after={"device_id": who.device_id, "size": size, "content_type": info.content_type})
        return created, photo_info(_photo_row(conn, sha256))

    return writer.write(db, keep_row)


def complete_evidence(db: Database, settings: Settings, who: Principal, sha256: str) -> None:
    """The items this held photo completes become ``complete`` and get their EXIF checks.

    Its own transaction, after the photo's is committed: it waits for review tasks that pushes
    hold, so it must not hold the photo's arrival lock meanwhile. Run again for a photo sent
    again, it completes what a server stopped between the two left behind.
    """
    with db.read() as conn:
        if not evidence.waiting_for(conn, sha256):
            return
    now = utcnow()
    writer.write(db, lambda conn: write_plan(conn, evidence.photo_arrived(conn, settings, sha256, new_task_id),
                                             who.user_id, now))


def _insert_photo(conn: Connection, sha256: str, size: int, info: ImageInfo, who: Principal, now: datetime) -> bool:
    """Insert the photo's row; False when another upload of the same photo got there first."""
    dialect = postgresql if conn.dialect.name == "postgresql" else sqlite
    stmt = dialect.insert(photos).values(
        sha256=sha256, size=size, content_type=info.content_type, width=info.width, height=info.height,
        taken_at=info.taken_at, lat=_text(info.lat), lon=_text(info.lon), orientation=info.orientation,
        uploaded_by=who.user_id, device_id=who.device_id, uploaded_at=now,
    ).on_conflict_do_nothing(index_elements=[photos.c.sha256]).returning(photos.c.sha256)
    return conn.execute(stmt).first() is not None


def _text(coordinate: float | None) -> str | None:
    return None if coordinate is None else repr(coordinate)


def _photo_row(conn: Connection, sha256: str) -> Row[Any] | None:
    return conn.execute(select(photos).where(photos.c.sha256 == sha256)).first()


def photo_info(row: Row[Any]) -> PhotoInfo:
    lat, lon = evidence.coordinate(row.lat), evidence.coordinate(row.lon)
    location = PhotoLocation(lat, lon) if lat is not None and lon is not None else None
    return PhotoInfo(row.sha256, row.size, row.content_type, row.width, row.height, row.taken_at, location)


# --- resumable uploads ---------------------------------------------------------------------------


def start_upload(db: Database, store: PhotoStore, settings: Settings, who: Principal,
                 req: UploadRequest) -> UploadCreated:
    """A new upload, or the caller's unexpired one of the same photo (a lost answer is asked again)."""
    if req.size > settings.max_photo_bytes:
        raise too_large(settings.max_photo_bytes)
    now = utcnow()

    def find_or_add(conn: Connection) -> str:
        upload_id = conn.execute(
            select(photo_uploads.c.id).where(
                photo_uploads.c.user_id == who.user_id, photo_uploads.c.sha256 == req.sha256,
                photo_uploads.c.size == req.size, photo_uploads.c.expires_at > now,
            ).limit(1)
        ).scalar()
        if upload_id is None:
            upload_id = uuid.uuid4().hex
            conn.execute(photo_uploads.insert().values(
                id=upload_id, sha256=req.sha256, size=req.size, user_id=who.user_id, device_id=who.device_id,
                created_at=now, expires_at=now + timedelta(days=settings.upload_expiry_days),
            ))
        return upload_id

    upload_id = writer.write(db, find_or_add)
    return UploadCreated(upload_id, upload_offset(store, upload_id))


def find_upload(db: Database, who: Principal, upload_id: str) -> Row[Any]:
    """The caller's unexpired upload; anyone else's, or an expired one, is not found."""
    with db.read() as conn:
        row = conn.execute(select(photo_uploads).where(
            photo_uploads.c.id == upload_id, photo_uploads.c.user_id == who.user_id,
            photo_uploads.c.expires_at > utcnow(),
        )).first()
    if row is None:
        raise ApiError("not_found", "No unfinished upload with this id is yours (it may have expired). "
                                    "Start a new one.")
    return row


def upload_offset(store: PhotoStore, upload_id: str) -> int:
    """Where the next chunk must start: the bytes held from 0 without a gap, on whichever server took them."""
    return contiguous_length(store.upload_parts_list(upload_id))


def compose_upload(store: PhotoStore, settings: Settings, upload_id: str) -> tuple[Path, str]:
    """The upload's parts joined into a temporary file, and that file's SHA-256."""
    fd, name = tempfile.mkstemp(dir=temp_dir(settings), prefix="upload-", suffix=".part")
    os.close(fd)
    joined = Path(name)
    try:
        store.upload_compose(upload_id, joined)
        return joined, file_sha256(joined)
    except BaseException:
        joined.unlink(missing_ok=True)
        raise


def discard_upload(db: Database, store: PhotoStore, upload_id: str) -> None:
    # Parts first: a row left behind is retried by the garbage collection, parts without a row are not.
    store.upload_discard(upload_id)
    writer.write(db, lambda conn: conn.execute(delete(photo_uploads).where(photo_uploads.c.id == upload_id)))


# --- reading -------------------------------------------------------------------------------------


def readable_photo(db: Database, who: Principal, sha256: str, variant: str) -> Row[Any]:
    """The photo's row if the caller may read it (staff, its uploader, the users whose items name it);
    staff reads are audited. Anyone else is told it does not exist."""
    with db.read() as conn:
        row = _photo_row(conn, sha256)
        allowed = row is not None and (
            who.has(*STAFF) or row.uploaded_by == who.user_id or _named_by_items_of(conn, sha256, who.user_id)
        )
    if not allowed:
        raise not_found()
    if who.has(*STAFF):
        now = utcnow()
        writer.write(db, lambda conn: audit(conn, at=now, actor=who.user_id, action="photo.read", entity="photo",
                                            entity_id=sha256, after={"device_id": who.device_id, "variant": variant}))
    return row


def _named_by_items_of(conn: Connection, sha256: str, user_id: str) -> bool:
    """Whether an item of this user names the photo, or one that lists the user among its participants."""
    naming = op_photos.c.sha256 == sha256
    own = select(ops.c.op_id).join(op_photos, op_photos.c.op_id == ops.c.op_id).where(naming, ops.c.user_id == user_id)
    if conn.execute(select(exists(own))).scalar():
        return True
    with_participants = conn.execute(
        select(ops.c.payload).join(op_photos, op_photos.c.op_id == ops.c.op_id)
        .where(naming, ops.c.type.in_(("inspection", "seal_event")))
    ).scalars()
    return any(user_id in (payload.get("participants") or []) for payload in with_participants)


def open_original(store: PhotoStore, sha256: str) -> BinaryIO:
    try:
        return store.open(sha256)
    except PhotoNotFound:
        raise not_found() from None


def thumbnail(store: PhotoStore, settings: Settings, sha256: str) -> bytes:
    """The photo's thumbnail, made on first demand and kept under the data directory."""
    cached = _thumbnail_path(settings, sha256)
    if not cached.is_file():
        with tempfile.TemporaryDirectory(dir=temp_dir(settings), prefix="thumb-") as work:
            original, made = Path(work) / "original", Path(work) / "thumbnail.jpg"
            with open_original(store, sha256) as src, open(original, "wb") as out:
                shutil.copyfileobj(src, out, COPY_BLOCK)
            make_thumbnail(original, made, settings.max_photo_pixels)
            cached.parent.mkdir(parents=True, exist_ok=True)
            os.replace(made, cached)  # whole or absent, even with two requests making it at once
    return cached.read_bytes()


def _thumbnail_path(settings: Settings, sha256: str) -> Path:
    return Path(settings.data_dir) / "thumbnails" / f"{shard_path(sha256)}.jpg"


# --- garbage collection --------------------------------------------------------------------------


@dataclass(frozen=True)
class Collected:
    uploads: int
    photos: list[str]
    temp_files: int


def collect_garbage(db: Database, store: PhotoStore, settings: Settings, orphan_age: timedelta,
                    actor: str) -> Collected:
    """Discard expired uploads, delete photos that no item names uploaded longer than ``orphan_age``
    ago (each deletion audited), and remove temporary files left by a server that stopped mid-request."""
    now = utcnow()
    with db.read() as conn:
        expired = conn.execute(select(photo_uploads.c.id).where(photo_uploads.c.expires_at <= now)).scalars().all()
        candidates = _orphans_older_than(conn, now - orphan_age)
    for upload_id in expired:
        discard_upload(db, store, upload_id)
    deleted = [sha256 for sha256 in candidates if _forget_orphan(db, sha256, actor, now)]
    for sha256 in deleted:
        # The row goes first: a photo whose bytes outlive it is uploaded again, never served missing.
        store.delete(sha256)
        _thumbnail_path(settings, sha256).unlink(missing_ok=True)
    return Collected(len(expired), deleted, _remove_stale_temp_files(temp_dir(settings), now - STALE_TEMP_AGE))


def _orphans_older_than(conn: Connection, cutoff: datetime) -> list[str]:
    named = select(op_photos.c.sha256).where(op_photos.c.sha256 == photos.c.sha256)
    return list(conn.execute(
        select(photos.c.sha256).where(photos.c.uploaded_at < cutoff, ~exists(named)).order_by(photos.c.sha256)
    ).scalars())


def _forget_orphan(db: Database, sha256: str, actor: str, now: datetime) -> bool:
    """Delete the photo's row unless an item named it meanwhile."""
    with db.write() as conn:
        named = select(op_photos.c.sha256).where(op_photos.c.sha256 == sha256)
        gone = conn.execute(delete(photos).where(photos.c.sha256 == sha256, ~exists(named))).rowcount == 1
        if gone:
            audit(conn, at=now, actor=actor, action="photo.delete", entity="photo", entity_id=sha256,
                  after={"reason": "named by no item"})
    return gone


def _remove_stale_temp_files(folder: Path, cutoff: datetime) -> int:
    removed = 0
    for entry in folder.iterdir():
        if entry.stat().st_mtime < cutoff.timestamp():
            shutil.rmtree(entry) if entry.is_dir() else entry.unlink(missing_ok=True)
            removed += 1
    return removed
