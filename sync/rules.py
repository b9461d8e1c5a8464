"""The validation rules run on push (DOMAIN_RULES, validation rules), and the verdict on one item.

One pure function a rule, each returning None when the item is fine, else a
``Flag`` (stored and reviewed) or a ``Rejection`` (not stored). They live by
subject in ``rules_reject``, ``rules_reading``, ``rules_seals`` and
``rules_evidence``, and are all importable from here.

``judge_item`` runs them in this order:

1. Access, first failure only: ``not_permitted`` (the role may not send this
   type or seal action), ``unknown_meter`` (inspectors), ``not_assigned``
   (readers; also a reading whose named assignment is not open for its
   meter). An access failure says nothing about the meter, so a reader
   cannot tell an unknown meter from someone else's.
2. Content, all failures at once, so the tablet can correct them together:
   ``unknown_register``, ``invalid_value``, ``unable_without_reason``,
   ``future_time``, ``two_person_rule``.
3. A rejected item gets no flags. Otherwise every flag that applies:
   ``device_clock_skew``; for readings ``outside_window``,
   ``temp_supply_expired``, ``new_customer_read``, ``reverse_reading``,
   ``rollover``, ``consumption_high``/``consumption_low``,
   ``long_term_zero``, ``unable_repeat``, ``duplicate_read``,
   ``register_sum_mismatch``; for seal events ``seal_mismatch``,
   ``seal_broken``, ``pliers_not_issued``; for inspections
   ``evidence_incomplete``, ``multiplier_mismatch``; and ``anomaly:<code>``
   for each reported anomaly and ``theft_check`` for each theft check.

``op_id_conflict`` needs the stored items and is decided by the batch
planner; the EXIF checks run when a photo's metadata is known.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Mapping

from sync.ledger import BatchContext, BatchLedger, MeterView
from sync.rules_evidence import (
    evidence_incomplete,
    evidence_place_mismatch,
    evidence_time_mismatch,
    multiplier_mismatch,
    reported_anomalies,
)
from sync.rules_reading import (
    consumption_outside_band,
    duplicate_read,
    long_term_zero,
    new_customer_read,
    outside_window,
    reading_value,
    register_sum_mismatch,
    reverse_reading,
    rollover,
    temp_supply_expired,
    unable_repeat,
)
from sync.rules_reject import (
    future_time,
    invalid_value,
    not_assigned,
    not_permitted,
    two_person_rule,
    unable_without_reason,
    unknown_meter,
    unknown_register,
)
from sync.rules_seals import pliers_not_issued, seal_broken, seal_mismatch
from sync.rules_types import (
    AnomalyItem,
    Flag,
    InspectionItem,
    Item,
    ReadingItem,
    Rejection,
    SealEventItem,
    Verdict,
)


def device_clock_skew(ctx: BatchContext) -> Flag | None:
    """The batch's device clock is off by more than clock_skew_s: every item is flagged."""
    limit = ctx.thresholds.clock_skew_s
    if abs(ctx.skew_s) <= limit:
        return None
    direction = "ahead of" if ctx.skew_s > 0 else "behind"
    return Flag(
        "device_clock_skew",
        f"The tablet's clock was {abs(ctx.skew_s):.0f} s {direction} the server's (more than {limit} s); "
        "times were corrected by it. Set the tablet's clock.",
    )


def rejections_of(item: Item, ctx: BatchContext, ledger: BatchLedger) -> list[Rejection]:
    """Every rejection of an item: the first access failure alone, else all content failures."""
    user = ctx.submitter
    access = not_permitted(item, user) or unknown_meter(item, user, ledger) or not_assigned(item, user, ledger)
    if access is not None:
        return [access]
    meter = ledger.meters[item.meter_id]
    found: list[Rejection | None] = []
    if isinstance(item, ReadingItem):
        known = unknown_register(item, meter)
        found += [known, None if known else invalid_value(item, meter, ctx.thresholds), unable_without_reason(item)]
    found += [future_time(item, ctx), two_person_rule(item, user, ledger)]
    return [r for r in found if r is not None]


def _reading_flags(
    item: ReadingItem, meter: MeterView, ctx: BatchContext, ledger: BatchLedger, read_together: Mapping[str, Decimal]
) -> list[Flag | None]:
    th = ctx.thresholds
    assignment = ledger.assignments.get(item.assignment_id) if item.assignment_id else None
    cycle = assignment.cycle if assignment else None
    value = reading_value(item)
    sum_check = None
    if item.register == meter.primary_register and value is not None and read_together:
        sum_check = register_sum_mismatch({**read_together, item.register: value}, meter, th)
    return [
        outside_window(item, assignment, ctx),
        temp_supply_expired(item, meter, ctx),
        new_customer_read(meter, th),
        reverse_reading(item, meter, ctx),
        rollover(item, meter, ctx),
        consumption_outside_band(item, meter, ctx),
        long_term_zero(item, meter, cycle, th),
        unable_repeat(item, meter, cycle, th),
        duplicate_read(item, meter, assignment),
        sum_check,
    ]


def flags_of(
    item: Item, ctx: BatchContext, ledger: BatchLedger, read_together: Mapping[str, Decimal] | None = None
) -> list[Flag]:
    """Every flag of an item that passed the rejection rules."""
    meter = ledger.meters[item.meter_id]
    found: list[Flag | None] = [device_clock_skew(ctx)]
    if isinstance(item, ReadingItem):
        found += _reading_flags(item, meter, ctx, ledger, read_together or {})
    elif isinstance(item, SealEventItem):
        pliers = ledger.pliers.get(item.pliers_id) if item.pliers_id else None
        found += [seal_mismatch(item, meter), seal_broken(item), pliers_not_issued(item, pliers, ctx)]
    elif isinstance(item, InspectionItem):
        found += [evidence_incomplete(item, ctx.thresholds), multiplier_mismatch(item.reported_multiplier, meter)]
    if isinstance(item, (AnomalyItem, InspectionItem)):
        found += reported_anomalies(item)
    return [f for f in found if f is not None]


def judge_item(
    item: Item, ctx: BatchContext, ledger: BatchLedger, read_together: Mapping[str, Decimal] | None = None
) -> Verdict:
    """The verdict on one item.

    ``read_together`` gives, for a reading, the values of the same meter's
    other registers read in the same batch under the same assignment
    (register → value); the time-of-use sum check runs on the total
    register's reading when it is given.
    """
    errors = rejections_of(item, ctx, ledger)
    if errors:
        return Verdict("rejected", [], errors)
    found = flags_of(item, ctx, ledger, read_together)
    return Verdict("flagged" if found else "accepted", found, [])


__all__ = [
    "consumption_outside_band",
    "device_clock_skew",
    "duplicate_read",
    "evidence_incomplete",
    "evidence_place_mismatch",
    "evidence_time_mismatch",
    "flags_of",
    "future_time",
    "invalid_value",
    "judge_item",
    "long_term_zero",
    "multiplier_mismatch",
    "new_customer_read",
    "not_assigned",
    "not_permitted",
    "outside_window",
    "pliers_not_issued",
    "register_sum_mismatch",
    "rejections_of",
    "reported_anomalies",
    "reverse_reading",
    "rollover",
    "seal_broken",
    "seal_mismatch",
    "temp_supply_expired",
    "two_person_rule",
    "unable_repeat",
    "unable_without_reason",
    "unknown_meter",
    "unknown_register",
]
