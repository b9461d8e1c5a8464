"""Writes to the pull feed. Call these last in a write transaction: taking
sequence numbers locks the single ``sync_state`` row until commit, which is
what makes feed rows commit in ``seq`` order (no pull ever skips one).
"""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime
from typing import Iterable

from sqlalchemy import Connection, select, update

from server.db.bulk import ids, insert_rows, select_rows, time_binder
from server.db.tables import (
    assignments,
    cycles,
    inspection_order_team,
    inspection_orders,
    meters,
    sync_feed,
    sync_state,
)
from sync.scope import SCOPED_KINDS, Key, plan_feed

FEED_COLUMNS = ("user_id", "kind", "entity_id", "op", "seq", "changed_at")


def lock_feed(conn: Connection) -> None:
    """Serialise feed writers from here to commit, so plans are made from committed state."""
    conn.execute(update(sync_state).where(sync_state.c.id == 1).values(last_seq=sync_state.c.last_seq))


def take_seqs(conn: Connection, n: int) -> range:
    """``n`` fresh sequence numbers; the row lock is held until this transaction ends."""
    last = conn.execute(
        update(sync_state).where(sync_state.c.id == 1).values(last_seq=sync_state.c.last_seq + n)
        .returning(sync_state.c.last_seq)
    ).scalar_one()
    return range(last - n + 1, last + 1)


def write_feed(conn: Connection, rows: list[tuple[str, str, str, str]], now: datetime) -> None:
    """``rows`` are ``(user_id, kind, entity_id, op)`` in the order they get their seqs."""
    if not rows:
        return
    seqs = take_seqs(conn, len(rows))
    changed_at = time_binder(conn)(now)
    insert_rows(conn, sync_feed, FEED_COLUMNS,
                [(u, k, e, op, s, changed_at) for (u, k, e, op), s in zip(rows, seqs)],
                upsert_on=("user_id", "kind", "entity_id"))


def current_scopes(conn: Connection, user_ids: Iterable[str]) -> dict[str, set[Key]]:
    """What each user's tablet should hold: open work in open cycles, its meters and customers."""
    users = sorted(set(user_ids))
    scopes: dict[str, set[Key]] = {u: set() for u in users}
    if not users:
        return scopes
    work = conn.execute(
        select(assignments.c.user_id, assignments.c.id, meters.c.id.label("meter_id"), meters.c.customer_id)
        .join(cycles, cycles.c.id == assignments.c.cycle)
        .join(meters, meters.c.id == assignments.c.meter_id)
        .where(assignments.c.user_id.in_(users), assignments.c.status == "open", cycles.c.status == "open")
    ).all()
    orders = conn.execute(
        select(inspection_order_team.c.user_id, inspection_orders.c.id, meters.c.id.label("meter_id"), meters.c.customer_id)
        .join(inspection_orders, inspection_orders.c.id == inspection_order_team.c.order_id)
        .join(meters, meters.c.id == inspection_orders.c.meter_id)
        .where(inspection_order_team.c.user_id.in_(users), inspection_orders.c.status == "open")
    ).all()
    for kind, rows in (("assignment", work), ("inspection_order", orders)):
        for user_id, entity_id, meter_id, customer_id in rows:
            scope = scopes[user_id]
            scope.add((kind, entity_id))
            scope.add(("meter", meter_id))
            if customer_id is not None:
                scope.add(("customer", customer_id))
    return scopes


def live_keys(conn: Connection, user_ids: Iterable[str]) -> dict[str, set[Key]]:
    users = sorted(set(user_ids))
    live: dict[str, set[Key]] = {u: set() for u in users}
    if users:
        rows = conn.execute(
            select(sync_feed.c.user_id, sync_feed.c.kind, sync_feed.c.entity_id).where(
                sync_feed.c.user_id.in_(users), sync_feed.c.op == "upsert", sync_feed.c.kind.in_(SCOPED_KINDS)
            )
        ).all()
        for user_id, kind, entity_id in rows:
            live[user_id].add((kind, entity_id))
    return live


def refresh_users(conn: Connection, user_ids: Iterable[str], now: datetime, touched: Iterable[Key] = ()) -> int:
    """Bring the feeds of these users in line with their work; returns the changes written."""
    users = sorted(set(user_ids))
    if not users:
        return 0
    lock_feed(conn)
    scopes = current_scopes(conn, users)
    live = live_keys(conn, users)
    touched = list(touched)
    rows = [(u, k, e, op) for u in users for k, e, op in plan_feed(live[u], scopes[u], touched)]
    write_feed(conn, rows, now)
    return len(rows)


def touch(conn: Connection, keys: Iterable[Key], now: datetime) -> int:
    """Re-send changed entities to every tablet that holds them; returns the changes written."""
    by_kind: dict[str, list[str]] = defaultdict(list)
    keys = set(keys)
    if not keys:
        return 0
    lock_feed(conn)
    for kind, entity_id in keys:
        by_kind[kind].append(entity_id)
    holders: list[tuple[str, str, str]] = []
    for kind, entity_ids in sorted(by_kind.items()):
        holders += select_rows(conn, "SELECT user_id, kind, entity_id FROM sync_feed "
                               "WHERE kind = ? AND entity_id {ids} AND op = 'upsert'", kind, ids(conn, entity_ids))
    holders.sort(key=lambda r: (r[0], r[1], r[2]))
    write_feed(conn, [(u, k, e, "upsert") for u, k, e in holders], now)
    return len(holders)


def deliver(conn: Connection, user_kind_ids: Iterable[tuple[str, str, str]], now: datetime) -> None:
    """Send entities outside any scope (outcomes) to these users: ``(user_id, kind, entity_id)``."""
    rows = sorted(set(user_kind_ids))
    if rows:
        lock_feed(conn)
        write_feed(conn, [(u, k, e, "upsert") for u, k, e in rows], now)


__all__ = ["lock_feed", "take_seqs", "write_feed", "current_scopes", "live_keys", "refresh_users", "touch", "deliver"]
