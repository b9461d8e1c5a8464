"""A shift of field work, recorded on a tablet from the route it pulled.

Readers read their meters in route order. Most readings are plausible: the
last reading plus the expected consumption, inside the pulled ``expected``
band (scaled from the assignment's ``due_until`` to the time of the read). A
share (``anomaly_rate``) is odd on purpose: a reverse reading, a spike, a
meter that could not be read, a broken seal, a reported anomaly. Meters near
the top of their dials roll over on their own. Inspectors carry out theft
checks in pairs: seal removed, new seal installed, the inspection with two
evidence photos and the customer's signature.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from random import Random
from typing import Any, Callable
from zoneinfo import ZoneInfo

from field_schemas import push as wire
from sync.client import items

ODD_KINDS = ("reverse", "spike", "unable", "broken_seal", "anomaly")
FIELD_ANOMALIES = ("meter_stopped", "meter_box_damaged", "register_stuck", "meter_creeping", "suspected_theft")
UNABLE_REASONS = ("premises_locked", "meter_inaccessible", "display_unreadable", "customer_refused")
THEFT_FINDINGS = (("wiring_tampered",), ("unmetered_load",), ("suspected_theft", "seal_broken"))
DEFAULT_DAILY_KWH = Decimal("5")
SHIFT = timedelta(hours=3)
CHECK_LENGTH = timedelta(minutes=25)

# (photo bytes maker) taken_at, meter data, caption -> sha256 recorded on the tablet
TakePhoto = Callable[[datetime, dict[str, Any], str], str]


@dataclass
class ShiftLog:
    """What a tablet recorded: items by kind, photos taken."""

    kinds: Counter[str] = field(default_factory=Counter)
    items: int = 0
    photos: int = 0


def shift_times(now: datetime, count: int, station_tz: ZoneInfo) -> list[datetime]:
    """``count`` times spread over the shift that ends a minute before ``now``, all today in station time."""
    local_now = now.astimezone(station_tz)
    midnight = datetime.combine(local_now.date(), time(0), tzinfo=station_tz)
    end = local_now - timedelta(minutes=1)
    start = max(end - SHIFT, midnight + timedelta(seconds=1))
    if count <= 1 or end <= start:
        return [max(start, min(end, local_now))] * count
    step = (end - start) / (count - 1)
    return [start + step * i for i in range(count)]


def _decimals(value: str | None, multiplier: Decimal) -> int:
    if value and "." in value:
        return len(value.split(".", 1)[1])
    return 0 if value or multiplier == 1 else 2


def register_value(meter: dict[str, Any], due_until: date, read_at: datetime, factor: float,
                   station_tz: ZoneInfo) -> str:
    """The register after ``factor`` × the consumption expected from the last reading to ``read_at``.

    The pulled band covers the days from the last reading to the end of
    ``due_until``; the daily use it implies, times the days to ``read_at``,
    is what the server expects of this read.
    """
    multiplier = Decimal(meter["multiplier"])
    last = meter.get("last_reading")
    last_value = last["value"] if last else None
    decimals = _decimals(last_value, multiplier)
    capacity = 10 ** (int(meter["dials"]) + decimals)
    steps = int(Decimal(last_value) * 10**decimals) if last_value else 0
    last_at = datetime.fromisoformat(last["read_at"]) if last else read_at - timedelta(days=30)
    days = Decimal(max(0.5, (read_at - last_at).total_seconds() / 86400))
    daily = DEFAULT_DAILY_KWH
    band = meter.get("expected")
    if band and last:
        band_end = datetime.combine(due_until + timedelta(days=1), time(0), tzinfo=station_tz)
        band_days = Decimal(max(0.5, (band_end - last_at).total_seconds() / 86400))
        daily = (Decimal(band["low_kwh"]) + Decimal(band["high_kwh"])) / Decimal("2.5") / band_days
    kwh = daily * days * Decimal(str(factor))
    shown = (steps + int(kwh / multiplier * 10**decimals)) % capacity
    if decimals == 0:
        return str(shown)
    whole, fraction = divmod(shown, 10**decimals)
    return f"{whole}.{fraction:0{decimals}d}"


def reverse_value(meter: dict[str, Any]) -> str:
    """A value a little below the last reading (a misread digit, a swapped meter)."""
    last = meter.get("last_reading")
    if not last or not last["value"]:
        return "0"
    value = Decimal(last["value"])
    below = max(Decimal(0), value - max(Decimal(1), (value * Decimal("0.02")).quantize(Decimal(1))))
    decimals = _decimals(last["value"], Decimal(meter["multiplier"]))
    return f"{below:.{decimals}f}"


def _primary_register(meter: dict[str, Any]) -> str:
    registers = meter.get("registers") or ["total"]
    return "total" if "total" in registers else registers[0]


def _location(meter: dict[str, Any], rng: Random) -> wire.GeoPoint | None:
    where = meter.get("location") or {}
    if where.get("lat") is None or where.get("lon") is None:
        return None
    return wire.GeoPoint(lat=float(where["lat"]) + rng.uniform(-5e-5, 5e-5),
                         lon=float(where["lon"]) + rng.uniform(-5e-5, 5e-5), accuracy_m=round(rng.uniform(3, 12), 1))


def reader_shift(rng: Random, record: Callable[[wire.Item], str], take_photo: TakePhoto,
                 assignments: dict[str, Any], meters: dict[str, Any], *, readings: int, photos: int,
                 anomaly_rate: float, now: datetime, station_tz: ZoneInfo) -> ShiftLog:
    """Read ``readings`` meters of the route, in order; ``photos`` photos on the odd ones first."""
    work = sorted((a for a in assignments.values() if a["meter_id"] in meters), key=lambda a: a["meter_id"])
    work = work[:readings]
    odd = {i: rng.choice(ODD_KINDS) for i in range(len(work)) if rng.random() < anomaly_rate}
    photographed = set(sorted(odd)[:photos])
    photographed |= set([i for i in range(len(work)) if i not in odd][:max(0, photos - len(photographed))])
    log = ShiftLog()
    for i, (assignment, at) in enumerate(zip(work, shift_times(now, len(work), station_tz))):
        meter = meters[assignment["meter_id"]]
        kind = odd.get(i, "plausible")
        due_until = date.fromisoformat(assignment["due_until"])
        photo_ids = [take_photo(at, meter, f"{meter['id']} {kind}")] if i in photographed else []
        log.photos += len(photo_ids)
        common = {"recorded_at": at, "location": _location(meter, rng), "photo_ids": photo_ids}
        register = _primary_register(meter)
        if kind == "unable":
            item = items.reading(meter["id"], assignment["id"], None, register=register,
                                 unable_reason=rng.choice(UNABLE_REASONS), **common)
        elif kind == "reverse":
            item = items.reading(meter["id"], assignment["id"], reverse_value(meter), register=register, **common)
        else:
            factor = rng.uniform(4, 6) if kind == "spike" else rng.uniform(0.85, 1.2)
            value = register_value(meter, due_until, at, factor, station_tz)
            item = items.reading(meter["id"], assignment["id"], value, register=register, **common)
        record(item)
        log.items += 1
        if kind == "broken_seal" and meter.get("seals"):
            seal = meter["seals"][0]
            record(items.seal_event(meter["id"], "found_broken", seal["number"], seal["position"],
                                    recorded_at=at + timedelta(seconds=20), participants=[]))
            log.items += 1
        elif kind == "anomaly":
            record(items.anomaly(meter["id"], rng.choice(FIELD_ANOMALIES), recorded_at=at + timedelta(seconds=30),
                                 observed_at=at, photo_ids=photo_ids, note="Seen on the round."))
            log.items += 1
        log.kinds[kind] += 1
        if kind == "plausible" and _wraps(meter, item):
            log.kinds["rollover"] += 1
    return log


def _wraps(meter: dict[str, Any], item: wire.Item) -> bool:
    last = meter.get("last_reading")
    value = getattr(item, "value", None)
    return bool(last and last["value"] and value is not None and Decimal(value) < Decimal(last["value"]))


def theft_checks(rng: Random, record: Callable[[wire.Item], str], take_photo: TakePhoto,
                 meters: list[dict[str, Any]], *, team: list[str], pliers_id: str | None, now: datetime,
                 station_tz: ZoneInfo, seal_prefix: str) -> ShiftLog:
    """A theft check on each of ``meters`` by a pair of inspectors: the cover seal removed and
    renewed, the record with two evidence photos and the customer's signature."""
    log = ShiftLog()
    starts = shift_times(now - CHECK_LENGTH - timedelta(minutes=2), len(meters), station_tz)
    for n, (meter, started) in enumerate(zip(meters, starts)):
        ended = started + CHECK_LENGTH
        seal = next((s for s in meter.get("seals", []) if s["position"] == "meter_cover"), None)
        if seal is not None:
            record(items.seal_event(meter["id"], "removed", seal["number"], "meter_cover",
                                    recorded_at=started + timedelta(minutes=5), participants=team))
            record(items.seal_event(meter["id"], "installed", f"{seal_prefix}{n:05d}", "meter_cover",
                                    recorded_at=ended - timedelta(minutes=3), participants=team,
                                    pliers_id=pliers_id))
            log.items += 2
        evidence = [take_photo(started + timedelta(minutes=m), meter, f"{meter['id']} evidence {m}")
                    for m in (6, 12)]
        signature = take_photo(ended - timedelta(minutes=1), meter, f"{meter['id']} signed")
        log.photos += 3
        record(items.inspection(
            meter["id"], team, recorded_at=ended + timedelta(seconds=30), location=_location(meter, rng),
            photo_ids=evidence, kind="theft_check", started_at=started, ended_at=ended,
            findings=list(rng.choice(THEFT_FINDINGS)), record_text="Bypass found behind the meter box; removed.",
            customer_ack=wire.CustomerAck(status="signed", signer_name="户主", signature_photo_id=signature),
            estimated_unbilled_kwh=f"{rng.randrange(200, 1500)}.0",
        ))
        log.items += 1
        log.kinds["theft_check"] += 1
    return log
