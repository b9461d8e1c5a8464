"""Rules that reject an item (DOMAIN_RULES, validation rules): nothing rejected is stored.

The access rules come first and answer alike whether or not a meter exists,
so a reader cannot probe the ledger; see ``sync.rules.judge_item`` for the
order.
"""

from __future__ import annotations

import re
from datetime import datetime
from decimal import Decimal
from typing import Iterator

from sync.ledger import BatchContext, BatchLedger, MeterView, UserView
from sync.rules_types import (
    AnomalyItem,
    InspectionItem,
    Item,
    ReadingItem,
    Rejection,
    SealEventItem,
)
from sync.thresholds import Thresholds

READER_SEAL_ACTIONS = frozenset({"verified", "found_broken", "found_missing"})

# Plain ASCII digits only: no sign, exponent, NaN/Infinity, grouping or
# full-width digits, which Decimal() and str.isdigit() would let through.
_PLAIN_DECIMAL = re.compile(r"[0-9]+(\.[0-9]+)?")
# The width of the stored value column.
MAX_VALUE_CHARS = 32

_PULL_AGAIN = "Pull again to get your current work, and set this item aside."


def is_inspector(user: UserView) -> bool:
    return "inspector" in user.roles


def not_permitted(item: Item, user: UserView) -> Rejection | None:
    """Readers send readings, anomalies and seal checks; inspectors send everything."""
    if is_inspector(user):
        return None
    if "reader" in user.roles:
        if isinstance(item, (ReadingItem, AnomalyItem)):
            return None
        if isinstance(item, SealEventItem):
            if item.action in READER_SEAL_ACTIONS:
                return None
            return Rejection(
                "not_permitted",
                f"Seal action '{item.action}' is for inspectors only; readers may record "
                "verified, found_broken or found_missing. Ask an inspector to do this work.",
                "$.action",
            )
    return Rejection(
        "not_permitted",
        f"Your roles ({', '.join(sorted(user.roles)) or 'none'}) may not send a '{item.type}' item.",
        "$.type",
    )


def unknown_meter(item: Item, user: UserView, ledger: BatchLedger) -> Rejection | None:
    """An inspector's item for a meter the ledger does not hold. Readers never get this
    answer: for them an unknown meter is simply not assigned."""
    if not is_inspector(user) or item.meter_id in ledger.meters:
        return None
    return Rejection(
        "unknown_meter",
        f"Meter {item.meter_id} is not in the station's ledger. Check the meter id on the "
        "meter's plate; report a meter missing from the ledger to the office.",
        "$.meter_id",
    )


def not_assigned(item: Item, user: UserView, ledger: BatchLedger) -> Rejection | None:
    """A reader's item for a meter outside their open assignments; a reading whose
    assignment is not open for its meter (for inspectors too, when they name one)."""
    if isinstance(item, ReadingItem) and (item.assignment_id is not None or not is_inspector(user)):
        wrong_assignment = _reading_assignment(item, user, ledger)
        if wrong_assignment is not None:
            return wrong_assignment
    if is_inspector(user):
        return None
    if item.meter_id in ledger.open_meter_ids(user.id) and item.meter_id in ledger.meters:
        return None
    return Rejection(
        "not_assigned",
        f"Meter {item.meter_id} is not in your open assignments. {_PULL_AGAIN}",
        "$.meter_id",
    )


def _reading_assignment(reading: ReadingItem, user: UserView, ledger: BatchLedger) -> Rejection | None:
    """The reading's assignment must be open, for its meter, and (for a reader) their own."""
    assignment = ledger.assignments.get(reading.assignment_id) if reading.assignment_id else None
    if assignment is None or not assignment.is_open or not (is_inspector(user) or assignment.user_id == user.id):
        return Rejection(
            "not_assigned",
            f"Assignment {reading.assignment_id} is not open, or not yours. {_PULL_AGAIN}",
            "$.assignment_id",
        )
    if assignment.meter_id != reading.meter_id:
        return Rejection(
            "not_assigned",
            f"Assignment {reading.assignment_id} is not for meter {reading.meter_id}. {_PULL_AGAIN}",
            "$.meter_id",
        )
    return None


def unknown_register(reading: ReadingItem, meter: MeterView) -> Rejection | None:
    if reading.register in meter.registers:
        return None
    return Rejection(
        "unknown_register",
        f"Meter {meter.id} has no register '{reading.register}'; its registers are "
        f"{', '.join(meter.registers)}.",
        "$.register",
    )


