"""POST /api/v1/auth/login."""

from __future__ import annotations

import anyio.to_thread
from litestar import Request, Response, post

from field_schemas.auth import LoginRequest, LoginResponse
from server.context import context
from server.http.body import read_json
from server.http.openapi import documented
from server.services import identity

LOGIN_BODY_LIMIT = 16 * 1024


@post("/api/v1/auth/login", status_code=200, tags=["identity"], summary="Log in a user on a device")
@documented(request=LoginRequest, public=True, errors=["invalid_request", "invalid_credentials", "device_revoked", "rate_limited"])
async def login(request: Request) -> Response[LoginResponse]:
    ctx = context(request)
    req = await read_json(request, LoginRequest, LOGIN_BODY_LIMIT)
    result = await anyio.to_thread.run_sync(identity.login, ctx.db, ctx.settings, req)
    return Response(result, status_code=200)
ROUTES = [login]
