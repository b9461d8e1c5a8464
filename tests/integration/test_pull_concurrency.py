"""A pull never skips a change, even while several connections write the feed and
commit out of order (PROTOCOL §4). On PostgreSQL this is the case that matters:
transactions take their sequence numbers in one order and may commit in another.
"""

from __future__ import annotations

import random
import threading
import time
from datetime import date

from sqlalchemy import insert, update

from server.auth import Principal
from server.clock import utcnow
from server.db.tables import assignments, devices
from server.services import cycles, feed
from server.services.pull import pull
from tests.factories import add_route, add_user

WRITERS = 4
ROUNDS = 20


def test_concurrent_writers_never_make_a_pull_skip_a_change(db, settings):
    add_user(db, "reader01", "reader")
    add_route(db, "r-seed", 1)
    cycles.open_cycle(db, "2026-12", "r-seed", "reader01", date(2026, 12, 1), date(2026, 12, 10))
    meter_ids = add_route(db, "r-busy", WRITERS * ROUNDS)
    with db.write() as conn:
        conn.execute(insert(devices).values(id="tab-1", first_seen_at=utcnow(), last_seen_at=utcnow()))
    who = Principal("reader01", "Reader", frozenset({"reader"}), "tab-1", "x")
    errors: list[BaseException] = []

    def writer(index: int) -> None:
        rng = random.Random(index)
        mine: list[str] = []
        try:
            for k in range(ROUNDS):
                now = utcnow()
                with db.write() as conn:
                    assignment_id = f"as-w{index}-{k}"
                    conn.execute(insert(assignments).values(
                        id=assignment_id, cycle="2026-12", route_id="r-busy", meter_id=meter_ids[index * ROUNDS + k],
                        user_id="reader01", task="read", due_from=date(2026, 12, 1), due_until=date(2026, 12, 10),
                        status="open", created_at=now, updated_at=now,
                    ))
                    if mine and rng.random() < 0.3:
                        gone = mine.pop(rng.randrange(len(mine)))
                        conn.execute(update(assignments).where(assignments.c.id == gone).values(status="cancelled"))
                    mine.append(assignment_id)
                    feed.refresh_users(conn, ["reader01"], now)
                    # Hold the transaction open so that commits interleave with pulls.
                    time.sleep(rng.uniform(0, 0.01))
        except BaseException as exc:  # noqa: BLE001 - reported by the main thread
            errors.append(exc)

    held: dict[tuple[str, str], bool] = {}
    last_seq = 0

    def pull_page(cursor: str | None) -> tuple[str, bool]:
        nonlocal last_seq
        page = pull(db, settings, who, cursor, 3)
        for change in page.changes:
            assert change.seq > last_seq, "a change came twice or out of order"
            last_seq = change.seq
            if change.op == "upsert":
                held[(change.kind, change.id)] = True
            else:
                held.pop((change.kind, change.id), None)
        return page.cursor, page.has_more

    cursor, _ = pull_page(None)  # the tablet synced once before the rush
    threads = [threading.Thread(target=writer, args=(i,)) for i in range(WRITERS)]
    for t in threads:
        t.start()
    pages = 0
    while any(t.is_alive() for t in threads):
        cursor, _ = pull_page(cursor)
        pages += 1
    for t in threads:
        t.join()
    assert not errors, errors
    more = True
    while more:
        cursor, more = pull_page(cursor)

    with db.read() as conn:
        truth = feed.current_scopes(conn, ["reader01"])["reader01"]
    assert pages > 5, "the pulls must overlap the writes for this test to mean anything"
    assert set(held) == truth
