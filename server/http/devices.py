"""What a device has delivered, for admins and supervisors: the first question after
a tablet is lost, and the server's side of a reconciliation."""

from __future__ import annotations

from typing import Annotated

import anyio.to_thread
from litestar import Request, get
from litestar.params import Parameter

from server.context import context, principal
from server.http.openapi import documented
from server.services import device_items as service

OVERSEERS = ("admin", "supervisor")
DeviceIdParam = Annotated[str, Parameter(description="The tablet's device id", max_length=64,
                                         pattern=r"^[A-Za-z0-9_.:-]+$")]


@get("/api/v1/devices/{device_id:str}/items", tags=["devices"],
     summary="The items stored from a device, in the order received, page by page")
@documented(errors=["invalid_request", "invalid_cursor", "forbidden", "not_found"])
async def items(
    request: Request,
    device_id: DeviceIdParam,
    cursor: Annotated[str | None, Parameter(description="From the last page; omit for the first", max_length=512)] = None,
    limit: Annotated[int | None, Parameter(description="Items per page, default 500, clamped to 1–5,000")] = None,
) -> service.DeviceItemsPage:
    await principal(request, *OVERSEERS)
    return await anyio.to_thread.run_sync(service.device_items, context(request).db, device_id, cursor, limit)


ROUTES = [items]
