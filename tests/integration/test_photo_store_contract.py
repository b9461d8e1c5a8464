"""One contract for every photo store backend: a local folder and S3 (moto's standalone server).

moto 5.2.5 does not verify the checksums a client sends, so the S3 tests only
show that every put sends one; the real store is what checks it.
"""

from __future__ import annotations

import base64
import hashlib
import uuid
from pathlib import Path
from typing import Callable

import boto3
import pytest
from botocore.stub import Stubber

from photo_store import ChecksumMismatch, PhotoNotFound, PhotoStore, UploadGap, contiguous_length, open_store
from photo_store.local import LocalPhotoStore
from photo_store.s3 import S3PhotoStore
from tests.s3_fixtures import BUCKET, moto_endpoint, s3_client  # noqa: F401  (moto_endpoint is a fixture)

PHOTO = b"\xff\xd8\xff\xe0 not really a jpeg, but bytes are bytes" * 100
PHOTO_SHA = hashlib.sha256(PHOTO).hexdigest()


@pytest.fixture(params=["local", "s3"])
def open_backend(request: pytest.FixtureRequest, tmp_path: Path) -> Callable[[], PhotoStore]:
    """Opens a new store object on this test's own location: call twice for two app servers."""
    if request.param == "local":
        root = tmp_path / "photos"
        return lambda: LocalPhotoStore(root)
    endpoint = request.getfixturevalue("moto_endpoint")
    prefix = f"test-{uuid.uuid4().hex}"
    return lambda: S3PhotoStore(s3_client(endpoint), BUCKET, prefix)


@pytest.fixture
def store(open_backend: Callable[[], PhotoStore]) -> PhotoStore:
    return open_backend()


@pytest.fixture
def photo_file(tmp_path: Path) -> Path:
    path = tmp_path / "incoming.jpg"
    path.write_bytes(PHOTO)
    return path


def read_all(store: PhotoStore, sha256: str) -> bytes:
    with store.open(sha256) as f:
        return f.read()


# --- photos ---


def test_put_stores_the_exact_bytes_under_their_hash(store: PhotoStore, photo_file: Path) -> None:
    assert store.put_file(PHOTO_SHA, photo_file, "image/jpeg") is True

    assert store.exists(PHOTO_SHA)
    assert store.size(PHOTO_SHA) == len(PHOTO)
    assert read_all(store, PHOTO_SHA) == PHOTO


def test_second_put_of_the_same_photo_reports_already_held(store: PhotoStore, photo_file: Path) -> None:
    store.put_file(PHOTO_SHA, photo_file, "image/jpeg")

    assert store.put_file(PHOTO_SHA, photo_file, "image/jpeg") is False
    assert read_all(store, PHOTO_SHA) == PHOTO


def test_photo_larger_than_one_copy_block_streams_back_whole(store: PhotoStore, tmp_path: Path) -> None:
    data = bytes(range(256)) * (3 * 4096 + 7)  # ~3 MiB, not a multiple of the block size
    sha = hashlib.sha256(data).hexdigest()
    path = tmp_path / "big.jpg"
    path.write_bytes(data)

    store.put_file(sha, path, "image/jpeg")

    with store.open(sha) as f:
        first = f.read(1000)
        rest = f.read()
    assert first + rest == data


def test_bytes_that_do_not_match_their_name_are_refused_and_not_kept(store: PhotoStore, photo_file: Path) -> None:
    wrong = hashlib.sha256(b"something else").hexdigest()

    with pytest.raises(ChecksumMismatch):
        store.put_file(wrong, photo_file, "image/jpeg")

    assert not store.exists(wrong)


def test_missing_photo_is_not_found(store: PhotoStore) -> None:
    assert not store.exists(PHOTO_SHA)
    with pytest.raises(PhotoNotFound):
        store.open(PHOTO_SHA)
    with pytest.raises(PhotoNotFound):
        store.size(PHOTO_SHA)


def test_delete_removes_the_photo_and_deleting_again_is_harmless(store: PhotoStore, photo_file: Path) -> None:
    store.put_file(PHOTO_SHA, photo_file, "image/jpeg")

    store.delete(PHOTO_SHA)
    store.delete(PHOTO_SHA)

    assert not store.exists(PHOTO_SHA)
    with pytest.raises(PhotoNotFound):
        store.open(PHOTO_SHA)


@pytest.mark.parametrize("name", [PHOTO_SHA.upper(), "../" + PHOTO_SHA[3:], PHOTO_SHA[:-1], ""])
def test_names_that_are_not_lowercase_sha256_are_refused(store: PhotoStore, photo_file: Path, name: str) -> None:
    with pytest.raises(ValueError):
        store.put_file(name, photo_file, "image/jpeg")
    with pytest.raises(ValueError):
        store.exists(name)


