"""Passwords, tokens and the login throttle: pure helpers, no I/O."""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

ROLES = ("reader", "inspector", "reviewer", "supervisor", "admin")

_hasher = PasswordHasher()
# Verified against when the username is unknown, so that a wrong username
# costs the same time as a wrong password.
_DUMMY_HASH = _hasher.hash("fieldsync-no-such-user")


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def verify_password(stored_hash: str | None, password: str) -> bool:
    try:
        return _hasher.verify(stored_hash or _DUMMY_HASH, password) and stored_hash is not None
    except (VerificationError, InvalidHashError):
        return False


def new_token() -> str:
    """256 bits from the OS's CSPRNG, URL-safe."""
    return secrets.token_urlsafe(32)


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class Principal:
    user_id: str
    name: str
    roles: frozenset[str]
    device_id: str
    token_hash: str

    def has(self, *roles: str) -> bool:
        return not self.roles.isdisjoint(roles)


@dataclass(frozen=True)
class ThrottleState:
    failures: int
    window_started_at: datetime
    locked_until: datetime | None


def locked_for(state: ThrottleState | None, now: datetime) -> timedelta | None:
    """How long logins for this username are still refused, or None."""
    if state is None or state.locked_until is None or state.locked_until <= now:
        return None
    return state.locked_until - now


def after_failure(
    state: ThrottleState | None, now: datetime, *, max_failures: int, window: timedelta, lockout: timedelta
) -> ThrottleState:
    """Count a failed login; the ``max_failures``-th inside ``window`` locks the username."""
    if state is None or now - state.window_started_at > window or (state.locked_until and state.locked_until <= now):
        state = ThrottleState(0, now, None)
    failures = state.failures + 1
    locked_until = now + lockout if failures >= max_failures else None
    return ThrottleState(failures, state.window_started_at, locked_until)
