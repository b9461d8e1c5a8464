"""Photo evidence over HTTP (PROTOCOL §6): kept byte for byte or not at all, resumable, readable only by those concerned."""

from __future__ import annotations

import dataclasses
import gzip
import hashlib
import io
import random
import uuid
from datetime import timedelta
from pathlib import Path
from typing import Iterator

import pytest
from litestar.testing import TestClient
from PIL import Image
from sqlalchemy import func, select, update

from photo_store.base import PhotoStore, open_store
from photo_store.s3 import S3PhotoStore
from server.app import create_app
from server.clock import utcnow
from server.db.tables import audit_log, photo_uploads, photos
from tests.factories import add_route, add_user, login
from tests.push_helpers import batch, inspection, push
from tests.s3_fixtures import BUCKET, moto_endpoint, s3_client  # noqa: F401  (moto_endpoint is a fixture)
from tests.unit.test_images import exif_with, png_bomb

OFFSET_STREAM = "application/offset+octet-stream"


# --- photos as a tablet makes them ------------------------------------------------------------------


def camera_jpeg(seed: int = 0, size: tuple[int, int] = (96, 64), taken: str | None = None,
                gps: tuple | None = None, offset: str | None = None) -> bytes:
    """A small JPEG with camera metadata; each seed gives other bytes, so another photo."""
    rng = random.Random(seed)
    image = Image.frombytes("RGB", size, rng.randbytes(size[0] * size[1] * 3))
    out = io.BytesIO()
    image.save(out, "JPEG", quality=90, exif=exif_with(taken, offset, gps))
    return out.getvalue()


def png_photo(seed: int = 0) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (40, 30), (seed % 256, 90, 140)).save(out, "PNG")
    return out.getvalue()


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def put_photo(client, headers: dict[str, str], data: bytes, **extra_headers: str):
    return client.put(f"/api/v1/photos/{sha(data)}", content=data, headers={**headers, **extra_headers})


def start_upload(client, headers: dict[str, str], data: bytes) -> str:
    res = client.post("/api/v1/photos/uploads", json={"sha256": sha(data), "size": len(data)}, headers=headers)
    assert res.status_code == 201, res.text
    return res.json()["upload_id"]


def send_chunk(client, headers: dict[str, str], upload_id: str, offset: int, chunk: bytes):
    return client.patch(f"/api/v1/photos/uploads/{upload_id}", content=chunk,
                        headers={**headers, "Content-Type": OFFSET_STREAM, "Upload-Offset": str(offset)})


def photo_rows(db) -> int:
    with db.read() as conn:
        return conn.execute(select(func.count()).select_from(photos)).scalar_one()


def audit_entries(db, action: str) -> list:
    with db.read() as conn:
        return conn.execute(select(audit_log).where(audit_log.c.action == action).order_by(audit_log.c.id)).all()


def assert_nothing_kept(db, store: PhotoStore, settings, name: str) -> None:
    assert photo_rows(db) == 0
    assert not store.exists(name)
    assert list((Path(settings.data_dir) / "tmp").iterdir()) == []
    assert audit_entries(db, "photo.upload") == []


# --- fixtures ------------------------------------------------------------------------------------


@pytest.fixture(params=["local", "s3"])
def store(request: pytest.FixtureRequest, settings) -> PhotoStore:
    if request.param == "local":
        return open_store(settings.photo_store)
    endpoint = request.getfixturevalue("moto_endpoint")
    return S3PhotoStore(s3_client(endpoint), BUCKET, f"api-{uuid.uuid4().hex}")


@pytest.fixture
def app(settings, db, store) -> Iterator[TestClient]:
    with TestClient(create_app(settings, db, store)) as client:
        yield client


@pytest.fixture
def people(db) -> dict[str, str]:
    for user, role in [("reader01", "reader"), ("reader02", "reader"), ("inspector01", "inspector"),
                       ("inspector02", "inspector"), ("reviewer01", "reviewer")]:
        add_user(db, user, role)
    return {"meter": add_route(db, "r-01", 1)[0]}


# --- whole uploads -------------------------------------------------------------------------------


