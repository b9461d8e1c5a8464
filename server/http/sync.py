"""Sync routes: pull (PROTOCOL §4), push and receipts (§5)."""

from __future__ import annotations

from typing import Annotated

import anyio.to_thread
from litestar import Request, Response, get, post
from litestar.params import Parameter

from field_schemas.pull import PullResponse
from field_schemas.push import PushRequest, PushResponse
from server.http.body import read_json
from server.context import context, principal
from server.http.openapi import documented
from server.services import pull as pull_service
from server.services import push as push_service


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


@post("/api/v1/sync/push", status_code=200, tags=["sync"], summary="Upload a batch of field items")
@documented(request=PushRequest, errors=[
    "invalid_request", "unknown_field", "schema_too_new", "forbidden", "device_mismatch",
    "body_too_large", "batch_too_large",
])
async def push(request: Request) -> Response[PushResponse]:
    ctx = context(request)
    who = await principal(request)
    req = await read_json(request, PushRequest, ctx.settings.max_body_bytes)
    body = await push_service.push_async(ctx.db, ctx.settings, who, req)
    return Response(body, media_type="application/json")  # type: ignore[arg-type]


@get("/api/v1/sync/batches/{batch_id:str}", tags=["sync"], summary="The receipt of a committed batch")
@documented(errors=["not_found"])
async def batch_receipt(request: Request, batch_id: Annotated[str, Parameter(max_length=64)]) -> Response[PushResponse]:
    ctx = context(request)
    who = await principal(request)
    body = await anyio.to_thread.run_sync(push_service.receipt, ctx.db, who, batch_id)
    return Response(body, media_type="application/json")  # type: ignore[arg-type]


ROUTES = [pull, push, batch_receipt]
