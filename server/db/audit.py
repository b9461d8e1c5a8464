"""Append to the audit log (the database refuses updates and deletes of it)."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Iterable

from sqlalchemy import Connection, insert

from server.db.tables import audit_log


def audit(
    conn: Connection,
    *,
    at: datetime,
    actor: str,
    action: str,
    entity: str,
    entity_id: str,
    before: Any = None,
    after: Any = None,
) -> None:
    conn.execute(
        insert(audit_log).values(
            at=at, actor=actor, action=action, entity=entity, entity_id=entity_id, before=before, after=after
        )
    )


def audit_many(conn: Connection, entries: Iterable[dict[str, Any]]) -> None:
    """One statement for many entries; each dict has the keyword arguments of ``audit``."""
    rows = [{"before": None, "after": None, **e} for e in entries]
    if rows:
        conn.execute(insert(audit_log), rows)