def test_a_photo_is_kept_byte_for_byte_with_what_its_camera_recorded(app, db, store, people):
    headers = login(app, "reader01")
    data = camera_jpeg(taken="2026:03:01 10:20:30", gps=("N", (30, 6, 0), "E", (120, 12, 0)))

    res = put_photo(app, headers, data)

    assert res.status_code == 201, res.text
    assert res.json() == {
        "sha256": sha(data), "size": len(data), "content_type": "image/jpeg", "width": 96, "height": 64,
        "taken_at": "2026-03-01T02:20:30Z", "location": {"lat": pytest.approx(30.1), "lon": pytest.approx(120.2)},
    }
    assert app.head(f"/api/v1/photos/{sha(data)}", headers=headers).status_code == 200
    fetched = app.get(f"/api/v1/photos/{sha(data)}", headers=headers)
    assert fetched.status_code == 200
    assert fetched.content == data and fetched.headers["content-type"] == "image/jpeg"
    assert hashlib.sha256(store.open(sha(data)).read()).hexdigest() == sha(data)


def test_photos_are_served_as_they_are_even_to_clients_that_accept_gzip(app, people):
    headers = login(app, "reader01")
    data = camera_jpeg(seed=3, size=(400, 300))
    put_photo(app, headers, data)
    fetched = app.get(f"/api/v1/photos/{sha(data)}", headers={**headers, "Accept-Encoding": "gzip"})
    assert "content-encoding" not in fetched.headers
    assert fetched.content == data


def test_sending_a_held_photo_again_answers_200_and_keeps_one(app, db, people):
    headers = login(app, "reader01")
    data = camera_jpeg()
    first = put_photo(app, headers, data)

    again = put_photo(app, headers, data)

    assert (first.status_code, again.status_code) == (201, 200)
    assert again.json() == first.json()
    assert photo_rows(db) == 1
    [entry] = audit_entries(db, "photo.upload")
    assert (entry.actor, entry.entity_id, entry.after) == (
        "reader01", sha(data), {"device_id": "tab-1", "size": len(data), "content_type": "image/jpeg"})


def test_a_photo_nobody_sent_is_not_held(app, people):
    headers = login(app, "reader01")

    assert app.head(f"/api/v1/photos/{'0' * 64}", headers=headers).status_code == 404
    assert app.get(f"/api/v1/photos/{'0' * 64}", headers=headers).json()["error"]["code"] == "not_found"


def test_a_jpeg_sent_as_png_is_kept_as_the_jpeg_it_is(app, people):
    headers = login(app, "reader01")
    data = camera_jpeg()

    res = put_photo(app, headers, data, **{"Content-Type": "image/png"})

    assert res.status_code == 201 and res.json()["content_type"] == "image/jpeg"
    assert app.get(f"/api/v1/photos/{sha(data)}", headers=headers).headers["content-type"] == "image/jpeg"


def test_png_is_accepted(app, people):
    res = put_photo(app, login(app, "reader01"), png_photo())

    assert res.status_code == 201 and res.json()["content_type"] == "image/png"


def test_bytes_that_do_not_hash_to_the_name_are_refused_and_nothing_is_kept(app, db, store, settings, people):
    data = camera_jpeg()
    claimed = sha(b"the photo the tablet meant to send")

    res = app.put(f"/api/v1/photos/{claimed}", content=data, headers=login(app, "reader01"))

    assert res.status_code == 400 and res.json()["error"]["code"] == "checksum_mismatch"
    assert_nothing_kept(db, store, settings, claimed)
    assert not store.exists(sha(data))


def a_tiff() -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (20, 20)).save(out, "TIFF")
    return out.getvalue()


