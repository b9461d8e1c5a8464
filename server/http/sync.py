"""Sync routes: pull (PROTOCOL §4)."""

from __future__ import annotations

from typing import Annotated

import anyio.to_thread
from litestar import Request, get
from litestar.params import Parameter

from field_schemas.pull import PullResponse
from server.context import context, principal
from server.http.openapi import documented
from server.services import pull as pull_service


@get("/api/v1/sync/pull", tags=["sync"], summary="Download the caller's work, page by page")
@documented(errors=["invalid_request", "schema_too_new", "invalid_cursor", "cursor_expired", "schema_too_old"])
async def pull(
    request: Request,
    schema_version: Annotated[int, Parameter(description="The app's schema version", ge=0, le=10_000)],
    cursor: Annotated[str | None, Parameter(description="From the last page; omit for a full snapshot", max_length=512)] = None,
    limit: Annotated[int | None, Parameter(description="Changes per page, default 500, clamped to 1–5,000")] = None,
) -> PullResponse:
    ctx = context(request)
    who = await principal(request)
    pull_service.check_schema_version(ctx.settings, schema_version, pulling=True)
    return await anyio.to_thread.run_sync(pull_service.pull, ctx.db, ctx.settings, who, cursor, limit)


ROUTES = [pull]
