"""Photos as files under one folder.

Layout (the same relative names as the S3 store, so a folder can be copied
to a bucket as it is):

    <root>/ab/cd/abcd…            the photo whose SHA-256 is abcd…
    <root>/uploads/<id>/<offset>  one part of a resumable upload, offset zero-padded to 20 digits

Every file is written to a temporary name in its final folder, fsynced, moved
into place with os.replace and the folder fsynced, so a reader sees a whole
file or none, and a stored file survives a power cut.
"""

from __future__ import annotations

import hashlib
import io
import os
import shutil
import tempfile
from pathlib import Path
from typing import BinaryIO

from photo_store.base import (
    COPY_BLOCK,
    Chunk,
    ChecksumMismatch,
    PhotoNotFound,
    check_upload_id,
    compose_parts,
    parse_part_name,
    part_name,
    shard_path,
    verify_file,
)

_TEMP_PREFIX = ".tmp-"


class LocalPhotoStore:
    def __init__(self, root: Path) -> None:
        self.root = Path(root)
        self.root.mkdir(parents=True, exist_ok=True)

    def put_file(self, sha256: str, path: Path, content_type: str) -> bool:
        dest = self._photo_path(sha256)
        if dest.exists():
            verify_file(sha256, path)
            return False
        # Two servers storing the same photo at once both write identical bytes.
        _write_atomically(dest, path, self.root, expect_sha256=sha256)
        return True

    def exists(self, sha256: str) -> bool:
        return self._photo_path(sha256).is_file()

    def open(self, sha256: str) -> BinaryIO:
        try:
            return open(self._photo_path(sha256), "rb")
        except FileNotFoundError:
            raise PhotoNotFound(sha256) from None

    def size(self, sha256: str) -> int:
        try:
            return self._photo_path(sha256).stat().st_size
        except FileNotFoundError:
            raise PhotoNotFound(sha256) from None

    def delete(self, sha256: str) -> None:
        path = self._photo_path(sha256)
        try:
            path.unlink()
        except FileNotFoundError:
            return
        _fsync_dir(path.parent)

    def upload_part_put(self, upload_id: str, offset: int, chunk: Chunk) -> None:
        dest = self._upload_dir(upload_id) / part_name(offset)
        _write_atomically(dest, chunk, self.root)

    def upload_parts_list(self, upload_id: str) -> list[tuple[int, int]]:
        folder = self._upload_dir(upload_id)
        try:
            entries = list(os.scandir(folder))
        except FileNotFoundError:
            return []
        parts = []
        for entry in entries:
            offset = parse_part_name(entry.name)
            if offset is not None:
                parts.append((offset, entry.stat().st_size))
        return sorted(parts)

    def upload_compose(self, upload_id: str, dest_path: Path) -> None:
        folder = self._upload_dir(upload_id)
        parts = self.upload_parts_list(upload_id)
        compose_parts(upload_id, parts, lambda offset: open(folder / part_name(offset), "rb"), dest_path)

    def upload_discard(self, upload_id: str) -> None:
        folder = self._upload_dir(upload_id)
        shutil.rmtree(folder, ignore_errors=True)
        _fsync_dir(folder.parent)

    def _photo_path(self, sha256: str) -> Path:
        return self.root / shard_path(sha256)

    def _upload_dir(self, upload_id: str) -> Path:
        return self.root / "uploads" / check_upload_id(upload_id)


def _write_atomically(dest: Path, source: Chunk, root: Path, expect_sha256: str | None = None) -> None:
    _make_dirs(dest.parent, root)
    fd, temp_name = tempfile.mkstemp(prefix=_TEMP_PREFIX, dir=dest.parent)
    try:
        with os.fdopen(fd, "wb") as out:
            # The digest is taken of the very bytes written, so what lands is what was checked.
            digest = hashlib.sha256()
            with _reader(source) as src:
                while block := src.read(COPY_BLOCK):
                    digest.update(block)
                    out.write(block)
            out.flush()
            os.fsync(out.fileno())
        if expect_sha256 is not None and digest.hexdigest() != expect_sha256:
            raise ChecksumMismatch(f"file hashes to {digest.hexdigest()}, not {expect_sha256}")
        os.replace(temp_name, dest)
    except BaseException:
        Path(temp_name).unlink(missing_ok=True)
        raise
    _fsync_dir(dest.parent)


def _reader(source: Chunk) -> BinaryIO:
    return io.BytesIO(source) if isinstance(source, bytes) else open(source, "rb")


def _make_dirs(folder: Path, root: Path) -> None:
    """Create `folder` and any missing parents below `root`, making each new entry durable."""
    if folder.is_dir():
        return
    if folder != root:
        _make_dirs(folder.parent, root)
    try:
        folder.mkdir()
    except FileExistsError:
        return
    _fsync_dir(folder.parent)


def _fsync_dir(folder: Path) -> None:
    if not folder.is_dir():
        return
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
