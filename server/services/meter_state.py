"""The reading history the push rules read, kept on each meter (table ``meter_state``).

For every register of a meter, the newest ``KEEP`` valid readings (any
method), oldest first, and whether they are all of the register's valid
readings. A batch reads one row per meter instead of scanning each meter's
history, and writes the row back with its own readings added.

The rows are a cache of ``readings``, kept honest whoever writes them: a row
serves while it is ``fresh`` and its ``readings`` is still the meter's count of
readings (which the push reads anyway, with the count of reading occasions).
So a reading inserted by anyone makes the row stale; triggers (migrations
0005, 0006) mark it stale on an update or delete of one of the meter's
readings, and give every new meter an empty row. A stale row is rebuilt from
``readings`` when a batch needs it (and by ``rebuild_stale``: ``fieldsync
serve`` at start; the ledger import rebuilds its meters). The push writes its
rows last, in the transaction that inserts its readings.

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

from server.db.bulk import ids as id_list
from server.db.bulk import insert_rows, select_rows
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
    counts: dict[str, int] = field(default_factory=dict)  # each meter's readings, as read

    def newest(self, meter_id: str, depth: int) -> dict[str, list[Read]] | None:
        """Each register's newest ``depth`` readings, or None when a register keeps too few."""
        out: dict[str, list[Read]] = {}
        for register, kept in self.reads.get(meter_id, {}).items():
            newest = kept.newest(depth)
            if newest is None:
                return None
            out[register] = newest
        return out


def serves(fresh: bool, built_from: int, readings_now: int) -> bool:
    """Whether a kept row is still what ``readings`` says: marked fresh, and built from as many
    readings as the meter has now."""
    return bool(fresh) and built_from == readings_now


def from_rows(state_rows: list[Any], meter_ids: list[str], depth: int, counts: dict[str, int]
              ) -> tuple[MeterStates, list[str]]:
    """The kept readings of the rows that serve (fresh, built from the meter's ``counts``
    readings, reaching back ``depth`` readings), and the meters (of ``meter_ids``) whose kept
    readings must be read from ``readings`` instead. ``state_rows``: (meter_id, fresh,
    readings, recent)."""
    states = MeterStates(counts=dict(counts))
    usable = set()
    for meter_id, fresh, built_from, recent in state_rows:
        if serves(fresh, built_from, counts.get(meter_id, 0)):
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


def actual_reads(conn: Connection, meter_ids: list[str], per_register: int
                 ) -> dict[tuple[str, str], list[tuple[str, datetime]]]:
    """The newest ``per_register`` valid actual readings ``(value, read_at)`` of each register of
    these meters, oldest first, by ``(meter_id, register)``: from the kept rows where they serve
    (fresh, built from the meter's readings as counted now, reaching back far enough), else
    from ``readings`` (what the pull's expected band reads)."""
    if not meter_ids:
        return {}
    param = id_list(conn, meter_ids)
    rows = select_rows(conn, "SELECT meter_id, fresh, readings, recent FROM meter_state WHERE meter_id {ids}", param)
    counts = dict(select_rows(conn, "SELECT meter_id, count(*) FROM readings WHERE meter_id {ids} GROUP BY meter_id",
                              param))
    out: dict[tuple[str, str], list[tuple[str, datetime]]] = defaultdict(list)
    served: set[str] = set()
    for meter_id, fresh, built_from, recent in rows:
        if not serves(fresh, built_from, counts.get(meter_id, 0)):
            continue
        found = {}
        for register, kept in decode(recent).items():
            actual = [(r.value, r.read_at) for r in kept.reads if r.method == "actual" and r.value is not None]
            if len(actual) < per_register and not kept.complete:
                break  # older actual readings exist than the row keeps
            found[(meter_id, register)] = actual[-per_register:] if per_register > 0 else []
        else:
            served.add(meter_id)
            out.update((key, reads) for key, reads in found.items() if reads)
    for r in recent_reads(conn, [m for m in meter_ids if m not in served], per_register, actual_only=True):
        out[(r.meter_id, r.register)].append((r.value, r.read_at))
    return out


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
        states.counts[meter_id] = states.counts.get(meter_id, 0) + 1
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
    rows = [(m, True, states.counts.get(m, 0), encode(states.reads[m]))
            for m in sorted(set(meter_ids)) if m in states.reads]
    insert_rows(conn, meter_state, ("meter_id", "fresh", "readings", "recent"), rows, upsert_on=("meter_id",))


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
        counts = select_rows(conn, "SELECT meter_id, count(*) FROM readings WHERE meter_id {ids} GROUP BY meter_id",
                             id_list(conn, chunk))
        states = MeterStates(reads=from_history(history_rows(conn, chunk, KEEP), chunk, KEEP), counts=dict(counts))
        save(conn, states, chunk)
    return len(ids)


def rebuild_stale(conn: Connection) -> int:
    """Rebuild every row that does not serve (readings written straight to the database);
    returns how many."""
    stale = [m for (m,) in select_rows(
        conn, "SELECT s.meter_id FROM meter_state s WHERE NOT s.fresh "
        "OR s.readings <> (SELECT count(*) FROM readings r WHERE r.meter_id = s.meter_id)")]
    return rebuild(conn, stale)


__all__ = ["KEEP", "Kept", "MeterReads", "MeterStates", "Read", "actual_reads", "add_batch", "decode", "encode", "from_history",
           "from_rows", "history_rows", "serves", "lock", "rebuild", "rebuild_stale", "save"]
