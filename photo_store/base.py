"""The photo store interface: content-addressed originals and resumable upload parts.

A photo is named by the lowercase hex SHA-256 of its bytes, which is also its
evidence hash, so a store never changes a byte. Parts of a resumable upload
live in the store too, not on one app server's disk, so any server behind the
load balancer can take the next chunk or finish the upload.

All calls block; the server runs them in worker threads.
"""

from __future__ import annotations

import hashlib
import re
from pathlib import Path
from typing import BinaryIO, Callable, Protocol, Union

Chunk = Union[Path, bytes]

_SHA256_HEX = re.compile(r"[0-9a-f]{64}")
# Upload ids become path and key components: no dots, slashes or spaces.
_UPLOAD_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{0,127}")
COPY_BLOCK = 1024 * 1024


class PhotoNotFound(LookupError):
    """The store holds no photo under this hash."""


class ChecksumMismatch(ValueError):
    """The bytes offered do not hash to the name they were offered under."""


class UploadGap(ValueError):
    """The parts of an upload do not join up into one run from offset 0."""


class PhotoStore(Protocol):
    def put_file(self, sha256: str, path: Path, content_type: str) -> bool:
        """Store the file under its hash: True if newly stored, False if already held.

        Raises ChecksumMismatch, keeping nothing, when the file's SHA-256 is not `sha256`.
        """

    def exists(self, sha256: str) -> bool: ...

    def open(self, sha256: str) -> BinaryIO:
        """A streaming reader of the original bytes; raises PhotoNotFound."""

    def size(self, sha256: str) -> int:
        """Size in bytes; raises PhotoNotFound."""

    def delete(self, sha256: str) -> None:
        """Remove the photo; deleting one not held is not an error."""

    def upload_part_put(self, upload_id: str, offset: int, chunk: Chunk) -> None:
        """Store one chunk of an upload at `offset`; a second put at an offset replaces the first."""

    def upload_parts_list(self, upload_id: str) -> list[tuple[int, int]]:
        """(offset, size) of every stored part, by offset; [] for an unknown upload."""

    def upload_compose(self, upload_id: str, dest_path: Path) -> None:
        """Write the parts, in offset order, into the local file `dest_path`; raises UploadGap."""

    def upload_discard(self, upload_id: str) -> None:
        """Remove every part of the upload; discarding an unknown upload is not an error."""


def check_sha256(sha256: str) -> str:
    if not isinstance(sha256, str) or not _SHA256_HEX.fullmatch(sha256):
        raise ValueError(f"not a lowercase hex SHA-256: {sha256!r}")
    return sha256


def check_upload_id(upload_id: str) -> str:
    if not isinstance(upload_id, str) or not _UPLOAD_ID.fullmatch(upload_id):
        raise ValueError(f"not a valid upload id: {upload_id!r}")
    return upload_id


def check_offset(offset: int) -> int:
    if isinstance(offset, bool) or not isinstance(offset, int) or offset < 0:
        raise ValueError(f"not a valid upload offset: {offset!r}")
    return offset


def shard_path(sha256: str) -> str:
    """`ab/cd/abcd…`: the relative name of a photo, the same in every backend."""
    check_sha256(sha256)
    return f"{sha256[:2]}/{sha256[2:4]}/{sha256}"


def part_name(offset: int) -> str:
    # Zero-padded so names sort in offset order.
    return f"{check_offset(offset):020d}"


def parse_part_name(name: str) -> int | None:
    return int(name) if len(name) == 20 and name.isdigit() else None


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(COPY_BLOCK):
            digest.update(block)
    return digest.hexdigest()


def verify_file(sha256: str, path: Path) -> None:
    actual = file_sha256(path)
    if actual != sha256:
        raise ChecksumMismatch(f"file hashes to {actual}, not {sha256}")


def contiguous_length(parts: list[tuple[int, int]]) -> int:
    """Bytes held from offset 0 without a gap: where the next chunk must start."""
    end = 0
    for offset, size in sorted(parts):
        if offset != end:
            break
        end += size
    return end


def compose_parts(
    upload_id: str,
    parts: list[tuple[int, int]],
    open_part: Callable[[int], BinaryIO],
    dest_path: Path,
) -> None:
    """Concatenate the parts in offset order into `dest_path`, refusing any gap or overlap."""
    total = sum(size for _, size in parts)
    joined = contiguous_length(parts)
    if joined != total:
        raise UploadGap(f"upload {upload_id}: parts do not join up at offset {joined}")
    with open(dest_path, "wb") as out:
        for offset, _ in sorted(parts):
            with open_part(offset) as part:
                while block := part.read(COPY_BLOCK):
                    out.write(block)


def open_store(spec: str) -> PhotoStore:
    """`s3://bucket/prefix` gives the S3 store (endpoint and credentials from the
    usual boto3 environment, e.g. AWS_ENDPOINT_URL); anything else is a local folder."""
    if spec.startswith("s3://"):
        from photo_store.s3 import S3PhotoStore

        bucket, _, prefix = spec[len("s3://") :].partition("/")
        if not bucket:
            raise ValueError(f"photo store {spec!r} names no bucket")
        return S3PhotoStore.from_environment(bucket, prefix)
    from photo_store.local import LocalPhotoStore

    return LocalPhotoStore(Path(spec))
