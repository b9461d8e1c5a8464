"""Reconciliation: every item in every outbox is on the server exactly once, with the verdict
the tablet holds, and every rejected item is absent; every photo is held.

The server's side is what it stored (the admin listing of each device's
items, and HEAD of each photo), not the answers the tablets received: a
tablet and the server can only disagree if one of them is wrong.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime

from sync.client import Outbox
from sync.client.session import Session

MAX_PAGES = 10_000
SHOWN = 20


@dataclass
class Reconciliation:
    items_checked: int = 0
    photos_checked: int = 0
    server_items: int = 0
    earlier_items: int = 0  # stored from these devices before this run: not this run's to reconcile
    problems: list[str] = field(default_factory=list)
    problem_kinds: Counter[str] = field(default_factory=Counter)

    @property
    def ok(self) -> bool:
        return not self.problems

    def problem(self, kind: str, text: str) -> None:
        self.problem_kinds[kind] += 1
        self.problems.append(text)


def stored_items(session: Session, device_id: str) -> list[dict]:
    found: list[dict] = []
    cursor = None
    for _ in range(MAX_PAGES):
        page = session.retrying(lambda: session.api.device_items(device_id, cursor, 5000))
        found += page["items"]
        cursor = page["cursor"]
        if cursor is None:
            return found
    raise RuntimeError(f"the listing of {device_id} did not end")


def reconcile_tablet(session: Session, device_id: str, outbox: Outbox, result: Reconciliation,
                     since: datetime | None = None) -> None:
    listed = stored_items(session, device_id)
    if since is not None:
        earlier = [i for i in listed if datetime.fromisoformat(i["received_at"]) < since]
        result.earlier_items += len(earlier)
        listed = [i for i in listed if datetime.fromisoformat(i["received_at"]) >= since]
    result.server_items += len(listed)
    times = Counter(i["op_id"] for i in listed)
    for op_id, n in times.items():
        if n > 1:
            result.problem("stored_twice", f"{device_id}: {op_id} is listed {n} times")
    on_server = {i["op_id"]: i for i in listed}
    for item in outbox.items():
        result.items_checked += 1
        stored = on_server.pop(item.op_id, None)
        where = f"{device_id}: {item.type} {item.op_id} ({item.meter_id})"
        if item.state == "rejected":
            if stored is not None:
                result.problem("rejected_but_stored", f"{where} was rejected on the tablet but is stored")
            continue
        if item.state != "done":
            result.problem("not_delivered", f"{where} is still {item.state} on the tablet")
            continue
        if stored is None:
            result.problem("missing", f"{where} is {item.verdict} on the tablet but not stored")
            continue
        tablet_view = (item.verdict, item.review_task_id, sorted(f["code"] for f in item.flags))
        server_view = (stored["status"], stored["review_task_id"], sorted(f["code"] for f in stored["flags"]))
        if tablet_view != server_view:
            result.problem("verdict_differs", f"{where}: tablet holds {tablet_view}, server stored {server_view}")
    for op_id, stored in on_server.items():
        result.problem("unknown_to_tablet", f"{device_id}: {op_id} is stored but no outbox holds it")
    for photo in outbox.photos():
        result.photos_checked += 1
        if photo.state != "uploaded":
            result.problem("photo_not_uploaded", f"{device_id}: photo {photo.sha256[:12]} is {photo.state}")
        elif not session.retrying(lambda: session.api.photo_held(photo.sha256)):
            result.problem("photo_missing", f"{device_id}: photo {photo.sha256[:12]} uploaded but not held")


def reconcile(session: Session, outboxes: dict[str, Outbox], since: datetime | None = None) -> Reconciliation:
    """``since``: the server's time when this run began; what the devices delivered before is left out."""
    result = Reconciliation()
    for device_id, outbox in outboxes.items():
        reconcile_tablet(session, device_id, outbox, result, since)
    return result
