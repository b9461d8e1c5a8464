"""Photo evidence of stored items (PROTOCOL §6, DOMAIN_RULES evidence_*).

An item whose named photos are all held has evidence ``complete``; then the
checks that need the photos' EXIF run: the time each photo was taken
against the item's time (an inspection's span, otherwise the item's
corrected time, ± the window) and its position against the meter's.

They run at two moments, through the same code: when a batch is planned
(items whose photos arrived first; the flags are part of the push answer),
and when the last photo of stored items arrives. New flags are added to the
item and join the meter's unresolved review task for the item's cycle, or
open one, as the batch planner does.

On PostgreSQL a push and an upload run side by side. A push that names
photos it cannot see yet takes a shared advisory lock on them before it looks
again; an upload commits its photo under the exclusive one, and only then
looks for the items it completes. So either the push sees the photo or the
upload sees the push's item: none is left ``incomplete`` with all its photos
held. (The upload looks outside the lock: a push locks the review tasks it
reads before it takes this one.)
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Callable, Iterable, Mapping
from zoneinfo import ZoneInfo

import msgspec
from sqlalchemy import Connection, bindparam, select, text, update

from field_schemas import push as wire
from server.db.tables import meters, op_photos, ops, photos, readings
from server.services.push_ledger import fetch_open_tasks
from server.settings import Settings
from sync.push import BatchPlan, attach_to_task
from sync.rules_evidence import evidence_place_mismatch, evidence_time_mismatch
from sync.thresholds import Thresholds

Op = dict[str, Any]  # an ``ops`` row as a dict: a planned row, or one read back

ARRIVAL_LOCK_SPACE = 0x70686F  # the first key of these advisory locks
# Hashes share a lock by bucket, so a batch naming many photos takes at most this many locks.
ARRIVAL_LOCK_BUCKETS = 256


@dataclass(frozen=True)
class PhotoFacts:
    """What the checks read from a held photo."""

    taken_at: datetime | None
    lat: float | None
    lon: float | None


@dataclass(frozen=True)
class MeterPlace:
    lat: float | None
    lon: float | None
    district_id: str


def coordinate(text: str | None) -> float | None:
    """A stored coordinate string as a number; None when absent or unreadable (no place check then)."""
    try:
        return float(text) if text else None
    except ValueError:
        return None


def item_span(op: Op) -> tuple[datetime, datetime]:
    """The time a photo of the item should fall in: an inspection's start to end, else the item's moment."""
    if op["type"] == "inspection":
        payload = op["payload"]
        return datetime.fromisoformat(payload["started_at"]), datetime.fromisoformat(payload["ended_at"])
    return op["recorded_at_corrected"], op["recorded_at_corrected"]


def photo_flags(op: Op, held: Iterable[PhotoFacts], meter: MeterPlace | None, thresholds: Thresholds) -> list[dict[str, str]]:
    """The EXIF flags of one item, one per code (the first photo that shows it), leaving out codes it has."""
    started, ended = item_span(op)
    found: dict[str, str] = {}
    for photo in held:
        checks = [evidence_time_mismatch(photo.taken_at, started, ended, thresholds)]
        if meter is not None:
            checks.append(evidence_place_mismatch(photo.lat, photo.lon, meter.lat, meter.lon, thresholds))
        for flag in checks:
            if flag is not None:
                found.setdefault(flag.code, flag.message)
    already = {f["code"] for f in op["flags"]}
    return [{"code": code, "message": message} for code, message in found.items() if code not in already]


def join_review_task(plan: BatchPlan, op: Op, flags: list[dict[str, str]], cycle: str, district_id: str | None,
                     new_task_id: Callable[[], str]) -> None:
    """Add flags to the item and to the unresolved task of its meter and cycle (opened when there is none)."""
    task = attach_to_task(plan, op["meter_id"], cycle, op["op_id"], flags, district_id, new_task_id)
    if op["review_task_id"] != task.id:
        plan.task_items.append({"task_id": task.id, "op_id": op["op_id"]})
    op.update(flags=[*op["flags"], *flags], status="flagged", review_task_id=task.id)


def station_cycle(op: Op, station_tz: str) -> str:
    """The cycle of an item that is not a reading: the station month of its corrected time."""
    return op["recorded_at_corrected"].astimezone(ZoneInfo(station_tz)).strftime("%Y-%m")


def check_items(conn: Connection, settings: Settings, plan: BatchPlan, items: list[Op],
                named: Mapping[str, list[str]], reading_cycles: Mapping[str, str],
                new_task_id: Callable[[], str]) -> list[Op]:
    """Run the EXIF checks on items whose photos (``named``: op_id → sha256s) are all held;
    return the items that got new flags."""
    if not items:
        return []
    facts = _photo_facts(conn, {sha for op in items for sha in named.get(op["op_id"], ())})
    places = _meter_places(conn, {op["meter_id"] for op in items})
    flagged = []
    for op in items:
        meter = places.get(op["meter_id"])
        held = [facts[sha] for sha in named.get(op["op_id"], ()) if sha in facts]
        flags = photo_flags(op, held, meter, settings.thresholds)
        if not flags:
            continue
        cycle = reading_cycles.get(op["op_id"]) or station_cycle(op, settings.station_timezone)
        join_review_task(plan, op, flags, cycle, meter.district_id if meter else None, new_task_id)
        flagged.append(op)
    return flagged


def take_turns_with_uploads(conn: Connection, shas: Iterable[str], *, uploading: bool) -> bool:
    """PostgreSQL: wait for uploads of these photos in progress (a push), or for pushes naming them (an upload).

    Taken first in its transaction, before any write, and held to its end. True when taken.
    """
    buckets = sorted({int(sha[:8], 16) % ARRIVAL_LOCK_BUCKETS for sha in shas})
    if conn.dialect.name != "postgresql" or not buckets:
        return False
    lock = "pg_advisory_xact_lock" if uploading else "pg_advisory_xact_lock_shared"
    conn.execute(text(f"SELECT {lock}(:space, b) FROM unnest(CAST(:buckets AS integer[])) AS b"),
                 {"space": ARRIVAL_LOCK_SPACE, "buckets": buckets})
    return True


def _complete_what_arrived_meanwhile(conn: Connection, items: list[Op], named: Mapping[str, list[str]]) -> None:
    """Items planned ``incomplete`` whose photos were committed since the plan read them."""
    missing = {sha for op in items for sha in named[op["op_id"]]}
    if not take_turns_with_uploads(conn, missing, uploading=False):
        return
    held = set(conn.execute(select(photos.c.sha256).where(photos.c.sha256.in_(sorted(missing)))).scalars())
    for op in items:
        if set(named[op["op_id"]]) <= held:
            op["evidence"] = "complete"


def check_pushed(conn: Connection, settings: Settings, plan: BatchPlan, new_task_id: Callable[[], str]) -> None:
    """Before a batch is written: check the items whose photos arrived first, and amend their answers."""
    named: dict[str, list[str]] = defaultdict(list)
    for row in plan.op_photos:
        named[row["op_id"]].append(row["sha256"])
    waiting = [op for op in plan.ops if op["evidence"] == "incomplete"]
    if waiting:
        _complete_what_arrived_meanwhile(conn, waiting, named)
    complete = [op for op in plan.ops if op["evidence"] == "complete"]
    if not complete:
        return
    cycles = {r["op_id"]: r["cycle"] for r in plan.readings}
    flagged = {op["op_id"]: op for op in check_items(conn, settings, plan, complete, named, cycles, new_task_id)}
    for i, result in enumerate(plan.results):
        op = flagged.get(result.op_id)
        if op is not None:
            plan.results[i] = msgspec.structs.replace(
                result, status="flagged", review_task_id=op["review_task_id"],
                flags=[wire.ResultFlag(f["code"], f["message"]) for f in op["flags"]],
            )


def _waiting_for(sha256: str) -> Any:
    return (ops.c.evidence == "incomplete") & ops.c.op_id.in_(select(op_photos.c.op_id).where(op_photos.c.sha256 == sha256))


def waiting_for(conn: Connection, sha256: str) -> bool:
    """Whether a stored item naming this photo still has evidence ``incomplete``."""
    return conn.execute(select(ops.c.op_id).where(_waiting_for(sha256)).limit(1)).first() is not None


def photo_arrived(conn: Connection, settings: Settings, sha256: str, new_task_id: Callable[[], str]) -> BatchPlan:
    """A photo is now held: the items it completes become ``complete`` and are checked.

    The items are updated here; the review tasks to open or extend are returned,
    to be written with ``server.services.push.write_plan``.
    """
    waiting = [dict(r._mapping) for r in conn.execute(
        select(ops.c.op_id, ops.c.type, ops.c.meter_id, ops.c.flags, ops.c.status, ops.c.review_task_id,
               ops.c.recorded_at_corrected, ops.c.payload)
        .where(_waiting_for(sha256))
    )]
    named = _named_photos(conn, [op["op_id"] for op in waiting])
    held = set(conn.execute(
        select(photos.c.sha256).where(photos.c.sha256.in_(sorted({s for shas in named.values() for s in shas})))
    ).scalars())
    completed = [op for op in waiting if set(named[op["op_id"]]) <= held]
    plan = BatchPlan(tasks=fetch_open_tasks(conn, sorted({op["meter_id"] for op in completed})))
    if not completed:
        return plan
    cycles = dict(conn.execute(
        select(readings.c.op_id, readings.c.cycle).where(readings.c.op_id.in_([op["op_id"] for op in completed]))
    ).all())
    check_items(conn, settings, plan, completed, named, cycles, new_task_id)
    conn.execute(
        update(ops).where(ops.c.op_id == bindparam("oid"))
        .values(evidence="complete", flags=bindparam("f"), status=bindparam("s"), review_task_id=bindparam("t")),
        [{"oid": op["op_id"], "f": op["flags"], "s": op["status"], "t": op["review_task_id"]} for op in completed],
    )
    return plan


def _named_photos(conn: Connection, op_ids: list[str]) -> dict[str, list[str]]:
    named: dict[str, list[str]] = defaultdict(list)
    for op_id, sha256 in conn.execute(
        select(op_photos.c.op_id, op_photos.c.sha256).where(op_photos.c.op_id.in_(op_ids))
    ):
        named[op_id].append(sha256)
    return named


def _photo_facts(conn: Connection, shas: set[str]) -> dict[str, PhotoFacts]:
    rows = conn.execute(
        select(photos.c.sha256, photos.c.taken_at, photos.c.lat, photos.c.lon).where(photos.c.sha256.in_(sorted(shas)))
    )
    return {r.sha256: PhotoFacts(r.taken_at, coordinate(r.lat), coordinate(r.lon)) for r in rows}


def _meter_places(conn: Connection, meter_ids: set[str]) -> dict[str, MeterPlace]:
    rows = conn.execute(
        select(meters.c.id, meters.c.lat, meters.c.lon, meters.c.district_id).where(meters.c.id.in_(sorted(meter_ids)))
    )
    return {r.id: MeterPlace(coordinate(r.lat), coordinate(r.lon), r.district_id) for r in rows}
