"""Two reviewers never hold one task, however many claim it at once (PROTOCOL §7)."""

from __future__ import annotations

import threading
import time

import pytest
from sqlalchemy import func, select

from server.auth import Principal
from server.db.tables import audit_log, review_tasks
from server.errors import ApiError
from server.services import review
from tests.factories import add_user
from tests.review_helpers import insert_task

CLAIMERS = 20


@pytest.fixture
def task_id(db) -> str:
    return insert_task(db)


def reviewer(name: str) -> Principal:
    return Principal(name, name.title(), frozenset({"reviewer"}), f"tab-{name}", "-")


def test_of_twenty_simultaneous_claims_exactly_one_wins(db, task_id):
    names = [add_user(db, f"reviewer{i:02d}", "reviewer") for i in range(CLAIMERS)]
    start = threading.Barrier(CLAIMERS)
    answers: dict[str, str] = {}

    def claim(name: str) -> None:
        start.wait()
        try:
            answers[name] = review.claim(db, task_id, reviewer(name)).claimed_by or "-"
        except ApiError as exc:
            answers[name] = exc.code

    threads = [threading.Thread(target=claim, args=(n,)) for n in names]
    for t in threads:
        t.start()
    for t in threads:
        t.join()

    winners = [n for n, answer in answers.items() if answer == n]
    assert len(winners) == 1
    assert sorted(answers.values()) == sorted(winners + ["already_claimed"] * (CLAIMERS - 1))
    with db.read() as conn:
        holder = conn.execute(select(review_tasks.c.claimed_by).where(review_tasks.c.id == task_id)).scalar_one()
        claims = conn.execute(select(func.count()).where(audit_log.c.action == "task.claim")).scalar_one()
    assert (holder, claims) == (winners[0], 1)


def test_a_claim_in_progress_is_skipped_not_waited_for(db, backend, task_id):
    if backend != "postgres":
        pytest.skip("SQLite has one writer: claims are taken one after another")
    add_user(db, "reviewer01", "reviewer")
    locked, done = threading.Event(), threading.Event()

    def slow_claimer() -> None:
        with db.write() as conn:
            conn.execute(select(review_tasks.c.id).where(review_tasks.c.id == task_id).with_for_update())
            locked.set()
            done.wait(10)

    holder = threading.Thread(target=slow_claimer)
    holder.start()
    try:
        assert locked.wait(10)
        began = time.monotonic()
        with pytest.raises(ApiError) as refused:
            review.claim(db, task_id, reviewer("reviewer01"))
        assert refused.value.code == "already_claimed"
        assert time.monotonic() - began < 2
    finally:
        done.set()
        holder.join()
    assert review.claim(db, task_id, reviewer("reviewer01")).claimed_by == "reviewer01"