def truncated_jpeg() -> bytes:
    whole = camera_jpeg(size=(200, 150))
    return whole[: len(whole) // 2]


def png_bomb_bytes(tmp_path: Path) -> bytes:
    return png_bomb(tmp_path / "bomb.png").read_bytes()


REFUSED = [
    ("tiff", lambda _: a_tiff(), 415, "unsupported_image"),
    ("psd", lambda _: b"8BPS\x00\x01" + bytes(200), 415, "unsupported_image"),
    ("svg", lambda _: b'<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>', 415,
     "unsupported_image"),
    ("html", lambda _: b"<!DOCTYPE html><html><body>not a photo</body></html>", 415, "unsupported_image"),
    ("truncated jpeg", lambda _: truncated_jpeg(), 422, "corrupt_image"),
    ("30,000 x 30,000 png of a few KB", png_bomb_bytes, 413, "image_too_large"),
]


@pytest.mark.parametrize(("kind", "make", "status", "code"), REFUSED, ids=[r[0] for r in REFUSED])
def test_anything_but_a_whole_jpeg_or_png_within_limits_is_refused_and_nothing_is_kept(
    app, db, store, settings, people, tmp_path, kind, make, status, code
):
    data = make(tmp_path)
    if kind.startswith("30,000"):
        assert len(data) < 10_000

    res = put_photo(app, login(app, "reader01"), data)

    assert (res.status_code, res.json()["error"]["code"]) == (status, code), res.text
    assert_nothing_kept(db, store, settings, sha(data))


@pytest.fixture
def small_limit_app(settings, db) -> Iterator[tuple[TestClient, PhotoStore, object]]:
    small = dataclasses.replace(settings, max_photo_bytes=20_000)
    with TestClient(create_app(small, db)) as client:
        yield client, open_store(small.photo_store), small


def test_a_body_over_the_photo_limit_is_refused_whether_announced_or_streamed(small_limit_app, db, people):
    client, store, settings = small_limit_app
    headers = login(client, "reader01")
    data = camera_jpeg(size=(300, 200))
    assert len(data) > 20_000

    announced = put_photo(client, headers, data)

    def unannounced() -> Iterator[bytes]:
        for start in range(0, len(data), 4096):
            yield data[start:start + 4096]

    streamed = client.put(f"/api/v1/photos/{sha(data)}", content=unannounced(), headers=headers)

    for res in (announced, streamed):
        assert (res.status_code, res.json()["error"]["code"]) == (413, "image_too_large")
    assert_nothing_kept(db, store, settings, sha(data))


def test_a_gzip_compressed_upload_is_kept_as_the_original_bytes(app, people):
    headers = login(app, "reader01")
    data = camera_jpeg()

    res = app.put(f"/api/v1/photos/{sha(data)}", content=gzip.compress(data),
                  headers={**headers, "Content-Encoding": "gzip"})

    assert res.status_code == 201
    assert app.get(f"/api/v1/photos/{sha(data)}", headers=headers).content == data


# --- resumable uploads -----------------------------------------------------------------------------


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_an_upload_cut_at_random_places_and_resumed_gives_the_same_photo(app, db, store, people, seed):
    rng = random.Random(seed)
    headers = login(app, "reader01")
    data = camera_jpeg(seed, size=(160, 120))
    started = app.post("/api/v1/photos/uploads", json={"sha256": sha(data), "size": len(data)}, headers=headers)
    assert started.status_code == 201 and started.json()["offset"] == 0
    upload_id = started.json()["upload_id"]

    offset, answer = 0, None
    while offset < len(data):
        end = min(len(data), offset + rng.randint(1, len(data) // 3))
        if end < len(data) and rng.random() < 0.3:
            # The connection dropped: the tablet does not know how much arrived and asks.
            send_chunk(app, headers, upload_id, offset, data[offset:end])
            offset = int(app.head(f"/api/v1/photos/uploads/{upload_id}", headers=headers).headers["Upload-Offset"])
            continue
        if rng.random() < 0.2:
            # A stale offset: the server says where to go on from.
            stale = send_chunk(app, headers, upload_id, max(0, offset - 7), data[max(0, offset - 7):end])
            if offset > 0:
                assert (stale.status_code, stale.json()["error"]["code"]) == (409, "offset_mismatch")
                assert int(stale.headers["Upload-Offset"]) == offset
                continue
            answer = stale
        else:
            answer = send_chunk(app, headers, upload_id, offset, data[offset:end])
        if end < len(data):
            assert answer.status_code == 200 and answer.json() == {"offset": end}
        offset = end

    assert answer is not None and answer.status_code == 201, answer.text
    assert answer.json()["sha256"] == sha(data) and answer.json()["size"] == len(data)
    assert app.get(f"/api/v1/photos/{sha(data)}", headers=headers).content == data
    assert app.head(f"/api/v1/photos/uploads/{upload_id}", headers=headers).status_code == 404
    assert store.upload_parts_list(upload_id) == []


def test_a_wrong_offset_is_refused_with_the_right_one(app, people):
    headers = login(app, "reader01")
    data = camera_jpeg()
    upload_id = start_upload(app, headers, data)
    send_chunk(app, headers, upload_id, 0, data[:100])

    res = send_chunk(app, headers, upload_id, 250, data[250:400])

    assert (res.status_code, res.json()["error"]["code"]) == (409, "offset_mismatch")
    assert res.headers["Upload-Offset"] == "100"


def test_a_resumed_upload_that_is_not_a_photo_is_refused_and_discarded(app, db, store, settings, people):
    headers = login(app, "reader01")
    data = truncated_jpeg()
    upload_id = start_upload(app, headers, data)
    send_chunk(app, headers, upload_id, 0, data[:50])

    res = send_chunk(app, headers, upload_id, 50, data[50:])

    assert (res.status_code, res.json()["error"]["code"]) == (422, "corrupt_image")
    assert app.head(f"/api/v1/photos/uploads/{upload_id}", headers=headers).status_code == 404
    assert store.upload_parts_list(upload_id) == []
    assert_nothing_kept(db, store, settings, sha(data))


def test_asking_again_for_an_upload_of_the_same_photo_resumes_it(app, people):
    headers = login(app, "reader01")
    data = camera_jpeg()
    body = {"sha256": sha(data), "size": len(data)}
    first = app.post("/api/v1/photos/uploads", json=body, headers=headers).json()
    send_chunk(app, headers, first["upload_id"], 0, data[:64])

    again = app.post("/api/v1/photos/uploads", json=body, headers=headers).json()

    assert again == {"upload_id": first["upload_id"], "offset": 64}


def test_an_upload_belongs_to_the_user_who_started_it(app, people):
    mine, theirs = login(app, "reader01"), login(app, "reader02", "tab-2")
    data = camera_jpeg()
    upload_id = start_upload(app, mine, data)

    assert app.head(f"/api/v1/photos/uploads/{upload_id}", headers=theirs).status_code == 404
    res = send_chunk(app, theirs, upload_id, 0, data)
    assert (res.status_code, res.json()["error"]["code"]) == (404, "not_found")
    assert app.head(f"/api/v1/photos/uploads/{upload_id}", headers=mine).headers["Upload-Offset"] == "0"


def test_a_chunk_needs_the_offset_media_type_and_header(app, people):
    headers = login(app, "reader01")
    data = camera_jpeg()
    upload_id = start_upload(app, headers, data)
    url = f"/api/v1/photos/uploads/{upload_id}"

    wrong_type = app.patch(url, content=data, headers={**headers, "Content-Type": "image/jpeg", "Upload-Offset": "0"})
    no_offset = app.patch(url, content=data, headers={**headers, "Content-Type": OFFSET_STREAM})

    assert (wrong_type.status_code, wrong_type.json()["error"]["code"]) == (415, "unsupported_media_type")
    assert (no_offset.status_code, no_offset.json()["error"]["code"]) == (400, "invalid_request")


def test_an_upload_larger_than_a_photo_may_be_is_refused_at_the_start(app, settings, people):
    res = app.post("/api/v1/photos/uploads", json={"sha256": "a" * 64, "size": settings.max_photo_bytes + 1},
                   headers=login(app, "reader01"))

    assert (res.status_code, res.json()["error"]["code"]) == (413, "image_too_large")


def test_a_chunk_past_the_announced_size_is_refused(app, people):
    headers = login(app, "reader01")
    data = camera_jpeg()
    upload_id = start_upload(app, headers, data)

    res = send_chunk(app, headers, upload_id, 0, data + b"extra")

    assert (res.status_code, res.json()["error"]["code"]) == (413, "body_too_large")
    assert app.head(f"/api/v1/photos/uploads/{upload_id}", headers=headers).headers["Upload-Offset"] == "0"


# --- garbage collection ----------------------------------------------------------------------------


def gc_output(run, *args: str) -> str:
    result = run("photos", "gc", *args)
    assert result.exit_code == 0, result.output
    return result.output


def test_expired_uploads_are_gone_and_collected(client, db, settings, people, run):
    headers = login(client, "reader01")
    data = camera_jpeg()
    upload_id = start_upload(client, headers, data)
    send_chunk(client, headers, upload_id, 0, data[:10])
    with db.write() as conn:
        conn.execute(update(photo_uploads).values(expires_at=utcnow() - timedelta(seconds=1)))

    assert client.head(f"/api/v1/photos/uploads/{upload_id}", headers=headers).status_code == 404
    assert send_chunk(client, headers, upload_id, 10, data[10:]).status_code == 404
    assert "1 expired upload(s) discarded" in gc_output(run)
    assert open_store(settings.photo_store).upload_parts_list(upload_id) == []
    with db.read() as conn:
        assert conn.execute(select(func.count()).select_from(photo_uploads)).scalar_one() == 0


def test_gc_deletes_old_photos_no_item_names_and_keeps_the_rest(client, db, settings, people, run):
    reader, inspector = login(client, "reader01"), login(client, "inspector01", "tab-2")
    orphan, evidence, recent = camera_jpeg(1), camera_jpeg(2), camera_jpeg(3)
    for data in (orphan, evidence):
        put_photo(client, reader, data)
    push(client, inspector, batch([inspection(people["meter"], ["inspector01", "inspector02"],
                                              photo_ids=[sha(evidence)])], device_id="tab-2"))
    with db.write() as conn:
        conn.execute(update(photos).values(uploaded_at=utcnow() - timedelta(days=31)))
    put_photo(client, reader, recent)

    output = gc_output(run, "--orphan-days", "30")

    assert f"deleted {sha(orphan)}" in output
    store = open_store(settings.photo_store)
    assert not store.exists(sha(orphan)) and store.exists(sha(evidence)) and store.exists(sha(recent))
    assert client.head(f"/api/v1/photos/{sha(orphan)}", headers=reader).status_code == 404
    [entry] = audit_entries(db, "photo.delete")
    assert (entry.entity_id, entry.actor) == (sha(orphan), "cli")


# --- who may read a photo --------------------------------------------------------------------------


def test_a_reader_cannot_fetch_another_route_s_photo_but_can_fetch_their_own(app, db, people):
    mine, theirs = login(app, "reader01"), login(app, "reader02", "tab-2")
    own, other = camera_jpeg(1), camera_jpeg(2)
    put_photo(app, mine, own)
    put_photo(app, theirs, other)

    for path in ("", "/thumbnail"):
        assert app.get(f"/api/v1/photos/{sha(own)}{path}", headers=mine).status_code == 200
        refused = app.get(f"/api/v1/photos/{sha(other)}{path}", headers=mine)
        assert (refused.status_code, refused.json()["error"]["code"]) == (404, "not_found")
    assert audit_entries(db, "photo.read") == []


def test_every_participant_of_an_inspection_may_read_its_photos(app, people):
    submitter = login(app, "inspector01")
    data = camera_jpeg()
    put_photo(app, login(app, "reader01", "tab-3"), data)
    push(app, submitter, batch([inspection(people["meter"], ["inspector01", "inspector02"], photo_ids=[sha(data)])]))

    for user, device in (("inspector01", "tab-1"), ("inspector02", "tab-2")):
        assert app.get(f"/api/v1/photos/{sha(data)}", headers=login(app, user, device)).content == data
    assert app.get(f"/api/v1/photos/{sha(data)}", headers=login(app, "reader02", "tab-4")).status_code == 404


def test_every_read_by_staff_is_audited(app, db, people):
    data = camera_jpeg()
    put_photo(app, login(app, "reader01"), data)
    reviewer = login(app, "reviewer01", "office-1")

    assert app.get(f"/api/v1/photos/{sha(data)}", headers=reviewer).status_code == 200
    assert app.get(f"/api/v1/photos/{sha(data)}/thumbnail", headers=reviewer).status_code == 200

    reads = audit_entries(db, "photo.read")
    assert [(e.actor, e.entity_id, e.after["variant"]) for e in reads] == [
        ("reviewer01", sha(data), "original"), ("reviewer01", sha(data), "thumbnail")]


def test_a_thumbnail_is_an_upright_jpeg_at_most_1024_px_long(app, people):
    headers = login(app, "reader01")
    data = camera_jpeg(size=(1600, 1200))
    put_photo(app, headers, data)

    res = app.get(f"/api/v1/photos/{sha(data)}/thumbnail", headers=headers)
    again = app.get(f"/api/v1/photos/{sha(data)}/thumbnail", headers=headers)

    assert res.headers["content-type"] == "image/jpeg"
    with Image.open(io.BytesIO(res.content)) as thumb:
        assert (thumb.format, thumb.size) == ("JPEG", (1024, 768))
    assert again.content == res.content