def parse_register_value(text: str, dials: int, thresholds: Thresholds) -> Decimal | str:
    """The register value as a Decimal, or the reason it is not one."""
    if len(text) > MAX_VALUE_CHARS:
        return f"is longer than {MAX_VALUE_CHARS} characters"
    match = _PLAIN_DECIMAL.fullmatch(text)
    if match is None:
        return "is not a plain non-negative decimal such as 12345.6"
    if match.group(1) and len(match.group(1)) - 1 > thresholds.value_max_fraction_digits:
        return f"has more than {thresholds.value_max_fraction_digits} digits after the point"
    value = Decimal(text)
    if value >= Decimal(10) ** dials:
        return f"does not fit the meter's {dials} dials"
    return value


def invalid_value(reading: ReadingItem, meter: MeterView, thresholds: Thresholds) -> Rejection | None:
    """An actual read needs a plain decimal within the dials; an unable read has no value."""
    if reading.method == "unable":
        if reading.value is None:
            return None
        return Rejection(
            "invalid_value", "A reading with method 'unable' has no value: send value null.", "$.value"
        )
    if reading.value is None:
        return Rejection(
            "invalid_value",
            "A reading with method 'actual' needs a value; if the meter could not be read, "
            "send method 'unable' with a reason.",
            "$.value",
        )
    parsed = parse_register_value(reading.value, meter.dials, thresholds)
    if isinstance(parsed, Decimal):
        return None
    return Rejection(
        "invalid_value", f"The value '{reading.value[:MAX_VALUE_CHARS]}' {parsed}. Re-enter it from the meter.", "$.value"
    )


def unable_without_reason(reading: ReadingItem) -> Rejection | None:
    if reading.method != "unable" or reading.unable_reason:
        return None
    return Rejection(
        "unable_without_reason",
        "A reading with method 'unable' needs unable_reason (premises_locked, meter_inaccessible, "
        "display_unreadable, customer_refused or hazard).",
        "$.unable_reason",
    )


def _device_times(item: Item) -> Iterator[tuple[str, datetime]]:
    yield "$.recorded_at", item.recorded_at
    if isinstance(item, AnomalyItem) and item.observed_at is not None:
        yield "$.observed_at", item.observed_at
    if isinstance(item, InspectionItem):
        yield "$.started_at", item.started_at
        yield "$.ended_at", item.ended_at


def future_time(item: Item, ctx: BatchContext) -> Rejection | None:
    """A device time that, corrected by the batch's skew, lies ahead of the server's clock."""
    limit_s = ctx.thresholds.future_time_s
    for path, device_time in _device_times(item):
        ahead_s = (ctx.corrected(device_time) - ctx.now).total_seconds()
        if ahead_s > limit_s:
            return Rejection(
                "future_time",
                f"{path[2:]} is {ahead_s:.0f} s ahead of the server's clock even after correcting "
                f"the device's skew; more than {limit_s} s is impossible. Set the tablet's clock and "
                "record the item again.",
                path,
            )
    return None


def two_person_rule(item: Item, submitter: UserView, ledger: BatchLedger) -> Rejection | None:
    """Inspections and seal removals: two or more distinct active inspectors, the submitter among them."""
    if not (isinstance(item, InspectionItem) or (isinstance(item, SealEventItem) and item.action == "removed")):
        return None
    team = list(dict.fromkeys(item.participants))
    problem = None
    if len(team) < 2:
        problem = f"names {len(team)} participant(s); the regulations require two or more"
    elif submitter.id not in team:
        problem = f"does not name you ({submitter.id}) among its participants"
    else:
        outsiders = [uid for uid in team if not _active_inspector(ledger, uid)]
        if outsiders:
            problem = f"names {', '.join(outsiders)}, who {'is' if len(outsiders) == 1 else 'are'} not an active inspector"
    if problem is None:
        return None
    what = "The inspection" if isinstance(item, InspectionItem) else "The seal removal"
    return Rejection("two_person_rule", f"{what} {problem}. List every inspector present.", "$.participants")


def _active_inspector(ledger: BatchLedger, user_id: str) -> bool:
    user = ledger.users.get(user_id)
    return user is not None and user.is_active_inspector()


__all__ = [
    "MAX_VALUE_CHARS",
    "READER_SEAL_ACTIONS",
    "future_time",
    "invalid_value",
    "is_inspector",
    "not_assigned",
    "not_permitted",
    "parse_register_value",
    "two_person_rule",
    "unable_without_reason",
    "unknown_meter",
    "unknown_register",
]