# --- resumable uploads ---


def test_parts_put_out_of_order_compose_in_offset_order(store: PhotoStore, tmp_path: Path) -> None:
    store.upload_part_put("up1", 13, b"tail!")
    store.upload_part_put("up1", 21, b"")  # an empty chunk is harmless to the join
    store.upload_part_put("up1", 0, b"the beginning")
    store.upload_part_put("up1", 18, b"end")

    assert store.upload_parts_list("up1") == [(0, 13), (13, 5), (18, 3), (21, 0)]
    dest = tmp_path / "composed"
    store.upload_compose("up1", dest)
    assert dest.read_bytes() == b"the beginningtail!end"


def test_a_chunk_may_come_from_a_file(store: PhotoStore, tmp_path: Path) -> None:
    chunk_file = tmp_path / "chunk"
    chunk_file.write_bytes(b"second")
    store.upload_part_put("up1", 5, chunk_file)
    store.upload_part_put("up1", 0, b"first")

    dest = tmp_path / "composed"
    store.upload_compose("up1", dest)

    assert dest.read_bytes() == b"firstsecond"


def test_parts_written_by_one_server_are_composed_by_another(
    open_backend: Callable[[], PhotoStore], tmp_path: Path
) -> None:
    first_server, second_server = open_backend(), open_backend()
    first_server.upload_part_put("shared", 0, b"abc")
    second_server.upload_part_put("shared", 3, b"def")

    dest = tmp_path / "composed"
    first_server.upload_compose("shared", dest)

    assert second_server.upload_parts_list("shared") == [(0, 3), (3, 3)]
    assert dest.read_bytes() == b"abcdef"


def test_putting_a_part_again_at_its_offset_replaces_it(store: PhotoStore) -> None:
    store.upload_part_put("up1", 0, b"short")
    store.upload_part_put("up1", 0, b"a longer chunk")

    assert store.upload_parts_list("up1") == [(0, 14)]


def test_parts_with_a_gap_do_not_compose(store: PhotoStore, tmp_path: Path) -> None:
    store.upload_part_put("up1", 0, b"12345")
    store.upload_part_put("up1", 8, b"9")

    parts = store.upload_parts_list("up1")
    with pytest.raises(UploadGap, match="offset 5"):
        store.upload_compose("up1", tmp_path / "composed")
    assert contiguous_length(parts) == 5


def test_uploads_are_kept_apart_even_when_one_id_starts_another(store: PhotoStore) -> None:
    store.upload_part_put("u1", 0, b"one")
    store.upload_part_put("u10", 0, b"ten!")

    assert store.upload_parts_list("u1") == [(0, 3)]
    assert store.upload_parts_list("u10") == [(0, 4)]


def test_discard_removes_every_part_of_that_upload_only(store: PhotoStore) -> None:
    store.upload_part_put("gone", 0, b"abc")
    store.upload_part_put("gone", 3, b"def")
    store.upload_part_put("kept", 0, b"xyz")

    store.upload_discard("gone")
    store.upload_discard("gone")
    store.upload_discard("never-started")

    assert store.upload_parts_list("gone") == []
    assert store.upload_parts_list("kept") == [(0, 3)]


def test_upload_parts_do_not_show_as_photos(store: PhotoStore) -> None:
    store.upload_part_put("up1", 0, PHOTO)

    assert not store.exists(PHOTO_SHA)


@pytest.mark.parametrize("upload_id", ["../escape", "a/b", "", "x" * 200, ".hidden"])
def test_unsafe_upload_ids_are_refused(store: PhotoStore, upload_id: str) -> None:
    with pytest.raises(ValueError):
        store.upload_part_put(upload_id, 0, b"x")


def test_negative_offsets_are_refused(store: PhotoStore) -> None:
    with pytest.raises(ValueError):
        store.upload_part_put("up1", -1, b"x")


# --- backend specifics ---


def test_local_store_leaves_no_temporary_files_behind(tmp_path: Path, photo_file: Path) -> None:
    store = LocalPhotoStore(tmp_path / "photos")
    store.put_file(PHOTO_SHA, photo_file, "image/jpeg")
    with pytest.raises(ChecksumMismatch):
        store.put_file(hashlib.sha256(b"other").hexdigest(), photo_file, "image/jpeg")
    store.upload_part_put("up1", 0, b"abc")

    files = sorted(p.relative_to(tmp_path / "photos").as_posix() for p in (tmp_path / "photos").rglob("*") if p.is_file())

    assert files == [f"{PHOTO_SHA[:2]}/{PHOTO_SHA[2:4]}/{PHOTO_SHA}", f"uploads/up1/{0:020d}"]


