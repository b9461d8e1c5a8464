"""Login, token checks, users and devices (PROTOCOL §2)."""

from __future__ import annotations

import math
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection, func, insert, select, update

from field_schemas.auth import LoginRequest, LoginResponse, SchemaRange, UserInfo
from field_schemas.devices import DeviceInfo
from server import auth
from server.clock import utcnow
from server.db.audit import audit
from server.db.engine import Database
from server.db.tables import devices, login_throttle, tokens, users
from server.errors import ApiError
from server.services import writer
from server.settings import Settings

# Writing last_used_at on every request would turn every read into a write.
TOKEN_TOUCH_INTERVAL = timedelta(minutes=5)


def _throttle_state(conn: Connection, username: str) -> auth.ThrottleState | None:
    row = conn.execute(select(login_throttle).where(login_throttle.c.username == username)).first()
    if row is None:
        return None
    return auth.ThrottleState(row.failures, row.window_started_at, row.locked_until)


def _rate_limited(wait: timedelta) -> ApiError:
    seconds = max(1, math.ceil(wait.total_seconds()))
    return ApiError(
        "rate_limited",
        f"Too many failed logins for this user. Try again in {math.ceil(seconds / 60)} minutes.",
        headers={"Retry-After": str(seconds)},
    )


def login(db: Database, settings: Settings, req: LoginRequest) -> LoginResponse:
    now = utcnow()
    if req.schema_version > settings.schema_current:
        raise ApiError(
            "schema_too_new",
            f"This server speaks schema {settings.schema_min}–{settings.schema_current}; "
            f"the app sent {req.schema_version}. Ask the station to update the server.",
            field="$.schema_version",
        )
    with db.read() as conn:
        wait = auth.locked_for(_throttle_state(conn, req.username), now)
        user = conn.execute(select(users).where(users.c.id == req.username)).first()
        device = conn.execute(select(devices.c.revoked_at).where(devices.c.id == req.device_id)).first()
    if wait is not None:
        raise _rate_limited(wait)
    # Verified outside any transaction: hashing is slow and must not hold the writer.
    ok = auth.verify_password(user.password_hash if user is not None else None, req.password)
    if not ok or not user.active:
        with db.write() as conn:
            state = auth.after_failure(
                _throttle_state(conn, req.username),
                now,
                max_failures=settings.login_max_failures,
                window=timedelta(minutes=settings.login_failure_window_min),
                lockout=timedelta(minutes=settings.login_lockout_min),
            )
            _save_throttle(conn, req.username, state)
        # The failure that reaches the limit is still answered as what it is; the lock holds from the next try.
        raise ApiError("invalid_credentials", "Wrong username or password. Check both and try again.")
    if device is not None and device.revoked_at is not None:
        raise ApiError(
            "device_revoked",
            f"Device {req.device_id} has been revoked. Ask an administrator to restore it.",
        )
    token = auth.new_token()
    expires_at = now + timedelta(days=settings.token_ttl_days)

    def record_login(conn: Connection) -> None:
        conn.execute(login_throttle.delete().where(login_throttle.c.username == req.username))
        _touch_device(conn, req.device_id, user.id, req.app_version, now)
        conn.execute(
            insert(tokens).values(
                token_hash=auth.token_hash(token),
                user_id=user.id,
                device_id=req.device_id,
                issued_at=now,
                expires_at=expires_at,
                last_used_at=now,
                app_version=req.app_version,
            )
        )
        audit(conn, at=now, actor=user.id, action="login", entity="device", entity_id=req.device_id,
              after={"app_version": req.app_version, "expires_at": expires_at.isoformat()})

    writer.write(db, record_login)
    return LoginResponse(
        token=token,
        expires_at=expires_at,
        user=UserInfo(id=user.id, name=user.name, roles=list(user.roles)),
        server_time=now,
        schema=SchemaRange(min=settings.schema_min, current=settings.schema_current),
    )


def _save_throttle(conn: Connection, username: str, state: auth.ThrottleState) -> None:
    values = {"failures": state.failures, "window_started_at": state.window_started_at, "locked_until": state.locked_until}
    changed = conn.execute(update(login_throttle).where(login_throttle.c.username == username).values(**values))
    if changed.rowcount == 0:
        conn.execute(insert(login_throttle).values(username=username, **values))


def _touch_device(conn: Connection, device_id: str, user_id: str, app_version: str | None, now: datetime) -> None:
    values: dict[str, Any] = {"last_seen_at": now, "last_user_id": user_id}
    if app_version is not None:
        values["app_version"] = app_version
    changed = conn.execute(update(devices).where(devices.c.id == device_id).values(**values))
    if changed.rowcount == 0:
        conn.execute(insert(devices).values(id=device_id, first_seen_at=now, **values))


