"""The tablet's outbox: a local SQLite file that holds every item and photo from the
moment it is recorded until the server has answered for it, the batch being sent,
and the work pulled from the server.

Durability first: WAL with ``synchronous=FULL``, so an item the app has
recorded survives a crash, a reboot or a flat battery. Every change that must
happen together (a batch's answer, a pulled page and its cursor) is one
transaction.
"""

from __future__ import annotations

import hashlib
import os
import sqlite3
import threading
import uuid
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Iterator

import msgspec

from field_schemas import push as wire
from field_schemas.pull import PullResponse

SCHEMA = """
CREATE TABLE IF NOT EXISTS items (
    position INTEGER PRIMARY KEY AUTOINCREMENT,   -- recording order, kept when sent
    op_id TEXT NOT NULL UNIQUE,
    type TEXT NOT NULL,
    meter_id TEXT NOT NULL,
    body BLOB NOT NULL,                           -- the item's JSON, exactly as it is sent
    state TEXT NOT NULL DEFAULT 'pending',        -- pending | sending | done | rejected
    batch_id TEXT,
    status TEXT,                                  -- the server's answer: accepted | flagged | duplicate | rejected
    original_status TEXT,
    flags TEXT NOT NULL DEFAULT '[]',
    errors TEXT NOT NULL DEFAULT '[]',
    review_task_id TEXT,
    outcome TEXT,                                 -- the final review decision, from the pull feed
    recorded_at TEXT NOT NULL,
    answered_at TEXT
);
CREATE INDEX IF NOT EXISTS items_by_state ON items (state, position);
CREATE INDEX IF NOT EXISTS items_by_batch ON items (batch_id);
CREATE TABLE IF NOT EXISTS batches (
    batch_id TEXT PRIMARY KEY,
    created_at TEXT NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,           -- sends begun; above 0 the answer may have been lost
    state TEXT NOT NULL DEFAULT 'open'             -- open | answered | dissolved
);
CREATE TABLE IF NOT EXISTS photos (
    sha256 TEXT PRIMARY KEY,
    size INTEGER NOT NULL,
    state TEXT NOT NULL DEFAULT 'pending',         -- pending | uploaded | failed
    upload_id TEXT,
    error TEXT,
    recorded_at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS settings (key TEXT PRIMARY KEY, value TEXT);
"""

# The pulled work: one table a kind, replaced as a whole by a full snapshot.
PULLED_TABLES = {
    "assignment": "assignments",
    "meter": "meters",
    "customer": "customers",
    "inspection_order": "orders",
    "outcome": "outcomes",
}
PULLED_SCHEMA = "".join(
    f"CREATE TABLE IF NOT EXISTS {table} (id TEXT PRIMARY KEY, data TEXT NOT NULL, generation INTEGER NOT NULL);\n"
    for table in PULLED_TABLES.values()
)

_encode = msgspec.json.encode
_item_decoder = msgspec.json.Decoder(wire.Item)


def utc_text(at: datetime | None = None) -> str:
    return (at or datetime.now(timezone.utc)).astimezone(timezone.utc).isoformat()


@dataclass(frozen=True)
class StoredItem:
    position: int
    op_id: str
    type: str
    meter_id: str
    body: bytes
    state: str
    batch_id: str | None
    status: str | None
    original_status: str | None
    flags: list[dict[str, Any]]
    errors: list[dict[str, Any]]
    review_task_id: str | None
    outcome: dict[str, Any] | None

    @property
    def verdict(self) -> str | None:
        """What the server decided for this item: a duplicate's first status, else its status."""
        return self.original_status if self.status == "duplicate" else self.status

    def item(self) -> wire.Item:
        return _item_decoder.decode(self.body)


@dataclass(frozen=True)
class Batch:
    batch_id: str
    attempts: int
    items: list[StoredItem]


@dataclass(frozen=True)
class StoredPhoto:
    sha256: str
    size: int
    state: str
    upload_id: str | None
    error: str | None


