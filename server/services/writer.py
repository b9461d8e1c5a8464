"""Group commit: one thread owns the SQLite write transaction, and the jobs queued while
it runs are committed together.

Each job runs in a SAVEPOINT of its own, so a job that fails rolls back alone
and its caller gets the exception; the others go on. Every caller's result is
released only after the shared COMMIT has returned (``synchronous=FULL``: on
disk), and if the commit fails every job of the group gets that failure.
One commit then pays the fsync for many batches.

SQLite has one writer anyway; handlers await this thread instead of queueing
on the writer pool. When several processes serve one database file, their
writer threads take turns on a lock file beside it (``flock``), so that the
next one starts the moment a commit ends instead of waking from SQLite's
busy-wait sleeps. PostgreSQL does not need any of this (many writers, its own
group commit).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import fcntl
import logging
import os
import queue
import threading
from dataclasses import dataclass
from typing import Any, Callable, TypeVar

from sqlalchemy import Connection

from server.db.engine import Database

T = TypeVar("T")
log = logging.getLogger(__name__)

MAX_JOBS_PER_COMMIT = 32
MAX_WEIGHT_PER_COMMIT = 8000  # items, so that a commit does not wait on too long a queue


@dataclass
class _Job:
    run: Callable[[Connection], Any]
    weight: int
    done: concurrent.futures.Future[Any]


_STOP = object()


class _TakeTurns:
    """An exclusive ``flock`` on a file beside the database, held from BEGIN to COMMIT."""

    def __init__(self, database_path: str | None) -> None:
        self._fd = os.open(f"{database_path}.writer-lock", os.O_RDWR | os.O_CREAT, 0o600) if database_path else None

    def __enter__(self) -> None:
        if self._fd is not None:
            fcntl.flock(self._fd, fcntl.LOCK_EX)

    def __exit__(self, *_exc: object) -> None:
        if self._fd is not None:
            fcntl.flock(self._fd, fcntl.LOCK_UN)

    def close(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None


class GroupWriter:
    def __init__(self, db: Database) -> None:
        self.db = db
        self._turns = _TakeTurns(db.sqlite_path)
        self._queue: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self._thread = threading.Thread(target=self._loop, name="fieldsync-writer", daemon=True)
        self._thread.start()

    def submit(self, run: Callable[[Connection], T], weight: int = 1) -> concurrent.futures.Future[T]:
        """Queue ``run(conn)``; the future resolves after the commit that includes it."""
        job = _Job(run, weight, concurrent.futures.Future())
        self._queue.put(job)
        return job.done

    async def run(self, run: Callable[[Connection], T], weight: int = 1) -> T:
        return await asyncio.wrap_future(self.submit(run, weight))

    def stop(self) -> None:
        self._queue.put(_STOP)
        self._thread.join(timeout=30)
        self._turns.close()

    def _loop(self) -> None:
        while True:
            first = self._queue.get()
            if first is _STOP:
                return
            group = [first]
            stop = self._commit_group(group)
            if stop:
                return

    def _commit_group(self, group: list[_Job]) -> bool:
        """Run the group (growing it with what arrives meanwhile) in one transaction; True to stop."""
        outcomes: list[tuple[_Job, Any, BaseException | None]] = []
        stop = False
        try:
            with self._turns, self.db.write() as conn:
                weight = 0
                i = 0
                while i < len(group):
                    job = group[i]
                    i += 1
                    if not job.done.set_running_or_notify_cancel():
                        continue
                    outcomes.append(_run_in_savepoint(conn, job))
                    weight += job.weight
                    if i == len(group) and len(group) < MAX_JOBS_PER_COMMIT and weight < MAX_WEIGHT_PER_COMMIT:
                        stop = self._take_waiting(group)
        except BaseException as exc:  # the commit (or BEGIN) failed: nothing of the group is stored
            log.exception("a group commit failed")
            for job in group:
                if not job.done.done():
                    job.done.set_exception(exc)
            return stop
        for job, result, error in outcomes:
            if error is None:
                job.done.set_result(result)
            else:
                job.done.set_exception(error)
        return stop

    def _take_waiting(self, group: list[_Job]) -> bool:
        while len(group) < MAX_JOBS_PER_COMMIT:
            try:
                job = self._queue.get_nowait()
            except queue.Empty:
                return False
            if job is _STOP:
                return True
            group.append(job)
        return False


def _run_in_savepoint(conn: Connection, job: _Job) -> tuple[_Job, Any, BaseException | None]:
    savepoint = conn.begin_nested()
    try:
        result = job.run(conn)
    except BaseException as exc:  # noqa: BLE001 - handed to the job's caller
        savepoint.rollback()
        return job, None, exc
    savepoint.commit()
    return job, result, None


_writers: dict[int, GroupWriter] = {}
_lock = threading.Lock()


def writer_of(db: Database) -> GroupWriter:
    """The database's group writer, started on first use and stopped when the database is disposed."""
    with _lock:
        writer = _writers.get(id(db))
        if writer is None or writer.db is not db:
            writer = _writers[id(db)] = GroupWriter(db)
            db.on_dispose(lambda: _stop(db))
        return writer


def write(db: Database, run: Callable[[Connection], T]) -> T:
    """``run(conn)`` in a write transaction, from a worker thread; its result once committed.

    On SQLite it joins the group writer's next commit (a savepoint of its own), so the small
    writes of a request (an upload started, a photo's row, a token's last use) share the fsync
    of the batches beside them instead of queueing for the one writer connection and paying
    their own. ``run`` must not open another write itself. Elsewhere: a transaction of its own.
    """
    if not db.is_sqlite:
        with db.write() as conn:
            return run(conn)
    return writer_of(db).submit(run).result()


def _stop(db: Database) -> None:
    with _lock:
        writer = _writers.pop(id(db), None)
    if writer is not None:
        writer.stop()


__all__ = ["GroupWriter", "MAX_JOBS_PER_COMMIT", "write", "writer_of"]