def authenticate(db: Database, authorization: str | None) -> auth.Principal:
    """The principal behind ``Authorization: Bearer …``, or the 401 that says why not."""
    if not authorization or not authorization.lower().startswith("bearer "):
        raise ApiError("unauthenticated", "Log in first and send the token as 'Authorization: Bearer <token>'.")
    token = authorization[7:].strip()
    if not token or len(token) > 200:
        raise ApiError("unauthenticated", "The token is not one this server issued. Log in again.")
    digest = auth.token_hash(token)
    now = utcnow()
    with db.read() as conn:
        row = conn.execute(
            select(
                tokens.c.user_id, tokens.c.device_id, tokens.c.expires_at, tokens.c.revoked_at,
                tokens.c.last_used_at, users.c.name, users.c.roles, users.c.active,
                devices.c.revoked_at.label("device_revoked_at"),
            )
            .join(users, users.c.id == tokens.c.user_id)
            .join(devices, devices.c.id == tokens.c.device_id)
            .where(tokens.c.token_hash == digest)
        ).first()
    if row is None:
        raise ApiError("unauthenticated", "The token is not one this server issued. Log in again.")
    if row.revoked_at is not None or row.device_revoked_at is not None or not row.active:
        raise ApiError("token_revoked", "This token was revoked (lost device or disabled user). Ask an administrator.")
    if row.expires_at <= now:
        raise ApiError("token_expired", "The token has expired. Log in again; nothing recorded on the tablet is lost.")
    if row.last_used_at is None or now - row.last_used_at > TOKEN_TOUCH_INTERVAL:
        def touch(conn: Connection) -> None:
            conn.execute(update(tokens).where(tokens.c.token_hash == digest).values(last_used_at=now))
            conn.execute(update(devices).where(devices.c.id == row.device_id).values(last_seen_at=now))

        writer.write(db, touch)
    return auth.Principal(row.user_id, row.name, frozenset(row.roles), row.device_id, digest)


# -- users ---------------------------------------------------------------------------------------


def add_user(db: Database, username: str, name: str, roles: list[str], password: str, actor: str = "cli") -> None:
    unknown = sorted(set(roles) - set(auth.ROLES))
    if unknown or not roles:
        raise ValueError(f"roles must be among {', '.join(auth.ROLES)}; got {', '.join(unknown) or 'none'}")
    now = utcnow()
    password_hash = auth.hash_password(password)
    with db.write() as conn:
        existing = conn.execute(select(users.c.id).where(users.c.id == username)).first()
        values = {"name": name, "roles": sorted(set(roles)), "password_hash": password_hash, "active": True}
        if existing:
            conn.execute(update(users).where(users.c.id == username).values(**values))
        else:
            conn.execute(insert(users).values(id=username, created_at=now, **values))
        audit(conn, at=now, actor=actor, action="user.update" if existing else "user.create",
              entity="user", entity_id=username, after={"name": name, "roles": values["roles"]})


# -- devices -------------------------------------------------------------------------------------


def list_devices(db: Database) -> list[DeviceInfo]:
    now = utcnow()
    live = (
        select(tokens.c.device_id, func.count().label("n"))
        .where(tokens.c.revoked_at.is_(None), tokens.c.expires_at > now)
        .group_by(tokens.c.device_id)
        .subquery()
    )
    with db.read() as conn:
        rows = conn.execute(
            select(devices, func.coalesce(live.c.n, 0).label("active_tokens"))
            .outerjoin(live, live.c.device_id == devices.c.id)
            .order_by(devices.c.id)
        ).all()
    return [
        DeviceInfo(r.id, r.last_user_id, r.app_version, r.first_seen_at, r.last_seen_at,
                      r.last_pull_at, r.last_push_at, r.revoked_at, r.active_tokens)
        for r in rows
    ]


def get_device(db: Database, device_id: str) -> DeviceInfo | None:
    return next((d for d in list_devices(db) if d.id == device_id), None)


def _set_revoked(conn: Connection, device_id: str, revoked_at: datetime | None, actor: str) -> dict:
    """Mark the device revoked (or not) and audit it; the audit entry's ``after`` is returned to extend."""
    row = conn.execute(select(devices.c.revoked_at).where(devices.c.id == device_id)).first()
    if row is None:
        raise LookupError(device_id)
    conn.execute(update(devices).where(devices.c.id == device_id)
                 .values(revoked_at=revoked_at, revoked_by=actor if revoked_at else None))
    return {"before": {"revoked_at": row.revoked_at.isoformat() if row.revoked_at else None},
            "after": {"revoked_at": revoked_at.isoformat() if revoked_at else None}}


def revoke_device(db: Database, device_id: str, actor: str) -> int:
    """Refuse the device's tokens at once and its logins until restored; returns tokens revoked."""
    now = utcnow()
    with db.write() as conn:
        change = _set_revoked(conn, device_id, now, actor)
        n = conn.execute(
            update(tokens).where(tokens.c.device_id == device_id, tokens.c.revoked_at.is_(None)).values(revoked_at=now)
        ).rowcount
        change["after"]["tokens_revoked"] = n
        audit(conn, at=now, actor=actor, action="device.revoke", entity="device", entity_id=device_id, **change)
    return n


def restore_device(db: Database, device_id: str, actor: str) -> None:
    """Allow logins again; tokens issued before the revocation stay dead."""
    now = utcnow()
    with db.write() as conn:
        change = _set_revoked(conn, device_id, None, actor)
        audit(conn, at=now, actor=actor, action="device.restore", entity="device", entity_id=device_id, **change)
