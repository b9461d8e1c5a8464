"""Engines for reads and writes.

SQLite (the embedded default): WAL, ``synchronous=FULL`` so that a 200 means
durable, one writer connection whose transactions begin ``IMMEDIATE`` (no
lock upgrade deadlocks), and a pool of readers that each see one snapshot
per transaction. PostgreSQL: one pooled engine; reads that must be one
consistent snapshot run at REPEATABLE READ.
"""

from __future__ import annotations

from contextlib import contextmanager
from pathlib import Path
from typing import Callable, Iterator

from sqlalchemy import Connection, Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.pool import QueuePool

SQLITE_BUSY_TIMEOUT_MS = 30_000
# Page cache of the one writer connection (KiB). Every pushed item inserts into indexes keyed by
# random op_ids: with SQLite's 2 MiB default most of those inserts first read their page back
# from the file.
SQLITE_WRITER_CACHE_KIB = 64 * 1024
# WAL pages between automatic checkpoints (SQLite's default is 1,000): those scattered index pages
# are written back to the database file once per checkpoint, so fewer checkpoints write them fewer times.
SQLITE_WRITER_CHECKPOINT_PAGES = 4000
# Bytes of the database file each connection reads through a memory map. Every commit empties the
# page caches of the other connections, so in a rush each read starts cold: mapped, a page read
# from the file is a memory access instead of a system call and a copy.
SQLITE_MMAP_BYTES = 1 << 30


def _sqlite_engine(url: str, *, writer: bool, pool_size: int) -> Engine:
    path = make_url(url).database
    if path and path != ":memory:":
        Path(path).parent.mkdir(parents=True, exist_ok=True)
    engine = create_engine(
        url,
        poolclass=QueuePool,
        pool_size=pool_size,
        max_overflow=0,
        pool_timeout=120,
        connect_args={"check_same_thread": False, "timeout": SQLITE_BUSY_TIMEOUT_MS / 1000},
    )
    begin = "BEGIN IMMEDIATE" if writer else "BEGIN"

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn, _record):  # noqa: ANN001
        # Autocommit at the driver level; transactions are begun below, so
        # that even a read-only transaction holds one snapshot.
        dbapi_conn.isolation_level = None
        cur = dbapi_conn.cursor()
        cur.execute("PRAGMA journal_mode=WAL")
        cur.execute("PRAGMA synchronous=FULL")
        cur.execute("PRAGMA foreign_keys=ON")
        cur.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
        # Savepoint journals and sorts in memory: a group commit runs each batch in a savepoint.
        cur.execute("PRAGMA temp_store=MEMORY")
        cur.execute(f"PRAGMA mmap_size={SQLITE_MMAP_BYTES}")
        if writer:
            cur.execute(f"PRAGMA cache_size=-{SQLITE_WRITER_CACHE_KIB}")
            cur.execute(f"PRAGMA wal_autocheckpoint={SQLITE_WRITER_CHECKPOINT_PAGES}")
        cur.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Connection) -> None:
        conn.exec_driver_sql(begin)

    return engine


class Database:
    """``write()`` and ``read()`` give a connection inside a transaction."""

    def __init__(self, url: str, *, read_pool_size: int = 8) -> None:
        self.url = url
        self._on_dispose: list[Callable[[], None]] = []
        self.is_sqlite = url.startswith("sqlite")
        path = make_url(url).database if self.is_sqlite else None
        # The database file (None in memory): processes serving it take turns beside it.
        self.sqlite_path = path if path and path != ":memory:" else None
        if self.is_sqlite:
            self.writer = _sqlite_engine(url, writer=True, pool_size=1)
            self.reader = _sqlite_engine(url, writer=False, pool_size=read_pool_size)
        else:
            self.writer = create_engine(url, pool_size=10, max_overflow=10, pool_pre_ping=True)
            self.reader = self.writer.execution_options(isolation_level="REPEATABLE READ")

    @contextmanager
    def write(self) -> Iterator[Connection]:
        with self.writer.begin() as conn:
            yield conn

    @contextmanager
    def read(self) -> Iterator[Connection]:
        with self.reader.connect() as conn:
            with conn.begin():
                yield conn

    def on_dispose(self, hook: Callable[[], None]) -> None:
        """Run ``hook`` first when the database is disposed (a thread that writes through it stops)."""
        self._on_dispose.append(hook)

    def dispose(self) -> None:
        hooks, self._on_dispose = self._on_dispose, []
        for hook in hooks:
            hook()
        self.writer.dispose()
        if self.reader is not self.writer:
            self.reader.dispose()
