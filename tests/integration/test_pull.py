"""Tablets download exactly their own work, page by page, without gaps (PROTOCOL §4)."""

from __future__ import annotations

from datetime import date

import pytest
from sqlalchemy import select, update

from server.clock import utcnow
from server.db.tables import meters, sync_feed, sync_state
from server.services import cycles, feed
from tests.factories import add_route, add_user, apply, login, pull_all

FROM, UNTIL = date(2026, 12, 1), date(2026, 12, 10)


@pytest.fixture
def station(db):
    """Two readers, each with a route of their own in cycle 2026-12."""
    add_user(db, "reader01", "reader")
    add_user(db, "reader02", "reader")
    r1 = add_route(db, "r-01", 12, history=8)
    r2 = add_route(db, "r-02", 5)
    cycles.open_cycle(db, "2026-12", "r-01", "reader01", FROM, UNTIL)
    cycles.open_cycle(db, "2026-12", "r-02", "reader02", FROM, UNTIL)
    return {"r-01": r1, "r-02": r2}


def kinds(state, kind):
    return {k[1] for k in state if k[0] == kind}


def test_full_pull_gives_a_reader_their_route_and_nothing_else(client, station):
    headers = login(client, "reader01")
    changes, _ = pull_all(client, headers)
    state = apply({}, changes)
    assert kinds(state, "meter") == set(station["r-01"])
    assert kinds(state, "customer") == {f"c-{m}" for m in station["r-01"]}
    assert len(kinds(state, "assignment")) == 12
    assert not any(m in str(state) for m in station["r-02"])
    assert all(c["op"] == "upsert" for c in changes)


def test_meter_data_carries_last_reading_expected_band_and_seals(client, station):
    changes, _ = pull_all(client, login(client, "reader01"))
    meter = next(c["data"] for c in changes if c["kind"] == "meter")
    assert meter["class"] == "C"
    assert meter["last_reading"]["register"] == "total"
    assert meter["last_reading"]["value"] == "3100"  # 1000 + 7 × 30 days × 10 kWh
    assert meter["seals"] == [{"number": f"S-{meter['id']}", "position": "meter_cover",
                               "installed_at": "2026-01-01T00:00:00Z"}]
    low, high = float(meter["expected"]["low_kwh"]), float(meter["expected"]["high_kwh"])
    # 10 kWh/day from the last read (2026-07-30) to the end of 2026-12-10 in station time.
    days = 133 + 16 / 24
    assert low == pytest.approx(0.5 * 10 * days, abs=0.1)
    assert high == pytest.approx(2.0 * 10 * days, abs=0.1)
    assignment = next(c["data"] for c in changes if c["kind"] == "assignment")
    assert assignment["due_from"] == "2026-12-01" and assignment["due_until"] == "2026-12-10"
    assert assignment["task"] == "read"


def test_paging_has_no_gaps_or_repeats(client, station):
    headers = login(client, "reader01")
    whole, _ = pull_all(client, headers)
    paged, _ = pull_all(client, headers, limit=5)
    assert [c["seq"] for c in paged] == [c["seq"] for c in whole]
    assert len({c["seq"] for c in paged}) == len(paged) == 12 * 3


def test_referenced_data_comes_before_the_work_that_needs_it(client, station):
    changes, _ = pull_all(client, login(client, "reader01"))
    seen = set()
    for c in changes:
        if c["kind"] == "assignment":
            assert ("meter", c["data"]["meter_id"]) in seen
        if c["kind"] == "meter":
            assert ("customer", c["data"]["customer_id"]) in seen
        seen.add((c["kind"], c["id"]))


def test_nothing_new_means_an_empty_page_and_the_cursor_still_works(client, station):
    headers = login(client, "reader01")
    _, cursor = pull_all(client, headers)
    changes, cursor2 = pull_all(client, headers, cursor)
    assert changes == []
    assert pull_all(client, headers, cursor2)[0] == []


def test_moving_a_route_removes_it_from_the_old_reader_and_gives_it_to_the_new(client, db, station):
    h1, h2 = login(client, "reader01", "tab-1"), login(client, "reader02", "tab-2")
    s1_changes, c1 = pull_all(client, h1)
    s2_changes, c2 = pull_all(client, h2)
    s1, s2 = apply({}, s1_changes), apply({}, s2_changes)
    assert cycles.move_route(db, "r-01", "2026-12", "reader02") == 12
    delta1, _ = pull_all(client, h1, c1)
    delta2, _ = pull_all(client, h2, c2)
    assert {c["op"] for c in delta1} == {"remove"}
    apply(s1, delta1)
    apply(s2, delta2)
    assert s1 == {}
    assert kinds(s2, "meter") == set(station["r-01"]) | set(station["r-02"])


def test_closing_the_cycle_removes_all_work(client, db, station):
    headers = login(client, "reader01")
    changes, cursor = pull_all(client, headers)
    state = apply({}, changes)
    assert cycles.close_cycle(db, "2026-12") == 17
    delta, _ = pull_all(client, headers, cursor)
    assert apply(state, delta) == {}


def test_a_changed_meter_is_sent_again_to_the_tablet_that_holds_it(client, db, station):
    headers = login(client, "reader01")
    _, cursor = pull_all(client, headers)
    meter_id = station["r-01"][3]
    with db.write() as conn:
        conn.execute(update(meters).where(meters.c.id == meter_id).values(multiplier="40"))
        feed.touch(conn, [("meter", meter_id), ("meter", station["r-02"][0])], utcnow())
    delta, _ = pull_all(client, headers, cursor)
    assert [(c["kind"], c["id"], c["data"]["multiplier"]) for c in delta] == [("meter", meter_id, "40")]


