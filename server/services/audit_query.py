"""Reading the append-only audit log, oldest first, a page at a time.

The log only grows at its end, so paging by the last id seen is stable:
entries written while a supervisor pages arrive on a later page.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select

from field_schemas.review import AuditEntry, AuditPage
from server.db.engine import Database
from server.db.tables import audit_log
from server.errors import ApiError
from server.services.review_detail import clamp_limit
from sync.review import InvalidPageCursor, decode_audit_cursor, encode_audit_cursor


def list_entries(db: Database, *, entity: str | None, entity_id: str | None, actor: str | None,
                 since: datetime | None, cursor: str | None, limit: int | None) -> AuditPage:
    limit = clamp_limit(limit)
    if since is not None and since.tzinfo is None:
        raise ApiError("invalid_request", "since needs an offset, e.g. 2026-12-01T08:00:00+08:00.", field="since")
    try:
        after = decode_audit_cursor(cursor) if cursor else None
    except InvalidPageCursor as exc:
        raise ApiError("invalid_cursor", f"The cursor is not valid ({exc}). List again without it.",
                       field="cursor") from exc
    conditions = []
    for column, value in ((audit_log.c.entity, entity), (audit_log.c.entity_id, entity_id), (audit_log.c.actor, actor)):
        if value:
            conditions.append(column == value)
    if since is not None:
        conditions.append(audit_log.c.at >= since)
    if after is not None:
        conditions.append(audit_log.c.id > after)
    with db.read() as conn:
        rows = conn.execute(select(audit_log).where(*conditions).order_by(audit_log.c.id).limit(limit + 1)).all()
    page = rows[:limit]
    return AuditPage(
        entries=[AuditEntry(r.id, r.at, r.actor, r.action, r.entity, r.entity_id, r.before, r.after) for r in page],
        cursor=encode_audit_cursor(page[-1].id) if len(rows) > limit else None,
    )
