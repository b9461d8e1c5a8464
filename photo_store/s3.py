"""Photos as objects in S3 or an S3-compatible store.

Key layout under the configured prefix (the same relative names as the local
store, so a local folder can be synced into a bucket as it is):

    <prefix>/ab/cd/abcd…                  the photo whose SHA-256 is abcd…
    <prefix>/uploads/<id>/<offset:020d>   one part of a resumable upload

Unfinished uploads all sit under `<prefix>/uploads/`, so a bucket lifecycle
rule on that prefix can expire what the server never discarded.

Every put sends `ChecksumAlgorithm=SHA256` with the digest, so the store
refuses bytes damaged on the way (`BadDigest`, raised as ChecksumMismatch).
For a photo the digest is its name, so the store itself checks the evidence
hash.
"""

from __future__ import annotations

import base64
import hashlib
from pathlib import Path
from typing import Any, BinaryIO

import boto3
from botocore.exceptions import ClientError

from photo_store.base import (
    Chunk,
    ChecksumMismatch,
    PhotoNotFound,
    check_upload_id,
    compose_parts,
    file_sha256,
    parse_part_name,
    part_name,
    shard_path,
    verify_file,
)

_NOT_FOUND_CODES = {"NoSuchKey", "NotFound", "404"}
_DELETE_BATCH = 1000  # DeleteObjects takes at most this many keys


class S3PhotoStore:
    def __init__(self, client: Any, bucket: str, prefix: str = "") -> None:
        self.client = client
        self.bucket = bucket
        self.prefix = prefix.strip("/")

    @classmethod
    def from_environment(cls, bucket: str, prefix: str = "") -> S3PhotoStore:
        # boto3 reads the endpoint (AWS_ENDPOINT_URL), region and credentials itself.
        return cls(boto3.client("s3"), bucket, prefix)

    def put_file(self, sha256: str, path: Path, content_type: str) -> bool:
        key = self._key(shard_path(sha256))
        verify_file(sha256, path)
        if self._head(key) is not None:
            return False
        with open(path, "rb") as body:
            self._put(key, body, sha256, content_type)
        return True

    def exists(self, sha256: str) -> bool:
        return self._head(self._key(shard_path(sha256))) is not None

    def open(self, sha256: str) -> BinaryIO:
        return self._get_body(self._key(shard_path(sha256)))

    def size(self, sha256: str) -> int:
        head = self._head(self._key(shard_path(sha256)))
        if head is None:
            raise PhotoNotFound(sha256)
        return int(head["ContentLength"])

    def delete(self, sha256: str) -> None:
        self.client.delete_object(Bucket=self.bucket, Key=self._key(shard_path(sha256)))

    def upload_part_put(self, upload_id: str, offset: int, chunk: Chunk) -> None:
        key = self._upload_prefix(upload_id) + part_name(offset)
        if isinstance(chunk, bytes):
            self._put(key, chunk, hashlib.sha256(chunk).hexdigest(), "application/octet-stream")
            return
        digest = file_sha256(chunk)
        with open(chunk, "rb") as body:
            self._put(key, body, digest, "application/octet-stream")

    def upload_parts_list(self, upload_id: str) -> list[tuple[int, int]]:
        parts = []
        for obj in self._list(self._upload_prefix(upload_id)):
            offset = parse_part_name(obj["Key"].rsplit("/", 1)[-1])
            if offset is not None:
                parts.append((offset, int(obj["Size"])))
        return sorted(parts)

    def upload_compose(self, upload_id: str, dest_path: Path) -> None:
        prefix = self._upload_prefix(upload_id)
        parts = self.upload_parts_list(upload_id)
        compose_parts(upload_id, parts, lambda offset: self._get_body(prefix + part_name(offset)), dest_path)

    def upload_discard(self, upload_id: str) -> None:
        keys = [obj["Key"] for obj in self._list(self._upload_prefix(upload_id))]
        for start in range(0, len(keys), _DELETE_BATCH):
            batch = keys[start : start + _DELETE_BATCH]
            self.client.delete_objects(
                Bucket=self.bucket,
                Delete={"Objects": [{"Key": key} for key in batch], "Quiet": True},
            )

    def _key(self, relative: str) -> str:
        return f"{self.prefix}/{relative}" if self.prefix else relative

    def _upload_prefix(self, upload_id: str) -> str:
        return self._key(f"uploads/{check_upload_id(upload_id)}/")

    def _put(self, key: str, body: BinaryIO | bytes, sha256: str, content_type: str) -> None:
        try:
            self.client.put_object(
                Bucket=self.bucket,
                Key=key,
                Body=body,
                ContentType=content_type,
                ChecksumAlgorithm="SHA256",
                ChecksumSHA256=base64.b64encode(bytes.fromhex(sha256)).decode("ascii"),
            )
        except ClientError as exc:
            if _error_code(exc) == "BadDigest":
                raise ChecksumMismatch(f"the store refused {key}: bytes do not hash to {sha256}") from exc
            raise

    def _head(self, key: str) -> dict[str, Any] | None:
        try:
            return self.client.head_object(Bucket=self.bucket, Key=key)
        except ClientError as exc:
            if _is_not_found(exc):
                return None
            raise

    def _get_body(self, key: str) -> BinaryIO:
        try:
            return self.client.get_object(Bucket=self.bucket, Key=key)["Body"]
        except ClientError as exc:
            if _is_not_found(exc):
                raise PhotoNotFound(key) from None
            raise

    def _list(self, prefix: str) -> list[dict[str, Any]]:
        pages = self.client.get_paginator("list_objects_v2").paginate(Bucket=self.bucket, Prefix=prefix)
        return [obj for page in pages for obj in page.get("Contents", [])]


def _error_code(exc: ClientError) -> str:
    return str(exc.response.get("Error", {}).get("Code", ""))


def _is_not_found(exc: ClientError) -> bool:
    status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
    return _error_code(exc) in _NOT_FOUND_CODES or status == 404