def test_opening_the_same_route_again_for_the_same_reader_changes_nothing(db, station):
    result = cycles.open_cycle(db, "2026-12", "r-01", "reader01", FROM, UNTIL)
    assert (result.created, result.already_assigned) == (0, 12)


def test_opening_a_route_held_by_another_reader_points_to_move(db, station):
    with pytest.raises(cycles.CycleError, match="assignments move --route r-01"):
        cycles.open_cycle(db, "2026-12", "r-01", "reader02", FROM, UNTIL)


def test_a_cursor_the_server_cannot_parse_is_400(client, station):
    headers = login(client, "reader01")
    res = client.get("/api/v1/sync/pull", params={"schema_version": 1, "cursor": "not-a-cursor!"}, headers=headers)
    assert res.status_code == 400
    assert res.json()["error"]["code"] == "invalid_cursor"


def test_another_users_cursor_is_refused(client, station):
    _, cursor = pull_all(client, login(client, "reader02", "tab-2"))
    res = client.get("/api/v1/sync/pull", params={"schema_version": 1, "cursor": cursor},
                     headers=login(client, "reader01"))
    assert res.json()["error"]["code"] == "invalid_cursor"


def test_a_cursor_older_than_the_compacted_feed_is_410(client, db, station):
    headers = login(client, "reader01")
    changes, _ = pull_all(client, headers, limit=5)
    res = client.get("/api/v1/sync/pull", params={"schema_version": 1, "limit": 5}, headers=headers)
    first_cursor = res.json()["cursor"]
    with db.write() as conn:
        conn.execute(update(sync_state).values(floor_seq=sync_state.c.last_seq))
    res = client.get("/api/v1/sync/pull", params={"schema_version": 1, "cursor": first_cursor}, headers=headers)
    assert res.status_code == 410
    assert res.json()["error"]["code"] == "cursor_expired"


def test_a_cursor_from_the_future_is_410(client, db, station):
    """After a restore from backup the tablet's cursor is ahead of the server: start over."""
    headers = login(client, "reader01")
    _, cursor = pull_all(client, headers)
    with db.write() as conn:
        conn.execute(sync_feed.delete())
        conn.execute(update(sync_state).values(last_seq=3))
    res = client.get("/api/v1/sync/pull", params={"schema_version": 1, "cursor": cursor}, headers=headers)
    assert res.status_code == 410


def test_the_cursor_survives_a_server_restart(settings, station):
    from litestar.testing import TestClient

    from server.app import create_app
    from server.db.engine import Database

    def fresh_client():
        return TestClient(create_app(settings, Database(settings.database_url)))

    with fresh_client() as c:
        headers = login(c, "reader01")
        _, cursor = pull_all(c, headers, limit=7)
    with fresh_client() as c:
        res = c.get("/api/v1/sync/pull", params={"schema_version": 1, "cursor": cursor}, headers=headers)
        assert res.status_code == 200 and res.json()["changes"] == []


@pytest.mark.parametrize(("version", "status", "code"), [(0, 426, "schema_too_old"), (2, 400, "schema_too_new")])
def test_schema_versions_outside_the_range_are_refused(client, station, version, status, code):
    res = client.get("/api/v1/sync/pull", params={"schema_version": version}, headers=login(client, "reader01"))
    assert (res.status_code, res.json()["error"]["code"]) == (status, code)


def test_pull_without_schema_version_is_a_clear_400(client, station):
    res = client.get("/api/v1/sync/pull", headers=login(client, "reader01"))
    assert res.status_code == 400
    assert res.json()["error"]["code"] == "invalid_request"
    assert res.json()["error"]["field"] == "schema_version"


def test_limit_is_clamped(client, station):
    headers = login(client, "reader01")
    res = client.get("/api/v1/sync/pull", params={"schema_version": 1, "limit": 0}, headers=headers)
    assert len(res.json()["changes"]) == 1 and res.json()["has_more"] is True
    res = client.get("/api/v1/sync/pull", params={"schema_version": 1, "limit": 10**6}, headers=headers)
    assert len(res.json()["changes"]) == 36 and res.json()["has_more"] is False


def test_pull_needs_a_token(client, station):
    res = client.get("/api/v1/sync/pull", params={"schema_version": 1})
    assert res.status_code == 401
    assert res.json()["error"]["code"] == "unauthenticated"


def test_responses_are_gzipped_when_asked(client, station):
    headers = {**login(client, "reader01"), "Accept-Encoding": "gzip"}
    res = client.get("/api/v1/sync/pull", params={"schema_version": 1}, headers=headers)
    assert res.headers["content-encoding"] == "gzip"
    assert len(res.json()["changes"]) == 36


def test_pull_records_when_the_device_last_synced(client, db, station):
    from server.services import identity

    pull_all(client, login(client, "reader01", "tab-9"))
    device = identity.get_device(db, "tab-9")
    assert device is not None and device.last_pull_at is not None and device.last_user_id == "reader01"


def test_feed_sequence_only_grows(db, station):
    with db.read() as conn:
        seqs = conn.execute(select(sync_feed.c.seq).order_by(sync_feed.c.seq)).scalars().all()
    assert len(seqs) == len(set(seqs))
