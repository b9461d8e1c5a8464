"""Rules that flag a seal event for review (DOMAIN_RULES, validation rules; 封扣钳 1–3)."""

from __future__ import annotations

from sync.ledger import BatchContext, MeterView, PliersView
from sync.rules_types import Flag, SealEventItem


def seal_mismatch(event: SealEventItem, meter: MeterView) -> Flag | None:
    """A verified seal that the ledger does not hold on that meter and position."""
    if event.action != "verified":
        return None
    on_record = [s.number for s in meter.seals if s.position == event.position]
    if event.seal_number in on_record:
        return None
    ledger_says = f"holds seal {', '.join(on_record)} there" if on_record else "holds no seal there"
    return Flag(
        "seal_mismatch",
        f"Seal {event.seal_number} was verified on the {event.position} of meter {meter.id}, but the "
        f"ledger {ledger_says}. Photograph the seal; an inspection may follow.",
    )


def seal_broken(event: SealEventItem) -> Flag | None:
    if event.action not in ("found_broken", "found_missing"):
        return None
    state = "broken" if event.action == "found_broken" else "missing"
    return Flag(
        "seal_broken",
        f"Seal {event.seal_number} on the {event.position} was found {state}. Do not reseal it "
        "yourself: an inspection checks the meter and renews the seal.",
    )


def pliers_not_issued(event: SealEventItem, pliers: PliersView | None, ctx: BatchContext) -> Flag | None:
    """A seal installed with pliers that were not issued to one of the team at the time.

    The team is the participants and the submitter; the time is the event's
    recorded time corrected by the batch's skew.
    """
    if event.action != "installed":
        return None
    if event.pliers_id is None or pliers is None:
        named = f"pliers {event.pliers_id}, which the pliers register does not know" if event.pliers_id else "no pliers"
        return Flag(
            "pliers_not_issued",
            f"Seal {event.seal_number} was installed with {named}. Name the registered pliers used.",
        )
    at = ctx.corrected(event.recorded_at)
    holder = pliers.holder_at(at)
    team = set(event.participants) | {ctx.submitter.id}
    if holder in team:
        return None
    held_by = f"were issued to {holder}" if holder else "were not issued to anyone"
    return Flag(
        "pliers_not_issued",
        f"Seal {event.seal_number} was installed with pliers {pliers.id}, which {held_by} at "
        f"{at:%Y-%m-%d %H:%M} UTC. Pliers are issued against the register: return and reissue them properly.",
    )


__all__ = ["pliers_not_issued", "seal_broken", "seal_mismatch"]
