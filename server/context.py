"""What every request handler needs: the database, the settings, the photo store."""

from __future__ import annotations

from dataclasses import dataclass

import anyio.to_thread
from litestar import Request

from photo_store.base import PhotoStore
from server.auth import Principal
from server.db.engine import Database
from server.errors import ApiError
from server.services import identity
from server.settings import Settings


@dataclass
class AppContext:
    settings: Settings
    db: Database
    store: PhotoStore


def context(request: Request) -> AppContext:
    return request.app.state.ctx


async def principal(request: Request, *roles: str) -> Principal:
    """Authenticate the caller; with ``roles``, require one of them (403 otherwise)."""
    ctx = context(request)
    who = await anyio.to_thread.run_sync(identity.authenticate, ctx.db, request.headers.get("authorization"))
    if roles and not who.has(*roles):
        raise ApiError("forbidden", f"This needs the role {' or '.join(roles)}; you are {', '.join(sorted(who.roles))}.")
    return who
