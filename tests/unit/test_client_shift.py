"""What the simulated tablets record, and the bad network they sync through."""

from __future__ import annotations

from collections import Counter
from datetime import date, datetime, timedelta, timezone
from decimal import Decimal
from random import Random
from zoneinfo import ZoneInfo

import httpx
import pytest

from field_schemas import push as wire
from server.simulate.flaky import FlakyTransport
from server.simulate.shift import register_value, reader_shift, reverse_value, shift_times, theft_checks

TZ = ZoneInfo("Asia/Shanghai")
NOW = datetime(2026, 11, 20, 9, 0, tzinfo=timezone.utc)  # 17:00 in the station
DUE = date(2026, 11, 30)


def meter(id_="M1", last="12345.6", read_at="2026-10-20T02:00:00Z", band=("100.0", "400.0"), dials=6,
          multiplier="1"):
    return {"id": id_, "multiplier": multiplier, "dials": dials, "registers": ["total"],
            "location": {"address": "x", "lat": "30.1", "lon": "120.2"},
            "last_reading": {"register": "total", "value": last, "read_at": read_at} if last else None,
            "expected": {"low_kwh": band[0], "high_kwh": band[1]} if band else None,
            "seals": [{"number": "S1", "position": "meter_cover", "installed_at": None}]}


def consumption(m, value: str) -> Decimal:
    return (Decimal(value) - Decimal(m["last_reading"]["value"])) * Decimal(m["multiplier"])


def test_a_plausible_read_lands_inside_the_band_the_server_expects_at_the_time_of_the_read():
    m = meter()
    read_at = NOW.astimezone(TZ)
    # The band covers 41 days to the end of due_until; the read comes after 31 of them.
    days_to_band_end = (datetime(2026, 12, 1, tzinfo=TZ) - datetime(2026, 10, 20, 2, tzinfo=timezone.utc)).days
    expected_now = Decimal(400 / 2) / days_to_band_end * 31
    for factor in (0.85, 1.0, 1.2):
        used = consumption(m, register_value(m, DUE, read_at, factor, TZ))
        assert Decimal("0.5") * expected_now < used < 2 * expected_now


def test_values_keep_the_meters_decimals_and_wrap_at_its_dials():
    assert register_value(meter(last="99990", dials=5, band=None), DUE, NOW, 1.0, TZ).isdigit()
    wrapped = register_value(meter(last="99990", dials=5, band=None), DUE, NOW, 1.0, TZ)
    assert int(wrapped) < 99990  # rolled over past 99999
    ct = register_value(meter(last="1234.56", multiplier="50"), DUE, NOW, 1.0, TZ)
    assert len(ct.split(".")[1]) == 2
    assert reverse_value(meter(last="1000")) == "980"


def test_shift_times_are_today_in_the_station_and_before_now():
    times = shift_times(NOW, 40, TZ)
    assert len(times) == 40 and times == sorted(times)
    assert all(t.date() == NOW.astimezone(TZ).date() and t < NOW for t in times)
    early = datetime(2026, 11, 19, 16, 10, tzinfo=timezone.utc)  # ten past midnight in the station
    assert all(t.astimezone(TZ).date() == date(2026, 11, 20) and t < early for t in shift_times(early, 5, TZ))


def recorder():
    recorded: list[wire.Item] = []
    photos: list[tuple] = []

    def take_photo(at, m, caption):
        photos.append((at, m["id"], caption))
        return f"{len(photos):064x}"

    return recorded, recorded.append, photos, take_photo


def test_a_readers_shift_reads_each_meter_once_with_the_odd_share_asked_for():
    meters = {f"M{i:03d}": meter(f"M{i:03d}") for i in range(60)}
    assignments = {f"as-{i}": {"id": f"as-{i}", "meter_id": f"M{i:03d}", "due_until": "2026-11-30"} for i in range(60)}
    recorded, record, photos, take_photo = recorder()
    log = reader_shift(Random(4), record, take_photo, assignments, meters, readings=50, photos=5,
                       anomaly_rate=0.3, now=NOW, station_tz=TZ)
    readings = [i for i in recorded if isinstance(i, wire.Reading)]
    assert len(readings) == 50 and len({r.meter_id for r in readings}) == 50
    assert len({i.op_id for i in recorded}) == len(recorded) == log.items
    assert 5 <= sum(n for k, n in log.kinds.items() if k not in ("plausible", "rollover")) <= 25
    assert len(photos) == log.photos == 5
    kinds = Counter(type(i).__name__ for i in recorded)
    assert kinds["SealEvent"] == log.kinds["broken_seal"] and kinds["Anomaly"] == log.kinds["anomaly"]
    assert all(r.unable_reason for r in readings if r.value is None)


def test_a_theft_check_is_two_inspectors_with_the_seal_renewed_and_the_evidence_photographed():
    recorded, record, photos, take_photo = recorder()
    team = ["inspector01", "inspector02"]
    theft_checks(Random(1), record, take_photo, [meter("M7")], team=team, pliers_id="P-01", now=NOW,
                 station_tz=TZ, seal_prefix="N-")
    removed, installed, inspection = recorded
    assert (removed.action, installed.action) == ("removed", "installed")
    assert removed.recorded_at < installed.recorded_at and installed.pliers_id == "P-01"
    assert inspection.kind == "theft_check" and inspection.participants == team
    assert len(inspection.photo_ids) == 2 and inspection.customer_ack.signature_photo_id
    assert all(inspection.started_at <= at <= inspection.ended_at for at, _, _ in photos)


@pytest.mark.parametrize("share, faulted", [(0.0, 0), (1.0, 30)])
def test_the_flaky_network_fails_the_share_asked_for(share, faulted):
    seen: list[str] = []

    def server(request: httpx.Request) -> httpx.Response:
        seen.append(request.url.path)
        return httpx.Response(200, json={})

    flaky = FlakyTransport(httpx.MockTransport(server), share, Random(2))
    with httpx.Client(transport=flaky, base_url="http://s") as client:
        failures = 0
        for _ in range(30):
            try:
                client.get("/x")
            except httpx.TransportError:
                failures += 1
    assert failures == faulted == sum(flaky.injected.values())
    if share:
        # An answer lost on the way back still reached the server; a dropped request did not.
        assert len(seen) == flaky.injected["answer_lost"] and flaky.injected["dropped_before"] > 0