class Outbox:
    """One file per tablet (``path``), photos beside it in ``<path>.photos/``."""

    def __init__(self, path: Path | str) -> None:
        self.path = Path(path)
        self.photo_dir = self.path.with_name(self.path.name + ".photos")
        self.photo_dir.mkdir(parents=True, exist_ok=True)
        self._lock = threading.RLock()
        self._conn = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False, timeout=30)
        self._conn.row_factory = sqlite3.Row
        self._conn.execute("PRAGMA journal_mode=WAL")
        self._conn.execute("PRAGMA synchronous=FULL")
        with self._lock:  # executescript commits on its own
            self._conn.executescript(SCHEMA + PULLED_SCHEMA)

    def close(self) -> None:
        with self._lock:
            self._conn.close()

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        with self._lock:
            self._conn.execute("BEGIN IMMEDIATE")
            try:
                yield self._conn
            except BaseException:
                self._conn.execute("ROLLBACK")
                raise
            self._conn.execute("COMMIT")

    def _query(self, sql: str, params: tuple[Any, ...] = ()) -> list[sqlite3.Row]:
        with self._lock:
            return self._conn.execute(sql, params).fetchall()

    # -- settings ----------------------------------------------------------------------------

    def get(self, key: str) -> str | None:
        rows = self._query("SELECT value FROM settings WHERE key = ?", (key,))
        return rows[0]["value"] if rows else None

    def put(self, key: str, value: str | None, conn: sqlite3.Connection | None = None) -> None:
        sql = "INSERT INTO settings (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value"
        if conn is not None:
            conn.execute(sql, (key, value))
            return
        with self.transaction() as c:
            c.execute(sql, (key, value))

    # -- recording ---------------------------------------------------------------------------

    def record(self, item: wire.Item) -> str:
        """Keep ``item`` (its ``op_id`` made when it was created) until the server answers for it."""
        with self.transaction() as conn:
            conn.execute(
                "INSERT INTO items (op_id, type, meter_id, body, recorded_at) VALUES (?, ?, ?, ?, ?)",
                (item.op_id, type(item).__struct_config__.tag, item.meter_id, _encode(item), utc_text()),
            )
        return item.op_id

    def amend(self, op_id: str, item: wire.Item) -> None:
        """A rejected item corrected by the user goes back in the queue (it may keep its op_id)."""
        with self.transaction() as conn:
            changed = conn.execute(
                "UPDATE items SET body = ?, op_id = ?, meter_id = ?, state = 'pending', batch_id = NULL, status = NULL,"
                " errors = '[]', answered_at = NULL WHERE op_id = ? AND state = 'rejected'",
                (_encode(item), item.op_id, item.meter_id, op_id),
            ).rowcount
        if not changed:
            raise LookupError(f"no rejected item {op_id} to amend")

    def record_photo(self, data: bytes) -> str:
        """Keep the photo's bytes, content-addressed; its SHA-256 is the evidence hash and its id."""
        sha256 = hashlib.sha256(data).hexdigest()
        target = self.photo_dir / sha256
        if not target.exists():
            temporary = self.photo_dir / f".{sha256}.{uuid.uuid4().hex}"
            with open(temporary, "wb") as f:
                f.write(data)
                f.flush()
                os.fsync(f.fileno())
            os.replace(temporary, target)
            _fsync_dir(self.photo_dir)
        with self.transaction() as conn:
            conn.execute(
                "INSERT INTO photos (sha256, size, recorded_at) VALUES (?, ?, ?) ON CONFLICT (sha256) DO NOTHING",
                (sha256, len(data), utc_text()),
            )
        return sha256

    def photo_bytes(self, sha256: str) -> bytes:
        return (self.photo_dir / sha256).read_bytes()

    # -- items -------------------------------------------------------------------------------

    def items(self, state: str | None = None) -> list[StoredItem]:
        where, params = ("WHERE state = ?", (state,)) if state else ("", ())
        return [_stored_item(r) for r in self._query(f"SELECT * FROM items {where} ORDER BY position", params)]

    def item(self, op_id: str) -> StoredItem | None:
        rows = self._query("SELECT * FROM items WHERE op_id = ?", (op_id,))
        return _stored_item(rows[0]) if rows else None

    def counts(self) -> dict[str, int]:
        return {r["state"]: r["n"] for r in self._query("SELECT state, count(*) AS n FROM items GROUP BY state")}

    # -- batches -----------------------------------------------------------------------------

    def open_batch(self) -> Batch | None:
        """The batch sent but not answered, if any: it is sent again as it is, never rebuilt."""
        rows = self._query("SELECT batch_id, attempts FROM batches WHERE state = 'open' ORDER BY created_at LIMIT 1")
        if not rows:
            return None
        batch_id = rows[0]["batch_id"]
        items = [_stored_item(r) for r in self._query(
            "SELECT * FROM items WHERE batch_id = ? AND state = 'sending' ORDER BY position", (batch_id,))]
        return Batch(batch_id, rows[0]["attempts"], items)

    def new_batch(self, size: int) -> Batch | None:
        """The next ``size`` pending items, in recording order, under a fresh batch id."""
        batch_id = str(uuid.uuid4())
        with self.transaction() as conn:
            picked = conn.execute(
                "SELECT position FROM items WHERE state = 'pending' ORDER BY position LIMIT ?", (size,)
            ).fetchall()
            if not picked:
                return None
            conn.execute("INSERT INTO batches (batch_id, created_at) VALUES (?, ?)", (batch_id, utc_text()))
            conn.executemany(
                "UPDATE items SET state = 'sending', batch_id = ? WHERE position = ?",
                [(batch_id, r["position"]) for r in picked],
            )
        return self.open_batch()

    def note_attempt(self, batch_id: str) -> None:
        """Written before each send: after a crash the tablet knows to ask for the receipt first."""
        with self.transaction() as conn:
            conn.execute("UPDATE batches SET attempts = attempts + 1 WHERE batch_id = ?", (batch_id,))

    def apply_answer(self, batch: Batch, answer: wire.PushResponse) -> None:
        """Each item's result, by op_id; the batch is closed; photos the server lacks are queued again."""
        now = utc_text()
        by_op = {r.op_id: r for r in answer.results}
        with self.transaction() as conn:
            for stored in batch.items:
                result = by_op.get(stored.op_id)
                if result is None:  # not answered for: it goes back in the queue
                    conn.execute("UPDATE items SET state = 'pending', batch_id = NULL WHERE position = ?",
                                 (stored.position,))
                    continue
                conn.execute(
                    "UPDATE items SET state = ?, status = ?, original_status = ?, flags = ?, errors = ?,"
                    " review_task_id = ?, answered_at = ? WHERE position = ?",
                    ("rejected" if result.status == "rejected" else "done", result.status, result.original_status,
                     _encode(result.flags), _encode(result.errors), result.review_task_id, now, stored.position),
                )
            conn.execute("UPDATE batches SET state = 'answered' WHERE batch_id = ?", (batch.batch_id,))
            if answer.missing_photos:
                marks = ",".join("?" * len(answer.missing_photos))
                conn.execute(f"UPDATE photos SET state = 'pending' WHERE state = 'uploaded' AND sha256 IN ({marks})",
                             tuple(answer.missing_photos))

    def dissolve(self, batch: Batch, set_aside: dict[str, dict[str, Any]] | None = None) -> None:
        """The server refused the whole batch (nothing stored): the items named in ``set_aside``
        are kept apart with their error, the rest go back in the queue for a new batch."""
        set_aside = set_aside or {}
        now = utc_text()
        with self.transaction() as conn:
            for stored in batch.items:
                error = set_aside.get(stored.op_id)
                if error is None:
                    conn.execute("UPDATE items SET state = 'pending', batch_id = NULL WHERE position = ?",
                                 (stored.position,))
                else:
                    conn.execute(
                        "UPDATE items SET state = 'rejected', status = 'rejected', errors = ?, answered_at = ?"
                        " WHERE position = ?", (_encode([error]), now, stored.position),
                    )
            conn.execute("UPDATE batches SET state = 'dissolved' WHERE batch_id = ?", (batch.batch_id,))

    # -- photos ------------------------------------------------------------------------------

    def photos(self, state: str | None = None) -> list[StoredPhoto]:
        where, params = ("WHERE state = ?", (state,)) if state else ("", ())
        rows = self._query(f"SELECT * FROM photos {where} ORDER BY recorded_at, sha256", params)
        return [StoredPhoto(r["sha256"], r["size"], r["state"], r["upload_id"], r["error"]) for r in rows]

    def set_photo(self, sha256: str, *, state: str | None = None, upload_id: str | None = None,
                  error: str | None = None, clear_upload: bool = False) -> None:
        with self.transaction() as conn:
            if state is not None:
                conn.execute("UPDATE photos SET state = ?, error = ? WHERE sha256 = ?", (state, error, sha256))
            if upload_id is not None or clear_upload:
                conn.execute("UPDATE photos SET upload_id = ? WHERE sha256 = ?", (upload_id, sha256))

    # -- pulled work -------------------------------------------------------------------------

    def pulled(self, kind: str) -> dict[str, Any]:
        """The objects of one kind the tablet holds, by id (their ``data`` as pulled)."""
        rows = self._query(f"SELECT id, data FROM {PULLED_TABLES[kind]} ORDER BY id")
        return {r["id"]: msgspec.json.decode(r["data"]) for r in rows}

    def cursor(self) -> str | None:
        return self.get("pull_cursor")

    def forget_cursor(self) -> None:
        """The server cannot serve the cursor: the next pull is a full snapshot that replaces the work."""
        with self.transaction() as conn:
            self.put("pull_cursor", None, conn)
            self.put("snapshot_open", "0", conn)

    def apply_page(self, page: PullResponse) -> None:
        """One pulled page, in ``seq`` order, and its cursor, in one transaction.

        A full snapshot (a pull without a cursor) opens a new generation; when
        its last page is applied, whatever it did not deliver is dropped: a
        snapshot sends no ``remove`` for objects that left the scope meanwhile.
        """
        with self.transaction() as conn:
            generation = int(self._setting(conn, "pull_generation") or 0)
            if self._setting(conn, "pull_cursor") is None and self._setting(conn, "snapshot_open") != "1":
                generation += 1
                self.put("pull_generation", str(generation), conn)
                self.put("snapshot_open", "1", conn)
            for change in sorted(page.changes, key=lambda c: c.seq):
                table = PULLED_TABLES.get(change.kind)
                if table is None:  # a kind this app does not know: ignored, as the protocol asks
                    continue
                if change.op == "remove":
                    conn.execute(f"DELETE FROM {table} WHERE id = ?", (change.id,))
                    continue
                conn.execute(
                    f"INSERT INTO {table} (id, data, generation) VALUES (?, ?, ?) ON CONFLICT (id) DO UPDATE"
                    " SET data = excluded.data, generation = excluded.generation",
                    (change.id, _encode(change.data), generation),
                )
                if change.kind == "outcome":
                    _note_outcome(conn, change.data)
            self.put("pull_cursor", page.cursor, conn)
            if not page.has_more and self._setting(conn, "snapshot_open") == "1":
                for table in PULLED_TABLES.values():
                    conn.execute(f"DELETE FROM {table} WHERE generation < ?", (generation,))
                self.put("snapshot_open", "0", conn)

    @staticmethod
    def _setting(conn: sqlite3.Connection, key: str) -> str | None:
        row = conn.execute("SELECT value FROM settings WHERE key = ?", (key,)).fetchone()
        return row["value"] if row else None


def _note_outcome(conn: sqlite3.Connection, data: Any) -> None:
    """A review's final decision, kept on the items it answers so the reader learns why."""
    op_ids = list(data.get("op_ids") or [])
    if not op_ids:
        return
    outcome = _encode({k: data.get(k) for k in ("task_id", "decision", "note")})
    marks = ",".join("?" * len(op_ids))
    conn.execute(f"UPDATE items SET outcome = ? WHERE op_id IN ({marks})", (outcome, *op_ids))


def _stored_item(r: sqlite3.Row) -> StoredItem:
    return StoredItem(
        position=r["position"], op_id=r["op_id"], type=r["type"], meter_id=r["meter_id"], body=r["body"],
        state=r["state"], batch_id=r["batch_id"], status=r["status"], original_status=r["original_status"],
        flags=msgspec.json.decode(r["flags"]), errors=msgspec.json.decode(r["errors"]),
        review_task_id=r["review_task_id"], outcome=msgspec.json.decode(r["outcome"]) if r["outcome"] else None,
    )


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
