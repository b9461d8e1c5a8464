"""The seal pliers register: who holds which pliers since when, and every issue and return.

The push rule ``pliers_not_issued`` reads this register, so each change is
one transaction that updates the holder, appends to ``pliers_history`` and
writes the audit log together.
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Row, Select, insert, select, update
from sqlalchemy.dialects import postgresql, sqlite

from field_schemas.pliers import (
    PLIERS_ID_MAX_LENGTH,
    PLIERS_ID_PATTERN,
    PliersAction,
    PliersDetail,
    PliersHistoryEntry,
    PliersState,
)
from server.clock import utcnow
from server.db.audit import audit
from server.db.engine import Database
from server.db.tables import pliers, pliers_history, users
from server.errors import ApiError

_VALID_ID = re.compile(PLIERS_ID_PATTERN)


def issue_pliers(db: Database, pliers_id: str, to: str, actor: str) -> PliersState:
    """Issue pliers to an active inspector, adding them to the register if unknown.

    Issuing them again to their holder changes nothing.
    """
    _check_id(pliers_id)
    now = utcnow()
    with db.write() as conn:
        _require_active_inspector(conn, to)
        created = _add_if_unknown(conn, pliers_id)
        current = _lock(conn, pliers_id)
        if current.holder_id == to:
            return _state(conn, pliers_id)
        if current.holder_id is not None:
            raise ApiError(
                "invalid_state",
                f"Pliers {pliers_id} are held by {current.holder_id}. Return them first, then issue them to {to}.",
            )
        conn.execute(update(pliers).where(pliers.c.id == pliers_id).values(holder_id=to, issued_at=now))
        _record(conn, pliers_id, "issued", holder=to, at=now, actor=actor,
                before=None if created else _holding(current.holder_id, current.issued_at),
                after=_holding(to, now))
        return _state(conn, pliers_id)


def return_pliers(db: Database, pliers_id: str, actor: str) -> PliersState:
    """Take pliers back from their holder."""
    _check_id(pliers_id)
    now = utcnow()
    with db.write() as conn:
        current = _lock(conn, pliers_id)
        if current is None:
            raise _unknown(pliers_id)
        if current.holder_id is None:
            raise ApiError("invalid_state", f"Pliers {pliers_id} are not issued to anyone, so they cannot be returned.")
        conn.execute(update(pliers).where(pliers.c.id == pliers_id).values(holder_id=None, issued_at=None))
        _record(conn, pliers_id, "returned", holder=current.holder_id, at=now, actor=actor,
                before=_holding(current.holder_id, current.issued_at), after=_holding(None, None))
        return _state(conn, pliers_id)


def list_pliers(db: Database) -> list[PliersState]:
    with db.read() as conn:
        return [_to_state(r) for r in conn.execute(_with_holder_name().order_by(pliers.c.id)).all()]


def show_pliers(db: Database, pliers_id: str) -> PliersDetail:
    """The pliers' holder and their whole history, oldest first."""
    _check_id(pliers_id)
    with db.read() as conn:
        row = conn.execute(_with_holder_name().where(pliers.c.id == pliers_id)).first()
        if row is None:
            raise _unknown(pliers_id)
        history = conn.execute(
            select(pliers_history.c.action, pliers_history.c.user_id, pliers_history.c.at, pliers_history.c.by)
            .where(pliers_history.c.pliers_id == pliers_id)
            .order_by(pliers_history.c.at, pliers_history.c.id)
        ).all()
    return PliersDetail(
        id=row.id, holder=row.holder_id, holder_name=row.holder_name, issued_at=row.issued_at,
        history=[PliersHistoryEntry(action=h.action, user=h.user_id, at=h.at, by=h.by) for h in history],
    )


def _check_id(pliers_id: str) -> None:
    # The CLI passes ids straight through; the API's path parameter is checked the same way.
    if not (0 < len(pliers_id) <= PLIERS_ID_MAX_LENGTH and _VALID_ID.match(pliers_id)):
        raise ApiError(
            "invalid_request",
            f"{pliers_id!r} is not a pliers id: use up to {PLIERS_ID_MAX_LENGTH} letters, digits and '_.:-'.",
        )


def _unknown(pliers_id: str) -> ApiError:
    return ApiError("not_found", f"No pliers {pliers_id} in the register. Issuing them adds them.")


def _require_active_inspector(conn: Connection, username: str) -> None:
    row = conn.execute(select(users.c.roles, users.c.active).where(users.c.id == username)).first()
    if row is None or not row.active:
        raise ApiError("not_found", f"No active user {username}. Check the username, or add them with 'fieldsync users add'.")
    if "inspector" not in row.roles:
        raise ApiError(
            "invalid_state",
            f"{username} is not an inspector (roles: {', '.join(row.roles)}). Only inspectors install seals, "
            "so only they are issued pliers.",
        )


def _add_if_unknown(conn: Connection, pliers_id: str) -> bool:
    """Whether the pliers were added. Safe when two issues of new pliers race."""
    dialect = postgresql if conn.dialect.name == "postgresql" else sqlite
    stmt = dialect.insert(pliers).values(id=pliers_id, holder_id=None, issued_at=None).on_conflict_do_nothing()
    # RETURNING, not rowcount: psycopg reports no rowcount for this statement.
    return conn.execute(stmt.returning(pliers.c.id)).first() is not None


def _lock(conn: Connection, pliers_id: str) -> Row[Any] | None:
    # FOR UPDATE serialises issue and return of the same pliers on PostgreSQL; SQLite has one writer anyway.
    return conn.execute(select(pliers).where(pliers.c.id == pliers_id).with_for_update()).first()


def _holding(holder: str | None, issued_at: datetime | None) -> dict[str, str | None]:
    return {"holder_id": holder, "issued_at": issued_at.isoformat() if issued_at else None}


def _record(conn: Connection, pliers_id: str, action: PliersAction, *, holder: str, at: datetime, actor: str,
            before: dict[str, Any] | None, after: dict[str, Any]) -> None:
    conn.execute(insert(pliers_history).values(pliers_id=pliers_id, action=action, user_id=holder, at=at, by=actor))
    verb = "issue" if action == "issued" else "return"
    audit(conn, at=at, actor=actor, action=f"pliers.{verb}", entity="pliers", entity_id=pliers_id,
          before=before, after=after)


def _with_holder_name() -> Select[Any]:
    return select(pliers.c.id, pliers.c.holder_id, pliers.c.issued_at, users.c.name.label("holder_name")).outerjoin(
        users, users.c.id == pliers.c.holder_id
    )


def _to_state(row: Row[Any]) -> PliersState:
    return PliersState(id=row.id, holder=row.holder_id, holder_name=row.holder_name, issued_at=row.issued_at)


def _state(conn: Connection, pliers_id: str) -> PliersState:
    return _to_state(conn.execute(_with_holder_name().where(pliers.c.id == pliers_id)).one())
