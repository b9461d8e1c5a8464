"""The reading history the push rules read, kept on each meter (table ``meter_state``).

For every register of a meter, the newest ``KEEP`` valid readings (any
method), oldest first, and whether they are all of the register's valid
readings. A batch reads one row per meter instead of scanning each meter's
history, and writes the row back with its own readings added.

The rows are a cache of ``readings``, and the database keeps them honest:
triggers (migration 0005) give every new meter an empty fresh row, and mark
the row stale whenever a reading of the meter is inserted, updated or
deleted, whoever does it. A stale row is rebuilt from ``readings`` when a
batch needs it (and by ``rebuild_stale``: the ledger import, ``fieldsync
serve`` at start). The push writes its own readings first (the trigger marks
the rows stale) and its rows last, fresh, in the same transaction.

On PostgreSQL a batch locks its meters' rows, in meter order, from the read
to the commit: two batches naming the same meter run one after the other,
and each sees the other's readings.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Iterable, NamedTuple

import msgspec
from sqlalchemy import Connection, select

from server.db.bulk import insert_rows
from server.db.queries import recent_reads
from server.db.tables import meter_state

# Readings kept per register: the rules' default depth (consumption_intervals + 1 = 7)
# with room for a re-read's excluded cycle.
KEEP = 12
IDS_PER_QUERY = 2000


class Read(NamedTuple):
    """One valid reading of a register, as the rules' history needs it."""

    value: str | None
    read_at: datetime
    method: str
    cycle: str | None


@dataclass(slots=True)
class Kept:
    """A register's newest valid readings, oldest first; ``complete`` when they are all of them."""

    reads: list[Read]
    complete: bool

    def newest(self, depth: int) -> list[Read] | None:
        """The newest ``depth`` readings, or None when more are stored than kept here."""
        if len(self.reads) >= depth:
            return self.reads[-depth:] if depth > 0 else []
        return list(self.reads) if self.complete else None


MeterReads = dict[str, Kept]  # register → its kept readings

_encode = msgspec.json.Encoder().encode
_decode = msgspec.json.Decoder(dict[str, tuple[bool, list[Read]]]).decode


def encode(reads: MeterReads) -> str:
    return _encode({register: (kept.complete, kept.reads) for register, kept in sorted(reads.items())}).decode()


def decode(text: str) -> MeterReads:
    return {register: Kept(reads, complete) for register, (complete, reads) in _decode(text).items()}


@dataclass
class MeterStates:
    """The kept readings of a batch's meters, and which rows are to be written back."""

    reads: dict[str, MeterReads] = field(default_factory=dict)
    rebuilt: set[str] = field(default_factory=set)  # stale rows made fresh from ``readings``

    def newest(self, meter_id: str, depth: int) -> dict[str, list[Read]] | None:
        """Each register's newest ``depth`` readings, or None when a register keeps too few."""
        out: dict[str, list[Read]] = {}
        for register, kept in self.reads.get(meter_id, {}).items():
            newest = kept.newest(depth)
            if newest is None:
                return None
            out[register] = newest
        return out


def rows(conn: Connection, meter_ids: list[str], *, lock: bool) -> list[Any]:
    """These meters' rows as stored, in meter order; ``lock``: on PostgreSQL, held to commit."""
    if not meter_ids:
        return []
    stmt = (select(meter_state.c.meter_id, meter_state.c.fresh, meter_state.c.recent)
            .where(meter_state.c.meter_id.in_(meter_ids)).order_by(meter_state.c.meter_id))
    return conn.execute(stmt.with_for_update() if lock else stmt).all()


def from_rows(state_rows: list[Any], meter_ids: list[str], depth: int) -> tuple[MeterStates, list[str]]:
    """The kept readings of fresh rows that reach back ``depth`` readings, and the meters
    (of ``meter_ids``) whose kept readings must be read from ``readings`` instead."""
    states = MeterStates()
    usable = set()
    for meter_id, fresh, recent in state_rows:
        if fresh:
            states.reads[meter_id] = decode(recent)
            if states.newest(meter_id, depth) is not None:
                usable.add(meter_id)
    return states, [m for m in meter_ids if m not in usable]


