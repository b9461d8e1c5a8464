"""Rules on inspections, reported anomalies and photo evidence (DOMAIN_RULES; 营业普查, 反窃电).

``evidence_time_mismatch`` and ``evidence_place_mismatch`` judge one photo
against its item; they run when the photo's EXIF is known, which may be
after the push (PROTOCOL §6).
"""

from __future__ import annotations

import math
from datetime import datetime, timedelta
from decimal import Decimal, InvalidOperation

from field_schemas.anomalies import ANOMALY_LABELS, anomaly_flag_code
from sync.ledger import MeterView
from sync.rules_types import AnomalyItem, Flag, InspectionItem
from sync.thresholds import Thresholds

EARTH_RADIUS_M = 6_371_008.8  # mean radius (IUGG)


def evidence_incomplete(inspection: InspectionItem, thresholds: Thresholds) -> Flag | None:
    """A theft check needs evidence_min_photos photos besides the signature, and either a
    signature photo or a stated refusal or absence of the customer."""
    if inspection.kind != "theft_check":
        return None
    ack = inspection.customer_ack
    signature = ack.signature_photo_id if ack else None
    photos = {p for p in inspection.photo_ids if p != signature}
    missing = []
    if len(photos) < thresholds.evidence_min_photos:
        missing.append(f"{thresholds.evidence_min_photos} photos besides the signature ({len(photos)} named)")
    if ack is None or (ack.status == "signed" and not signature):
        missing.append("the customer's signature photo, or a stated refusal or absence")
    if not missing:
        return None
    return Flag(
        "evidence_incomplete",
        f"Theft evidence lacks {' and '.join(missing)}. Evidence must stand on its own: "
        "add what is missing while on site, if possible.",
    )


def evidence_time_mismatch(
    photo_taken_at: datetime | None, started_at: datetime, ended_at: datetime, thresholds: Thresholds
) -> Flag | None:
    """A photo taken outside the inspection's time, give or take evidence_time_window_min.

    Times are timezone-aware: an EXIF time without an offset is station time
    (PROTOCOL §6), to be localised by the caller.
    """
    if photo_taken_at is None:
        return None
    window = timedelta(minutes=thresholds.evidence_time_window_min)
    if started_at - window <= photo_taken_at <= ended_at + window:
        return None
    return Flag(
        "evidence_time_mismatch",
        f"A photo was taken at {photo_taken_at.isoformat()}, outside the inspection "
        f"({started_at.isoformat()} to {ended_at.isoformat()}, ±{thresholds.evidence_time_window_min} min). "
        "The reviewer checks that it belongs to this inspection.",
    )


def distance_m(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    """Great-circle distance in metres (haversine)."""
    phi1, phi2 = math.radians(lat1), math.radians(lat2)
    dphi, dlambda = phi2 - phi1, math.radians(lon2 - lon1)
    h = math.sin(dphi / 2) ** 2 + math.cos(phi1) * math.cos(phi2) * math.sin(dlambda / 2) ** 2
    return 2 * EARTH_RADIUS_M * math.asin(min(1.0, math.sqrt(h)))


def evidence_place_mismatch(
    photo_lat: float | Decimal | None,
    photo_lon: float | Decimal | None,
    meter_lat: float | Decimal | None,
    meter_lon: float | Decimal | None,
    thresholds: Thresholds,
) -> Flag | None:
    """A photo taken farther than evidence_max_distance_m from the meter (no check without both positions)."""
    if None in (photo_lat, photo_lon, meter_lat, meter_lon):
        return None
    metres = distance_m(float(photo_lat), float(photo_lon), float(meter_lat), float(meter_lon))  # type: ignore[arg-type]
    if metres <= thresholds.evidence_max_distance_m:
        return None
    return Flag(
        "evidence_place_mismatch",
        f"A photo was taken {metres:.0f} m from the meter (more than {thresholds.evidence_max_distance_m} m). "
        "The reviewer checks that it shows this meter.",
    )


def parse_multiplier(text: str) -> Decimal | None:
    """A multiplier ("40") or a CT ratio ("200/5"), as a positive Decimal; None when unreadable."""
    try:
        if "/" in text:
            primary, secondary = text.split("/", 1)
            value = Decimal(primary.strip()) / Decimal(secondary.strip())
        else:
            value = Decimal(text.strip())
    except (InvalidOperation, ZeroDivisionError):
        return None
    return value if value.is_finite() and value > 0 else None


def multiplier_mismatch(reported: str | None, meter: MeterView) -> Flag | None:
    """A CT ratio or multiplier found on site unlike the ledger's multiplier (倍率)."""
    if reported is None:
        return None
    value = parse_multiplier(reported)
    if value is not None and value == meter.multiplier:
        return None
    found = f"{reported} (multiplier {value.normalize():f})" if value is not None and "/" in reported else reported
    return Flag(
        "multiplier_mismatch",
        f"Found {found} on site; the ledger's multiplier for meter {meter.id} is {meter.multiplier}. "
        "Every bill of this meter depends on it: the office corrects the ledger or the installation.",
    )


def reported_anomalies(item: AnomalyItem | InspectionItem) -> list[Flag]:
    """Every reported anomaly (an anomaly item, or an inspection's findings) and every
    theft check goes to review: one flag per distinct code."""
    codes = [item.code] if isinstance(item, AnomalyItem) else list(dict.fromkeys(item.findings))
    flags = [
        Flag(
            anomaly_flag_code(code),
            f"Reported: {ANOMALY_LABELS.get(code, (code, code))[1].lower()} ({code}). A reviewer follows it up.",
        )
        for code in codes
    ]
    if isinstance(item, InspectionItem) and item.kind == "theft_check":
        flags.append(Flag("theft_check", "Every theft check is reviewed, with its evidence and record."))
    return flags


__all__ = [
    "EARTH_RADIUS_M",
    "distance_m",
    "evidence_incomplete",
    "evidence_place_mismatch",
    "evidence_time_mismatch",
    "multiplier_mismatch",
    "parse_multiplier",
    "reported_anomalies",
]
