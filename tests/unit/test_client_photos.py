"""The client's photo uploads: HEAD first, chunks resumed from the server's offset, PUT
when the server has no resumable route, a refused photo kept aside."""

from __future__ import annotations

import httpx

from tests.unit.test_client_push import _error, sleeps, station, tablet  # noqa: F401  (fixtures)

PHOTO = bytes(range(10)) * 3  # 30 bytes: 8 chunks of 4


def test_a_photo_goes_up_in_chunks_and_is_then_held(tablet, station):
    sha = tablet.record_photo(PHOTO)
    report = tablet.sync()
    assert station.photos[sha] == PHOTO
    assert sum(1 for m, p in station.requests if m == "PATCH") == 8
    assert report.photos_uploaded == 1 and tablet.outbox.photos("uploaded")[0].sha256 == sha


def test_a_photo_the_server_holds_already_is_not_sent(tablet, station):
    sha = tablet.record_photo(PHOTO)
    station.photos[sha] = PHOTO
    report = tablet.sync()
    assert not any(m in ("PATCH", "PUT") for m, _ in station.requests)
    assert report.photos_already_held == 1


def test_a_chunk_cut_off_resumes_from_the_offset_the_server_reports(tablet, station):
    sha = tablet.record_photo(PHOTO)
    station.fault("PATCH /photos/uploads", None)
    station.fault("PATCH /photos/uploads", "lose_answer")  # the second chunk arrives, its answer does not
    station.fault("PATCH /photos/uploads", "refuse")  # the third never arrives
    report = tablet.sync()
    assert station.photos[sha] == PHOTO
    assert ("HEAD", next(p for m, p in station.requests if m == "PATCH")) in station.requests
    assert report.photos_uploaded == 1 and report.retries >= 2


def test_a_wrong_offset_is_corrected_from_the_upload_offset_header(tablet, station):
    sha = tablet.record_photo(PHOTO)
    station.fault("PATCH /photos/uploads", None)
    station.fault("PATCH /photos/uploads", _error(409, "offset_mismatch", "Wrong offset.", {"Upload-Offset": "8"}))
    report = tablet.sync()
    # Told 8, the client sends from 8; the server (at 4) answers 409 with 4, and it goes on from 4.
    assert station.patch_offsets[:4] == [0, 4, 8, 4]
    assert station.photos[sha] == PHOTO and report.photos_uploaded == 1


def test_the_last_chunks_lost_answer_is_settled_by_head(tablet, station):
    sha = tablet.record_photo(PHOTO)
    for _ in range(7):
        station.fault("PATCH /photos/uploads", None)
    station.fault("PATCH /photos/uploads", "lose_answer")
    report = tablet.sync()
    assert station.photos[sha] == PHOTO and report.photos_uploaded == 1
    assert sum(1 for m, _ in station.requests if m == "PATCH") == 8


def test_without_a_resumable_route_the_photo_is_put_whole(tablet, station):
    station.resumable = False
    sha = tablet.record_photo(PHOTO)
    station.fault("PUT /photos", "lose_answer")
    report = tablet.sync()
    assert station.photos[sha] == PHOTO and report.photos_uploaded == 1
    assert sum(1 for m, _ in station.requests if m == "PUT") == 1  # the HEAD after the loss found it


def test_a_photo_refused_for_its_content_is_kept_aside(tablet, station):
    sha = tablet.record_photo(PHOTO)
    station.fault("PATCH /photos/uploads", _error(415, "unsupported_image", "Not a JPEG or PNG."))
    report = tablet.sync()
    [photo] = tablet.outbox.photos()
    assert photo.state == "failed" and "unsupported_image" in photo.error
    assert report.photos_failed == 1 and report.ok
    assert sha not in station.photos


def test_a_photo_named_by_an_item_goes_up_with_the_items_in_the_same_sync(tablet, station):
    from sync.client import items

    sha = tablet.record_photo(PHOTO)
    tablet.record(items.anomaly("m-1", "meter_burnt", photo_ids=[sha]))
    report = tablet.sync()
    assert report.accepted == 1 and report.photos_uploaded == 1
    assert station.pushes[0]["items"][0]["photo_ids"] == [sha]


def test_faults_are_only_on_the_named_route(station):
    station.fault("PUT /photos", "refuse")
    client = station.client()
    assert client.head("/api/v1/photos/abc").status_code == 401
    try:
        client.put("/api/v1/photos/abc", content=b"x")
    except httpx.ConnectError:
        pass
    else:  # pragma: no cover
        raise AssertionError("the fault was not applied")