def history_rows(conn: Connection, meter_ids: list[str], depth: int) -> list[Any]:
    """The newest valid readings of each register of these meters, as many as a row keeps."""
    return recent_reads(conn, meter_ids, max(depth, KEEP), actual_only=False) if meter_ids else []


def from_history(history: list[Any], meter_ids: list[str], depth: int) -> dict[str, MeterReads]:
    """Kept readings made from ``history_rows``."""
    per_register = max(depth, KEEP)
    found: dict[str, dict[str, list[Read]]] = {m: defaultdict(list) for m in meter_ids}
    for r in history:
        found[r.meter_id][r.register].append(Read(r.value, r.read_at, r.method, r.cycle))
    return {
        meter_id: {register: Kept(reads, len(reads) < per_register) for register, reads in by_register.items()}
        for meter_id, by_register in found.items()
    }


def add_batch(conn: Connection, states: MeterStates, rows: Iterable[dict], superseded: Iterable[tuple[str, str, str]]
              ) -> None:
    """After a batch has written its readings: its meters' rows with the new readings added, fresh.

    A meter whose readings a re-read superseded is left stale (its trigger saw to that), to be
    rebuilt when next needed: what it keeps may no longer reach back far enough."""
    reread = {meter_id for meter_id, _, _ in superseded}
    changed: set[str] = set()
    for row in rows:
        meter_id = row["meter_id"]
        if meter_id in reread or meter_id not in states.reads:
            continue
        kept = states.reads[meter_id].setdefault(row["register"], Kept([], True))
        _insert(kept, Read(row["value"], row["read_at"], row["method"], row["cycle"]))
        changed.add(meter_id)
    save(conn, states, (changed | states.rebuilt) - reread)


def _insert(kept: Kept, read: Read) -> None:
    """Keep the newest ``KEEP`` in read_at order. A reading older than every kept one of a
    register that keeps only part of its history is not among the newest: left out."""
    reads = kept.reads
    at = len(reads)
    while at > 0 and reads[at - 1].read_at > read.read_at:
        at -= 1
    if at == 0 and not kept.complete:
        return
    reads.insert(at, read)
    if len(reads) > KEEP:
        del reads[: len(reads) - KEEP]
        kept.complete = False


def save(conn: Connection, states: MeterStates, meter_ids: Iterable[str]) -> None:
    """Write these meters' kept readings back, fresh."""
    rows = [(m, True, encode(states.reads[m])) for m in sorted(set(meter_ids)) if m in states.reads]
    insert_rows(conn, meter_state, ("meter_id", "fresh", "recent"), rows, upsert_on=("meter_id",))


def lock(conn: Connection, meter_ids: Iterable[str]) -> None:
    """PostgreSQL: lock these meters' rows in meter order, as a batch does, before writing their readings."""
    ids = sorted(set(meter_ids))
    if conn.dialect.name != "postgresql" or not ids:
        return
    for start in range(0, len(ids), IDS_PER_QUERY):
        conn.execute(select(meter_state.c.meter_id).where(meter_state.c.meter_id.in_(ids[start:start + IDS_PER_QUERY]))
                     .order_by(meter_state.c.meter_id).with_for_update())


def rebuild(conn: Connection, meter_ids: Iterable[str]) -> int:
    """Rebuild these meters' rows from ``readings``; returns how many."""
    ids = sorted(set(meter_ids))
    for start in range(0, len(ids), IDS_PER_QUERY):
        chunk = ids[start:start + IDS_PER_QUERY]
        states = MeterStates(reads=from_history(history_rows(conn, chunk, KEEP), chunk, KEEP))
        save(conn, states, chunk)
    return len(ids)


def rebuild_stale(conn: Connection) -> int:
    """Rebuild every stale row (after readings written directly to the database); returns how many."""
    stale = conn.execute(select(meter_state.c.meter_id).where(meter_state.c.fresh.is_(False))).scalars().all()
    return rebuild(conn, stale)


__all__ = ["KEEP", "Kept", "MeterReads", "MeterStates", "Read", "add_batch", "decode", "encode", "from_history",
           "from_rows", "history_rows", "lock", "rebuild", "rebuild_stale", "rows", "save"]
