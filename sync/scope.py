"""What a user's tablet holds, and what changes bring it up to date (PROTOCOL §4).

A *key* is ``(kind, entity_id)``. ``live`` is what the feed says the tablet
holds now; ``scope`` is what it should hold. The plan upserts what is new,
removes what left, and re-sends what changed (``touched``) and is still in
scope. Upserts go referenced-first (customer, meter, then the work that
points at them) and removals work-first, so a tablet applying changes in
``seq`` order never holds a dangling reference.
"""

from __future__ import annotations

from typing import Iterable

Key = tuple[str, str]

UPSERT_ORDER = {"customer": 0, "meter": 1, "assignment": 2, "inspection_order": 3, "outcome": 4}
REMOVE_ORDER = {"outcome": 0, "assignment": 1, "inspection_order": 2, "meter": 3, "customer": 4}

# Kinds whose presence follows from the user's open work; outcomes are
# delivered once and are not part of the scope.
SCOPED_KINDS = ("assignment", "inspection_order", "meter", "customer")


def plan_feed(live: Iterable[Key], scope: Iterable[Key], touched: Iterable[Key] = ()) -> list[tuple[str, str, str]]:
    """``[(kind, entity_id, op)]`` in the order they must be given sequence numbers."""
    live_set, scope_set = set(live), set(scope)
    upserts = (scope_set - live_set) | (set(touched) & scope_set)
    removes = live_set - scope_set
    plan = [(k, i, "remove") for k, i in sorted(removes, key=lambda key: (REMOVE_ORDER[key[0]], key[1]))]
    plan += [(k, i, "upsert") for k, i in sorted(upserts, key=lambda key: (UPSERT_ORDER[key[0]], key[1]))]
    return plan