def test_s3_keys_follow_the_local_layout_under_the_prefix(moto_endpoint: str, photo_file: Path) -> None:
    client = s3_client(moto_endpoint)
    prefix = f"layout-{uuid.uuid4().hex}"
    store = S3PhotoStore(client, BUCKET, prefix + "/")
    store.put_file(PHOTO_SHA, photo_file, "image/jpeg")
    store.upload_part_put("up1", 42, b"abc")

    listed = client.list_objects_v2(Bucket=BUCKET, Prefix=prefix + "/")
    keys = sorted(obj["Key"] for obj in listed["Contents"])
    head = client.head_object(Bucket=BUCKET, Key=f"{prefix}/{PHOTO_SHA[:2]}/{PHOTO_SHA[2:4]}/{PHOTO_SHA}")

    assert keys == [f"{prefix}/{PHOTO_SHA[:2]}/{PHOTO_SHA[2:4]}/{PHOTO_SHA}", f"{prefix}/uploads/up1/{42:020d}"]
    assert head["ContentType"] == "image/jpeg"


def test_every_s3_put_sends_the_sha256_checksum_of_its_bytes(
    moto_endpoint: str, photo_file: Path, tmp_path: Path
) -> None:
    client = s3_client(moto_endpoint)
    sent: list[tuple[str, str, str | None]] = []

    def capture(request, **_) -> None:
        sent.append((request.method, request.url, request.headers.get("x-amz-checksum-sha256")))

    client.meta.events.register("before-send.s3.*", capture)
    store = S3PhotoStore(client, BUCKET, f"checksums-{uuid.uuid4().hex}")
    chunk_file = tmp_path / "chunk"
    chunk_file.write_bytes(b"from a file")

    store.put_file(PHOTO_SHA, photo_file, "image/jpeg")
    store.upload_part_put("up1", 0, b"from bytes")
    store.upload_part_put("up1", 10, chunk_file)

    puts = [(url, checksum) for method, url, checksum in sent if method == "PUT"]
    expected = [PHOTO, b"from bytes", b"from a file"]
    assert len(puts) == len(expected)
    for (url, checksum), body in zip(puts, expected):
        assert checksum is not None, f"no x-amz-checksum-sha256 on PUT {url}"
        header = checksum.decode() if isinstance(checksum, bytes) else checksum
        assert header == base64.b64encode(hashlib.sha256(body).digest()).decode()


def test_s3_refusing_a_checksum_is_a_checksum_mismatch(photo_file: Path) -> None:
    # moto never refuses a checksum, so the store's answer is stubbed here.
    client = boto3.client("s3", region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="x")
    store = S3PhotoStore(client, BUCKET, "p")
    with Stubber(client) as stub:
        stub.add_client_error("head_object", service_error_code="404", http_status_code=404)
        stub.add_client_error("put_object", service_error_code="BadDigest", http_status_code=400)

        with pytest.raises(ChecksumMismatch):
            store.put_file(PHOTO_SHA, photo_file, "image/jpeg")


# --- choosing a backend ---


def test_open_store_gives_a_local_store_for_a_folder(tmp_path: Path, photo_file: Path) -> None:
    store = open_store(str(tmp_path / "data" / "photos"))

    store.put_file(PHOTO_SHA, photo_file, "image/jpeg")

    assert (tmp_path / "data" / "photos" / PHOTO_SHA[:2] / PHOTO_SHA[2:4] / PHOTO_SHA).read_bytes() == PHOTO


def test_open_store_gives_an_s3_store_configured_from_the_environment(
    moto_endpoint: str, photo_file: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AWS_ENDPOINT_URL", moto_endpoint)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    prefix = f"env-{uuid.uuid4().hex}/photos"

    store = open_store(f"s3://{BUCKET}/{prefix}")
    store.put_file(PHOTO_SHA, photo_file, "image/jpeg")

    stored = s3_client(moto_endpoint).get_object(Bucket=BUCKET, Key=f"{prefix}/{PHOTO_SHA[:2]}/{PHOTO_SHA[2:4]}/{PHOTO_SHA}")
    assert stored["Body"].read() == PHOTO


def test_open_store_refuses_an_s3_spec_without_a_bucket() -> None:
    with pytest.raises(ValueError, match="bucket"):
        open_store("s3:///prefix")
