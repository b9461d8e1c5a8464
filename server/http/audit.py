"""The audit log (PROTOCOL §7), for supervisors and admins."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

import anyio.to_thread
from litestar import Request, get
from litestar.params import Parameter

from field_schemas.review import AuditPage
from server.context import context, principal
from server.http.openapi import documented
from server.services import audit_query

READERS_OF_THE_LOG = ("supervisor", "admin")
Short = Annotated[str | None, Parameter(max_length=64)]


@get("/api/v1/audit", tags=["audit"], summary="Audit log entries, oldest first")
@documented(errors=["invalid_request", "invalid_cursor", "forbidden"])
async def list_audit(
    request: Request,
    entity: Short = None,
    entity_id: Short = None,
    actor: Short = None,
    since: Annotated[datetime | None, Parameter(description="RFC 3339 with an offset; entries at or after it")] = None,
    cursor: Annotated[str | None, Parameter(description="From the last page", max_length=512)] = None,
    limit: Annotated[int | None, Parameter(description="Entries per page, default 50, clamped to 1–200")] = None,
) -> AuditPage:
    await principal(request, *READERS_OF_THE_LOG)
    return await anyio.to_thread.run_sync(lambda: audit_query.list_entries(
        context(request).db, entity=entity, entity_id=entity_id, actor=actor, since=since, cursor=cursor, limit=limit))


ROUTES = [list_audit]
